//! Sends a sweep's results folder to experiment trackers: [`mlflow`] (runs on a tracking
//! server, through its REST API).

pub mod mlflow;
