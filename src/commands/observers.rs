//! The tools that follow a sweep while it runs, from its `sweep.tensorboard` and
//! `sweep.mlflow` settings (`--tensorboard`, `--mlflow`): live TensorBoard event files and
//! live MLflow runs.

use std::sync::Arc;

use crate::export::{mlflow, tensorboard};
use crate::plan::Plan;
use crate::run::observe::{Observer, Observers};

/// The observers `plan`'s sweep asks for; none when it asks for none.
pub fn of(plan: &Plan) -> anyhow::Result<Observers> {
    let sweep = &plan.sweep;
    let mut list: Vec<Arc<dyn Observer>> = Vec::new();
    if let Some(dir) = &sweep.tensorboard {
        let runs: Vec<(String, String, String)> = plan
            .runs()
            .map(|r| (r.label(), r.id(), r.loss().to_string()))
            .collect();
        list.push(Arc::new(tensorboard::live::Live::new(dir, &runs)));
    }
    if let Some(uri) = &sweep.mlflow {
        let live = mlflow::live::Live::start(uri, &sweep.name, sweep.description.as_deref())?;
        list.push(Arc::new(live));
    }
    Ok(Observers::new(list))
}
