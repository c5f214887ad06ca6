//! lossbench: which loss should a U-Net be trained with? Sweeps losses × seeds × any other
//! setting over a libtorch U-Net, records per-epoch metrics as Polars frames, and reports
//! the answer with evidence.
//!
//! The data flow one way, and the modules follow it: sweep file ([`config`]) → [`plan`] (grid
//! expansion, run ids) → [`run`] (train and evaluate) → [`store`] (frames on disk) →
//! [`analyse`] (statistics) → [`report`] (plots, HTML). Each floor uses only the floors
//! below it (`tests/layout.rs` checks it), from the top:
//!
//! - [`cli`] parses arguments and dispatches to [`commands`], one step per command;
//! - [`bench`] and [`reference`] time and check the run floor;
//! - [`run`] trains and schedules, [`slurm`] writes cluster scripts, [`report`] draws the page,
//!   [`export`] writes other tools' formats and sends runs to MLflow;
//! - [`store`] owns every file format: run folders, frames, checkpoints, atomic writes;
//! - [`analyse`] reads frames into statistics; [`plan`] expands a sweep into runs;
//! - [`config`]: what to run, validated and located in its file;
//! - [`data`], [`model`], [`losses`] and [`metrics`]: tensors in, tensors out; [`device`]:
//!   what libtorch offers here (its CUDA backend, the GPUs, their memory, versions).
//!
//! [`exit`] (exit statuses), [`faults`] (fault-injection points) and [`provenance`] (the
//! commit this binary was built from) serve every floor.

pub mod analyse;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod device;
pub mod exit;
pub mod export;
pub mod faults;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod provenance;
pub mod reference;
pub mod report;
pub mod run;
pub mod slurm;
pub mod store;
#[cfg(test)]
pub mod testing;
