//! The configuration of one training run: its data, model, loss, optimizer, schedule and
//! device, with defaults for everything, validation, and Hydra-style `key=value` overrides.

mod document;
pub mod keys;
pub mod loss;
pub mod preset;
pub mod size;
pub mod sweep;
pub mod tune;

use std::path::Path;

pub use document::{closest, resolve, valid_keys, ConfigError, Document, Origins};
pub use loss::LossConfig;
use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::model::{BnVariance, Init};
pub use preset::Preset;

/// Everything one run needs; every table and key is optional in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub loss: LossConfig,
    pub optim: OptimConfig,
    pub train: TrainConfig,
    /// `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when libtorch sees a GPU).
    pub device: String,
    /// The framework whose defaults the unset keys take: `pytorch` (default) or `keras`
    /// ([`preset`]).
    #[serde(skip_serializing_if = "Preset::is_default")]
    pub preset: Preset,
}

/// The `[model]` table. `in_channels` and `num_classes` follow the data unless set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub in_channels: Option<i64>,
    pub num_classes: Option<i64>,
    pub base_channels: i64,
    pub depth: usize,
    pub batch_norm: bool,
    /// Channels-last (NHWC) memory layout for weights and activations: the same maths,
    /// faster convolutions on CPU.
    pub channels_last: bool,
    /// How the weights start: `pytorch` (torch.nn's defaults), `keras` or `kaiming`.
    pub init: Init,
    /// Batch norm's weight of the new batch statistic in its running averages: PyTorch's
    /// `momentum` (0.1); Keras' `momentum=0.99` is 0.01 here.
    #[serde(skip_serializing_if = "is_default_bn_momentum")]
    pub bn_momentum: f64,
    /// Batch norm's ε, added to the variance (PyTorch 1e-5, Keras 1e-3).
    #[serde(skip_serializing_if = "is_default_bn_eps")]
    pub bn_eps: f64,
    /// Which variance of a batch the running variance averages: `unbiased` (PyTorch's,
    /// n − 1) or `biased` (Keras', n). Training normalises by the biased one either way.
    #[serde(skip_serializing_if = "BnVariance::is_default")]
    pub bn_variance: BnVariance,
}

/// PyTorch's `BatchNorm2d` momentum and ε.
pub const BN_MOMENTUM: f64 = 0.1;
pub const BN_EPS: f64 = 1e-5;

fn is_default_bn_momentum(v: &f64) -> bool {
    *v == BN_MOMENTUM
}

fn is_default_bn_eps(v: &f64) -> bool {
    *v == BN_EPS
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            in_channels: None,
            num_classes: None,
            base_channels: 16,
            depth: 4,
            batch_norm: true,
            channels_last: true,
            init: Init::Pytorch,
            bn_momentum: BN_MOMENTUM,
            bn_eps: BN_EPS,
            bn_variance: BnVariance::Unbiased,
        }
    }
}

/// The optimizers a run can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter); its `weight_decay` defaults
    /// to PyTorch's 0.01.
    Adamw,
    Sgd,
}

/// How the learning rate changes over a run's steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `optim.lr` throughout.
    #[default]
    Constant,
    /// `lr · (1 − t/T)^0.9` at step `t` of `T`, per step (nnU-Net's poly schedule).
    Poly,
    /// `lr · (1 + cos(π t/T)) / 2` at step `t` of `T`, per step (cosine annealing to 0).
    Cosine,
}

/// The exponent of the poly schedule (nnU-Net's).
pub const POLY_EXPONENT: f64 = 0.9;

impl Schedule {
    /// Whether this is the constant schedule (left out of a configuration's canonical form,
    /// so that configurations written before schedules existed keep their run ids).
    pub fn is_constant(&self) -> bool {
        *self == Schedule::Constant
    }

    /// The name sweep files and frames use.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Poly => "poly",
            Schedule::Cosine => "cosine",
        }
    }

    /// The learning rate at step `step` (0-based) of `total`, from the base rate `lr`.
    pub fn lr_at(self, lr: f64, step: usize, total: usize) -> f64 {
        let progress = step as f64 / total.max(1) as f64;
        match self {
            Schedule::Constant => lr,
            Schedule::Poly => lr * (1.0 - progress).max(0.0).powf(POLY_EXPONENT),
            Schedule::Cosine => lr * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0,
        }
    }
}

