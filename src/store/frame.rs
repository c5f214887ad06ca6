//! The frames' columns: epoch rows in and out, run columns, the runs frame, bitwise diffs.
//!
//! A run's epoch rows as `metrics.parquet` holds them and back, the run columns the sweep's
//! frame adds in front of them, the one-row-per-run frame, and a bitwise comparison of two
//! frames. A run whose weights were selected (`train.select`) or judged on a test split
//! also has a `selected_epoch` column and, on the selected epoch's row, the test split's
//! scores in the columns of [`TEST_PREFIX`].

use polars::prelude::*;

use super::status::{RunStatus, State};
use crate::config::RunConfig;
use crate::metrics::calibration::{Bin, BINS};
use crate::metrics::Quality;
use crate::plan::{display_value, Plan, PlannedRun};
use crate::provenance;

/// What one epoch measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochRow {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps, before `loss.scale`.
    pub train_loss: f64,
    /// Validation loss under the run's own loss, mean over images.
    pub val_loss: f64,
    pub val_miou: f64,
    pub pixel_accuracy: f64,
    /// Keras-style binary accuracy on the run's own activation.
    pub binary_accuracy: f64,
    pub binary_accuracy_sigmoid: f64,
    pub binary_accuracy_softmax: f64,
    /// `NaN` where a class has an empty union on the validation split.
    pub iou_per_class: Vec<f64>,
    /// Mean over the epoch's steps of the L2 norm of the whole gradient (after `loss.scale`).
    pub grad_norm: f64,
    /// Where the loss pushes: per class, the share of `Σ |∂loss/∂z|` at the logits over that
    /// class's pixels, from one backward pass on the first validation batch.
    pub grad_share: Vec<f64>,
    /// Dice, calibration and boundary metrics on the validation split.
    pub quality: Quality,
    /// The learning rate of the epoch's first step.
    pub lr: f64,
    pub seconds: f64,
    /// Seconds of the epoch's training steps spent waiting for their batches (reading,
    /// decoding, augmenting: what the data workers did not have ready).
    pub data_seconds: f64,
    /// Steps skipped because fp16's scaled gradients overflowed (`train.precision =
    /// "fp16"`); `None` in the other precisions, which skip none.
    pub skipped_steps: Option<usize>,
    /// The epoch whose weights the run kept (`train.select`), on every row of a finished
    /// run that selects or has a test split; `None` otherwise.
    pub selected_epoch: Option<usize>,
    /// The test split's scores of the kept weights, on the selected epoch's row only.
    pub test: Option<SplitScores>,
}

/// What one evaluation measured on a split: the `test_` columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitScores {
    /// The run's own loss, mean over images.
    pub loss: f64,
    pub miou: f64,
    pub pixel_accuracy: f64,
    /// On the run's own activation.
    pub binary_accuracy: f64,
    pub binary_accuracy_sigmoid: f64,
    pub binary_accuracy_softmax: f64,
    /// `NaN` where a class has an empty union on the split.
    pub iou_per_class: Vec<f64>,
    /// Dice, calibration and boundary metrics on the split.
    pub quality: Quality,
}

pub use crate::metrics::{DATA_SECONDS, SELECTED_EPOCH, SKIPPED_STEPS, TEST_PREFIX};

/// The split prefix of the test split's scalar quality columns (`test_ece`); its per-class
/// and reliability columns take [`TEST_PREFIX`] (`test_dice_3`).
pub const TEST: &str = "test";

