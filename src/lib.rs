//! lossbench: which loss should a U-Net be trained with? Sweeps losses × seeds × any other
//! setting over a libtorch U-Net, records per-epoch metrics as Polars frames, and reports
//! the answer with evidence.
//!
//! The data flow one way, and the modules follow it: [`config`] (what to run) → [`run`]
//! (train and evaluate) → [`store`] (frames on disk). [`data`], [`model`], [`losses`] and
//! [`metrics`] are the ground floor: tensors in, tensors out, no files and no printing.
//! [`reference`] checks the ground floor against exported reference values; [`slurm`] runs
//! a sweep as a Slurm job array.

pub mod analyse;
pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod example_data;
pub mod faults;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod reference;
pub mod report;
pub mod run;
pub mod slurm;
pub mod store;
#[cfg(test)]
pub mod testing;
