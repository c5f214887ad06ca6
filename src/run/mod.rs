//! Running configurations: training and evaluating one.

pub mod train;
