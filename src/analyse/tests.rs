//! Tests of the analysis on small frames built in memory.

use super::*;
use polars::prelude::*;

/// One run of a test frame: its id, loss, seed, status, extra axis value, and per-epoch
/// `(val_miou, pixel_accuracy, binary_accuracy)`.
struct Spec {
    id: String,
    loss: &'static str,
    seed: i64,
    status: &'static str,
    optim: &'static str,
    /// The `dataset` axis; the frame has that column only when a spec sets it.
    dataset: &'static str,
    rows: Vec<(f64, f64, f64)>,
    /// train_loss is `scale · epoch`, grad_norm `scale² · epoch`.
    scale: f64,
}

fn spec(loss: &'static str, seed: i64, finals: &[f64]) -> Spec {
    Spec {
        id: format!("{loss}-{seed}"),
        loss,
        seed,
        status: DONE,
        optim: "adam",
        dataset: "",
        rows: finals.iter().map(|&m| (m, 0.8, 0.9)).collect(),
        scale: 1.0,
    }
}

/// A frame with the sweep frame's columns; `optim.name` is an axis, and the rows of the
/// runs are interleaved and in reverse epoch order, as a merged frame may be.
fn frame(specs: &[Spec]) -> DataFrame {
    let mut cells: Vec<(usize, &Spec, usize)> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        for e in (0..s.rows.len()).rev() {
            cells.push((i, s, e));
        }
    }
    cells.sort_by_key(|&(i, _, e)| (std::cmp::Reverse(e), i));
    let n = cells.len();
    let text = |f: &dyn Fn(&Spec) -> String| -> Vec<String> {
        cells.iter().map(|(_, s, _)| f(s)).collect()
    };
    let float = |f: &dyn Fn(&Spec, usize) -> f64| -> Vec<f64> {
        cells.iter().map(|&(_, s, e)| f(s, e)).collect()
    };
    let mut columns = vec![
        Column::new("run_id".into(), text(&|s| s.id.clone())),
        Column::new(
            "label".into(),
            text(&|s| format!("loss={},seed={}", s.loss, s.seed)),
        ),
        Column::new("status".into(), text(&|s| s.status.to_string())),
        Column::new("loss".into(), text(&|s| s.loss.to_string())),
        Column::new(
            "seed".into(),
            cells.iter().map(|(_, s, _)| s.seed).collect::<Vec<i64>>(),
        ),
        Column::new("optim.name".into(), text(&|s| s.optim.to_string())),
    ];
    if specs.iter().any(|s| !s.dataset.is_empty()) {
        columns.push(Column::new(
            "dataset".into(),
            text(&|s| s.dataset.to_string()),
        ));
    }
    columns.extend([Column::new(
        "epoch".into(),
        cells
            .iter()
            .map(|&(_, _, e)| e as u32 + 1)
            .collect::<Vec<u32>>(),
    )]);
    for name in METRICS {
        let values = match name {
            "val_miou" => float(&|s, e| s.rows[e].0),
            "pixel_accuracy" => float(&|s, e| s.rows[e].1),
            "binary_accuracy" => float(&|s, e| s.rows[e].2),
            "train_loss" => float(&|s, e| s.scale * (e + 1) as f64),
            "grad_norm" => float(&|s, e| s.scale * s.scale * (e + 1) as f64),
            _ => float(&|_, e| e as f64),
        };
        columns.push(Column::new(name.into(), values));
    }
    columns.push(Column::new("iou_0".into(), float(&|s, e| s.rows[e].0)));
    columns.push(Column::new("iou_1".into(), float(&|_, _| f64::NAN)));
    DataFrame::new(n, columns).expect("test frame")
}

