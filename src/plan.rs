//! Expands a sweep's grid into runs: the cartesian product of the axes, each point a fully
//! resolved [`RunConfig`] with a stable id (a hash of that configuration, so the same
//! configuration has the same id whatever the order of keys in the file) and a readable
//! label (`loss=bce,seed=2`). Also the `--only` filter.
//!
//! A plan keeps each run as a compact record (its grid point, its id as a number, the index
//! of its loss name), about 24 bytes, so that a million runs fit in a few tens of MiB; the
//! axes' values are kept once, in the sweep. A run's label and configuration are built when
//! asked for ([`PlannedRun::label`], [`PlannedRun::config`]), the configuration resolved
//! again from the sweep's base and the run's point, which expansion already validated.
//!
//! A value of the `loss` axis is a name or a whole `[loss]` table (`{ name = "focal",
//! gamma = 1 }`); each run's loss is named by what varies among the sweep's losses of its
//! name (`focal γ=1`, [`names`]), in its label, the frame's `loss` column and the report. A
//! script loss's file is hashed into its configuration, so that editing the file makes new
//! runs; each file is read once, when the sweep is expanded.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::loss::script_hash;
use crate::config::size::{bytes, machine_memory, thousands};
use crate::config::sweep::{Axis, Sweep, DATASET_AXIS};
use crate::config::{resolve, set_dotted, ConfigError, Origins, RunConfig};
use crate::losses::Loss;

mod names;

/// The axis of the loss (`loss`, short for `loss.name`).
const LOSS_AXIS: &str = "loss.name";

/// A sweep's runs, in grid order (the first axis varies slowest): [`Plan::runs`],
/// [`Plan::run`], [`Plan::len`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub sweep: Sweep,
    /// One record per run, in grid order.
    runs: Vec<Entry>,
    /// Per axis, the points one step of its value spans: the product of the lengths of the
    /// axes after it.
    strides: Vec<usize>,
    /// The distinct loss names, which the records index.
    losses: Vec<String>,
    /// The BLAKE3 hash of each script loss's file, read once at expansion.
    scripts: HashMap<PathBuf, String>,
}

/// What a plan keeps of one run.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The grid point: axis `k` takes value `(point / strides[k]) % len_k`.
    point: usize,
    /// The run id's 12 hex digits as a number.
    id: u64,
    /// The index of the run's loss name in [`Plan::losses`].
    loss: usize,
}

/// One run of a plan, as its position in it: its id, label, loss name and axis values,
/// and its configuration on demand.
#[derive(Clone, Copy)]
pub struct PlannedRun<'a> {
    plan: &'a Plan,
    index: usize,
}

impl Plan {
    /// The number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether the plan has no run (a grid always has at least one point).
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Run `index` (its position in grid order), if the plan has so many.
    pub fn run(&self, index: usize) -> Option<PlannedRun<'_>> {
        (index < self.runs.len()).then_some(PlannedRun { plan: self, index })
    }

    /// Every run, in grid order.
    pub fn runs(&self) -> impl ExactSizeIterator<Item = PlannedRun<'_>> + '_ {
        (0..self.runs.len()).map(move |index| PlannedRun { plan: self, index })
    }
}

impl<'a> PlannedRun<'a> {
    fn entry(&self) -> Entry {
        self.plan.runs[self.index]
    }

    /// The run's position in its plan.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The run id: the first 12 hex digits of the BLAKE3 hash of its configuration
    /// ([`run_id`]).
    pub fn id(&self) -> String {
        format!("{:012x}", self.entry().id)
    }

