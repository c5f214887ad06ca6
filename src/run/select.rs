//! Which weights a run is judged by (`train.select`): the last epoch's, or those of the epoch
//! with the best validation score, kept in memory while training goes on and in the
//! checkpoint (`best.<variable>` tensors, `state.best_epoch`, `state.best_score`), so that a
//! run resumed after a kill selects what an uninterrupted one would. After training the
//! kept weights go back into the network and, when the data have a test split, are evaluated
//! on it once: the split no training step or selection has seen.

use std::collections::BTreeMap;

use anyhow::Context;
use tch::{nn, Device, Tensor};

use super::evaluate::{evaluate, Evaluation, Scoring};
use crate::config::{RunConfig, Select};
use crate::data::feed::Feed;
use crate::data::Dataset;
use crate::losses::{Criterion, Loss};
use crate::model::UNet;
pub use crate::store::Selection;
use crate::store::{EpochRow, SplitScores};

/// The checkpoint tensor of the selected epoch.
const BEST_EPOCH: &str = "state.best_epoch";
/// The checkpoint tensor of the selected epoch's validation score.
const BEST_SCORE: &str = "state.best_score";
/// The prefix of the kept weights' tensors in the checkpoint.
const BEST_PREFIX: &str = "best.";

/// The best epoch so far under `train.select = "best_val"`.
struct Best {
    epoch: usize,
    score: f64,
    /// Copies of every variable of the network (batch-norm statistics included), by name.
    weights: Vec<(String, Tensor)>,
}

/// Follows a training's epochs and keeps the weights `train.select` asks for.
pub struct Selector {
    select: Select,
    metric: String,
    /// `train.score_test`: whether the kept weights are scored on a test split.
    score_test: bool,
    best: Option<Best>,
}

impl Selector {
    /// A selector for `config`, with nothing seen yet.
    pub fn new(config: &RunConfig) -> Self {
        Selector {
            select: config.train.select,
            metric: config.train.select_metric().to_string(),
            score_test: config.train.score_test,
            best: None,
        }
    }

    /// The selector as it was when `checkpoint`'s tensors were saved by [`Selector::save`].
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>) -> anyhow::Result<()> {
        if self.select != Select::BestVal {
            return Ok(());
        }
        let (Some(epoch), Some(score)) = (tensors.get(BEST_EPOCH), tensors.get(BEST_SCORE)) else {
            return Ok(());
        };
        let weights = tensors
            .iter()
            .filter_map(|(name, t)| {
                name.strip_prefix(BEST_PREFIX)
                    .map(|n| (n.to_string(), t.shallow_clone()))
            })
            .collect();
        self.best = Some(Best {
            epoch: usize::try_from(epoch.int64_value(&[])).context("a negative best epoch")?,
            score: score.double_value(&[]),
            weights,
        });
        Ok(())
    }

    /// The tensors that [`Selector::restore`] reads back, to add to a checkpoint.
    pub fn save(&self) -> Vec<(String, Tensor)> {
        let Some(best) = &self.best else {
            return Vec::new();
        };
        let mut named: Vec<(String, Tensor)> = best
            .weights
            .iter()
            .map(|(name, t)| (format!("{BEST_PREFIX}{name}"), t.contiguous()))
            .collect();
        named.push((BEST_EPOCH.into(), Tensor::from(best.epoch as i64)));
        named.push((BEST_SCORE.into(), Tensor::from(best.score)));
        named
    }

    /// Takes note of `row`, the epoch just evaluated, and copies the weights of `vars` when
    /// it is the best so far (the first of equal scores; a NaN score never is).
    pub fn observe(&mut self, row: &EpochRow, vars: &nn::VarStore) {
        if self.select != Select::BestVal {
            return;
        }
        let score = score_of(row, &self.metric);
        let lower_is_better = self.metric.ends_with("loss");
        let better = match &self.best {
            _ if score.is_nan() => false,
            None => true,
            Some(best) if lower_is_better => score < best.score,
            Some(best) => score > best.score,
        };
        if better {
            let _guard = tch::no_grad_guard();
            let weights = vars
                .variables()
                .into_iter()
                .map(|(name, t)| (name, t.detach().copy()))
                .collect();
            self.best = Some(Best {
                epoch: row.epoch,
                score,
                weights,
            });
        }
    }

    /// After the last epoch `last`: puts the kept weights back into `vars` (under
    /// `best_val`) and gives the selected epoch.
    pub fn finish(&self, vars: &mut nn::VarStore, last: usize) -> anyhow::Result<usize> {
        let Some(best) = self
            .best
            .as_ref()
            .filter(|_| self.select == Select::BestVal)
        else {
            return Ok(last);
        };
        let _guard = tch::no_grad_guard();
        let mut variables = vars.variables();
        for (name, kept) in &best.weights {
            let var = variables.get_mut(name).with_context(|| {
                format!("the kept weights name `{name}`, which the network lacks")
            })?;
            var.copy_(&kept.to_device(var.device()));
        }
        Ok(best.epoch)
    }

    /// Whether a finished run records a selection: it selects, or it is scored on a test
    /// split.
    pub fn records(&self, data: &Dataset) -> bool {
        self.select == Select::BestVal || (self.score_test && data.test.is_some())
    }
}