fn runs_of(specs: &[Spec]) -> Runs {
    Runs::from_frame(&frame(specs)).expect("runs")
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

/// Six seeds of cce and of dice, dice's finals `cce + shift + wobble`.
fn six_seeds(shift: f64) -> Vec<Spec> {
    let cce = [0.60, 0.62, 0.58, 0.65, 0.61, 0.63];
    let wobble = [0.004, -0.003, 0.002, 0.0, -0.002, 0.001];
    let mut specs = Vec::new();
    for (i, (&c, &w)) in cce.iter().zip(&wobble).enumerate() {
        let seed = i as i64 + 1;
        specs.push(spec("cce", seed, &[0.3, c]));
        let d = if shift == 0.0 { c } else { c + shift + w };
        specs.push(spec("dice", seed, &[0.3, d]));
    }
    specs
}

fn verdict_of(specs: &[Spec]) -> String {
    verdict_with(specs, &Settings::default())
}

fn verdict_with(specs: &[Spec], settings: &Settings) -> String {
    analyse(&frame(specs), &[], settings)
        .expect("analysis")
        .verdict
        .text
}

#[test]
fn runs_are_split_by_id_with_axes_and_epochs_in_order() {
    let runs = runs_of(&[
        spec("cce", 1, &[0.1, 0.2, 0.3]),
        spec("bce", 2, &[0.4, 0.5]),
    ]);
    assert_eq!(runs.axes, vec!["optim.name".to_string()]);
    assert!(runs.metrics.contains(&"iou_1".to_string()));
    assert!(!runs.axes.contains(&"iou_0".to_string()));
    assert_eq!(runs.runs.len(), 2);
    let cce = &runs.runs[0];
    assert_eq!((cce.loss.as_str(), cce.seed), ("cce", 1));
    assert_eq!(cce.epochs, vec![1, 2, 3]);
    assert_eq!(cce.metric("val_miou").expect("series"), &[0.1, 0.2, 0.3]);
    assert_eq!(cce.axis("optim.name").as_deref(), Some("adam"));
}

#[test]
fn missing_columns_are_errors_that_name_the_column() {
    let df = frame(&[spec("cce", 1, &[0.5])]);
    let without_seed = df.drop("seed").expect("drop");
    let err = Runs::from_frame(&without_seed).expect_err("no seed");
    assert!(err.to_string().contains("`seed`"), "{err}");
    let without_miou = df.drop("val_miou").expect("drop");
    let runs = Runs::from_frame(&without_miou).expect("runs without val_miou");
    let err = summarise(&runs, "val_miou", &[]).expect_err("no val_miou");
    assert!(err.to_string().contains("`val_miou`"), "{err}");
    let err = summarise(&runs, "val_miou", &["optim.lr"]).expect_err("no such axis");
    assert!(err.to_string().contains("`optim.lr`"), "{err}");
}

#[test]
fn a_run_with_two_losses_is_an_error() {
    let mut a = spec("cce", 1, &[0.5]);
    let mut b = spec("bce", 1, &[0.5, 0.6]);
    a.id = "same".to_string();
    b.id = "same".to_string();
    let err = Runs::from_frame(&frame(&[a, b])).expect_err("inconsistent");
    assert!(err.to_string().contains("`loss`"), "{err}");
}

#[test]
fn non_done_run_is_excluded_from_finals_but_present_in_the_run_table() {
    let mut diverged = spec("bce", 1, &[0.4, f64::NAN]);
    diverged.status = "diverged";
    let mut failed = spec("dice", 1, &[0.45]);
    failed.status = "failed";
    let runs = runs_of(&[spec("cce", 1, &[0.3, 0.5]), diverged, failed]);
    let finals = finals(&runs, "val_miou").expect("finals");
    assert_eq!(finals.len(), 1);
    assert_eq!((finals[0].run_id.as_str(), finals[0].value), ("cce-1", 0.5));
    assert_eq!(finals[0].epoch, 2);
    let table = run_table(&runs, "val_miou").expect("table");
    assert_eq!(table.len(), 3);
    let bce = table.iter().find(|r| r.run_id == "bce-1").expect("bce row");
    assert_eq!(bce.status, "diverged");
    assert!(!bce.in_finals);
    assert_eq!((bce.final_value, bce.best), (None, Some(0.4)));
    let dice = table
        .iter()
        .find(|r| r.run_id == "dice-1")
        .expect("dice row");
    assert_eq!((dice.final_value, dice.in_finals), (Some(0.45), false));
    let summaries = summarise(&runs, "val_miou", &[]).expect("summaries");
    assert_eq!(summaries.len(), 1);
    let text = verdict(&table, &summaries, &[], None, "cce", &Settings::default()).text;
    assert!(text.contains("2 of 3 runs are excluded"), "{text}");
    let one = verdict::exclusion_sentence(&table[..2]);
    assert!(one.starts_with("1 of 2 runs is excluded"), "{one}");
    assert!(
        text.contains("1 diverged") && text.contains("1 failed"),
        "{text}"
    );
}

#[test]
fn summary_has_n_mean_sample_std_and_no_interval_for_one_seed() {
    let runs = runs_of(&[
        spec("cce", 1, &[0.2, 0.5]),
        spec("cce", 2, &[0.2, 0.7]),
        spec("cce", 3, &[0.2, 0.6]),
        spec("dice", 1, &[0.9]),
    ]);
    let s = summarise(&runs, "val_miou", &[]).expect("summaries");
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].loss.as_str(), s[0].n), ("cce", 3));
    assert!(close(s[0].mean, 0.6, 1e-12));
    assert!(close(s[0].std.expect("std"), 0.1, 1e-12));
    // 95% t-interval: 0.6 ± 4.3027 · 0.1 / √3.
    let (low, high) = s[0].ci.expect("interval");
    let half = 4.302_652_7 * 0.1 / 3f64.sqrt();
    assert!(
        close(low, 0.6 - half, 1e-6) && close(high, 0.6 + half, 1e-6),
        "{low} {high}"
    );
    assert!(close(s[0].iqm, 0.6, 1e-12));
    assert_eq!((s[1].n, s[1].std, s[1].ci), (1, None, None));
}

