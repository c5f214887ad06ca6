//! Running configurations: training one ([`train`], with its [`optim`]izers and
//! [checkpoints](crate::store::checkpoint)), evaluating it ([`evaluate`]), keeping the weights
//! it is judged by and testing them ([`select`]), scheduling a
//! plan's runs ([`scheduler`]) with [`progress`] reporting, the stages of a tuned sweep
//! ([`tune`]), and rerunning a stored one ([`rerun`]).

pub mod criterion;
pub mod evaluate;
pub mod optim;
pub mod progress;
pub mod rerun;
pub mod scheduler;
pub mod select;
pub mod train;
pub mod tune;