/// A score's column name after [`TEST_PREFIX`] and how to read it.
type ScoreColumn = (&'static str, fn(&SplitScores) -> f64);

/// Per row, the selected epoch and the test scores.
type Selections = (Vec<Option<usize>>, Vec<Option<SplitScores>>);

/// The scalar scores of [`SplitScores`], by the name their column takes after
/// [`TEST_PREFIX`].
const SCORE_COLUMNS: [ScoreColumn; 6] = [
    ("loss", |s| s.loss),
    ("miou", |s| s.miou),
    ("pixel_accuracy", |s| s.pixel_accuracy),
    ("binary_accuracy", |s| s.binary_accuracy),
    ("binary_accuracy_sigmoid", |s| s.binary_accuracy_sigmoid),
    ("binary_accuracy_softmax", |s| s.binary_accuracy_softmax),
];

/// The test split's column of `score` (`miou` → `test_miou`, `iou_3` → `test_iou_3`).
pub fn test_column(score: &str) -> String {
    format!("{TEST_PREFIX}{score}")
}

/// What a finished run selected: the epoch whose weights it kept, and their test scores
/// when the data have a test split.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub epoch: usize,
    pub test: Option<SplitScores>,
}

/// Records `selection` on a run's rows: its epoch on every row, and the test scores on that
/// epoch's.
pub fn record_selection(rows: &mut [EpochRow], selection: &Selection) {
    for row in rows.iter_mut() {
        row.selected_epoch = Some(selection.epoch);
        row.test = selection
            .test
            .clone()
            .filter(|_| row.epoch == selection.epoch);
    }
}

/// `rows` with a constant `lr` column (before `seconds`) when they have none: frames written
/// before the learning rate was recorded, whose runs had a constant one.
pub(super) fn with_lr(mut rows: DataFrame, lr: f64) -> DataFrame {
    if rows.column("lr").is_err() {
        let at = rows.get_column_index("seconds").unwrap_or(rows.width());
        let lr = Column::new_scalar("lr".into(), Scalar::from(lr), rows.height());
        let _ = rows.insert_column(at, lr);
    }
    rows
}

/// The column naming each run's loss ([`PlannedRun::loss`]): the loss axis's column, or
/// a constant one when the loss is not an axis.
const LOSS_COLUMN: &str = "loss";

/// A constant column holding an axis value; the axis's values decide the type.
fn axis_column(name: &str, value: &toml::Value, all: &[toml::Value], len: usize) -> Column {
    let all_int = all.iter().all(|v| v.is_integer());
    let all_num = all.iter().all(|v| v.is_integer() || v.is_float());
    let all_bool = all.iter().all(toml::Value::is_bool);
    let scalar = match value {
        toml::Value::Integer(i) if all_int => Scalar::from(*i),
        toml::Value::Integer(i) if all_num => Scalar::from(*i as f64),
        toml::Value::Float(f) if all_num => Scalar::from(*f),
        toml::Value::Boolean(b) if all_bool => Scalar::from(*b),
        other => Scalar::from(PlSmallStr::from(display_value(other))),
    };
    Column::new_scalar(name.into(), scalar, len)
}

/// Adds `run_id`, `label`, `status`, one column per axis, `loss` and `seed` when they are
/// not axes, and the commit of the build that trained it ([`provenance::COLUMN`]), in front of
/// the epoch rows of `run`, whose configuration is `config`.
pub(super) fn with_run_columns(
    rows: DataFrame,
    run: &PlannedRun<'_>,
    config: &RunConfig,
    plan: &Plan,
    (state, commit): (State, &str),
) -> anyhow::Result<DataFrame> {
    let n = rows.height();
    let mut columns = vec![
        Column::new_scalar("run_id".into(), Scalar::from(PlSmallStr::from(run.id())), n),
        Column::new_scalar(
            "label".into(),
            Scalar::from(PlSmallStr::from(run.label())),
            n,
        ),
        Column::new_scalar(
            "status".into(),
            Scalar::from(PlSmallStr::from(state.name())),
            n,
        ),
    ];
    for (axis, (_, value)) in plan.sweep.axes.iter().zip(run.axes()) {
        if axis.label == LOSS_COLUMN {
            continue;
        }
        columns.push(axis_column(&axis.label, value, &axis.values, n));
    }
    columns.push(Column::new_scalar(
        LOSS_COLUMN.into(),
        Scalar::from(PlSmallStr::from(run.loss())),
        n,
    ));
    columns.push(Column::new_scalar(
        "schedule".into(),
        Scalar::from(PlSmallStr::from(config.optim.schedule.name())),
        n,
    ));
    let labels: Vec<&str> = plan.sweep.axes.iter().map(|a| a.label.as_str()).collect();
    if !labels.contains(&"seed") {
        columns.push(Column::new_scalar(
            "seed".into(),
            Scalar::from(config.train.seed as i64),
            n,
        ));
    }
    columns.push(Column::new_scalar(
        provenance::COLUMN.into(),
        Scalar::from(PlSmallStr::from(commit)),
        n,
    ));
    columns.extend(rows.columns().iter().cloned());
    Ok(DataFrame::new(n, columns)?)
}

