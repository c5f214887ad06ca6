//! Running configurations: training one ([`train`], with its [`optim`]izers, its mixed
//! [`precision`] and [checkpoints](crate::store::checkpoint)), evaluating it
//! ([`evaluate`]), keeping the weights it is judged by and testing them ([`select`]),
//! scheduling a plan's runs ([`scheduler`]) with [`progress`] reporting, as many on a GPU
//! as fit there ([`share`]), the stages of a tuned sweep ([`tune`]), rerunning a stored one
//! ([`rerun`]), and telling the tools that watch a sweep how it goes ([`observe`]).

pub mod criterion;
pub mod evaluate;
pub mod observe;
pub mod optim;
pub mod precision;
pub mod progress;
pub mod rerun;
pub mod scheduler;
pub mod select;
pub mod share;
pub mod train;
pub mod tune;