    /// The loss as frames and reports name it (`cce`, `focal γ=1`, a script's stem).
    pub fn loss(&self) -> &'a str {
        &self.plan.losses[self.entry().loss]
    }

    /// `(axis label, value)` in axis order.
    pub fn axes(&self) -> impl Iterator<Item = (&'a str, &'a toml::Value)> + 'a {
        point_values(
            &self.plan.sweep.axes,
            &self.plan.strides,
            self.entry().point,
        )
        .map(|(axis, value)| (axis.label.as_str(), value))
    }

    /// `loss=bce,seed=2` (the loss axis by the run's loss name); `base` for a sweep without
    /// axes.
    pub fn label(&self) -> String {
        if self.plan.sweep.axes.is_empty() {
            return "base".to_string();
        }
        self.axes()
            .map(|(k, v)| match v {
                toml::Value::Table(_) if k == "loss" => format!("{k}={}", self.loss()),
                _ => format!("{k}={}", display_value(v)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The run's fully resolved configuration, built again from the sweep's base and the
    /// run's point (expansion resolved it once already, so an error here is one of a sweep
    /// changed since, such as a script whose hash the plan lacks).
    pub fn config(&self) -> Result<RunConfig, ConfigError> {
        let scripts = &self.plan.scripts;
        configure(
            &self.plan.sweep,
            &self.plan.strides,
            self.entry().point,
            &mut |path| {
                scripts.get(path).cloned().ok_or_else(|| {
                    format!(
                        "loss.path {} was not hashed when the sweep was planned; plan the sweep again",
                        path.display()
                    )
                })
            },
        )
    }
}

/// The stable id of a configuration: the first 12 hex digits of the BLAKE3 hash of its
/// canonical JSON form (fields in declaration order, every default written out).
pub fn run_id(config: &RunConfig) -> String {
    format!("{:012x}", id_number(config))
}

/// [`run_id`] as a number: the hash's first 6 bytes, big-endian.
fn id_number(config: &RunConfig) -> u64 {
    let canonical = serde_json::to_string(config).unwrap_or_default();
    let hash = blake3::hash(canonical.as_bytes());
    let mut number = [0u8; 8];
    number[2..].copy_from_slice(&hash.as_bytes()[..6]);
    u64::from_be_bytes(number)
}

/// A value as written in labels and frames: strings bare, numbers as TOML writes them.
pub fn display_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The number of runs the grid of `sweep` makes (the product of its axes' lengths, before
/// duplicates are dropped), checked against its cap (`--max-runs`, `max_runs` in
/// `[sweep]`) before anything is expanded: a grid over the cap is an error that names each
/// axis and its length.
pub fn check_size(sweep: &Sweep) -> Result<usize, ConfigError> {
    let size = sweep
        .axes
        .iter()
        .try_fold(1u64, |n, a| n.checked_mul(a.values.len() as u64));
    let n = match size {
        Some(n) if n <= sweep.max_runs => n,
        _ => return Err(too_many(sweep, size)),
    };
    // A cap raised past what the machine holds: the plan itself would not fit.
    let needs = u128::from(n) * PLANNED_RUN_BYTES;
    if let Some(memory) = machine_memory().filter(|&m| needs > m) {
        return Err(ConfigError::new(
            sweep.doc.locate(&["grid"]),
            format!(
                "the grid makes {} runs, whose plan alone needs about {} ({PLANNED_RUN_BYTES} bytes a run), this machine has {}",
                thousands(n.into()),
                bytes(Some(needs)),
                bytes(Some(memory))
            ),
        )
        .with_fix("list fewer values on an axis"));
    }
    usize::try_from(n).map_err(|_| too_many(sweep, size))
}

/// About what planning takes in memory per run (its record, and the selection and the ids
/// seen on the way), rounded up from the 54 to 71 bytes `make bench` measures.
const PLANNED_RUN_BYTES: u128 = 128;

/// The error of a grid of `size` runs (`None`: more than `u64` counts) over the cap.
fn too_many(sweep: &Sweep, size: Option<u64>) -> ConfigError {
    let axes: Vec<String> = sweep
        .axes
        .iter()
        .map(|a| format!("{} ({})", a.label, a.values.len()))
        .collect();
    let (runs, raise) = match size {
        Some(n) => (
            format!("{} runs", thousands(n.into())),
            format!("--max-runs {n} (or max_runs = {n} in [sweep])"),
        ),
        None => (
            format!("more than {} runs", thousands(u64::MAX.into())),
            "--max-runs N (or max_runs = N in [sweep])".to_string(),
        ),
    };
    ConfigError::new(
        sweep.doc.locate(&["grid"]),
        format!(
            "the grid makes {runs}: {}, more than the cap of {} run{}",
            axes.join(" × "),
            thousands(sweep.max_runs.into()),
            if sweep.max_runs == 1 { "" } else { "s" }
        ),
    )
    .with_fix(format!(
        "list fewer values on an axis, or raise the cap with {raise}"
    ))
}

/// Expands `sweep` into its runs; a configuration error names the axis value or key at fault.
/// A grid over the sweep's cap is refused first ([`check_size`]). Time and memory grow
/// linearly with the runs.
pub fn expand(sweep: Sweep) -> Result<Plan, ConfigError> {
    expand_where(sweep, &|_| true)
}

/// [`expand`], keeping only the grid points whose axis values (in axis order) `keep`
/// accepts: how a tuning stage trains each grid point at its own settings.
pub fn expand_where(
    sweep: Sweep,
    keep: &dyn Fn(&[&toml::Value]) -> bool,
) -> Result<Plan, ConfigError> {
    let size = check_size(&sweep)?;
    let strides = strides(&sweep.axes);
    // Room for every run, up to a million at first (duplicates give fewer).
    let room = size.min(1 << 20);
    let mut runs: Vec<Entry> = Vec::with_capacity(room);
    // Each run's loss, scale aside, as the number of its first appearance.
    let mut identities: Vec<usize> = Vec::with_capacity(room);
    let mut losses = names::Losses::default();
    let mut scripts: HashMap<PathBuf, String> = HashMap::new();
    // The ids seen so far: a configuration that two points of the grid give runs once.
    let mut seen: HashSet<u64> = HashSet::with_capacity(room);
    for point in 0..size {
        let values: Vec<&toml::Value> = point_values(&sweep.axes, &strides, point)
            .map(|(_, v)| v)
            .collect();
        if !keep(&values) {
            continue;
        }
        let mut hash = |path: &Path| match scripts.get(path) {
            Some(hash) => Ok(hash.clone()),
            None => {
                let hash = script_hash(path)?;
                scripts.insert(path.to_path_buf(), hash.clone());
                Ok(hash)
            }
        };
        let config = configure(&sweep, &strides, point, &mut hash)?;
        let id = id_number(&config);
        if !seen.insert(id) {
            continue;
        }
        identities.push(losses.number(&config.loss));
        runs.push(Entry { point, id, loss: 0 });
    }
    drop(seen);
    runs.shrink_to_fit();
    let (names, named) = losses.names(&identities, &sweep)?;
    drop(identities);
    for (run, name) in runs.iter_mut().zip(named) {
        run.loss = name;
    }
    Ok(Plan {
        sweep,
        runs,
        strides,
        losses: names,
        scripts,
    })
}

/// The configuration of grid point `point` of `sweep` (`strides` its axes' [`strides`]),
/// resolved and checked; `hash` gives a script loss's file hash. A configuration error
/// names the axis value or key at fault.
fn configure(
    sweep: &Sweep,
    strides: &[usize],
    point: usize,
    hash: &mut dyn FnMut(&Path) -> Result<String, String>,
) -> Result<RunConfig, ConfigError> {
    let mut table = sweep.base.clone();
    let mut origins = Origins {
        set: sweep.set.clone(),
        prefix: vec!["base".to_string()],
        ..Default::default()
    };
    for (axis, value) in point_values(&sweep.axes, strides, point) {
        // The `dataset` axis sets the whole `data` table to the named dataset's, and a
        // table on the `loss` axis the keys of the `loss` table it gives.
        let settings = match (
            sweep.datasets.get(value.as_str().unwrap_or_default()),
            value,
        ) {
            (Some(data), _) if axis.key == DATASET_AXIS => {
                vec![("data".to_string(), data.clone())]
            }
            (_, toml::Value::Table(loss)) if axis.key == LOSS_AXIS => loss
                .iter()
                .map(|(k, v)| (format!("loss.{k}"), v.clone()))
                .collect(),
            _ => vec![(axis.key.clone(), value.clone())],
        };
        for (key, setting) in settings {
            set_dotted(&mut table, &key, setting)
                .map_err(|m| ConfigError::new(sweep.doc.locate(&["grid", &axis.name]), m))?;
            origins.grid.insert(key, (axis.name.clone(), value.clone()));
        }
    }
    let mut config = resolve(&table, &sweep.doc, &origins)?;
    if let (Loss::Script, Some(path)) = (config.loss.name, &config.loss.path) {
        let hash = hash(path).map_err(|message| {
            ConfigError::new(origins.origin(&sweep.doc, "loss.path"), message)
        })?;
        config.loss.script_hash = Some(hash);
    }
    Ok(config)
}

/// Per axis, the points one step of its value spans: the product of the lengths of the
/// axes after it, so that point `i` takes value `(i / stride) % len` of each axis, the
/// first axis varying slowest.
fn strides(axes: &[Axis]) -> Vec<usize> {
    let mut strides = vec![1; axes.len()];
    for k in (0..axes.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * axes[k + 1].values.len();
    }
    strides
}

/// Each axis with its value at grid point `point`.
fn point_values<'a>(
    axes: &'a [Axis],
    strides: &'a [usize],
    point: usize,
) -> impl Iterator<Item = (&'a Axis, &'a toml::Value)> + 'a {
    axes.iter()
        .zip(strides)
        .map(move |(axis, stride)| (axis, &axis.values[(point / stride) % axis.values.len()]))
}

/// `--only loss=bce,seed=2`: the runs whose axes take these values.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    terms: Vec<(String, toml::Value)>,
}

/// An `--only` that names no axis of the sweep or is malformed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("--only `{text}`: {message}")]
pub struct FilterError {
    pub text: String,
    pub message: String,
}

impl Filter {
    /// Parses `axis=value[,axis=value...]` against the axes of `plan`.
    pub fn parse(text: &str, plan: &Plan) -> Result<Self, FilterError> {
        let err = |message: String| FilterError {
            text: text.to_string(),
            message,
        };
        let labels: Vec<&str> = plan.sweep.axes.iter().map(|a| a.label.as_str()).collect();
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let Some((key, value)) = term.split_once('=') else {
                return Err(err(format!(
                    "`{term}` has no `=`; write axis=value, e.g. loss=bce"
                )));
            };
            let key = key.trim();
            let Some(axis) = plan
                .sweep
                .axes
                .iter()
                .find(|a| a.label == key || a.name == key || a.key == key)
            else {
                return Err(err(format!(
                    "`{key}` is not an axis of this sweep; its axes are: {}",
                    if labels.is_empty() {
                        "(none)".to_string()
                    } else {
                        labels.join(", ")
                    }
                )));
            };
            let value = value.trim();
            let Some(v) = axis
                .values
                .iter()
                .find(|v| same(v, value) || names_loss(plan, &axis.label, v, value))
            else {
                let values: Vec<String> = axis
                    .values
                    .iter()
                    .map(|v| value_name(plan, &axis.label, v))
                    .collect();
                return Err(err(format!(
                    "axis `{key}` has no value `{value}`; its values are: {}",
                    values.join(", ")
                )));
            };
            terms.push((axis.label.clone(), v.clone()));
        }
        if terms.is_empty() {
            return Err(err(
                "names no axis; write axis=value[,axis=value...]".to_string()
            ));
        }
        Ok(Filter { terms })
    }

    /// Whether `run` matches every term.
    pub fn matches(&self, run: &PlannedRun<'_>) -> bool {
        self.terms
            .iter()
            .all(|(k, v)| run.axes().any(|(rk, rv)| rk == k && rv == v))
    }
}