/// `torch.optim.AdamW`'s default weight decay.
pub const ADAMW_WEIGHT_DECAY: f64 = 0.01;

/// The `[optim]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub name: Optimizer,
    pub lr: f64,
    /// Used by `sgd` only.
    pub momentum: f64,
    /// L2 weight decay for `adam` and `sgd`, decoupled for `adamw`; 0 by default, and
    /// PyTorch's 0.01 for `adamw` when unset.
    pub weight_decay: f64,
    /// How the learning rate changes over the steps: `constant` (default), `poly` or
    /// `cosine`.
    #[serde(skip_serializing_if = "Schedule::is_constant")]
    pub schedule: Schedule,
    /// Adam's and AdamW's ε (PyTorch 1e-8, Keras 1e-7).
    #[serde(skip_serializing_if = "is_default_eps")]
    pub eps: f64,
    /// Where Adam adds ε: `false` to the bias-corrected √v̂ (PyTorch), `true` to √v before
    /// the bias correction, which moves into the step size (Keras and TensorFlow; Kingma &
    /// Ba's ε̂). The same update with ε scaled by √(1 − β₂ᵗ).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub eps_hat: bool,
}

/// `torch.optim.Adam`'s ε.
pub const ADAM_EPS: f64 = 1e-8;

fn is_default_eps(v: &f64) -> bool {
    *v == ADAM_EPS
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            name: Optimizer::Adam,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            eps: ADAM_EPS,
            eps_hat: false,
        }
    }
}

/// The `[train]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds weight initialisation and shuffling (the data have their own seed).
    pub seed: u64,
    /// libtorch intra-op threads; 0 means the machine's cores.
    pub threads: usize,
    /// Drop the last, smaller batch of each epoch (PyTorch's DataLoader keeps it: false).
    pub drop_last: bool,
    /// Which epoch's weights the run keeps and is judged by: `last` (default) or
    /// `best_val` (the best validation `select_metric`).
    #[serde(skip_serializing_if = "Select::is_last")]
    pub select: Select,
    /// The validation metric `best_val` selects on (default `val_miou`): one of
    /// [`SELECT_METRICS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_metric: Option<String>,
    /// The surface Dice's tolerance and the boundary IoU's band width in pixels (the
    /// sweep's `report.boundary_tolerance`); unset is
    /// [`crate::metrics::DEFAULT_BOUNDARY_TOLERANCE`], and left out of the canonical form
    /// (so run ids stay those of runs before it existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary_tolerance: Option<f64>,
    /// Whether a finished run is scored on the data's test split, when they have one
    /// (default true). A tuned sweep's tuning trials set it false, so that nothing that
    /// chooses a setting has looked at the test split; left out of the canonical form while
    /// true (so run ids stay those of runs before it existed).
    #[serde(skip_serializing_if = "is_true")]
    pub score_test: bool,
    /// The order in which the epochs visit the training set and which images they flip:
    /// `pytorch` (default), as `DataLoader(shuffle=True)` draws them after
    /// `torch.manual_seed(seed)` and the model, or `chacha`, lossbench's own shuffle of runs
    /// written before. Left out of the canonical form while `pytorch` (so run ids stay those
    /// of runs before it existed).
    #[serde(skip_serializing_if = "Order::is_pytorch")]
    pub order: Order,
    /// libtorch's deterministic settings for the process ([`crate::device::deterministic`]:
    /// deterministic algorithms, cuDNN deterministic and not benchmarking,
    /// `CUBLAS_WORKSPACE_CONFIG=:4096:8`), which CUDA runs need to rerun bit for bit. Left
    /// out of the canonical form while false (so run ids stay those of runs before it
    /// existed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deterministic: bool,
    /// The forward pass's precision: `fp32` (default), or `bf16` / `fp16` under libtorch's
    /// autocast, as `torch.autocast` runs it, with `fp16`'s gradients scaled as
    /// `torch.amp.GradScaler` scales them ([`crate::run::precision`]). Left out of the
    /// canonical form while `fp32` (so run ids stay those of runs before it existed).
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

