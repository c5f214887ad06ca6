//! A sweep's results in other tools' formats: TensorBoard event files ([`tensorboard`]) and
//! runs on an MLflow tracking server ([`mlflow`]).

pub mod mlflow;
pub mod tensorboard;