/// The validation value of `metric` (one of [`crate::config::SELECT_METRICS`]) in `row`.
pub fn score_of(row: &EpochRow, metric: &str) -> f64 {
    match metric {
        "val_loss" => row.val_loss,
        "pixel_accuracy" => row.pixel_accuracy,
        "binary_accuracy" => row.binary_accuracy,
        _ => row.val_miou,
    }
}

/// The scores of an evaluation as the frames record a split: binary accuracy on
/// `activation`'s own activation, NaN for a class with an empty union.
pub fn scores(eval: &Evaluation, activation: Loss) -> SplitScores {
    let (loss, metrics) = (eval.loss, &eval.metrics);
    SplitScores {
        loss,
        miou: metrics.miou,
        pixel_accuracy: metrics.pixel_accuracy,
        binary_accuracy: metrics.binary_accuracy_for(activation),
        binary_accuracy_sigmoid: metrics.binary_accuracy_sigmoid,
        binary_accuracy_softmax: metrics.binary_accuracy_softmax,
        iou_per_class: metrics
            .iou_per_class
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect(),
        quality: eval.quality.clone(),
    }
}

/// The test split's scores of `net` (the kept weights), `None` when the data have none or
/// the run is not scored on it (`train.score_test = false`).
pub fn evaluate_test(
    net: &UNet,
    criterion: &Criterion,
    config: &RunConfig,
    data: &Dataset,
    classes: i64,
    device: Device,
) -> anyhow::Result<Option<SplitScores>> {
    let Some(test) = data.test.as_ref().filter(|_| config.train.score_test) else {
        return Ok(None);
    };
    let feed = Feed::new(
        data,
        config.train.batch_size as i64,
        1 << config.model.depth,
    );
    let eval = evaluate(
        net,
        criterion,
        &feed,
        test,
        classes,
        device,
        Scoring::of(config),
    )
    .context("cannot evaluate on the test split")?;
    Ok(Some(scores(&eval, config.loss.name)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::data::{DataConfig, SyntheticConfig};
    use crate::run::train::{self, Trained};
    use crate::store::checkpoint;

    /// A tiny run with a test split that selects on validation mIoU: a high learning rate
    /// makes validation go up and down.
    fn tiny(epochs: usize) -> RunConfig {
        let mut config = RunConfig {
            data: DataConfig::Synthetic(SyntheticConfig {
                height: 16,
                width: 16,
                train_images: 32,
                val_images: 8,
                test_images: 8,
                noise: 0.02,
                ..Default::default()
            }),
            ..Default::default()
        };
        config.model.depth = 2;
        config.model.base_channels = 4;
        config.optim.lr = 3e-2;
        config.train.epochs = epochs;
        config.train.batch_size = 8;
        config.train.seed = 3;
        config.train.select = Select::BestVal;
        config
    }

    fn run(config: &RunConfig, data: &Dataset) -> Trained {
        train::train(config, data, 1, &AtomicBool::new(false), None, |_, _| {}).expect("trains")
    }

    /// The first epoch of the largest validation mIoU.
    fn argmax(rows: &[EpochRow]) -> usize {
        let mut best = &rows[0];
        for r in rows {
            if r.val_miou > best.val_miou {
                best = r;
            }
        }
        best.epoch
    }

    #[test]
    fn best_val_keeps_the_weights_of_the_best_validation_epoch_and_tests_those() {
        let config = tiny(5);
        let data = config.data.load().expect("data");
        let trained = run(&config, &data);
        let selection = trained.selection.clone().expect("a selection");
        assert_eq!(selection.epoch, argmax(&trained.rows), "{:?}", trained.rows);
        // The network now holds that epoch's weights: validating it again gives that row.
        let criterion = Criterion::built_in(config.loss.name, Default::default());
        let scoring = Scoring {
            activation: config.loss.name.activation(),
            boundary_tolerance: crate::metrics::DEFAULT_BOUNDARY_TOLERANCE,
        };
        let again = evaluate(
            &trained.net,
            &criterion,
            &Feed::new(&data, 8, 8),
            &data.val,
            7,
            Device::Cpu,
            scoring,
        )
        .expect("evaluates");
        let row = &trained.rows[selection.epoch - 1];
        assert_eq!(again.metrics.miou.to_bits(), row.val_miou.to_bits());
        let test = selection.test.expect("test scores");
        let on_test = evaluate_test(&trained.net, &criterion, &config, &data, 7, Device::Cpu)
            .expect("evaluates")
            .expect("a test split");
        assert_eq!(format!("{test:?}"), format!("{on_test:?}"), "NaN included");
        assert!(test.miou.is_finite() && test.iou_per_class.len() == 7);

        // Under `last`, the last epoch is selected and tested, since the data have a test split.
        let last = RunConfig {
            train: crate::config::TrainConfig {
                select: Select::Last,
                ..config.train.clone()
            },
            ..config.clone()
        };
        let trained = run(&last, &data);
        let selection = trained.selection.expect("a test split records a selection");
        assert_eq!(selection.epoch, 5);
        assert!(selection.test.is_some());
    }

    #[test]
    fn a_run_without_selection_or_test_split_records_none() {
        let mut config = tiny(1);
        config.train.select = Select::Last;
        if let DataConfig::Synthetic(s) = &mut config.data {
            s.test_images = 0;
        }
        let data = config.data.load().expect("data");
        assert!(run(&config, &data).selection.is_none());
    }

    #[test]
    fn a_run_not_scored_on_test_records_no_test_scores_though_the_data_have_them() {
        let mut config = tiny(2);
        config.train.score_test = false;
        let data = config.data.load().expect("data");
        assert!(data.test.is_some());
        let selection = run(&config, &data)
            .selection
            .expect("best_val still selects");
        assert!(selection.test.is_none());
        config.train.select = Select::Last;
        assert!(run(&config, &data).selection.is_none());
    }

    #[test]
    fn lower_is_better_for_a_selected_loss_and_nan_is_never_best() {
        let mut config = tiny(1);
        config.train.select_metric = Some("val_loss".into());
        let data = config.data.load().expect("data");
        let learner = train::Learner::new(&config, &data, 1).expect("learner");
        let mut selector = Selector::new(&config);
        let row = |epoch, val_loss| EpochRow {
            epoch,
            val_loss,
            ..Default::default()
        };
        for (epoch, loss) in [(1, 0.9), (2, 0.5), (3, f64::NAN), (4, 0.5), (5, 0.7)] {
            selector.observe(&row(epoch, loss), &learner.vars);
        }
        let mut vars = learner.vars;
        assert_eq!(selector.finish(&mut vars, 5).expect("finish"), 2);
    }

    #[test]
    fn a_run_resumed_from_its_checkpoint_selects_and_tests_as_an_uninterrupted_one() {
        let config = tiny(5);
        let data = config.data.load().expect("data");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |k: usize| dir.path().join(format!("checkpoint-{k}.safetensors"));
        let whole = train::train(
            &config,
            &data,
            1,
            &AtomicBool::new(false),
            None,
            |row, s| {
                s.save(&path(row.epoch)).expect("checkpoint");
            },
        )
        .expect("trains");
        let selection = whole.selection.clone().expect("selection");
        for k in 1..5 {
            let from = checkpoint::read(&path(k)).expect("checkpoint");
            // The checkpoint holds the best epoch of the first k.
            let mut restored = Selector::new(&config);
            restored.restore(&from.tensors).expect("restores");
            let best = restored.best.as_ref().map(|b| b.epoch);
            assert_eq!(best, Some(argmax(&whole.rows[..k])), "after epoch {k}");
            let resumed = train::train(
                &config,
                &data,
                1,
                &AtomicBool::new(false),
                Some(&from),
                |_, _| {},
            )
            .expect("resumes");
            assert_eq!(
                format!("{:?}", resumed.selection),
                format!("{:?}", Some(&selection)),
                "from epoch {k}"
            );
        }
    }
}