/// The precision of a run's forward pass (`train.precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in float32.
    #[default]
    Fp32,
    /// Autocast to bfloat16: convolutions and matrix products in bfloat16, the rest as
    /// autocast leaves it; the loss and the metrics in float32.
    Bf16,
    /// Autocast to float16, with dynamic loss scaling.
    Fp16,
}

impl Precision {
    /// Whether this is `fp32`, the default.
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }
}

/// Where a run's batch order and flips come from (`train.order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// PyTorch's: drawn from libtorch's generator as a `DataLoader` with `shuffle=True`
    /// and a `RandomHorizontalFlip` in the dataset draw them ([`crate::data::order`]).
    #[default]
    Pytorch,
    /// A ChaCha8 generator of the run's own, seeded with `train.seed`: the order of every
    /// run written before PyTorch's became the default, which such a run keeps when it is
    /// resumed or rerun.
    Chacha,
}

impl Order {
    /// Whether this is `pytorch`, the default.
    pub fn is_pytorch(&self) -> bool {
        *self == Order::Pytorch
    }
}

/// Whether `value` is true: `score_test`'s default, left out of the canonical form.
fn is_true(value: &bool) -> bool {
    *value
}

/// Which epoch's weights a run keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// The last epoch's (today's behaviour).
    #[default]
    Last,
    /// The epoch with the best validation score: kept in memory and in the checkpoint, and
    /// evaluated on the test split.
    BestVal,
}

impl Select {
    /// Whether this is `last` (left out of a configuration's canonical form, so that
    /// configurations written before selection existed keep their run ids).
    pub fn is_last(&self) -> bool {
        *self == Select::Last
    }
}

/// The validation metrics `train.select_metric` accepts; the first is the default.
pub const SELECT_METRICS: [&str; 4] = ["val_miou", "val_loss", "pixel_accuracy", "binary_accuracy"];

impl TrainConfig {
    /// The metric `best_val` selects on.
    pub fn select_metric(&self) -> &str {
        self.select_metric.as_deref().unwrap_or(SELECT_METRICS[0])
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 8,
            seed: 0,
            threads: 0,
            drop_last: false,
            select: Select::Last,
            select_metric: None,
            score_test: true,
            boundary_tolerance: None,
            order: Order::Pytorch,
            deterministic: false,
            precision: Precision::Fp32,
        }
    }
}

impl RunConfig {
    /// This configuration as a run folder's `config.toml` records it: as TOML writes it,
    /// with `train.order` even at its default, so that a folder written before the key
    /// existed (which has none: its runs shuffled with ChaCha) is told apart.
    pub fn to_folder_toml(&self) -> anyhow::Result<String> {
        let mut table = toml::Table::try_from(self)?;
        if let Some(toml::Value::Table(train)) = table.get_mut("train") {
            train.insert("order".into(), toml::Value::try_from(self.train.order)?);
        }
        Ok(toml::to_string(&table)?)
    }

    /// Reads a run folder's `config.toml` text ([`RunConfig::to_folder_toml`]); one without
    /// `train.order` was written before the key existed, by a run that shuffled with
    /// ChaCha, and reads as `chacha`.
    pub fn from_folder_toml(text: &str) -> Result<Self, toml::de::Error> {
        let table: toml::Table = toml::from_str(text)?;
        let recorded = table.get("train").and_then(|t| t.get("order")).is_some();
        let mut config: RunConfig = table.try_into()?;
        if !recorded {
            config.train.order = Order::Chacha;
        }
        Ok(config)
    }