#[test]
fn summaries_group_by_another_axis() {
    let mut sgd = spec("cce", 1, &[0.3]);
    sgd.id = "cce-1-sgd".to_string();
    sgd.optim = "sgd";
    let runs = runs_of(&[spec("cce", 1, &[0.5]), sgd, spec("cce", 2, &[0.7])]);
    let s = summarise(&runs, "val_miou", &["loss", "optim.name"]).expect("summaries");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].group, vec![("optim.name".into(), "adam".into())]);
    assert_eq!((s[0].n, s[1].n), (2, 1));
    assert!(close(s[1].mean, 0.3, 1e-12));
    let pooled = summarise(&runs, "val_miou", &[]).expect("pooled");
    assert_eq!(pooled.len(), 1);
    assert_eq!(pooled[0].n, 3);
}

#[test]
fn t_band_uses_the_right_quantile_for_5_seeds() {
    let specs: Vec<Spec> = (1..=5)
        .map(|s| spec("cce", s, &[0.1 * s as f64, 0.2]))
        .collect();
    let b = bands(&runs_of(&specs), "val_miou", &[]).expect("bands");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].kind, BandKind::TInterval95);
    assert_eq!(
        (b[0].epochs.clone(), b[0].n.clone()),
        (vec![1, 2], vec![5, 5])
    );
    // Epoch 1: 0.1..0.5, mean 0.3, s = 0.1581, half = 2.7764 · s / √5 = 0.19632.
    let half = 2.776_445_1 * 0.1 * 2.5f64.sqrt() / 5f64.sqrt();
    assert!(close(b[0].mean[0], 0.3, 1e-12));
    assert!(close(b[0].low[0], 0.3 - half, 1e-6), "{}", b[0].low[0]);
    assert!(close(b[0].high[0], 0.3 + half, 1e-6), "{}", b[0].high[0]);
    assert!(close(b[0].low[1], 0.2, 1e-12) && close(b[0].high[1], 0.2, 1e-12));
}

#[test]
fn band_with_fewer_than_3_seeds_is_min_max() {
    let mut diverged = spec("cce", 3, &[0.9, 0.9]);
    diverged.status = "diverged";
    let runs = runs_of(&[
        spec("cce", 1, &[0.1, 0.4]),
        spec("cce", 2, &[0.3, 0.2]),
        diverged,
    ]);
    let b = bands(&runs, "val_miou", &[]).expect("bands");
    assert_eq!(b[0].kind, BandKind::MinMax);
    assert_eq!(b[0].runs, 2);
    assert_eq!(
        (b[0].low.clone(), b[0].high.clone()),
        (vec![0.1, 0.2], vec![0.3, 0.4])
    );
    let none = bands(&runs, "iou_1", &[]).expect("all-NaN metric");
    assert!(none[0].epochs.is_empty());
}

