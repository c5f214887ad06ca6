//! The sweep file: `[sweep]` names the sweep and its output folders, `[base]` is a complete
//! run configuration (defaults for whatever it leaves out), and `[grid]` lists axes, each a
//! dotted key of the run configuration and the values it takes.
//!
//! ```toml
//! [sweep]
//! name = "quick"
//!
//! [base]
//! train.epochs = 8
//!
//! [grid]
//! loss = ["cce", "bce", "dice", "iou", "bce_dice"]   # short for loss.name
//! seed = [1, 2]                                      # short for train.seed
//! ```
//!
//! Several datasets in one sweep: an axis over `data.root` (folders of one kind), or named
//! datasets, each a complete `data` table, and the axis `dataset` over their names:
//!
//! ```toml
//! [datasets.shapes]
//! kind = "synthetic"
//! height = 64
//!
//! [datasets.camvid]
//! kind = "folder"
//! root = "data/camvid-small"
//!
//! [grid]
//! dataset = ["shapes", "camvid"]
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tune::Tune;
use super::{closest, parse_overrides, set_dotted, valid_keys, ConfigError, Document};

/// Short axis names and the keys they stand for.
const ALIASES: [(&str, &str); 3] = [
    ("loss", "loss.name"),
    ("seed", "train.seed"),
    ("fold", "data.fold"),
];

/// The axis over the folds of cross-validation (`data.folds`); `"all"` lists every fold.
pub const FOLD_AXIS: &str = "data.fold";

/// The most runs a grid may make unless `--max-runs` (`max_runs` in `[sweep]`) says
/// otherwise: far more than a machine trains, few enough to plan in seconds.
pub const DEFAULT_MAX_RUNS: u64 = 1_000_000;

/// A sweep file read and checked, with command-line overrides applied.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    pub description: Option<String>,
    /// Root of the frames, e.g. `results`; the sweep's own folder is `results/<name>`.
    pub results: PathBuf,
    /// Root of the plots and reports, e.g. `plots`.
    pub plots: PathBuf,
    pub doc: Document,
    /// `[base]` with `--set` overrides applied.
    pub base: toml::Table,
    /// Run key → the `--set` argument that set it.
    pub set: HashMap<String, String>,
    /// Every `--set` argument, in order, as given: what a command that reruns it repeats.
    pub overrides: Vec<String>,
    pub axes: Vec<Axis>,
    /// The file it was read from, as named.
    pub file: PathBuf,
    /// The `[report]` table.
    pub report: ReportConfig,
    /// The `[datasets]` table: name → a complete `data` table, for the `dataset` axis.
    pub datasets: toml::Table,
    /// The most runs the grid may make ([`DEFAULT_MAX_RUNS`] unless `max_runs` is set).
    pub max_runs: u64,
    /// The `[tune]` table: each grid point tuned on validation before the final comparison.
    pub tune: Option<Tune>,
    /// Where the runs write their TensorBoard event files as they train (`--tensorboard`).
    pub tensorboard: Option<PathBuf>,
    /// The MLflow tracking server the runs are sent to as they train (`--mlflow`).
    pub mlflow: Option<String>,
}

/// The axis over the named datasets of `[datasets]`.
pub const DATASET_AXIS: &str = "dataset";

/// The `[report]` table: how the verdict judges differences, in metric points (1 = one
/// mIoU point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Two losses are called equivalent when the 90% interval of their paired difference
    /// lies within ± this many points.
    pub equivalence: Option<f64>,
    /// The smallest difference worth detecting: the verdict says how many seeds detect it
    /// with 80% power.
    pub min_effect: Option<f64>,
    /// The metric whose ranking decides the verdict's headline (a frame column, default
    /// `val_miou`); every other metric is reported beside it with Holm's adjustment.
    pub metric: Option<String>,
    /// The surface Dice's tolerance and the boundary IoU's band width in pixels (default
    /// 2); the runs take it as `train.boundary_tolerance`.
    pub boundary_tolerance: Option<f64>,
}