    /// Reads a run configuration (the tables of a sweep's `[base]`, at top level) from a
    /// TOML file, applying `overrides` (`key=value`).
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::with_overrides(&Document::read(path)?, overrides)
    }

    /// The defaults with `overrides` applied.
    pub fn from_overrides(overrides: &[String]) -> Result<Self, ConfigError> {
        Self::with_overrides(&Document::empty(), overrides)
    }

    fn with_overrides(doc: &Document, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut table = doc.table.clone();
        let mut origins = Origins::default();
        for o in parse_overrides(overrides)? {
            set_dotted(&mut table, &o.key, o.value).map_err(|m| ConfigError::at_set(&o.text, m))?;
            origins.set.insert(o.key, o.text);
        }
        resolve(&table, doc, &origins)
    }

    /// Checks the values that no type can: positive counts and rates.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: &str, message: String| {
            Err(Invalid {
                key: key.to_string(),
                message,
            })
        };
        if self.train.epochs == 0 {
            return invalid("train.epochs", "must be at least 1, got 0".into());
        }
        if self.train.batch_size == 0 {
            return invalid("train.batch_size", "must be at least 1, got 0".into());
        }
        if !(self.optim.lr.is_finite() && self.optim.lr > 0.0) {
            return invalid(
                "optim.lr",
                format!("must be a positive number, got {}", self.optim.lr),
            );
        }
        self.loss.validate()?;
        if !(0.0..1.0).contains(&self.optim.momentum) {
            return invalid(
                "optim.momentum",
                format!("must lie in [0, 1), got {}", self.optim.momentum),
            );
        }
        if !(self.optim.weight_decay.is_finite() && self.optim.weight_decay >= 0.0) {
            return invalid(
                "optim.weight_decay",
                format!("must be >= 0, got {}", self.optim.weight_decay),
            );
        }
        if !(self.optim.eps.is_finite() && self.optim.eps > 0.0) {
            return invalid(
                "optim.eps",
                format!("must be a positive number, got {}", self.optim.eps),
            );
        }
        if !(self.model.bn_momentum.is_finite() && (0.0..=1.0).contains(&self.model.bn_momentum)) {
            return invalid(
                "model.bn_momentum",
                format!(
                    "must lie in [0, 1] (the weight of the new batch statistic, PyTorch's \
                     convention: Keras' momentum=0.99 is 0.01), got {}",
                    self.model.bn_momentum
                ),
            );
        }
        if !(self.model.bn_eps.is_finite() && self.model.bn_eps > 0.0) {
            return invalid(
                "model.bn_eps",
                format!("must be a positive number, got {}", self.model.bn_eps),
            );
        }
        if self.model.base_channels < 1 {
            return invalid(
                "model.base_channels",
                format!("must be at least 1, got {}", self.model.base_channels),
            );
        }
        if !(1..=8).contains(&self.model.depth) {
            return invalid(
                "model.depth",
                format!("must lie in 1..=8, got {}", self.model.depth),
            );
        }
        if let Some(t) = self
            .train
            .boundary_tolerance
            .filter(|t| !(t.is_finite() && *t >= 0.0 && *t <= 1000.0))
        {
            return invalid(
                "train.boundary_tolerance",
                format!("must be a number of pixels in [0, 1000], got {t}"),
            );
        }
        if self.train.seed > i64::MAX as u64 {
            return invalid(
                "train.seed",
                format!("must be at most {}, got {}", i64::MAX, self.train.seed),
            );
        }
        if let Some(metric) = &self.train.select_metric {
            if !SELECT_METRICS.contains(&metric.as_str()) {
                return invalid(
                    "train.select_metric",
                    format!(
                        "`{metric}` is not a validation metric to select on; valid ones are: {}",
                        SELECT_METRICS.join(", ")
                    ),
                );
            }
            if self.train.select != Select::BestVal {
                return invalid(
                    "train.select_metric",
                    "only applies with train.select = \"best_val\"; set that too, or remove train.select_metric".into(),
                );
            }
        }
        if let Err(message) = check_device_name(&self.device) {
            return invalid("device", message);
        }
        self.data.validate().map_err(|(key, message)| Invalid {
            key: format!("data.{key}"),
            message,
        })
    }

    /// The libtorch intra-op thread count this configuration asks for, given `fallback`
    /// for `threads = 0`.
    pub fn threads_or(&self, fallback: usize) -> usize {
        match self.train.threads {
            0 => fallback.max(1),
            n => n,
        }
    }

    /// The device this configuration asks for, checked against what libtorch sees; with
    /// `train.deterministic`, libtorch's deterministic settings are made too (for the
    /// whole process, and before its first cuBLAS call: the scheduler asks every run's
    /// device before any run starts).
    pub fn device(&self) -> anyhow::Result<tch::Device> {
        let device = parse_device(&self.device)?;
        if self.train.deterministic {
            crate::device::deterministic().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(device)
    }
}