#[test]
fn paired_differences_pair_on_seed_and_settings() {
    let mut cce_sgd = spec("cce", 1, &[0.30]);
    cce_sgd.id = "cce-1-sgd".into();
    cce_sgd.optim = "sgd";
    let mut dice_sgd = spec("dice", 1, &[0.35]);
    dice_sgd.id = "dice-1-sgd".into();
    dice_sgd.optim = "sgd";
    let runs = runs_of(&[
        spec("dice", 3, &[0.80]),
        spec("cce", 1, &[0.50]),
        spec("cce", 2, &[0.60]),
        spec("dice", 1, &[0.60]),
        spec("cce", 3, &[0.70]),
        spec("dice", 2, &[0.62]),
        spec("dice", 4, &[0.99]),
        cce_sgd,
        dice_sgd,
    ]);
    let d = paired_differences(&runs, "val_miou", "cce", &[], None).expect("pairs");
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].loss.as_str(), d[0].reference.as_str()),
        ("dice", "cce")
    );
    assert_eq!(d[0].n, 4, "seed 4 has no cce partner");
    let mut pairs: Vec<(i64, i64)> = d[0]
        .seeds
        .iter()
        .zip(&d[0].differences)
        .map(|(&s, &x)| (s, (x * 1000.0).round() as i64))
        .collect();
    pairs.sort_unstable();
    assert_eq!(pairs, vec![(1, 50), (1, 100), (2, 20), (3, 100)]);
    // Dice ahead in all 4 pairs: P(improvement) 1, Wilson interval from 0.51.
    assert_eq!(d[0].ahead, 4.0);
    assert!(
        close(d[0].p_improvement_ci.0, 0.5101, 1e-4),
        "{:?}",
        d[0].p_improvement_ci
    );
    let grouped =
        paired_differences(&runs, "val_miou", "cce", &["optim.name"], None).expect("grouped");
    assert_eq!(grouped.len(), 2);
    assert_eq!((grouped[0].n, grouped[1].n), (3, 1));
}

#[test]
fn two_runs_claiming_one_pair_are_an_error() {
    let mut twin = spec("dice", 1, &[0.6]);
    twin.id = "twin".into();
    let runs = runs_of(&[spec("cce", 1, &[0.5]), spec("dice", 1, &[0.6]), twin]);
    let err = paired_differences(&runs, "val_miou", "cce", &[], None).expect_err("duplicate");
    assert!(err.to_string().contains("twin"), "{err}");
}

#[test]
fn binary_inflation_is_binary_minus_pixel_accuracy_in_points() {
    let mut specs = Vec::new();
    for (seed, late) in [(1, 0.04), (2, 0.06)] {
        let mut s = spec("bce", seed, &[0.0, 0.0, 0.0]);
        s.rows = vec![(0.2, 0.5, 0.6), (0.3, 0.7, 0.75), (0.4, 0.8, 0.8 + late)];
        specs.push(s);
    }
    let mut failed = spec("bce", 3, &[0.1]);
    failed.status = "failed";
    specs.push(failed);
    let inflation = binary_inflation(&runs_of(&specs), "bce")
        .expect("inflation")
        .expect("bce has done runs");
    assert_eq!(inflation.n, 2);
    assert!(close(inflation.first_mean, 10.0, 1e-9));
    assert!(close(inflation.last_mean, 5.0, 1e-9));
    assert_eq!(
        (inflation.runs[0].first_epoch, inflation.runs[0].last_epoch),
        (1, 3)
    );
    assert!(close(inflation.runs[1].last, 6.0, 1e-9));
    assert_eq!(
        binary_inflation(&runs_of(&specs), "dice").expect("ok"),
        None
    );
}

#[test]
fn verdict_says_one_seed_is_not_evidence_and_compares_nothing() {
    let specs: Vec<Spec> = ["cce", "bce", "dice", "iou", "bce_dice"]
        .into_iter()
        .enumerate()
        .map(|(i, l)| spec(l, 1, &[0.1, 0.5 + 0.05 * i as f64]))
        .collect();
    let text = verdict_of(&specs);
    assert!(text.contains("one seed is not evidence"), "{text}");
    assert!(text.contains("no comparison is made"), "{text}");
    for word in ["better", "worse", "indistinguishable", "equivalent"] {
        assert!(!text.contains(word), "{text}");
    }
    assert!(text.contains("All 5 runs are done"), "{text}");
}

