//! lossbench's Dice, calibration and boundary metrics against the values MONAI 1.6.1 and
//! torchmetrics compute on the same cases (`tests/reference/metrics.json`, written by
//! `peer/metrics.py`): 1e-6 relative, exact for counts.

use std::path::Path;

use serde_json::Value;
use tch::{Device, Tensor};

use super::boundary::image_boundaries;
use super::{Accumulator, CalibrationAccumulator};
use crate::losses::Activation;

/// Every comparison made, and those that failed, by metric.
#[derive(Default)]
struct Tally {
    made: std::collections::BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, metric: &'static str, what: String, ok: bool) {
        *self.made.entry(metric).or_default() += 1;
        if !ok {
            self.failures.push(format!("{metric} {what}"));
        }
    }
}

/// A JSON number or one of the strings `nan`, `inf`.
fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

fn close(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan())
        || got == want
        || (got - want).abs() <= 1e-6 * want.abs().max(got.abs())
}

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/metrics.json");
    let text = std::fs::read_to_string(&path)
        .expect("tests/reference/metrics.json (make reference-metrics)");
    serde_json::from_str(&text).expect("metrics.json is JSON")
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("integer"))
        .collect()
}

/// Compares one case, adding to `tally`.
fn check_case(case: &Value, tally: &mut Tally) {
    let name = case["name"].as_str().unwrap_or("?").to_string();
    let shape = ints(&case["shape"]);
    let (n, c, h, w) = (shape[0], shape[1], shape[2] as usize, shape[3] as usize);
    let ignore = case["ignore_index"].as_i64();
    let logits: Vec<f32> = case["logits"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
        .collect();
    let logits = Tensor::from_slice(&logits).reshape(shape.as_slice());
    let target_values = ints(&case["target"]);
    let target = Tensor::from_slice(&target_values).reshape([n, h as i64, w as i64]);

    let mut overlap = Accumulator::new(c, ignore, Device::Cpu);
    overlap.update(&logits, &target);
    let metrics = overlap.finish().expect("metrics");
    for (k, want) in case["dice_per_class"]
        .as_array()
        .expect("dice")
        .iter()
        .enumerate()
    {
        let got = metrics.dice_per_class[k];
        let ok = match (got, want.as_f64()) {
            (Some(g), Some(v)) => close(g, v),
            (None, None) => true,
            _ => false,
        };
        tally.check(
            "dice",
            format!("{name} class {k}: {got:?} against {want}"),
            ok,
        );
    }

    for (activation, key) in [
        (Activation::Softmax, "softmax"),
        (Activation::Sigmoid, "sigmoid"),
    ] {
        let want = &case["calibration"][key];
        let mut acc = CalibrationAccumulator::new(activation, ignore, Device::Cpu);
        acc.update(&logits, &target);
        let got = acc.finish().expect("calibration");
        for (metric, g) in [("ece", got.ece), ("brier", got.brier), ("nll", got.nll)] {
            let v = number(&want[metric]);
            let ok = close(g, v);
            let metric: &'static str = match metric {
                "ece" => "ece",
                "brier" => "brier",
                _ => "nll",
            };
            tally.check(metric, format!("{name} {key}: {g} against {v}"), ok);
        }
        let counts = ints(&want["bin_counts"]);
        let mut expected: Vec<f64> = counts[..super::calibration::BINS]
            .iter()
            .map(|&x| x as f64)
            .collect();
        expected[super::calibration::BINS - 1] += counts[super::calibration::BINS] as f64;
        let got_counts: Vec<f64> = got.bins.iter().map(|b| b.count).collect();
        tally.check(
            "reliability bin counts",
            format!("{name} {key}: {got_counts:?} against {expected:?}"),
            got_counts == expected,
        );
    }

    let tolerances: Vec<f64> = [1.0, 2.0, 3.0].to_vec();
    let predicted = Vec::<i64>::try_from(&logits.argmax(1, false).reshape([-1])).expect("argmax");
    let size = h * w;
    for (b, row) in case["boundaries"]
        .as_array()
        .expect("boundaries")
        .iter()
        .enumerate()
    {
        let (p, t) = (
            &predicted[b * size..(b + 1) * size],
            &target_values[b * size..(b + 1) * size],
        );
        for &tol in &tolerances {
            let got = image_boundaries(p, t, h, w, c as usize, ignore, tol);
            let key = format!("{}", tol as i64);
            for (k, want) in row.as_array().expect("row").iter().enumerate() {
                let where_ = format!("{name} image {b} class {k} tolerance {key}");
                if tol == 2.0 {
                    let (hd95, hd) = (number(&want["hd95"]), number(&want["hd"]));
                    // MONAI's quantile of infinities is NaN; its maximum says infinite.
                    let expected = if hd95.is_nan() && hd.is_infinite() {
                        hd
                    } else {
                        hd95
                    };
                    tally.check(
                        "hd95",
                        format!("{where_}: {} against {expected}", got[k].hd95),
                        close(got[k].hd95, expected),
                    );
                }
                let nsd = number(&want["nsd"][&key]);
                tally.check(
                    "nsd",
                    format!("{where_}: {} against {nsd}", got[k].nsd),
                    close(got[k].nsd, nsd),
                );
                let bands = ints(&want["bands"][&key]);
                let got_bands = [got[k].band_intersection as i64, got[k].band_union as i64];
                tally.check(
                    "boundary IoU bands",
                    format!("{where_}: {got_bands:?} against {bands:?}"),
                    got_bands[..] == bands[..],
                );
            }
        }
    }
}

#[test]
fn dice_calibration_and_boundaries_match_monai_and_torchmetrics() {
    let doc = reference();
    let mut tally = Tally::default();
    for case in doc["cases"].as_array().expect("cases") {
        check_case(case, &mut tally);
    }
    eprintln!(
        "comparisons with MONAI {} / torchmetrics {}: {:?}",
        doc["monai"], doc["torchmetrics"], tally.made
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} differ:\n{}",
        tally.failures.len(),
        tally.made.values().sum::<usize>(),
        tally.failures.join("\n")
    );
    assert!(
        tally.made["hd95"] >= 100 && tally.made["ece"] >= 20,
        "{:?}",
        tally.made
    );
}

#[test]
fn the_reference_cases_cover_ignored_pixels_empty_predictions_and_absent_classes() {
    let doc = reference();
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.iter().any(|c| c["ignore_index"].is_i64()));
    let pairs: Vec<&Value> = cases
        .iter()
        .flat_map(|c| c["boundaries"].as_array().into_iter().flatten())
        .flat_map(|r| r.as_array().into_iter().flatten())
        .collect();
    let one_empty = pairs
        .iter()
        .filter(|p| number(&p["hd"]).is_infinite())
        .count();
    let both_empty = pairs.iter().filter(|p| number(&p["hd"]).is_nan()).count();
    assert!(
        one_empty >= 10 && both_empty >= 10,
        "{one_empty} one-empty, {both_empty} both-empty pairs"
    );
}

#[test]
fn a_wrong_reference_value_is_caught() {
    let mut doc = reference();
    doc["cases"][7]["boundaries"][0][1]["hd95"] = Value::from(99.0);
    let mut tally = Tally::default();
    check_case(&doc["cases"][7], &mut tally);
    assert_eq!(tally.failures.len(), 1, "{:?}", tally.failures);
}