/// The runs' loss name of a table on the loss axis `label`, the value as written otherwise.
fn value_name(plan: &Plan, label: &str, value: &toml::Value) -> String {
    if !value.is_table() {
        return display_value(value);
    }
    plan.runs()
        .find(|r| r.axes().any(|(k, v)| k == label && v == value))
        .map_or_else(|| display_value(value), |r| r.loss().to_string())
}

/// Whether `text` is the loss name of `value`, a table on the loss axis `label`; `gamma=`,
/// `alpha=` and `beta=` may stand for `γ=`, `α=` and `β=`.
fn names_loss(plan: &Plan, label: &str, value: &toml::Value, text: &str) -> bool {
    let text = text
        .replace("gamma=", "γ=")
        .replace("alpha=", "α=")
        .replace("beta=", "β=");
    value.is_table() && value_name(plan, label, value) == text
}

/// Whether the command-line `text` denotes `value` (numbers compared as numbers).
fn same(value: &toml::Value, text: &str) -> bool {
    match value {
        toml::Value::Integer(i) => text.parse::<i64>().is_ok_and(|t| t == *i),
        toml::Value::Float(f) => text.parse::<f64>().is_ok_and(|t| t == *f),
        toml::Value::Boolean(b) => text.parse::<bool>().is_ok_and(|t| t == *b),
        other => display_value(other) == text,
    }
}

impl fmt::Display for PlannedRun<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", self.id(), self.label())
    }
}

impl fmt::Debug for PlannedRun<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedRun")
            .field("index", &self.index)
            .field("id", &self.id())
            .field("label", &self.label())
            .finish()
    }
}

#[cfg(test)]
mod tests;
