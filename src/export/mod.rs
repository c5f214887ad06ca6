//! A sweep's results in other tools' formats: TensorBoard event files ([`tensorboard`]).

pub mod tensorboard;
