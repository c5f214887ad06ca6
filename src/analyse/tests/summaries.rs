//! Tests of reading runs from a frame and of what the analysis computes from them: finals,
//! the run table, summaries, bands, paired differences and the binary-accuracy inflation.

use super::*;

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