#[test]
fn verdict_changes_its_classification_when_the_data_change() {
    let better = verdict_of(&six_seeds(0.05));
    let same = verdict_of(&six_seeds(0.0));
    let worse = verdict_of(&six_seeds(-0.05));
    assert!(
        better.contains(
            "dice is better than cce by 5.03 mIoU points on average over 6 seeds (at all 6 seeds;"
        ),
        "{better}"
    );
    assert!(better.contains("paired t-test p = < 0.0001"), "{better}");
    assert!(
        same.contains(
            "dice shows no mean difference from cce in mIoU; it is above at 0 and below at 0 of 6 seeds"
        ),
        "{same}"
    );
    assert!(worse.contains("dice is worse than cce"), "{worse}");
    for text in [&better, &same, &worse] {
        for word in ["indistinguishable", "equal", "the same"] {
            assert!(!text.contains(word), "{text}");
        }
    }
}

#[test]
fn a_consistent_deficit_at_two_seeds_gives_direction_size_agreement_and_the_seeds_it_takes() {
    // bce 13.37 points behind cce at both seeds, and dice 1 point either way: two
    // comparisons, so Holm doubles the smaller p.
    let specs = vec![
        spec("cce", 1, &[0.3, 0.50]),
        spec("cce", 2, &[0.3, 0.55]),
        spec("bce", 1, &[0.3, 0.50 - 0.1368]),
        spec("bce", 2, &[0.3, 0.55 - 0.1305]),
        spec("dice", 1, &[0.3, 0.51]),
        spec("dice", 2, &[0.3, 0.54]),
    ];
    let settings = Settings {
        sweep_file: Some("experiments/quick.toml".into()),
        ..Settings::default()
    };
    let analysis = analyse(&frame(&specs), &[], &settings).expect("analysis");
    let bce = &analysis.pooled_differences[0];
    assert_eq!(bce.loss, "bce");
    assert!(close(bce.p_value, 0.0150, 2e-4), "{}", bce.p_value);
    assert!(close(bce.p_adjusted, 0.0300, 4e-4), "{}", bce.p_adjusted);
    let text = &analysis.verdict.text;
    assert!(
        text.contains(
            "bce is worse than cce by 13.37 mIoU points on average over 2 seeds (at both seeds;"
        ),
        "{text}"
    );
    assert!(text.contains("Holm-adjusted 0.03"), "{text}");
    assert!(
        text.contains("dice shows no mean difference from cce in mIoU; it is above at 1 and below at 1 of 2 seeds"),
        "{text}"
    );
    assert!(
        text.contains("2 seeds cannot establish where it lies"),
        "{text}"
    );
    assert!(text.contains("set report.equivalence"), "{text}");
    assert!(!text.contains("indistinguishable"), "{text}");
}

#[test]
fn an_undecided_comparison_says_how_many_seeds_it_takes_and_the_command_that_adds_them() {
    // dice ahead by about 2 points with a spread of about 2.6 points between seeds.
    let mut specs = Vec::new();
    for (seed, (c, d)) in [(0.50, 0.53), (0.55, 0.56), (0.52, 0.535)]
        .into_iter()
        .enumerate()
    {
        specs.push(spec("cce", seed as i64 + 1, &[0.3, c]));
        specs.push(spec("dice", seed as i64 + 1, &[0.3, d]));
    }
    let settings = Settings {
        sweep_file: Some("sweep.toml".into()),
        ..Settings::default()
    };
    let analysis = analyse(&frame(&specs), &[], &settings).expect("analysis");
    let d = &analysis.pooled_differences[0];
    let sd = d.std.expect("sd");
    let k = d.seeds_for_80_power.expect("seeds");
    assert_eq!(Some(k), stats::seeds_for_power(d.mean, sd, ALPHA, 0.8));
    assert!(stats::paired_t_power(d.mean, sd, k, ALPHA) >= 0.8);
    assert!(stats::paired_t_power(d.mean, sd, k - 1, ALPHA) < 0.8);
    let text = &analysis.verdict.text;
    assert!(
        text.contains(&format!(
            "about {k} seeds would detect a difference of this size with 80% power"
        )),
        "{text}"
    );
    let seeds: Vec<String> = (1..=k as i64).map(|s| s.to_string()).collect();
    let command = format!(
        "lossbench run sweep.toml --set \"grid.seed=[{}]\"",
        seeds.join(", ")
    );
    assert_eq!(
        analysis.verdict.add_seeds.as_deref(),
        Some(command.as_str())
    );
    assert!(text.ends_with("only the new seeds train)."), "{text}");
}

