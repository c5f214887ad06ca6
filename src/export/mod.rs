//! A sweep's results in other tools' formats: TensorBoard event files ([`tensorboard`]) and
//! runs on an MLflow tracking server ([`mlflow`]).

pub mod mlflow;
pub mod tensorboard;

use polars::prelude::{Column, DataFrame};

/// The column of a run's frame that numbers its epochs: the step of every metric.
pub const STEP: &str = "epoch";

/// The metrics of a run's frame, as both tools take them: every numeric column but the
/// step, in the frame's order.
pub fn metric_columns(frame: &DataFrame) -> impl Iterator<Item = &Column> {
    frame
        .columns()
        .iter()
        .filter(|c| c.name() != STEP && c.dtype().is_primitive_numeric())
}
