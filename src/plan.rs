//! Expands a sweep's grid into runs: the cartesian product of the axes, each point a fully
//! resolved [`RunConfig`] with a stable id (a hash of that configuration, so the same
//! configuration has the same id whatever the order of keys in the file) and a readable
//! label (`loss=bce,seed=2`). Also the `--only` filter.
//!
//! A value of the `loss` axis is a name or a whole `[loss]` table (`{ name = "focal",
//! gamma = 1 }`); each run's loss is named by what varies among the sweep's losses of its
//! name (`focal γ=1`), in its label, the frame's `loss` column and the report. A script
//! loss's file is hashed into its configuration, so that editing the file makes new runs.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::config::loss::{script_hash, shown_parameters};
use crate::config::size::{bytes, machine_memory, thousands};
use crate::config::sweep::{Axis, Sweep, DATASET_AXIS};
use crate::config::{resolve, set_dotted, ConfigError, LossConfig, Origins, RunConfig};
use crate::losses::Loss;

/// The axis of the loss (`loss`, short for `loss.name`).
const LOSS_AXIS: &str = "loss.name";

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub label: String,
    /// The loss as frames and reports name it (`cce`, `focal γ=1`, a script's stem).
    pub loss: String,
    /// `(axis label, value)` in axis order.
    pub axes: Vec<(String, toml::Value)>,
    pub config: RunConfig,
}

/// A sweep's runs, in grid order (the first axis varies slowest).
#[derive(Debug, Clone)]
pub struct Plan {
    pub sweep: Sweep,
    pub runs: Vec<PlannedRun>,
}

/// The stable id of a configuration: the first 12 hex digits of the BLAKE3 hash of its
/// canonical JSON form (fields in declaration order, every default written out).
pub fn run_id(config: &RunConfig) -> String {
    let canonical = serde_json::to_string(config).unwrap_or_default();
    blake3::hash(canonical.as_bytes()).to_hex()[..12].to_string()
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

/// About what one planned run holds in memory (its configuration, id, label, loss name and
/// axis values), as `make bench` measures it.
const PLANNED_RUN_BYTES: u128 = 1200;

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
    let size = check_size(&sweep)?;
    // Room for every run, up to a million at first (duplicates give fewer).
    let mut runs: Vec<PlannedRun> = Vec::with_capacity(size.min(1 << 20));
    // The ids seen so far, as numbers (an id is 12 hex digits): a configuration that two
    // points of the grid give runs once.
    let mut seen: HashSet<u64> = HashSet::with_capacity(size.min(1 << 20));
    for point in Points::new(&sweep.axes, size) {
        let mut table = sweep.base.clone();
        let mut origins = Origins {
            set: sweep.set.clone(),
            prefix: vec!["base".to_string()],
            ..Default::default()
        };
        let mut axes = Vec::with_capacity(point.len());
        for (axis, value) in sweep.axes.iter().zip(point) {
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
            axes.push((axis.label.clone(), value.clone()));
        }
        let mut config = resolve(&table, &sweep.doc, &origins)?;
        if let (Loss::Script, Some(path)) = (config.loss.name, &config.loss.path) {
            let hash = script_hash(path).map_err(|message| {
                ConfigError::new(origins.origin(&sweep.doc, "loss.path"), message)
            })?;
            config.loss.script_hash = Some(hash);
        }
        let id = run_id(&config);
        if !seen.insert(id_number(&id)) {
            continue;
        }
        runs.push(PlannedRun {
            id,
            label: String::new(),
            loss: String::new(),
            axes,
            config,
        });
    }
    drop(seen);
    runs.shrink_to_fit();
    let names = loss_names(&runs, &sweep)?;
    for (run, loss) in runs.iter_mut().zip(names) {
        run.label = label(&run.axes, &loss);
        run.loss = loss;
    }
    Ok(Plan { sweep, runs })
}