#[test]
fn equivalence_is_said_only_when_the_user_bound_holds() {
    let specs = six_seeds(0.001);
    let none = verdict_of(&specs);
    assert!(!none.contains("equivalent"), "{none}");
    let loose = verdict_with(
        &specs,
        &Settings {
            equivalence: Some(0.01),
            ..Settings::default()
        },
    );
    assert!(
        loose.contains("dice and cce are equivalent within ±1.00 mIoU points"),
        "{loose}"
    );
    let tight = verdict_with(
        &specs,
        &Settings {
            equivalence: Some(0.0001),
            ..Settings::default()
        },
    );
    assert!(!tight.contains("equivalent"), "{tight}");
}

#[test]
fn verdict_weighs_bce_inflation_against_its_miou_difference() {
    let mut specs = six_seeds(0.0);
    for seed in 1..=6 {
        let mut s = spec("bce", seed, &[0.0, 0.0]);
        let cce = specs
            .iter()
            .find(|c| c.loss == "cce" && c.seed == seed)
            .map(|c| c.rows[1].0)
            .unwrap_or_default();
        let wobble = [0.001, -0.002, 0.0, 0.002, -0.001, 0.0][seed as usize - 1];
        s.rows = vec![(0.3, 0.5, 0.6), (cce + wobble, 0.8, 0.92)];
        specs.push(s);
    }
    let text = verdict_of(&specs);
    assert!(
        [
            "bce leads cce by",
            "bce trails cce by",
            "bce shows no mean difference"
        ]
        .iter()
        .any(|w| text.contains(w)),
        "{text}"
    );
    assert!(
        text.contains(
            "exceeds its pixel accuracy by 12.00 points at the last epoch (10.00 at epoch 1; mean over 6 seeds)"
        ),
        "{text}"
    );
    assert!(text.contains("so the apparent one is the metric"), "{text}");

    // The same inflation with a real mIoU advantage reads differently.
    for s in specs.iter_mut().filter(|s| s.loss == "bce") {
        s.rows[1].0 += 0.04;
    }
    let text = verdict_of(&specs);
    assert!(text.contains("bce is better than cce"), "{text}");
    assert!(text.contains("mIoU advantage is real"), "{text}");

    // And a real deficit says so, instead of "no advantage is established".
    for s in specs.iter_mut().filter(|s| s.loss == "bce") {
        s.rows[1].0 -= 0.08;
    }
    let text = verdict_of(&specs);
    assert!(text.contains("bce is worse than cce"), "{text}");
    assert!(
        text.contains("in mIoU it is worse, so any advantage it seems to have is the metric"),
        "{text}"
    );
    assert!(
        !text.contains("no advantage in mIoU is established"),
        "{text}"
    );
}

#[test]
fn analysis_serialises_to_json() {
    let analysis = analyse(
        &frame(&six_seeds(0.05)),
        &["optim.name"],
        &Settings::default(),
    )
    .expect("analysis");
    let json = serde_json::to_value(&analysis).expect("json");
    assert_eq!(json["reference"], "cce");
    assert_eq!(json["differences"][0]["n"], 6);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(12));
    let band = serde_json::to_value(BandKind::TInterval95).expect("json");
    assert_eq!(band, "t_interval95");
}

