//! The one step each command calls: it loads what the command names, calls the floors below
//! (plan, run, store, report, slurm), prints what happened and returns the exit status. The
//! CLI (`cli.rs`) parses arguments and dispatches here; nothing here parses a command line.

pub mod checks;
pub mod data;
pub mod doctor;
pub mod export;
pub mod observers;
pub mod single;
pub mod status;
pub mod sweep;
pub mod tune;