/// One grid axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The name as written in the file (`loss`, `train.seed`, ...).
    pub name: String,
    /// The run configuration key it sets (`loss.name`).
    pub key: String,
    /// The name used in labels and frame columns: `loss`, `seed`, or the dotted key.
    pub label: String,
    pub values: Vec<toml::Value>,
}

/// The `[sweep]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Meta {
    name: Option<String>,
    results: Option<PathBuf>,
    plots: Option<PathBuf>,
    description: Option<String>,
    max_runs: Option<u64>,
    tensorboard: Option<PathBuf>,
    mlflow: Option<String>,
}

const TOP_KEYS: [&str; 6] = ["sweep", "base", "grid", "report", "datasets", "tune"];

impl Sweep {
    /// Reads `path` and applies `overrides`: `grid.AXIS=[...]` sets an axis, `sweep.KEY=...`
    /// the sweep table, and any other key (with or without `base.`) the base configuration.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let doc = Document::read(path)?;
        let mut top = doc.table.clone();
        if let Some(key) = top.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
            let err = ConfigError::new(doc.locate(&[key]), format!("unknown table `{key}`"));
            let valid: Vec<String> = TOP_KEYS.map(String::from).to_vec();
            return Err(match closest(key, &valid) {
                Some(near) => err.with_fix(format!("did you mean `[{near}]`? A sweep file has the tables [sweep], [base], [grid], [report], [datasets] and [tune]")),
                None => err.with_fix("a sweep file has the tables [sweep], [base], [grid], [report], [datasets] and [tune]"),
            });
        }
        let table_of = |top: &mut toml::Table, key: &str| match top.remove(key) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(t)) => Ok(t),
            Some(other) => Err(ConfigError::new(
                doc.locate(&[key]),
                format!("`{key}` must be a table, got {other}"),
            )
            .with_fix(format!("write it as a [{key}] section"))),
        };
        let mut meta_table = table_of(&mut top, "sweep")?;
        let mut base = table_of(&mut top, "base")?;
        let grid = table_of(&mut top, "grid")?;
        let mut report_table = table_of(&mut top, "report")?;
        let datasets = table_of(&mut top, "datasets")?;
        let mut tune_table = top.remove("tune").map(|t| match t {
            toml::Value::Table(t) => Ok(t),
            other => Err(ConfigError::new(
                doc.locate(&["tune"]),
                format!("`tune` must be a table, got {other}"),
            )
            .with_fix("write it as a [tune] section")),
        });

        let mut axes = Vec::new();
        for (name, values) in grid_axes(&doc, grid) {
            axes.push(axis(&name, values, || doc.locate(&["grid", &name]))?);
        }
        let mut set = HashMap::new();
        for o in parse_overrides(overrides)? {
            if let Some(name) = o.key.strip_prefix("grid.") {
                let new = axis(name, o.value, || format!("--set `{}`", o.text))?;
                match axes.iter_mut().find(|a| a.key == new.key) {
                    Some(existing) => *existing = new,
                    None => axes.push(new),
                }
            } else if let Some(key) = o.key.strip_prefix("sweep.") {
                set_dotted(&mut meta_table, key, o.value)
                    .map_err(|m| ConfigError::at_set(&o.text, m))?;
            } else if let Some(key) = o.key.strip_prefix("tune.") {
                let table = tune_table.get_or_insert_with(|| Ok(toml::Table::new()));
                if let Ok(table) = table {
                    set_dotted(table, key, o.value).map_err(|m| ConfigError::at_set(&o.text, m))?;
                }
            } else if let Some(key) = o.key.strip_prefix("report.") {
                set_dotted(&mut report_table, key, o.value)
                    .map_err(|m| ConfigError::at_set(&o.text, m))?;
            } else {
                let key = o.key.strip_prefix("base.").unwrap_or(&o.key).to_string();
                set_dotted(&mut base, &key, o.value)
                    .map_err(|m| ConfigError::at_set(&o.text, m))?;
                set.insert(key, o.text);
            }
        }
        for (i, a) in axes.iter().enumerate() {
            if let Some(b) = axes[..i].iter().find(|b| b.key == a.key) {
                return Err(ConfigError::new(
                    doc.locate(&["grid", &a.name]),
                    format!(
                        "duplicated axis: `{}` and `{}` both set `{}`",
                        b.name, a.name, a.key
                    ),
                )
                .with_fix("keep one of them"));
            }
        }

        check_datasets(&doc, &datasets, &axes, &base)?;
        expand_all_folds(&doc, &mut axes, &base)?;
        let tune = tune_table
            .transpose()?
            .map(|t| Tune::read(&doc, &t))
            .transpose()?;
        if let Some(tune) = &tune {
            tune.check_grid(&doc, &axes)?;
        }

        let meta: Meta = read_table(
            &doc,
            "sweep",
            meta_table,
            "[sweep] takes name, description, results, plots, max_runs, tensorboard and mlflow",
        )?;
        let max_runs = meta.max_runs.unwrap_or(DEFAULT_MAX_RUNS);
        if max_runs == 0 {
            return Err(ConfigError::new(
                doc.locate(&["sweep", "max_runs"]),
                "`sweep.max_runs` must be at least 1, got 0".to_string(),
            )
            .with_fix(format!(
                "leave it out for the default of {DEFAULT_MAX_RUNS}, or give the most runs the grid may make"
            )));
        }
        let report: ReportConfig = read_table(
            &doc,
            "report",
            report_table,
            "[report] takes equivalence and min_effect, each in metric points (e.g. 1.0 for one mIoU point), metric (the verdict's primary metric) and boundary_tolerance (pixels)",
        )?;
        if let Some(t) = report.boundary_tolerance {
            if !(t.is_finite() && (0.0..=1000.0).contains(&t)) {
                return Err(ConfigError::new(
                    doc.locate(&["report", "boundary_tolerance"]),
                    format!("`report.boundary_tolerance` must be a number of pixels in [0, 1000], got {t}"),
                )
                .with_fix("e.g. 2 for a tolerance of two pixels"));
            }
            if !base.contains_key("train") {
                base.insert("train".into(), toml::Value::Table(toml::Table::new()));
            }
            if let Some(toml::Value::Table(train)) = base.get_mut("train") {
                train
                    .entry("boundary_tolerance")
                    .or_insert(toml::Value::Float(t));
            }
        }
        if let Some(metric) = &report.metric {
            if !crate::metrics::is_summary_metric(metric) {
                return Err(ConfigError::new(
                    doc.locate(&["report", "metric"]),
                    format!("`report.metric` must be a metric of the frame, got `{metric}`"),
                )
                .with_fix(format!(
                    "one of {}",
                    crate::metrics::SUMMARY_METRICS.join(", ")
                )));
            }
        }
        for (key, value) in [
            ("equivalence", report.equivalence),
            ("min_effect", report.min_effect),
        ] {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(ConfigError::new(
                    doc.locate(&["report", key]),
                    format!("`report.{key}` must be a positive number of metric points, got {v}"),
                )
                .with_fix("e.g. 1.0 for one mIoU point"));
            }
        }
        let default_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = meta.name.unwrap_or(default_name);
        check_name(&name).map_err(|m| {
            ConfigError::new(doc.locate(&["sweep", "name"]), m)
                .with_fix("use letters, digits, `-`, `_` and `.` only; the sweep writes to results/<name> and plots/<name>")
        })?;
        Ok(Sweep {
            name,
            description: meta.description,
            results: meta.results.unwrap_or_else(|| PathBuf::from("results")),
            plots: meta.plots.unwrap_or_else(|| PathBuf::from("plots")),
            doc,
            base,
            set,
            overrides: overrides.to_vec(),
            axes,
            file: path.to_path_buf(),
            report,
            datasets,
            max_runs,
            tune,
            tensorboard: meta.tensorboard,
            mlflow: meta.mlflow,
        })
    }

    /// `results/<name>`.
    pub fn results_dir(&self) -> PathBuf {
        self.results.join(&self.name)
    }

    /// `plots/<name>`.
    pub fn plots_dir(&self) -> PathBuf {
        self.plots.join(&self.name)
    }
}