#[test]
fn the_answer_states_numbers_that_the_frame_gives() {
    let mut specs = Vec::new();
    for (seed, (c, b)) in [(0.60, 0.50), (0.64, 0.52), (0.58, 0.49)]
        .into_iter()
        .enumerate()
    {
        let seed = seed as i64 + 1;
        let mut cce = spec("cce", seed, &[0.3, c]);
        cce.scale = 2.0;
        let mut bce = spec("bce", seed, &[0.3, b]);
        bce.rows = vec![(0.3, 0.5, 0.7), (b, 0.8, 0.9 + 0.01 * seed as f64)];
        bce.scale = 0.5;
        specs.push(cce);
        specs.push(bce);
    }
    let frame = frame(&specs);
    let analysis = analyse(&frame, &[], &Settings::default()).expect("analysis");
    let answer = analysis.answer.expect("bce and cce are in the sweep");
    assert_eq!(answer.question, "Does bce learn better than cce here?");
    let n = &answer.numbers;
    // Computed again from the frame, independently of the analysis.
    let runs = runs_of(&specs);
    let cce_finals: Vec<f64> = finals(&runs, "val_miou")
        .expect("finals")
        .iter()
        .filter(|f| f.loss == "cce")
        .map(|f| f.value)
        .collect();
    let spread = 100.0 * stats::sample_std(&cce_finals).expect("sd");
    let differences = [0.50 - 0.60, 0.52 - 0.64, 0.49 - 0.58];
    let mean_difference = 100.0 * stats::mean(&differences);
    let difference_spread = 100.0 * stats::sample_std(&differences).expect("sd");
    // bce's binary accuracy at the last epoch is 0.91, 0.92, 0.93 against a pixel accuracy
    // of 0.8.
    let inflation = 100.0 * stats::mean(&[0.91 - 0.8, 0.92 - 0.8, 0.93 - 0.8]);
    assert!(
        close(n.inflation_points.expect("inflation"), inflation, 1e-9),
        "{n:?}"
    );
    assert_eq!(n.classes, 2);
    assert!(close(n.all_off_binary_accuracy, 0.5, 1e-12));
    assert!(close(n.loss_ratio_epoch1.expect("ratio"), 0.5 / 2.0, 1e-12));
    assert!(close(
        n.grad_norm_ratio_epoch1.expect("ratio"),
        0.25 / 4.0,
        1e-12
    ));
    assert!(close(n.seed_spread_points.expect("sd"), spread, 1e-9));
    assert!(close(
        n.difference_points.expect("d"),
        mean_difference,
        1e-9
    ));
    assert!(close(
        n.difference_spread_points.expect("sd"),
        difference_spread,
        1e-9
    ));
    let text = answer.mechanisms.join(" ");
    for fragment in [
        format!("{inflation:.2} points above its pixel accuracy"),
        "already scores 50.00% binary accuracy".to_string(),
        format!("training loss is {:.3}× cce's", 0.25),
        format!("gradient norm {:.3}× cce's", 0.0625),
        format!("varies by {spread:.2} points between seeds"),
        format!("by {difference_spread:.2} points between pairs"),
        format!("mean difference of {mean_difference:+.2} points"),
    ] {
        assert!(text.contains(&fragment), "no {fragment:?} in {text}");
    }
    let d = &analysis.pooled_differences[0];
    let reply = if d.p_adjusted < ALPHA {
        format!(
            "No: bce's final mIoU is {:.2} points below cce's",
            -mean_difference
        )
    } else {
        format!("Not established here: bce is {mean_difference:+.2} mIoU points from cce")
    };
    assert!(
        answer.answer.starts_with(&reply),
        "{} / {reply}",
        answer.answer
    );
}

#[test]
fn a_sweep_without_bce_has_no_answer_section() {
    let analysis = analyse(&frame(&six_seeds(0.05)), &[], &Settings::default()).expect("analysis");
    assert_eq!(analysis.answer, None);
}

/// Dice against cce on two datasets, 4 seeds each: `(dataset, seed, cce, dice)` finals.
const TWO_DATASETS: [(&str, i64, f64, f64); 8] = [
    ("shapes", 1, 0.60, 0.66),
    ("shapes", 2, 0.62, 0.66),
    ("shapes", 3, 0.58, 0.64),
    ("shapes", 4, 0.65, 0.69),
    ("roads", 1, 0.40, 0.38),
    ("roads", 2, 0.42, 0.42),
    ("roads", 3, 0.45, 0.43),
    ("roads", 4, 0.41, 0.39),
];

