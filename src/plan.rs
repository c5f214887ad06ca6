//! Expands a sweep's grid into runs: the cartesian product of the axes, each point a fully
//! resolved [`RunConfig`] with a stable id (a hash of that configuration, so the same
//! configuration has the same id whatever the order of keys in the file) and a readable
//! label (`loss=bce,seed=2`). Also the `--only` filter.

use std::fmt;

use crate::config::sweep::{Axis, Sweep};
use crate::config::{resolve, set_dotted, ConfigError, Origins, RunConfig};

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub label: String,
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

/// Expands `sweep` into its runs; a configuration error names the axis value or key at fault.
pub fn expand(sweep: Sweep) -> Result<Plan, ConfigError> {
    let mut runs: Vec<PlannedRun> = Vec::new();
    for point in product(&sweep.axes) {
        let mut table = sweep.base.clone();
        let mut origins = Origins {
            set: sweep.set.clone(),
            prefix: vec!["base".to_string()],
            ..Default::default()
        };
        let mut axes = Vec::with_capacity(point.len());
        for (axis, value) in sweep.axes.iter().zip(point) {
            set_dotted(&mut table, &axis.key, value.clone())
                .map_err(|m| ConfigError::new(sweep.doc.locate(&["grid", &axis.name]), m))?;
            origins
                .grid
                .insert(axis.key.clone(), (axis.name.clone(), value.clone()));
            axes.push((axis.label.clone(), value));
        }
        let config = resolve(&table, &sweep.doc, &origins)?;
        let id = run_id(&config);
        if runs.iter().any(|r| r.id == id) {
            continue;
        }
        let label = label(&axes);
        runs.push(PlannedRun {
            id,
            label,
            axes,
            config,
        });
    }
    Ok(Plan { sweep, runs })
}

/// `loss=bce,seed=2`; `base` for a sweep without axes.
fn label(axes: &[(String, toml::Value)]) -> String {
    if axes.is_empty() {
        return "base".to_string();
    }
    axes.iter()
        .map(|(k, v)| format!("{k}={}", display_value(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every combination of axis values, the first axis varying slowest.
fn product(axes: &[Axis]) -> Vec<Vec<toml::Value>> {
    axes.iter().fold(vec![Vec::new()], |points, axis| {
        points
            .iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut next = p.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect()
    })
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
            let Some(v) = axis.values.iter().find(|v| same(v, value)) else {
                let values: Vec<String> = axis.values.iter().map(display_value).collect();
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