/// A value that no type rules out but the run cannot use.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// The dotted key, e.g. `train.epochs`.
    pub key: String,
    pub message: String,
}

/// Checks that `name` is a device name (`cpu`, `cuda`, `cuda:N`, `auto`, or empty for
/// `cpu`), whatever this machine has: a sweep for a GPU cluster can be planned anywhere.
pub fn check_device_name(name: &str) -> Result<(), String> {
    crate::device::Request::parse(name).map(|_| ())
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (empty means `cpu`) against what libtorch sees
/// here, loading its CUDA backend for a CUDA name; the error says why no GPU is usable.
pub fn parse_device(name: &str) -> anyhow::Result<tch::Device> {
    crate::device::resolve(name).map_err(|message| anyhow::anyhow!("{message}"))
}

/// One `--set key=value` from the command line.
#[derive(Clone, Debug)]
pub struct Override {
    pub key: String,
    pub value: toml::Value,
    /// The argument as written, for messages.
    pub text: String,
}

/// Parses `dotted.key=value` arguments; values are TOML (`3`, `1e-3`, `[1, 2]`, `"adam"`),
/// and a bare word that is not TOML is taken as a string (`loss.name=bce`).
pub fn parse_overrides(items: &[String]) -> Result<Vec<Override>, ConfigError> {
    items
        .iter()
        .map(|item| {
            let Some((key, raw)) = item.split_once('=') else {
                return Err(ConfigError::at_set(item, "has no `=`".into())
                    .with_fix("write it as key=value, e.g. --set train.epochs=3"));
            };
            let key = key.trim();
            if key.is_empty() || key.split('.').any(str::is_empty) {
                return Err(
                    ConfigError::at_set(item, format!("`{key}` is not a dotted key"))
                        .with_fix("write the key like train.epochs or grid.seed"),
                );
            }
            Ok(Override {
                key: key.to_string(),
                value: parse_value(raw.trim()),
                text: item.clone(),
            })
        })
        .collect()
}

/// A value written on the command line: TOML if it parses, else a string.
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    toml::from_str::<toml::Table>(&doc)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Sets `value` at the dotted `key` of `table`, creating tables on the way.
pub fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return Ok(());
        }
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{part}` in `{key}` is a value, not a table")),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::Loss;

    #[test]
    fn schedules_start_at_the_base_rate_and_follow_their_formulas() {
        let (lr, total) = (0.01, 100);
        for schedule in [Schedule::Constant, Schedule::Poly, Schedule::Cosine] {
            assert_eq!(schedule.lr_at(lr, 0, total), lr, "{schedule:?}");
        }
        assert_eq!(Schedule::Constant.lr_at(lr, 99, total), lr);
        assert!((Schedule::Poly.lr_at(lr, 50, total) - lr * 0.5f64.powf(0.9)).abs() < 1e-15);
        assert!((Schedule::Cosine.lr_at(lr, 50, total) - lr / 2.0).abs() < 1e-15);
        assert!(
            (Schedule::Cosine.lr_at(lr, 25, total) - lr * 0.853_553_390_593_273_7).abs() < 1e-15
        );
        assert!(Schedule::Poly.lr_at(lr, 99, total) > 0.0);
        assert!(Schedule::Cosine.lr_at(lr, 99, total) < 1e-5);
    }

    fn overrides(items: &[&str]) -> Result<RunConfig, ConfigError> {
        RunConfig::from_overrides(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_run_folder_records_the_batch_order_and_one_without_it_shuffled_with_chacha() {
        let config = RunConfig::default();
        let text = config.to_folder_toml().expect("TOML");
        assert!(text.contains("order = \"pytorch\""), "{text}");
        assert_eq!(RunConfig::from_folder_toml(&text).expect("reads"), config);
        let canonical = toml::to_string(&config).expect("TOML");
        assert!(!canonical.contains("order"), "{canonical}");
        let old = RunConfig::from_folder_toml(&canonical).expect("reads");
        assert_eq!(old.train.order, Order::Chacha);
        let chacha = RunConfig {
            train: TrainConfig {
                order: Order::Chacha,
                ..config.train.clone()
            },
            ..config.clone()
        };
        let text = chacha.to_folder_toml().expect("TOML");
        assert_eq!(RunConfig::from_folder_toml(&text).expect("reads"), chacha);
        assert!(overrides(&["train.order=\"fifo\""]).is_err());
    }

    #[test]
    fn precision_is_in_the_canonical_form_only_when_it_is_not_fp32() {
        let fp32 = RunConfig::default();
        let canonical = toml::to_string(&fp32).expect("TOML");
        assert!(!canonical.contains("precision"), "{canonical}");
        let bf16 = overrides(&["train.precision=\"bf16\""]).expect("bf16");
        assert_eq!(bf16.train.precision, Precision::Bf16);
        let canonical = toml::to_string(&bf16).expect("TOML");
        assert!(canonical.contains("precision = \"bf16\""), "{canonical}");
        let typo = overrides(&["train.precision=\"fp61\""])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            typo.contains("train.precision") && typo.contains("`fp32`, `bf16`, `fp16`"),
            "{typo}"
        );
    }

    #[test]
    fn empty_configuration_takes_every_default() {
        let config = overrides(&[]).expect("defaults");
        assert_eq!(config, RunConfig::default());
        assert_eq!(config.loss.name, Loss::Cce);
    }

    #[test]
    fn overrides_parse_numbers_words_and_lists() {
        let config = overrides(&[
            "train.epochs=3",
            "loss.name=bce",
            "optim.lr=1e-2",
            "data.class_weights=[1,1,1,1,1,1]",
        ])
        .expect("config");
        assert_eq!(config.train.epochs, 3);
        assert_eq!(config.loss.name, Loss::Bce);
        assert_eq!(config.optim.lr, 1e-2);
        let DataConfig::Synthetic(data) = &config.data else {
            panic!("expected synthetic data, got {:?}", config.data);
        };
        assert_eq!(data.class_weights, vec![1.0; 6]);
    }

    #[test]
    fn override_without_equals_sign_says_how_to_write_it() {
        let err = overrides(&["train.epochs"])
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("has no `=`"), "{err}");
    }

    #[test]
    fn zero_epochs_and_non_positive_lr_are_refused() {
        for (set, fragment) in [
            ("train.epochs=0", "`train.epochs` must be at least 1"),
            ("optim.lr=-1", "`optim.lr` must be a positive"),
        ] {
            let err = overrides(&[set])
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(err.contains(fragment), "{set}: {err}");
        }
    }

    #[test]
    fn init_and_drop_last_default_to_pytorchs_and_can_be_set() {
        let config = overrides(&[]).expect("defaults");
        assert_eq!(config.model.init, Init::Pytorch);
        assert!(!config.train.drop_last);
        let config = overrides(&["model.init=keras", "train.drop_last=true"]).expect("config");
        assert_eq!(config.model.init, Init::Keras);
        assert!(config.train.drop_last);
        let err = overrides(&["model.init=xavier"])
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        for name in ["xavier", "pytorch", "keras", "kaiming"] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn unknown_loss_lists_the_valid_ones() {
        let err = overrides(&["loss.name=dicey"])
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("dicey") && err.contains("bce_dice"), "{err}");
    }

    #[test]
    fn cuda_without_a_gpu_is_a_clear_error() {
        if crate::device::gpu_count() == 0 {
            let err = parse_device("cuda")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("no CUDA device"), "{err}");
        }
        assert_eq!(parse_device("cpu").ok(), Some(tch::Device::Cpu));
        assert!(parse_device("tpu").is_err());
    }
}