/// One row per planned run: id, label, axes, status, epochs done and the error if any.
pub(super) fn runs_frame(
    statuses: &[(PlannedRun<'_>, Option<RunStatus>)],
    plan: &Plan,
) -> anyhow::Result<DataFrame> {
    let n = statuses.len();
    let text = |f: &dyn Fn(&PlannedRun<'_>, Option<&RunStatus>) -> String| -> Vec<String> {
        statuses.iter().map(|(r, s)| f(r, s.as_ref())).collect()
    };
    let mut columns = vec![
        Column::new("run_id".into(), text(&|r, _| r.id())),
        Column::new("label".into(), text(&|r, _| r.label())),
    ];
    columns.push(Column::new(
        LOSS_COLUMN.into(),
        text(&|r, _| r.loss().to_string()),
    ));
    for (i, axis) in plan.sweep.axes.iter().enumerate() {
        if axis.label == LOSS_COLUMN {
            continue;
        }
        let cells: Vec<Column> = statuses
            .iter()
            .filter_map(|(r, _)| r.axes().nth(i))
            .map(|(_, value)| axis_column(&axis.label, value, &axis.values, 1))
            .collect();
        let mut col = cells[0].clone();
        for c in &cells[1..] {
            col.append(c)?;
        }
        columns.push(col);
    }
    columns.push(Column::new(
        "status".into(),
        text(&|_, s| s.map_or("pending", |s| s.state.name()).to_string()),
    ));
    columns.push(Column::new(
        "epochs_done".into(),
        statuses
            .iter()
            .map(|(_, s)| s.as_ref().map_or(0, |s| s.epochs_done as u32))
            .collect::<Vec<u32>>(),
    ));
    columns.push(Column::new(
        "threads".into(),
        statuses
            .iter()
            .map(|(_, s)| s.as_ref().map_or(0, |s| s.threads as u32))
            .collect::<Vec<u32>>(),
    ));
    columns.push(Column::new(
        provenance::COLUMN.into(),
        text(&|_, s| s.map_or_else(String::new, |s| s.lossbench_commit.clone())),
    ));
    columns.push(Column::new(
        "error".into(),
        text(&|_, s| s.and_then(|s| s.error.clone()).unwrap_or_default()),
    ));
    Ok(DataFrame::new(n, columns)?)
}

/// The column of class `k`'s validation IoU.
pub fn iou_column(k: usize) -> String {
    format!("iou_{k}")
}

/// The column of class `k`'s share of the loss gradient at the logits.
pub fn grad_share_column(k: usize) -> String {
    format!("grad_share_{k}")
}

/// The scalar quality metrics of a split, each a column `{split}_{name}` (`val_ece`):
/// mean Dice, calibration, boundary means and the counts of image × class pairs left out.
pub const QUALITY_SCALARS: [&str; 9] = [
    "dice",
    "ece",
    "brier",
    "nll",
    "hd95",
    "nsd",
    "biou",
    "boundary_both_empty",
    "boundary_one_empty",
];

/// The per-class quality metrics, each a column `{class_prefix}{name}_{k}` (`dice_3`).
pub const QUALITY_PER_CLASS: [&str; 4] = ["dice", "hd95", "nsd", "biou"];

/// The reliability bins, each a column `{class_prefix}reliability_{part}_{b}`.
pub const RELIABILITY_PARTS: [&str; 3] = ["count", "confidence", "accuracy"];

/// The split prefix of the validation split's scalar quality columns.
pub const VAL: &str = "val";

/// The column of the scalar quality metric `name` of `split`.
pub fn quality_column(split: &str, name: &str) -> String {
    format!("{split}_{name}")
}

/// The column of class `k`'s quality metric `name`; `class_prefix` is empty for the
/// validation split.
pub fn quality_class_column(class_prefix: &str, name: &str, k: usize) -> String {
    format!("{class_prefix}{name}_{k}")
}

/// The column of reliability bin `b`'s `part` (count, confidence or accuracy).
pub fn reliability_column(class_prefix: &str, part: &str, b: usize) -> String {
    format!("{class_prefix}reliability_{part}_{b}")
}

/// The quality metrics of one split in `rows` as columns: the scalars, the per-class
/// values (NaN where a class has none) and the reliability bins.
pub fn quality_columns(
    split: &str,
    class_prefix: &str,
    rows: &[&Quality],
    classes: usize,
) -> Vec<Column> {
    let column = |name: String, get: &dyn Fn(&Quality) -> f64| {
        Column::new(
            name.into(),
            rows.iter().map(|q| get(q)).collect::<Vec<f64>>(),
        )
    };
    let scalar = |q: &Quality, name: &str| match name {
        "dice" => q.mean_dice,
        "ece" => q.calibration.ece,
        "brier" => q.calibration.brier,
        "nll" => q.calibration.nll,
        "hd95" => q.boundary.hd95,
        "nsd" => q.boundary.nsd,
        "biou" => q.boundary.biou,
        "boundary_both_empty" => q.boundary.both_empty as f64,
        _ => q.boundary.one_empty as f64,
    };
    let per_class = |q: &Quality, name: &str| -> Vec<Option<f64>> {
        match name {
            "dice" => q.dice_per_class.clone(),
            "hd95" => q.boundary.hd95_per_class.clone(),
            "nsd" => q.boundary.nsd_per_class.clone(),
            _ => q.boundary.biou_per_class.clone(),
        }
    };
    let mut columns: Vec<Column> = QUALITY_SCALARS
        .iter()
        .map(|&name| column(quality_column(split, name), &|q| scalar(q, name)))
        .collect();
    for name in QUALITY_PER_CLASS {
        for k in 0..classes {
            let get = |q: &Quality| {
                per_class(q, name)
                    .get(k)
                    .copied()
                    .flatten()
                    .unwrap_or(f64::NAN)
            };
            columns.push(column(quality_class_column(class_prefix, name, k), &get));
        }
    }
    for part in RELIABILITY_PARTS {
        for b in 0..BINS {
            let get = |q: &Quality| {
                q.calibration
                    .bins
                    .get(b)
                    .map_or(f64::NAN, |bin| match part {
                        "count" => bin.count,
                        "confidence" => bin.confidence,
                        _ => bin.accuracy,
                    })
            };
            columns.push(column(reliability_column(class_prefix, part, b), &get));
        }
    }
    columns
}

/// The quality metrics of one split read back from `frame`, one per row; NaN (and no
/// counts) where the frame has no such columns (frames written before they were recorded).
pub fn read_quality(
    frame: &DataFrame,
    split: &str,
    class_prefix: &str,
    classes: usize,
) -> Vec<Quality> {
    let floats = |name: &str| -> Vec<f64> {
        match frame.column(name).and_then(|c| c.f64().cloned()) {
            Ok(values) => values.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            Err(_) => vec![f64::NAN; frame.height()],
        }
    };
    let scalars: Vec<Vec<f64>> = QUALITY_SCALARS
        .iter()
        .map(|name| floats(&quality_column(split, name)))
        .collect();
    let per_class: Vec<Vec<Vec<f64>>> = QUALITY_PER_CLASS
        .iter()
        .map(|name| {
            (0..classes)
                .map(|k| floats(&quality_class_column(class_prefix, name, k)))
                .collect()
        })
        .collect();
    let bins: Vec<Vec<Vec<f64>>> = RELIABILITY_PARTS
        .iter()
        .map(|part| {
            (0..BINS)
                .map(|b| floats(&reliability_column(class_prefix, part, b)))
                .collect()
        })
        .collect();
    let option = |v: f64| (!v.is_nan()).then_some(v);
    let count = |v: f64| if v.is_nan() { 0 } else { v as u64 };
    (0..frame.height())
        .map(|i| {
            let mut q = Quality::missing(classes);
            let class_values = |m: usize| {
                per_class[m]
                    .iter()
                    .map(|c| option(c[i]))
                    .collect::<Vec<_>>()
            };
            q.mean_dice = scalars[0][i];
            q.calibration.ece = scalars[1][i];
            q.calibration.brier = scalars[2][i];
            q.calibration.nll = scalars[3][i];
            q.boundary.hd95 = scalars[4][i];
            q.boundary.nsd = scalars[5][i];
            q.boundary.biou = scalars[6][i];
            q.boundary.both_empty = count(scalars[7][i]);
            q.boundary.one_empty = count(scalars[8][i]);
            q.dice_per_class = class_values(0);
            q.boundary.hd95_per_class = class_values(1);
            q.boundary.nsd_per_class = class_values(2);
            q.boundary.biou_per_class = class_values(3);
            q.calibration.bins = (0..BINS)
                .map(|b| Bin {
                    count: bins[0][b][i],
                    confidence: bins[1][b][i],
                    accuracy: bins[2][b][i],
                })
                .collect();
            q
        })
        .collect()
}

/// One row per epoch: the scalar columns, then `iou_0 .. iou_{C-1}` and
/// `grad_share_0 .. grad_share_{C-1}`, then the validation split's quality columns
/// ([`quality_columns`]).
pub fn epoch_frame(rows: &[EpochRow]) -> PolarsResult<DataFrame> {
    let f = |name: &str, get: fn(&EpochRow) -> f64| {
        Column::new(name.into(), rows.iter().map(get).collect::<Vec<f64>>())
    };
    let mut columns = vec![
        Column::new(
            "epoch".into(),
            rows.iter().map(|r| r.epoch as u32).collect::<Vec<u32>>(),
        ),
        f("train_loss", |r| r.train_loss),
        f("val_loss", |r| r.val_loss),
        f("val_miou", |r| r.val_miou),
        f("pixel_accuracy", |r| r.pixel_accuracy),
        f("binary_accuracy", |r| r.binary_accuracy),
        f("binary_accuracy_sigmoid", |r| r.binary_accuracy_sigmoid),
        f("binary_accuracy_softmax", |r| r.binary_accuracy_softmax),
        f("grad_norm", |r| r.grad_norm),
        f("lr", |r| r.lr),
        f("seconds", |r| r.seconds),
        f(DATA_SECONDS, |r| r.data_seconds),
    ];
    let classes = rows.first().map_or(0, |r| r.iou_per_class.len());
    let per_class = |name: fn(usize) -> String, get: fn(&EpochRow) -> &[f64]| {
        (0..classes).map(move |k| {
            let values: Vec<f64> = rows
                .iter()
                .map(|r| get(r).get(k).copied().unwrap_or(f64::NAN))
                .collect();
            Column::new(name(k).into(), values)
        })
    };
    columns.extend(per_class(iou_column, |r| &r.iou_per_class));
    columns.extend(per_class(grad_share_column, |r| &r.grad_share));
    let quality: Vec<&Quality> = rows.iter().map(|r| &r.quality).collect();
    columns.extend(quality_columns(VAL, "", &quality, classes));
    if rows.iter().any(|r| r.skipped_steps.is_some()) {
        columns.push(Column::new(
            SKIPPED_STEPS.into(),
            rows.iter()
                .map(|r| r.skipped_steps.map(|s| s as u32))
                .collect::<Vec<Option<u32>>>(),
        ));
    }
    if rows.iter().any(|r| r.selected_epoch.is_some()) {
        columns.push(Column::new(
            SELECTED_EPOCH.into(),
            rows.iter()
                .map(|r| r.selected_epoch.map(|e| e as u32))
                .collect::<Vec<Option<u32>>>(),
        ));
    }
    if let Some(first) = rows.iter().find_map(|r| r.test.as_ref()) {
        for (name, get) in SCORE_COLUMNS {
            let values: Vec<f64> = rows
                .iter()
                .map(|r| r.test.as_ref().map_or(f64::NAN, get))
                .collect();
            columns.push(Column::new(test_column(name).into(), values));
        }
        for k in 0..first.iou_per_class.len() {
            let values: Vec<f64> = rows
                .iter()
                .map(|r| {
                    r.test
                        .as_ref()
                        .and_then(|t| t.iou_per_class.get(k).copied())
                        .unwrap_or(f64::NAN)
                })
                .collect();
            columns.push(Column::new(test_column(&iou_column(k)).into(), values));
        }
        let missing = Quality::missing(first.iou_per_class.len());
        let quality: Vec<&Quality> = rows
            .iter()
            .map(|r| r.test.as_ref().map_or(&missing, |t| &t.quality))
            .collect();
        columns.extend(quality_columns(
            TEST,
            TEST_PREFIX,
            &quality,
            first.iou_per_class.len(),
        ));
    }
    DataFrame::new(rows.len(), columns)
}

/// The selected epochs and test scores of `frame`'s rows, when it has those columns.
fn selections(
    frame: &DataFrame,
    epochs: &[usize],
    floats: &dyn Fn(&str) -> anyhow::Result<Vec<f64>>,
) -> anyhow::Result<Selections> {
    let n = frame.height();
    let selected: Vec<Option<usize>> = match frame.column(SELECTED_EPOCH) {
        Ok(c) => c
            .u32()
            .map_err(|_| {
                anyhow::anyhow!("the run's frame has no {SELECTED_EPOCH} column of its type")
            })?
            .iter()
            .map(|e| e.map(|e| e as usize))
            .collect(),
        Err(_) => vec![None; n],
    };
    if frame.column(&test_column("miou")).is_err() {
        return Ok((selected, vec![None; n]));
    }
    let scores = SCORE_COLUMNS
        .iter()
        .map(|(name, _)| floats(&test_column(name)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let iou = (0..)
        .map(|k| test_column(&iou_column(k)))
        .take_while(|c| frame.column(c).is_ok())
        .map(|c| floats(&c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut quality = read_quality(frame, TEST, TEST_PREFIX, iou.len()).into_iter();
    let test = (0..n)
        .map(|i| {
            let quality = quality
                .next()
                .unwrap_or_else(|| Quality::missing(iou.len()));
            // Only the selected epoch's row holds the test scores; the others are NaN.
            (selected[i] == Some(epochs[i])).then(|| SplitScores {
                quality,
                loss: scores[0][i],
                miou: scores[1][i],
                pixel_accuracy: scores[2][i],
                binary_accuracy: scores[3][i],
                binary_accuracy_sigmoid: scores[4][i],
                binary_accuracy_softmax: scores[5][i],
                iou_per_class: iou.iter().map(|c| c[i]).collect(),
            })
        })
        .collect();
    Ok((selected, test))
}

/// The rows [`epoch_frame`] wrote, read back from `frame` exactly.
pub fn epoch_rows(frame: &DataFrame) -> anyhow::Result<Vec<EpochRow>> {
    let missing = |name: &str| anyhow::anyhow!("the run's frame has no {name} column of its type");
    let floats = |name: &str| -> anyhow::Result<Vec<f64>> {
        let column = frame.column(name).map_err(|_| missing(name))?;
        Ok(column
            .f64()
            .map_err(|_| missing(name))?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let epochs: Vec<usize> = frame
        .column("epoch")
        .and_then(|c| c.u32())
        .map_err(|_| missing("epoch"))?
        .iter()
        .map(|e| e.unwrap_or(0) as usize)
        .collect();
    let per_class = |name: fn(usize) -> String| -> anyhow::Result<Vec<Vec<f64>>> {
        (0..)
            .map(name)
            .take_while(|c| frame.column(c).is_ok())
            .map(|c| floats(&c))
            .collect()
    };
    let (iou, share) = (per_class(iou_column)?, per_class(grad_share_column)?);
    let train_loss = floats("train_loss")?;
    let val_loss = floats("val_loss")?;
    let val_miou = floats("val_miou")?;
    let pixel = floats("pixel_accuracy")?;
    let binary = floats("binary_accuracy")?;
    let sigmoid = floats("binary_accuracy_sigmoid")?;
    let softmax = floats("binary_accuracy_softmax")?;
    let grad_norm = floats("grad_norm")?;
    let lr = floats("lr")?;
    let seconds = floats("seconds")?;
    // Frames written before the column existed have none.
    let data_seconds = match frame.column(DATA_SECONDS) {
        Ok(_) => floats(DATA_SECONDS)?,
        Err(_) => vec![f64::NAN; epochs.len()],
    };
    let (selected, test) = selections(frame, &epochs, &floats)?;
    let skipped: Vec<Option<usize>> = match frame.column(SKIPPED_STEPS) {
        Ok(column) => column
            .u32()
            .map_err(|_| missing(SKIPPED_STEPS))?
            .iter()
            .map(|s| s.map(|s| s as usize))
            .collect(),
        Err(_) => vec![None; epochs.len()],
    };
    let mut quality = read_quality(frame, VAL, "", iou.len()).into_iter();
    Ok(epochs
        .iter()
        .enumerate()
        .map(|(i, &epoch)| EpochRow {
            quality: quality
                .next()
                .unwrap_or_else(|| Quality::missing(iou.len())),
            epoch,
            train_loss: train_loss[i],
            val_loss: val_loss[i],
            val_miou: val_miou[i],
            pixel_accuracy: pixel[i],
            binary_accuracy: binary[i],
            binary_accuracy_sigmoid: sigmoid[i],
            binary_accuracy_softmax: softmax[i],
            iou_per_class: iou.iter().map(|c| c[i]).collect(),
            grad_norm: grad_norm[i],
            grad_share: share.iter().map(|c| c[i]).collect(),
            lr: lr[i],
            seconds: seconds[i],
            data_seconds: data_seconds[i],
            skipped_steps: skipped[i],
            selected_epoch: selected[i],
            test: test[i].clone(),
        })
        .collect())
}

/// The columns of times measured, which differ from one run of the same configuration to
/// the next.
pub const TIMINGS: [&str; 2] = ["seconds", DATA_SECONDS];

/// The first cell where `a` and `b` differ in bits (NaN equal to NaN), ignoring the columns
/// in `skip`; `None` when they are identical.
pub fn bitwise_difference(
    a: &DataFrame,
    b: &DataFrame,
    skip: &[&str],
) -> anyhow::Result<Option<String>> {
    let names = |f: &DataFrame| -> Vec<String> {
        f.get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| !skip.contains(&n.as_str()))
            .collect()
    };
    let (na, nb) = (names(a), names(b));
    if na != nb {
        return Ok(Some(format!("columns differ: {na:?} against {nb:?}")));
    }
    if a.height() != b.height() {
        return Ok(Some(format!("{} rows against {}", a.height(), b.height())));
    }
    for name in &na {
        let (ca, cb) = (a.column(name)?, b.column(name)?);
        if ca.dtype() != cb.dtype() {
            return Ok(Some(format!(
                "column {name}: type {} against {}",
                ca.dtype(),
                cb.dtype()
            )));
        }
        for i in 0..a.height() {
            let (va, vb) = (ca.get(i)?, cb.get(i)?);
            let same = match (&va, &vb) {
                (AnyValue::Float64(x), AnyValue::Float64(y)) => x.to_bits() == y.to_bits(),
                (AnyValue::Float32(x), AnyValue::Float32(y)) => x.to_bits() == y.to_bits(),
                _ => va == vb,
            };
            if !same {
                return Ok(Some(format!("row {i}, column {name}: {va} against {vb}")));
            }
        }
    }
    Ok(None)
}
