//! Expands a sweep's grid into runs: the cartesian product of the axes, each point a fully
//! resolved [`RunConfig`] with a stable id (a hash of that configuration, so the same
//! configuration has the same id whatever the order of keys in the file) and a readable
//! label (`loss=bce,seed=2`). Also the `--only` filter.
//!
//! A value of the `loss` axis is a name or a whole `[loss]` table (`{ name = "focal",
//! gamma = 1 }`); each run's loss is named by what varies among the sweep's losses of its
//! name (`focal γ=1`), in its label, the frame's `loss` column and the report. A script
//! loss's file is hashed into its configuration, so that editing the file makes new runs.

use std::fmt;

use crate::config::loss::{script_hash, shown_parameters};
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
            // The `dataset` axis sets the whole `data` table to the named dataset's, and a
            // table on the `loss` axis the keys of the `loss` table it gives.
            let settings = match (
                sweep.datasets.get(value.as_str().unwrap_or_default()),
                &value,
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
            axes.push((axis.label.clone(), value));
        }
        let mut config = resolve(&table, &sweep.doc, &origins)?;
        if let (Loss::Script, Some(path)) = (config.loss.name, &config.loss.path) {
            let hash = script_hash(path).map_err(|message| {
                ConfigError::new(origins.origin(&sweep.doc, "loss.path"), message)
            })?;
            config.loss.script_hash = Some(hash);
        }
        let id = run_id(&config);
        if runs.iter().any(|r| r.id == id) {
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
    let names = loss_names(&runs, &sweep)?;
    for (run, loss) in runs.iter_mut().zip(names) {
        run.label = label(&run.axes, &loss);
        run.loss = loss;
    }
    Ok(Plan { sweep, runs })
}

