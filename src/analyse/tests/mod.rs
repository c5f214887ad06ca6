//! Tests of the analysis on small frames built in memory: the frame builders that the test
//! files beside this one share.

mod bounds;
mod judged;
mod per_dataset;
mod summaries;
mod verdicts;

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