fn two_datasets() -> Vec<Spec> {
    let mut specs = Vec::new();
    for (dataset, seed, cce, dice) in TWO_DATASETS {
        for (loss, value) in [("cce", cce), ("dice", dice)] {
            let mut s = spec(loss, seed, &[0.2, value]);
            s.id = format!("{loss}-{seed}-{dataset}");
            s.dataset = dataset;
            specs.push(s);
        }
    }
    specs
}

#[test]
fn a_dataset_axis_is_analysed_per_dataset_then_aggregated_with_each_dataset_weighing_the_same() {
    let analysis = analyse(&frame(&two_datasets()), &[], &Settings::default()).expect("analysis");
    let datasets = analysis.datasets.expect("a dataset axis");
    assert_eq!(datasets.axis, "dataset");
    let names: Vec<&str> = datasets
        .per_dataset
        .iter()
        .map(|d| d.dataset.as_str())
        .collect();
    assert_eq!(names, ["shapes", "roads"]);

    let mean_of = |name: &str| {
        let d: Vec<f64> = TWO_DATASETS
            .iter()
            .filter(|r| r.0 == name)
            .map(|r| r.3 - r.2)
            .collect();
        d.iter().sum::<f64>() / d.len() as f64
    };
    let (shapes, roads) = (mean_of("shapes"), mean_of("roads"));
    for d in &datasets.per_dataset {
        let diff = &d.differences[0];
        assert_eq!(diff.n, 4, "{}: only its own pairs", d.dataset);
        assert!(close(diff.mean, mean_of(&d.dataset), 1e-12));
    }
    assert!(
        datasets.per_dataset[0]
            .verdict
            .text
            .contains("dice is better than cce"),
        "{}",
        datasets.per_dataset[0].verdict.text
    );

    let aggregate = &datasets.aggregate[0];
    assert_eq!(aggregate.loss, "dice");
    assert!(close(aggregate.mean, (shapes + roads) / 2.0, 1e-12));
    assert_eq!(aggregate.datasets_ahead, 1);
    let (low, high) = aggregate.ci.expect("4 pairs per dataset");
    assert!(
        low < aggregate.mean && aggregate.mean < high,
        "{low} {high}"
    );
    let sentence = datasets::aggregate_sentence(aggregate, "mIoU");
    assert!(
        sentence.contains(&format!(
            "dice leads cce by {:.2} mIoU points",
            100.0 * (shapes + roads) / 2.0
        )) && sentence.contains("ahead on 1 of 2 datasets"),
        "{sentence}"
    );

    // The profile counts every finished run of a loss, over both datasets.
    let dice = datasets
        .profiles
        .iter()
        .find(|p| p.loss == "dice")
        .expect("dice");
    assert_eq!(dice.runs, 8);
    let at = |t: f64| {
        let i = dice
            .thresholds
            .iter()
            .position(|x| close(*x, t, 1e-9))
            .expect("threshold");
        dice.share_above[i]
    };
    assert!(close(at(0.0), 1.0, 1e-12));
    assert!(close(at(0.5), 4.0 / 8.0, 1e-12));
    assert!(close(at(0.65), 3.0 / 8.0, 1e-12));
    assert!(close(at(1.0), 0.0, 1e-12));
}

#[test]
fn an_axis_over_data_root_is_a_dataset_axis_too() {
    let mut frame = frame(&two_datasets());
    frame.rename("dataset", "data.root".into()).expect("rename");
    let analysis = analyse(&frame, &[], &Settings::default()).expect("analysis");
    let datasets = analysis.datasets.expect("a dataset axis");
    assert_eq!(datasets.axis, "data.root");
    assert_eq!(datasets.per_dataset.len(), 2);
}

#[test]
fn a_sweep_over_one_dataset_has_no_dataset_section() {
    let analysis = analyse(&frame(&six_seeds(0.05)), &[], &Settings::default()).expect("analysis");
    assert!(analysis.datasets.is_none());
    let mut one = two_datasets();
    one.retain(|s| s.dataset == "shapes");
    let analysis = analyse(&frame(&one), &[], &Settings::default()).expect("analysis");
    assert!(
        analysis.datasets.is_none(),
        "one value is not a comparison of datasets"
    );
}
