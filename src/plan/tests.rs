//! Tests of the plan: the grid's expansion, run ids, loss names, labels, `--only`, and
//! the cap on a grid's size.

use super::*;
use crate::config::loss::shown_parameters;
use crate::config::{LossConfig, Schedule};
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

/// Run `i` of `plan`.
fn run(plan: &Plan, i: usize) -> PlannedRun<'_> {
    plan.run(i).expect("the plan has run i")
}

/// Run `i`'s configuration.
fn config(plan: &Plan, i: usize) -> RunConfig {
    run(plan, i)
        .config()
        .expect("a planned run's configuration resolves")
}

#[test]
fn a_table_on_the_loss_axis_sets_its_keys_and_names_the_run_by_what_varies() {
    let plan = plan_of(
        "[grid]\nloss = [\"cce\", \"focal\", { name = \"focal\", gamma = 1 }]\n",
        &[],
    )
    .expect("plan");
    let losses: Vec<&str> = plan.runs().map(|r| r.loss()).collect();
    assert_eq!(losses, ["cce", "focal γ=2", "focal γ=1"]);
    assert_eq!(config(&plan, 2).loss.gamma, Some(1.0));
    assert_eq!(run(&plan, 2).label(), "loss=focal γ=1");
    let only = Filter::parse("loss=focal gamma=1", &plan).expect("filter");
    let picked: Vec<&str> = plan
        .runs()
        .filter(|r| only.matches(r))
        .map(|r| r.loss())
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
    let labels: Vec<String> = plan.runs().map(|r| r.label()).collect();
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
    assert_eq!(config(&plan, 3).loss.name, crate::losses::Loss::Bce);
    assert_eq!(config(&plan, 3).train.seed, 2);
}

#[test]
fn initialisation_is_a_grid_axis_like_any_key() {
    let plan = plan_of(
        "[grid]\n\"model.init\" = [\"pytorch\", \"keras\", \"kaiming\"]\n",
        &[],
    )
    .expect("plan");
    let inits: Vec<crate::model::Init> = (0..plan.len())
        .map(|i| config(&plan, i).model.init)
        .collect();
    use crate::model::Init;
    assert_eq!(inits, [Init::Pytorch, Init::Keras, Init::Kaiming]);
    assert_eq!(run(&plan, 1).label(), "model.init=keras");
    assert_ne!(run(&plan, 0).id(), run(&plan, 1).id());
}

const TWO_DATASETS: &str = "[datasets.small]\nkind = \"synthetic\"\nheight = 32\nwidth = 32\n\n[datasets.tall]\nkind = \"synthetic\"\nheight = 48\nwidth = 32\nnoise = 0.2\n\n";

#[test]
fn the_dataset_axis_gives_each_run_its_named_dataset_whole() {
    let plan = plan_of(
        &format!("{TWO_DATASETS}[grid]\ndataset = [\"small\", \"tall\"]\nseed = [1, 2]\n"),
        &[],
    )
    .expect("plan");
    let labels: Vec<String> = plan.runs().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        [
            "dataset=small,seed=1",
            "dataset=small,seed=2",
            "dataset=tall,seed=1",
            "dataset=tall,seed=2"
        ]
    );
    let synthetic = |i: usize| match config(&plan, i).data {
        crate::data::DataConfig::Synthetic(s) => s,
        other => panic!("synthetic data expected, got {other:?}"),
    };
    let (small, tall) = (synthetic(0), synthetic(2));
    assert_eq!((small.height, small.width, small.noise), (32, 32, 0.1));
    assert_eq!((tall.height, tall.width, tall.noise), (48, 32, 0.2));
    assert_ne!(run(&plan, 0).id(), run(&plan, 2).id());
}