/// A run id (12 hex digits) as a number, for telling ids apart cheaply.
fn id_number(id: &str) -> u64 {
    u64::from_str_radix(id, 16).unwrap_or_else(|_| {
        // Not hex (no id of [`run_id`]): its hash, which tells different strings apart as
        // well as 64 bits can.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    })
}

/// Each run's loss name ([`LossConfig::describe`] by what varies among the sweep's losses).
/// A script whose name is another loss's becomes `stem (script)`; two other losses of one
/// name are an error that asks for a `loss.label`.
///
/// Two losses are the same loss when their configurations, scale aside, serialise alike;
/// each run's loss is serialised once and numbered, and each name keeps how many runs of
/// each loss carry it, so that telling whether a name is shared by different losses costs
/// one look-up, not a pass over every run.
fn loss_names(runs: &[PlannedRun], sweep: &Sweep) -> Result<Vec<String>, ConfigError> {
    let losses: Vec<&LossConfig> = runs.iter().map(|r| &r.config.loss).collect();
    let shown = shown_parameters(&losses);
    // The loss itself, whatever its scale (a setting the losses are compared under), as
    // the number of its first appearance.
    let mut identities: Vec<String> = Vec::new();
    let mut numbers: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::with_capacity(losses.len());
    let mut first_names: Vec<String> = Vec::new();
    let mut identity: Vec<usize> = Vec::with_capacity(losses.len());
    for l in &losses {
        let mut unscaled = (*l).clone();
        unscaled.scale = 1.0;
        let text = serde_json::to_string(&unscaled).unwrap_or_default();
        let next = identities.len();
        let number = *numbers.entry(text.clone()).or_insert(next);
        if number == next {
            identities.push(text);
            first_names.push(l.describe(&shown[&l.name]));
        }
        names.push(first_names[number].clone());
        identity.push(number);
    }
    drop(numbers);
    // Per name, the losses that carry it and on how many runs.
    let mut carriers: HashMap<String, HashMap<usize, usize>> = HashMap::new();
    for (name, &number) in names.iter().zip(&identity) {
        *carriers
            .entry(name.clone())
            .or_default()
            .entry(number)
            .or_default() += 1;
    }
    let shared = |carriers: &HashMap<String, HashMap<usize, usize>>, name: &str| {
        carriers.get(name).is_some_and(|losses| losses.len() > 1)
    };
    // In run order, as each rename changes which names the later runs share.
    for i in 0..losses.len() {
        if losses[i].name == Loss::Script
            && losses[i].label.is_none()
            && shared(&carriers, &names[i])
        {
            let renamed = format!("{} (script)", names[i]);
            if let Some(losses) = carriers.get_mut(&names[i]) {
                if let Some(n) = losses.get_mut(&identity[i]) {
                    *n -= 1;
                    if *n == 0 {
                        losses.remove(&identity[i]);
                    }
                }
            }
            *carriers
                .entry(renamed.clone())
                .or_default()
                .entry(identity[i])
                .or_default() += 1;
            names[i] = renamed;
        }
    }
    if let Some(i) = (0..losses.len()).find(|&i| shared(&carriers, &names[i])) {
        let j = (0..losses.len())
            .find(|&j| names[j] == names[i] && identity[j] != identity[i])
            .unwrap_or(i);
        return Err(ConfigError::new(
            sweep.doc.locate(&["grid"]),
            format!(
                "two different losses are both named `{}` ({} and {})",
                names[i], identities[identity[i]], identities[identity[j]]
            ),
        )
        .with_fix("give one of them its own name with loss.label"));
    }
    Ok(names)
}

/// `loss=bce,seed=2` (the loss axis by the run's loss name `loss`); `base` for a sweep
/// without axes.
fn label(axes: &[(String, toml::Value)], loss: &str) -> String {
    if axes.is_empty() {
        return "base".to_string();
    }
    axes.iter()
        .map(|(k, v)| match v {
            toml::Value::Table(_) if k == "loss" => format!("{k}={loss}"),
            _ => format!("{k}={}", display_value(v)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Every combination of axis values, the first axis varying slowest, one at a time: point
/// `i` takes value `(i / stride) % len` of each axis, its stride the product of the lengths
/// of the axes after it.
struct Points<'a> {
    axes: &'a [Axis],
    strides: Vec<usize>,
    next: usize,
    size: usize,
}

impl<'a> Points<'a> {
    /// The `size` points of `axes` (`size` the product of their lengths, [`check_size`]).
    fn new(axes: &'a [Axis], size: usize) -> Self {
        let mut strides = vec![1; axes.len()];
        for k in (0..axes.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * axes[k + 1].values.len();
        }
        Points {
            axes,
            strides,
            next: 0,
            size,
        }
    }
}

impl<'a> Iterator for Points<'a> {
    type Item = Vec<&'a toml::Value>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.size {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(
            self.axes
                .iter()
                .zip(&self.strides)
                .map(|(axis, stride)| &axis.values[(i / stride) % axis.values.len()])
                .collect(),
        )
    }
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
    pub fn matches(&self, run: &PlannedRun) -> bool {
        self.terms
            .iter()
            .all(|(k, v)| run.axes.iter().any(|(rk, rv)| rk == k && rv == v))
    }
}

/// The runs' loss name of a table on the loss axis `label`, the value as written otherwise.
fn value_name(plan: &Plan, label: &str, value: &toml::Value) -> String {
    plan.runs
        .iter()
        .find(|r| value.is_table() && r.axes.iter().any(|(k, v)| k == label && v == value))
        .map_or_else(|| display_value(value), |r| r.loss.clone())
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

impl fmt::Display for PlannedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", self.id, self.label)
    }
}

#[cfg(test)]
mod tests;
