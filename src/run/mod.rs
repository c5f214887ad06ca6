//! Running configurations: training and evaluating one ([`train`]), scheduling a plan's runs
//! ([`scheduler`]) with [`progress`] reporting, and rerunning a stored one ([`rerun`]).

pub mod progress;
pub mod rerun;
pub mod scheduler;
pub mod train;