#[test]
fn a_dataset_axis_and_datasets_table_that_disagree_are_errors_naming_the_fix() {
    let unknown = error(&format!(
        "{TWO_DATASETS}[grid]\ndataset = [\"small\", \"wide\"]\n"
    ));
    assert!(
        unknown.contains("names `wide`, which [datasets] does not define (defined: small, tall)")
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
    assert_eq!(run(&a, 0).id(), run(&b, 0).id());
    let c = plan_of("[base]\ntrain.epochs = 4\n[grid]\nseed = [1]\n", &[]).expect("c");
    assert_ne!(run(&a, 0).id(), run(&c, 0).id());
    assert_eq!(run(&a, 0).id().len(), 12);
    assert_eq!(run(&a, 0).id(), run_id(&config(&a, 0)));
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
    assert_eq!(plan.runs().filter(|r| f.matches(r)).count(), 2);
    let f = Filter::parse("optim.lr=1e-3", &plan).expect("filter");
    assert_eq!(plan.runs().filter(|r| f.matches(r)).count(), 4);
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

/// `[1, 2, ..., n]`.
fn list(n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

#[test]
fn a_grid_over_the_cap_is_refused_before_expansion_naming_its_axes_and_the_fix() {
    let text = format!(
        "[grid]\nloss = [\"cce\", \"bce\", \"dice\", \"iou\", \"bce_dice\"]\nseed = {}\n\"train.epochs\" = {}\n",
        list(1000),
        list(1000)
    );
    let start = std::time::Instant::now();
    let msg = error(&text);
    assert!(start.elapsed().as_secs_f64() < 1.0, "{:?}", start.elapsed());
    assert!(
        msg.contains("p.toml:1:2: the grid makes 5,000,000 runs: loss (5) × seed (1000) × train.epochs (1000), more than the cap of 1,000,000 runs")
            && msg.contains("raise the cap with --max-runs 5000000 (or max_runs = 5000000 in [sweep])"),
        "{msg}"
    );
    // The cap is the sweep's to set; a grid of the cap's size plans.
    let grid = "[grid]\nseed = [1, 2, 3]\n\"train.epochs\" = [1, 2]\n";
    let msg = plan_of(grid, &["sweep.max_runs=5"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("the grid makes 6 runs"), "{msg}");
    let plan = plan_of(&format!("[sweep]\nmax_runs = 6\n{grid}"), &[]).expect("plan");
    assert_eq!(plan.len(), 6);
}

#[test]
fn a_cap_raised_past_the_machine_refuses_a_plan_that_cannot_fit() {
    let text = format!(
        "[sweep]\nmax_runs = 1000000000000\n[grid]\nseed = {}\n\"train.epochs\" = {}\n\"data.seed\" = {}\n",
        list(10_000),
        list(10_000),
        list(1000)
    );
    let msg = error(&text);
    assert!(
        msg.contains("the grid makes 100,000,000,000 runs, whose plan alone needs about 11.6 TiB (128 bytes a run), this machine has"),
        "{msg}"
    );
}

#[test]
fn a_grid_whose_size_overflows_is_refused_without_panicking() {
    let keys = [
        "seed",
        "train.epochs",
        "train.batch_size",
        "data.seed",
        "data.train_images",
        "data.val_images",
        "model.base_channels",
        "train.threads",
        "data.height",
        "data.width",
    ];
    let mut text = String::from("[grid]\n");
    for key in keys {
        text.push_str(&format!("\"{key}\" = {}\n", list(100)));
    }
    let msg = error(&text);
    assert!(
        msg.contains("the grid makes more than 18,446,744,073,709,551,615 runs: seed (100) × train.epochs (100)")
            && msg.contains("--max-runs N"),
        "{msg}"
    );
}

#[test]
fn dotted_grid_keys_as_toml_writes_them_are_axes_in_the_order_of_the_file() {
    let nested = plan_of(
        "[grid]\noptim.lr = [1e-3, 1e-4]\nseed = [1, 2]\noptim.momentum = [0.5, 0.9]\n",
        &[],
    )
    .expect("nested");
    let quoted = plan_of(
        "[grid]\n\"optim.lr\" = [1e-3, 1e-4]\nseed = [1, 2]\n\"optim.momentum\" = [0.5, 0.9]\n",
        &[],
    )
    .expect("quoted");
    let labels: Vec<&str> = nested.sweep.axes.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["optim.lr", "seed", "optim.momentum"]);
    let ids = |p: &Plan| p.runs().map(|r| r.id()).collect::<Vec<_>>();
    assert_eq!(ids(&nested), ids(&quoted));
    assert_eq!(
        run(&nested, 1).label(),
        "optim.lr=0.001,seed=1,optim.momentum=0.9"
    );
    let section = plan_of("[grid.optim]\nlr = [1e-3, 1e-4]\n", &[]).expect("section");
    assert_eq!(config(&section, 1).optim.lr, 1e-4);
    // An error in a nested axis names it and its line.
    let msg = error("[grid]\noptim.lr = [1e-3, 0.0]\n");
    assert!(
        msg.contains("p.toml:2:7") && msg.contains("grid axis `optim.lr` = 0.0"),
        "{msg}"
    );
    let msg = error("[grid]\noptim.lrr = [1e-3]\n");
    assert!(
        msg.contains("p.toml:2:7") && msg.contains("did you mean `optim.lr`"),
        "{msg}"
    );
}

/// The loss names as the plan named them before it kept counts per name: every run
/// compared with every other (quadratic), kept here to check the linear one against.
fn loss_names_by_pairs(losses: &[LossConfig]) -> Result<Vec<String>, (usize, usize)> {
    let refs: Vec<&LossConfig> = losses.iter().collect();
    let shown = shown_parameters(&refs);
    let mut names: Vec<String> = losses.iter().map(|l| l.describe(&shown[&l.name])).collect();
    let identities: Vec<String> = losses
        .iter()
        .map(|l| {
            let mut l = l.clone();
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
            return Err((i, j));
        }
    }
    Ok(names)
}

#[test]
fn loss_names_counted_per_name_are_those_of_comparing_every_pair() {
    let script = |path: &str, hash: &str| LossConfig {
        name: Loss::Script,
        path: Some(path.into()),
        script_hash: Some(hash.into()),
        ..Default::default()
    };
    let labelled = |name: Loss, label: &str| LossConfig {
        name,
        label: Some(label.into()),
        ..Default::default()
    };
    let cce = LossConfig::default();
    let scaled = LossConfig {
        scale: 2.0,
        ..Default::default()
    };
    let focal = |gamma: f64| LossConfig {
        name: Loss::Focal,
        gamma: Some(gamma),
        ..Default::default()
    };
    let cases: Vec<Vec<LossConfig>> = vec![
        vec![
            cce.clone(),
            scaled.clone(),
            focal(1.0),
            focal(2.0),
            cce.clone(),
        ],
        // A script named like a built-in loss, twice, and two scripts of one stem.
        vec![
            cce.clone(),
            script("a/cce.pt", "1"),
            cce.clone(),
            script("a/cce.pt", "1"),
        ],
        vec![
            script("a/x.pt", "1"),
            script("b/x.pt", "2"),
            script("c/x.pt", "3"),
        ],
        vec![script("a/x.pt", "1"), script("b/x.pt", "2"), cce.clone()],
        vec![labelled(Loss::Dice, "mine"), labelled(Loss::Iou, "mine")],
        vec![
            labelled(Loss::Dice, "cce"),
            cce.clone(),
            script("cce.pt", "9"),
        ],
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(dir.path(), "names", "seed = [1]");
    let sweep = Sweep::load(&path, &[]).expect("sweep");
    for losses in cases {
        let mut numbered = names::Losses::default();
        let runs: Vec<usize> = losses.iter().map(|l| numbered.number(l)).collect();
        let counted = numbered
            .names(&runs, &sweep)
            .map(|(names, named)| named.iter().map(|&n| names[n].clone()).collect::<Vec<_>>());
        match loss_names_by_pairs(&losses) {
            Ok(names) => assert_eq!(counted.ok(), Some(names), "{losses:?}"),
            Err((i, j)) => {
                let msg = counted.err().map(|e| e.to_string()).unwrap_or_default();
                let identity = |k: usize| {
                    let mut l = losses[k].clone();
                    l.scale = 1.0;
                    serde_json::to_string(&l).unwrap_or_default()
                };
                assert!(
                    msg.contains(&format!("({} and {})", identity(i), identity(j))),
                    "{losses:?}: {msg}"
                );
            }
        }
    }
}

#[test]
fn a_constant_schedule_leaves_the_run_id_of_earlier_configurations_unchanged() {
    let config = RunConfig::default();
    let json = serde_json::to_string(&config).expect("json");
    assert!(!json.contains("schedule"), "{json}");
    let mut cosine = config.clone();
    cosine.optim.schedule = Schedule::Cosine;
    assert_ne!(run_id(&config), run_id(&cosine));
    let parsed: RunConfig = toml::from_str("[optim]\nschedule = \"poly\"\n").expect("poly parses");
    assert_eq!(parsed.optim.schedule, Schedule::Poly);
}

#[test]
fn scoring_on_test_by_default_leaves_the_run_id_unchanged_and_not_scoring_changes_it() {
    let config = RunConfig::default();
    let json = serde_json::to_string(&config).expect("json");
    assert!(!json.contains("score_test"), "{json}");
    let parsed: RunConfig =
        toml::from_str("[train]\nscore_test = false\n").expect("score_test parses");
    assert!(!parsed.train.score_test);
    assert_ne!(run_id(&config), run_id(&parsed));
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
fn bad_selection_and_test_split_values_are_errors_at_their_line() {
    let msg = error("[base]\ntrain.select = \"best\"\n");
    assert!(
        msg.contains("p.toml:2:") && msg.contains("best_val"),
        "{msg}"
    );
    let msg = error("[base]\ntrain.select = \"best_val\"\ntrain.select_metric = \"dice\"\n");
    assert!(
        msg.contains("p.toml:3:") && msg.contains("val_miou, val_loss"),
        "{msg}"
    );
    let msg = error("[base]\ntrain.select_metric = \"val_loss\"\n");
    assert!(
        msg.contains("p.toml:2:") && msg.contains("best_val"),
        "{msg}"
    );
    let folder = "[base]\ndata.kind = \"folder\"\ndata.root = \".\"\n";
    let msg = error(&format!("{folder}data.test_fraction = 1.5\n"));
    assert!(
        msg.contains("p.toml:4:") && msg.contains("data.test_fraction"),
        "{msg}"
    );
    let msg = error(&format!("{folder}data.tset = \"test\"\n"));
    assert!(msg.contains("did you mean `data.test`"), "{msg}");
    let plan = plan_of(
        "[base]\ndata.test_images = 4\ntrain.select = \"best_val\"\n",
        &[],
    )
    .expect("plan");
    let (selecting, plain) = (run(&plan, 0), plan_of("", &[]).expect("plan"));
    assert_eq!(
        selecting.config().expect("config").train.select,
        crate::config::Select::BestVal
    );
    assert_ne!(selecting.id(), run(&plain, 0).id());
    let canonical = serde_json::to_string(&run(&plain, 0).config().expect("config")).expect("json");
    assert!(
        !canonical.contains("select") && !canonical.contains("test"),
        "defaults keep their canonical form, so their run ids: {canonical}"
    );
}

#[test]
fn a_runs_configuration_built_on_demand_is_the_one_its_id_hashes_without_reading_scripts_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("mine.pt");
    std::fs::write(&script, b"a loss module").expect("write");
    let plan = plan_of(
        &format!(
            "{TWO_DATASETS}[grid]\ndataset = [\"small\", \"tall\"]\nloss = [\"cce\", {{ name = \"focal\", gamma = 1 }}, {{ name = \"script\", path = \"{}\" }}]\nseed = [1, 2]\n\"loss.scale\" = [1.0, 2.0]\n",
            script.display()
        ),
        &[],
    )
    .expect("plan");
    // The plan read the script when it was expanded; its runs need the file no more.
    std::fs::remove_file(&script).expect("remove");
    assert_eq!(plan.len(), 2 * 3 * 2 * 2);
    let hash = blake3::hash(b"a loss module").to_hex().to_string();
    for run in plan.runs() {
        let config = run.config().expect("resolves again");
        assert_eq!(run_id(&config), run.id(), "{}", run.label());
        let axes: Vec<(&str, &toml::Value)> = run.axes().collect();
        assert_eq!(axes.len(), 4);
        assert_eq!(
            config.train.seed as i64,
            axes[2].1.as_integer().expect("seed")
        );
        match config.loss.name {
            Loss::Script => {
                assert_eq!(config.loss.script_hash.as_deref(), Some(hash.as_str()));
                assert_eq!(run.loss(), "mine");
            }
            Loss::Focal => assert_eq!(run.loss(), "focal γ=1"),
            _ => assert_eq!(run.loss(), "cce"),
        }
    }
    assert_eq!(
        run(&plan, 9).label(),
        "dataset=small,loss=mine,seed=1,loss.scale=2.0"
    );
    assert!(plan.run(plan.len()).is_none());
}

#[test]
fn report_boundary_tolerance_becomes_every_runs_train_boundary_tolerance() {
    let plan = plan_of(
        "[report]\nboundary_tolerance = 3\n[grid]\nseed = [1, 2]\n",
        &[],
    )
    .expect("plan");
    assert_eq!(plan.len(), 2);
    for run in plan.runs() {
        let config = run.config().expect("config");
        assert_eq!(config.train.boundary_tolerance, Some(3.0));
    }
}