/// Reads the sweep file's table `[name]`; an error names the key at fault and gives `fix`.
fn read_table<T: serde::de::DeserializeOwned>(
    doc: &Document,
    name: &str,
    table: toml::Table,
    fix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::new(
            doc.locate(&[name, &key]),
            format!("`{name}.{key}`: {}", e.inner().message().trim()),
        )
        .with_fix(fix)
    })
}

/// A sweep name that is safe as a single folder name.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "sweep name `{name}` is not a plain folder name (no `/`, `..`, spaces or leading `.`)"
        ))
    }
}

/// Checks that the `dataset` axis and `[datasets]` go together: every value of the axis
/// names a table of `[datasets]`, every such table is used, and `[base]` sets no `data` key
/// (each named dataset is the whole `data` table of its runs).
fn check_datasets(
    doc: &Document,
    datasets: &toml::Table,
    axes: &[Axis],
    base: &toml::Table,
) -> Result<(), ConfigError> {
    let names: Vec<String> = datasets.keys().cloned().collect();
    let defined = if names.is_empty() {
        "none is defined".to_string()
    } else {
        format!("defined: {}", names.join(", "))
    };
    let Some(axis) = axes.iter().find(|a| a.key == DATASET_AXIS) else {
        return match names.first() {
            Some(first) => Err(ConfigError::new(
                doc.locate(&["datasets", first]),
                "[datasets] defines datasets but no grid axis runs over them".to_string(),
            )
            .with_fix(format!(
                "add `dataset = [{}]` to [grid]",
                names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            None => Ok(()),
        };
    };
    let at = || doc.locate(&["grid", &axis.name]);
    for value in &axis.values {
        let name = value.as_str().ok_or_else(|| {
            ConfigError::new(
                at(),
                format!("grid axis `dataset` lists {value}, not the name of a dataset"),
            )
            .with_fix("list names of [datasets.NAME] tables, as strings")
        })?;
        match datasets.get(name) {
            Some(toml::Value::Table(_)) => {}
            Some(other) => {
                return Err(ConfigError::new(
                    doc.locate(&["datasets", name]),
                    format!("`datasets.{name}` must be a table of data keys, got {other}"),
                )
                .with_fix(format!("write it as a [datasets.{name}] section with kind, root, ...")))
            }
            None => {
                return Err(ConfigError::new(
                    at(),
                    format!("grid axis `dataset` names `{name}`, which [datasets] does not define ({defined})"),
                )
                .with_fix(format!("add a [datasets.{name}] table, or fix the name")))
            }
        }
    }
    if let Some(unused) = names
        .iter()
        .find(|n| !axis.values.iter().any(|v| v.as_str() == Some(n.as_str())))
    {
        return Err(ConfigError::new(
            doc.locate(&["datasets", unused]),
            format!("dataset `{unused}` is defined but the grid axis `dataset` does not list it"),
        )
        .with_fix(format!(
            "add \"{unused}\" to `dataset` in [grid], or remove [datasets.{unused}]"
        )));
    }
    if base.contains_key("data") {
        return Err(ConfigError::new(
            doc.locate(&["base", "data"]),
            "[base] sets `data`, but each run's data comes from its named dataset".to_string(),
        )
        .with_fix("move these data keys into every [datasets.NAME] table"));
    }
    Ok(())
}

/// Replaces `fold = "all"` by the folds `0..data.folds` of `[base]`.
fn expand_all_folds(
    doc: &Document,
    axes: &mut [Axis],
    base: &toml::Table,
) -> Result<(), ConfigError> {
    let Some(axis) = axes
        .iter_mut()
        .find(|a| a.key == FOLD_AXIS && a.values.iter().any(|v| v.as_str() == Some("all")))
    else {
        return Ok(());
    };
    let folds = base
        .get("data")
        .and_then(|d| d.get("folds"))
        .and_then(toml::Value::as_integer);
    match folds {
        Some(k) if (2..=1000).contains(&k) => {
            axis.values = (0..k).map(toml::Value::Integer).collect();
            Ok(())
        }
        _ => Err(ConfigError::new(
            doc.locate(&["grid", &axis.name]),
            format!(
                "grid axis `{}` = \"all\" lists every fold of data.folds, which [base] does not set to a number from 2",
                axis.name
            ),
        )
        .with_fix("set data.folds (e.g. 5) in [base], or list the folds: fold = [0, 1, 2, 3, 4]")),
    }
}

/// The axes of the `[grid]` table in the order the file writes them: a nested table is a
/// dotted key (`optim.lr = [...]` under `[grid]`, or `[grid.optim]` with `lr = [...]`, is the
/// axis `optim.lr`, as `"optim.lr" = [...]` is).
fn grid_axes(doc: &Document, grid: toml::Table) -> Vec<(String, toml::Value)> {
    fn flatten(prefix: &str, table: toml::Table, out: &mut Vec<(String, toml::Value)>) {
        for (key, value) in table {
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => flatten(&name, inner, out),
                other => out.push((name, other)),
            }
        }
    }
    let mut axes = Vec::new();
    flatten("", grid, &mut axes);
    // TOML gathers the keys of one table: `optim.lr`, `seed`, `optim.momentum` read as the
    // table `optim` then `seed`. Each key's place in the file restores the order written.
    if axes.iter().any(|(name, _)| name.contains('.')) {
        let mut placed: Vec<(Option<usize>, (String, toml::Value))> = axes
            .into_iter()
            .map(|(name, value)| (doc.offset(&["grid", &name]), (name, value)))
            .collect();
        placed.sort_by_key(|(offset, _)| offset.unwrap_or(usize::MAX));
        axes = placed.into_iter().map(|(_, axis)| axis).collect();
    }
    axes
}

/// Where `values[i]` equals an earlier value, the first such `i`, in time linear in the
/// values: numbers, strings, booleans and dates by a key of their own (floats by value, so
/// `0.0` equals `-0.0`, and NaN nothing), other values (tables, lists) one by one.
fn first_repeat(values: &[toml::Value]) -> Option<usize> {
    let mut keys: HashSet<(u8, String)> = HashSet::with_capacity(values.len());
    let mut others: Vec<&toml::Value> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let key = match v {
            toml::Value::Integer(n) => Some((0, n.to_string())),
            toml::Value::Float(f) if f.is_nan() => None,
            toml::Value::Float(f) => {
                Some((1, if *f == 0.0 { 0u64 } else { f.to_bits() }.to_string()))
            }
            toml::Value::String(t) => Some((2, t.clone())),
            toml::Value::Boolean(b) => Some((3, b.to_string())),
            toml::Value::Datetime(d) => Some((4, d.to_string())),
            toml::Value::Array(_) | toml::Value::Table(_) => {
                if others.contains(&v) {
                    return Some(i);
                }
                others.push(v);
                continue;
            }
        };
        if let Some(key) = key {
            if !keys.insert(key) {
                return Some(i);
            }
        }
    }
    None
}

/// Checks one axis: a run configuration key (or a short name, or `dataset`) and a non-empty
/// list of distinct values.
fn axis(name: &str, values: toml::Value, origin: impl Fn() -> String) -> Result<Axis, ConfigError> {
    let key = ALIASES
        .iter()
        .find(|(short, _)| *short == name)
        .map_or(name, |(_, long)| long)
        .to_string();
    let mut valid = valid_keys(None);
    valid.push(DATASET_AXIS.to_string());
    if !valid.contains(&key) {
        let err = ConfigError::new(
            origin(),
            format!("grid axis `{name}` is not a key of the run configuration"),
        );
        return Err(match closest(&key, &valid) {
            Some(near) => err.with_fix(format!("did you mean `{near}`?")),
            None => err.with_fix(format!("valid keys are: {}", valid.join(", "))),
        });
    }
    if key == FOLD_AXIS && values.as_str() == Some("all") {
        return Ok(Axis {
            name: name.to_string(),
            key,
            label: "fold".to_string(),
            values: vec![values],
        });
    }
    let toml::Value::Array(values) = values else {
        return Err(ConfigError::new(
            origin(),
            format!("grid axis `{name}` must be a list of values, got {values}"),
        )
        .with_fix(format!("write it as {name} = [value, value, ...]")));
    };
    if values.is_empty() {
        return Err(
            ConfigError::new(origin(), format!("grid axis `{name}` is empty"))
                .with_fix("give it at least one value, or remove it"),
        );
    }
    if let Some(i) = first_repeat(&values) {
        let v = &values[i];
        return Err(
            ConfigError::new(origin(), format!("grid axis `{name}` lists {v} twice"))
                .with_fix("list each value once"),
        );
    }
    let label = ALIASES
        .iter()
        .find(|(_, long)| *long == key)
        .map_or(key.as_str(), |(short, _)| short)
        .to_string();
    Ok(Axis {
        name: name.to_string(),
        key,
        label,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, overrides: &[&str]) -> Result<Sweep, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("write");
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Sweep::load(&path, &overrides)
    }

    fn error(text: &str, overrides: &[&str]) -> String {
        match load_text(text, overrides) {
            Ok(_) => String::from("(no error)"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn report_boundary_tolerance_is_read_and_checked() {
        let sweep = load_text("[report]\nboundary_tolerance = 3\n", &[]).expect("sweep");
        assert_eq!(sweep.report.boundary_tolerance, Some(3.0));
        let msg = error("[report]\nboundary_tolerance = -1\n", &[]);
        assert!(
            msg.contains("s.toml:2:") && msg.contains("number of pixels"),
            "{msg}"
        );
    }

    #[test]
    fn report_metric_must_be_a_metric_the_report_summarises() {
        let sweep = load_text("[report]\nmetric = \"val_ece\"\n", &[]).expect("sweep");
        assert_eq!(sweep.report.metric.as_deref(), Some("val_ece"));
        let msg = error("[report]\nmetric = \"miou\"\n", &[]);
        assert!(
            msg.contains("s.toml:2:") && msg.contains("fix: one of val_miou, val_dice"),
            "{msg}"
        );
    }

    #[test]
    fn report_table_sets_equivalence_and_min_effect_in_points() {
        let sweep =
            load_text("[report]\nequivalence = 1.0\n", &["report.min_effect=2"]).expect("sweep");
        assert_eq!(sweep.report.equivalence, Some(1.0));
        assert_eq!(sweep.report.min_effect, Some(2.0));
        let msg = error("[report]\nequivalnce = 1.0\n", &[]);
        assert!(
            msg.contains("report.equivalnce")
                && msg.contains("[report] takes equivalence and min_effect"),
            "{msg}"
        );
        let msg = error("[report]\nmin_effect = -1.0\n", &[]);
        assert!(
            msg.contains("must be a positive number of metric points"),
            "{msg}"
        );
    }

    #[test]
    fn short_axis_names_stand_for_loss_name_and_train_seed() {
        let sweep =
            load_text("[grid]\nloss = [\"cce\", \"bce\"]\nseed = [1, 2]\n", &[]).expect("sweep");
        let keys: Vec<&str> = sweep.axes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["loss.name", "train.seed"]);
        assert_eq!(sweep.name, "s");
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let msg = error("[base]\ntrain.epochs = 3\noptim.lr = = 1\n", &[]);
        assert!(msg.contains("s.toml:3:"), "{msg}");
        assert!(msg.contains("invalid TOML"), "{msg}");
    }

    #[test]
    fn unknown_table_suggests_the_closest() {
        let msg = error("[gird]\nloss = [\"cce\"]\n", &[]);
        assert!(
            msg.contains("s.toml:1:") && msg.contains("did you mean `[grid]`"),
            "{msg}"
        );
    }

    #[test]
    fn axis_that_is_not_a_key_suggests_the_closest() {
        let msg = error("[grid]\n\"optim.lrr\" = [1e-3]\n", &[]);
        assert!(
            msg.contains("s.toml:2:1") && msg.contains("did you mean `optim.lr`"),
            "{msg}"
        );
    }

    #[test]
    fn empty_axis_is_refused() {
        let msg = error("[grid]\nseed = []\n", &[]);
        assert!(msg.contains("grid axis `seed` is empty"), "{msg}");
    }

    #[test]
    fn axis_given_twice_under_two_names_is_refused() {
        let msg = error("[grid]\nseed = [1]\n\"train.seed\" = [2]\n", &[]);
        assert!(msg.contains("duplicated axis"), "{msg}");
        let msg = error("[grid]\nseed = [1, 1]\n", &[]);
        assert!(msg.contains("lists 1 twice"), "{msg}");
    }

    #[test]
    fn repeated_values_are_found_in_one_pass_as_equality_finds_them() {
        let values = |text: &str| -> Vec<toml::Value> {
            let table: toml::Table = toml::from_str(&format!("v = {text}")).expect("toml");
            table["v"].as_array().cloned().unwrap_or_default()
        };
        for (text, repeat) in [
            ("[1, 2, 3]", None),
            ("[1, 2, 1]", Some(2)),
            ("[1, 1.0]", None),
            ("[0.0, -0.0]", Some(1)),
            ("[nan, nan]", None),
            ("[\"a\", \"b\", \"a\"]", Some(2)),
            (
                "[{ name = \"focal\", gamma = 1 }, { gamma = 1, name = \"focal\" }]",
                Some(1),
            ),
            ("[[1, 2], [2, 1], [1, 2]]", Some(2)),
        ] {
            let v = values(text);
            let pairs = (0..v.len()).find(|&i| v[..i].contains(&v[i]));
            assert_eq!(first_repeat(&v), repeat, "{text}");
            assert_eq!(first_repeat(&v), pairs, "{text}");
        }
    }

    #[test]
    fn max_runs_defaults_to_a_million_and_must_be_positive() {
        let sweep = load_text("[grid]\nseed = [1]\n", &[]).expect("sweep");
        assert_eq!(sweep.max_runs, DEFAULT_MAX_RUNS);
        let sweep = load_text("[sweep]\nmax_runs = 5\n", &[]).expect("sweep");
        assert_eq!(sweep.max_runs, 5);
        let msg = error("[sweep]\nmax_runs = 0\n", &[]);
        assert!(
            msg.contains("s.toml:2:1") && msg.contains("must be at least 1"),
            "{msg}"
        );
    }

    #[test]
    fn set_overrides_base_keys_and_grid_axes() {
        let sweep = load_text(
            "[grid]\nseed = [1, 2, 3]\n",
            &["train.epochs=3", "grid.seed=[1,2]", "grid.loss=[\"bce\"]"],
        )
        .expect("sweep");
        assert_eq!(sweep.base["train"]["epochs"].as_integer(), Some(3));
        assert_eq!(sweep.axes.len(), 2);
        assert_eq!(sweep.axes[0].values.len(), 2);
        assert_eq!(sweep.axes[1].key, "loss.name");
    }

    #[test]
    fn fold_all_lists_every_fold_of_data_folds() {
        let sweep = load_text(
            "[base]\ndata.kind = \"folder\"\ndata.folds = 3\n[grid]\nfold = \"all\"\n",
            &[],
        )
        .expect("sweep");
        assert_eq!(sweep.axes[0].key, "data.fold");
        assert_eq!(sweep.axes[0].label, "fold");
        let folds: Vec<i64> = sweep.axes[0]
            .values
            .iter()
            .filter_map(toml::Value::as_integer)
            .collect();
        assert_eq!(folds, [0, 1, 2]);
        let sweep = load_text(
            "[base]\ndata.kind = \"folder\"\n[grid]\n\"data.fold\" = \"all\"\n",
            &["data.folds=2"],
        )
        .expect("sweep");
        assert_eq!(sweep.axes[0].values.len(), 2);
        let msg = error("[grid]\nfold = \"all\"\n", &[]);
        assert!(
            msg.contains("s.toml:2:1") && msg.contains("set data.folds"),
            "{msg}"
        );
        let msg = error("[grid]\nseed = \"all\"\n", &[]);
        assert!(msg.contains("must be a list of values"), "{msg}");
    }

    #[test]
    fn sweep_name_with_a_path_is_refused() {
        for name in ["../escape", "a/b", ".hidden", ""] {
            let msg = error(&format!("[sweep]\nname = \"{name}\"\n"), &[]);
            assert!(msg.contains("not a plain folder name"), "{name}: {msg}");
        }
    }
}
