//! The frames' columns: epoch rows in and out, run columns, the runs frame, bitwise diffs.
//!
//! A run's epoch rows as `metrics.parquet` holds them and back, the run columns the sweep's
//! frame adds in front of them, the one-row-per-run frame, and a bitwise comparison of two
//! frames.

use polars::prelude::*;

use super::status::{RunStatus, State};
use crate::config::RunConfig;
use crate::plan::{display_value, Plan, PlannedRun};

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
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
    /// The learning rate of the epoch's first step.
    pub lr: f64,
    pub seconds: f64,
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

/// Adds `run_id`, `label`, `status`, one column per axis, and `loss` and `seed` when they
/// are not axes, in front of the epoch rows of `run`, whose configuration is `config`.
pub(super) fn with_run_columns(
    rows: DataFrame,
    run: &PlannedRun<'_>,
    config: &RunConfig,
    plan: &Plan,
    state: State,
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

/// One row per epoch: the scalar columns, then `iou_0 .. iou_{C-1}` and
/// `grad_share_0 .. grad_share_{C-1}`.
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
    DataFrame::new(rows.len(), columns)
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
    Ok(epochs
        .iter()
        .enumerate()
        .map(|(i, &epoch)| EpochRow {
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
        })
        .collect())
}

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
