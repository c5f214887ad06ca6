//! Running configurations: training one ([`train`], with its [`optim`]izers and
//! [checkpoints](crate::store::checkpoint)) and evaluating it ([`evaluate`]), scheduling a
//! plan's runs ([`scheduler`]) with [`progress`] reporting, and rerunning a stored one
//! ([`rerun`]).

pub mod criterion;
pub mod evaluate;
pub mod optim;
pub mod progress;
pub mod rerun;
pub mod scheduler;
pub mod train;
