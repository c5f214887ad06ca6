//! Tests of the verdict and the answer: what they say of one seed, of a difference, of
//! too few seeds, of equivalence and of inflation, and the analysis as JSON.

use super::*;

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

    // A sweep run with `--set` gets them back in the command, quoted for the shell, but
    // the one that set the seeds.
    let sets = [
        "optim.name=\"sgd\"".to_string(),
        "grid.seed=[1, 2, 3]".to_string(),
        "sweep.description=\"it's tuned\"".to_string(),
    ];
    let settings = Settings {
        sweep_sets: sets.to_vec(),
        ..settings
    };
    let analysis = analyse(&frame(&specs), &[], &settings).expect("analysis");
    let command = analysis.verdict.add_seeds.expect("a command");
    assert!(
        command.starts_with(
            "lossbench run sweep.toml --set 'optim.name=\"sgd\"' --set 'sweep.description=\"it'\\''s tuned\"' --set \"grid.seed=["
        ),
        "{command}"
    );
    let words = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s\\n' {}",
            command.trim_start_matches("lossbench ")
        ))
        .output()
        .expect("sh runs");
    let words = String::from_utf8_lossy(&words.stdout);
    let words: Vec<&str> = words.lines().collect();
    assert_eq!(
        &words[..6],
        [
            "run",
            "sweep.toml",
            "--set",
            "optim.name=\"sgd\"",
            "--set",
            "sweep.description=\"it's tuned\""
        ],
        "the shell reads the arguments back as they were given"
    );
    assert_eq!(words.len(), 8, "{words:?}");
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

#[test]
fn the_reference_is_cce_named_with_its_parameters_when_the_sweep_has_only_that_cce() {
    // The Keras preset names its losses `cce from_logits=false` and `bce from_logits=false`:
    // they are still compared with cce, and bce's inflation is still measured.
    let specs = || -> Vec<Spec> {
        (1..=4)
            .flat_map(|seed| {
                let base = 0.4 + 0.01 * seed as f64;
                [
                    spec("cce from_logits=false", seed, &[0.2, base]),
                    spec("bce from_logits=false", seed, &[0.2, base - 0.1]),
                ]
            })
            .collect()
    };
    let analysis = analyse(&frame(&specs()), &[], &Settings::default()).expect("analysis");
    assert_eq!(analysis.reference, "cce from_logits=false");
    assert_eq!(analysis.pooled_differences.len(), 1);
    assert!(
        analysis.verdict.text.contains("bce from_logits=false"),
        "{}",
        analysis.verdict.text
    );
    assert!(!analysis
        .verdict
        .text
        .contains("There is no finished cce run"));
    // Two cce variants: neither is the reference, as before.
    let mut two = specs();
    two.push(spec("cce w=[1,2]", 1, &[0.2, 0.3]));
    let analysis = analyse(&frame(&two), &[], &Settings::default()).expect("analysis");
    assert_eq!(analysis.reference, "cce");
}