/// Each run's loss name ([`LossConfig::describe`] by what varies among the sweep's losses).
/// A script whose name is another loss's becomes `stem (script)`; two other losses of one
/// name are an error that asks for a `loss.label`.
fn loss_names(runs: &[PlannedRun], sweep: &Sweep) -> Result<Vec<String>, ConfigError> {
    let losses: Vec<&LossConfig> = runs.iter().map(|r| &r.config.loss).collect();
    let shown = shown_parameters(&losses);
    let mut names: Vec<String> = losses.iter().map(|l| l.describe(&shown[&l.name])).collect();
    // The loss itself, whatever its scale (a setting the losses are compared under).
    let identities: Vec<String> = losses
        .iter()
        .map(|l| {
            let mut l = (*l).clone();
            l.scale = 1.0;
            serde_json::to_string(&l).unwrap_or_default()
        })
        .collect();
    let clash = |names: &[String], i: usize| {
        (0..losses.len()).find(|&j| names[j] == names[i] && identities[j] != identities[i])
    };
    for i in 0..losses.len() {
        if losses[i].name == Loss::Script && losses[i].label.is_none() && clash(&names, i).is_some()
        {
            names[i] = format!("{} (script)", names[i]);
        }
    }
    for i in 0..losses.len() {
        if let Some(j) = clash(&names, i) {
            return Err(ConfigError::new(
                sweep.doc.locate(&["grid"]),
                format!(
                    "two different losses are both named `{}` ({} and {})",
                    names[i], identities[i], identities[j]
                ),
            )
            .with_fix("give one of them its own name with loss.label"));
        }
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
mod tests {
    use super::*;
    use crate::config::Schedule;
    use crate::data::FolderConfig;
    use crate::testing::tiny_sweep;
    use std::path::PathBuf;

    fn plan_of(text: &str, overrides: &[&str]) -> Result<Plan, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        expand(Sweep::load(&path, &overrides)?)
    }

    #[test]
    fn a_table_on_the_loss_axis_sets_its_keys_and_names_the_run_by_what_varies() {
        let plan = plan_of(
            "[grid]\nloss = [\"cce\", \"focal\", { name = \"focal\", gamma = 1 }]\n",
            &[],
        )
        .expect("plan");
        let losses: Vec<&str> = plan.runs.iter().map(|r| r.loss.as_str()).collect();
        assert_eq!(losses, ["cce", "focal γ=2", "focal γ=1"]);
        assert_eq!(plan.runs[2].config.loss.gamma, Some(1.0));
        assert_eq!(plan.runs[2].label, "loss=focal γ=1");
        let only = Filter::parse("loss=focal gamma=1", &plan).expect("filter");
        let picked: Vec<&str> = plan
            .runs
            .iter()
            .filter(|r| only.matches(r))
            .map(|r| r.loss.as_str())
            .collect();
        assert_eq!(picked, ["focal γ=1"]);
    }

    #[test]
    fn two_different_losses_of_one_label_are_an_error_asking_for_a_label() {
        let err = plan_of(
            "[grid]\nloss = [{ name = \"dice\", label = \"mine\" }, { name = \"iou\", label = \"mine\" }]\n",
            &[],
        )
        .expect_err("one name for two losses");
        assert!(err.to_string().contains("both named `mine`"), "{err}");
    }

    fn error(text: &str) -> String {
        plan_of(text, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn grid_expands_to_the_cartesian_product_first_axis_slowest() {
        let plan = plan_of(
            "[grid]\nloss = [\"cce\", \"bce\", \"dice\"]\nseed = [1, 2]\n",
            &[],
        )
        .expect("plan");
        let labels: Vec<&str> = plan.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "loss=cce,seed=1",
                "loss=cce,seed=2",
                "loss=bce,seed=1",
                "loss=bce,seed=2",
                "loss=dice,seed=1",
                "loss=dice,seed=2"
            ]
        );
        assert_eq!(plan.runs[3].config.loss.name, crate::losses::Loss::Bce);
        assert_eq!(plan.runs[3].config.train.seed, 2);
    }

    #[test]
    fn initialisation_is_a_grid_axis_like_any_key() {
        let plan = plan_of(
            "[grid]\n\"model.init\" = [\"pytorch\", \"keras\", \"kaiming\"]\n",
            &[],
        )
        .expect("plan");
        let inits: Vec<crate::model::Init> =
            plan.runs.iter().map(|r| r.config.model.init).collect();
        use crate::model::Init;
        assert_eq!(inits, [Init::Pytorch, Init::Keras, Init::Kaiming]);
        assert_eq!(plan.runs[1].label, "model.init=keras");
        assert_ne!(plan.runs[0].id, plan.runs[1].id);
    }

    const TWO_DATASETS: &str = "[datasets.small]\nkind = \"synthetic\"\nheight = 32\nwidth = 32\n\n[datasets.tall]\nkind = \"synthetic\"\nheight = 48\nwidth = 32\nnoise = 0.2\n\n";

    #[test]
    fn the_dataset_axis_gives_each_run_its_named_dataset_whole() {
        let plan = plan_of(
            &format!("{TWO_DATASETS}[grid]\ndataset = [\"small\", \"tall\"]\nseed = [1, 2]\n"),
            &[],
        )
        .expect("plan");
        let labels: Vec<&str> = plan.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "dataset=small,seed=1",
                "dataset=small,seed=2",
                "dataset=tall,seed=1",
                "dataset=tall,seed=2"
            ]
        );
        let synthetic = |r: &PlannedRun| match &r.config.data {
            crate::data::DataConfig::Synthetic(s) => s.clone(),
            other => panic!("synthetic data expected, got {other:?}"),
        };
        let (small, tall) = (synthetic(&plan.runs[0]), synthetic(&plan.runs[2]));
        assert_eq!((small.height, small.width, small.noise), (32, 32, 0.1));
        assert_eq!((tall.height, tall.width, tall.noise), (48, 32, 0.2));
        assert_ne!(plan.runs[0].id, plan.runs[2].id);
    }

    #[test]
    fn a_dataset_axis_and_datasets_table_that_disagree_are_errors_naming_the_fix() {
        let unknown = error(&format!(
            "{TWO_DATASETS}[grid]\ndataset = [\"small\", \"wide\"]\n"
        ));
        assert!(
            unknown
                .contains("names `wide`, which [datasets] does not define (defined: small, tall)")
                && unknown.contains("add a [datasets.wide] table"),
            "{unknown}"
        );
        let unused = error(&format!("{TWO_DATASETS}[grid]\ndataset = [\"small\"]\n"));
        assert!(unused.contains("dataset `tall` is defined but"), "{unused}");
        let no_axis = error(&format!("{TWO_DATASETS}[grid]\nseed = [1]\n"));
        assert!(
            no_axis.contains("add `dataset = [\"small\", \"tall\"]` to [grid]"),
            "{no_axis}"
        );
        let base_data = error(&format!(
            "[base]\ndata.noise = 0.3\n{TWO_DATASETS}[grid]\ndataset = [\"small\", \"tall\"]\n"
        ));
        assert!(
            base_data.contains("[base] sets `data`") && base_data.contains("move these data keys"),
            "{base_data}"
        );
        let bad_key = error(
            "[datasets.small]\nkind = \"synthetic\"\nheigth = 32\n[grid]\ndataset = [\"small\"]\n",
        );
        assert!(
            bad_key.contains("heigth") && bad_key.contains("grid axis `dataset` = \"small\""),
            "{bad_key}"
        );
    }

    #[test]
    fn run_id_depends_on_the_configuration_not_on_key_order() {
        let a = plan_of(
            "[base]\ntrain.epochs = 3\noptim.lr = 0.01\n[grid]\nseed = [1]\n",
            &[],
        )
        .expect("a");
        let b = plan_of(
            "[base]\noptim.lr = 1e-2\n\n[base.train]\nepochs = 3\n[grid]\n\"train.seed\" = [1]\n",
            &[],
        )
        .expect("b");
        assert_eq!(a.runs[0].id, b.runs[0].id);
        let c = plan_of("[base]\ntrain.epochs = 4\n[grid]\nseed = [1]\n", &[]).expect("c");
        assert_ne!(a.runs[0].id, c.runs[0].id);
        assert_eq!(a.runs[0].id.len(), 12);
    }

    #[test]
    fn a_constant_schedule_leaves_the_run_id_of_earlier_configurations_unchanged() {
        let config = RunConfig::default();
        let json = serde_json::to_string(&config).expect("json");
        assert!(!json.contains("schedule"), "{json}");
        let mut cosine = config.clone();
        cosine.optim.schedule = Schedule::Cosine;
        assert_ne!(run_id(&config), run_id(&cosine));
        let parsed: RunConfig =
            toml::from_str("[optim]\nschedule = \"poly\"\n").expect("poly parses");
        assert_eq!(parsed.optim.schedule, Schedule::Poly);
    }

    #[test]
    fn unset_split_and_table_keys_leave_the_canonical_form_and_run_ids_unchanged() {
        let config = FolderConfig {
            root: PathBuf::from("data/x"),
            ..Default::default()
        };
        let json = serde_json::to_value(&config).expect("json");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "class_map",
                "classes",
                "crop",
                "hflip",
                "ignore_color",
                "ignore_index",
                "images",
                "limit",
                "masks",
                "normalize",
                "palette",
                "resize",
                "root",
                "train",
                "val"
            ]
        );
        let mut folds = config.clone();
        folds.folds = Some(5);
        folds.fold = Some(1);
        let run = |data: &FolderConfig| RunConfig {
            data: crate::data::DataConfig::Folder(Box::new(data.clone())),
            ..Default::default()
        };
        assert_ne!(run_id(&run(&config)), run_id(&run(&folds)));
    }

    #[test]
    fn unknown_base_key_names_line_and_suggests_the_closest() {
        let msg = error("[base]\ntrain.epoch = 3\n");
        assert!(
            msg.contains("p.toml:2:7")
                && msg.contains("unknown key `train.epoch`")
                && msg.contains("did you mean `train.epochs`"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_its_line() {
        let msg = error("[base]\ntrain.epochs = \"three\"\n");
        assert!(
            msg.contains("p.toml:2:7") && msg.contains("`train.epochs`"),
            "{msg}"
        );
    }

    #[test]
    fn out_of_range_grid_value_names_the_axis() {
        let msg = error("[grid]\n\"optim.lr\" = [1e-3, 0.0]\n");
        assert!(
            msg.contains("p.toml:2:1")
                && msg.contains("grid axis `optim.lr` = 0.0")
                && msg.contains("must be a positive"),
            "{msg}"
        );
        let msg = error("[base]\ntrain.batch_size = 0\n");
        assert!(
            msg.contains("`train.batch_size` must be at least 1"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_loss_lists_the_valid_ones() {
        let msg = error("[grid]\nloss = [\"cce\", \"dicey\"]\n");
        assert!(
            msg.contains("dicey") && msg.contains("bce_dice") && msg.contains("grid axis `loss`"),
            "{msg}"
        );
    }

    #[test]
    fn only_selects_matching_runs_and_refuses_unknown_axes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = tiny_sweep(
            dir.path(),
            "only",
            "loss = [\"cce\", \"bce\"]\nseed = [1, 2]\n\"optim.lr\" = [0.001, 0.01]",
        );
        let plan = expand(Sweep::load(&path, &[]).expect("sweep")).expect("plan");
        let f = Filter::parse("loss=bce,seed=2", &plan).expect("filter");
        assert_eq!(plan.runs.iter().filter(|r| f.matches(r)).count(), 2);
        let f = Filter::parse("optim.lr=1e-3", &plan).expect("filter");
        assert_eq!(plan.runs.iter().filter(|r| f.matches(r)).count(), 4);
        let err = Filter::parse("optimizer=adam", &plan)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("not an axis of this sweep") && err.contains("loss, seed, optim.lr"),
            "{err}"
        );
        let err = Filter::parse("seed=9", &plan)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no value `9`"), "{err}");
    }
}
