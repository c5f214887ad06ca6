//! Tests of a sweep over datasets: analysed per dataset, then aggregated with each dataset
//! weighing the same.

use super::*;

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
