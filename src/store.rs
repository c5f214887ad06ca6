//! Results on disk: per-epoch rows as Polars frames, written as Parquet and CSV, every file
//! atomically (a temporary file in the same folder, then a rename), so a crash never leaves
//! a half-written file that a later step would trust.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;

use crate::run::train::EpochRow;

/// The column of class `k`'s validation IoU.
pub fn iou_column(k: usize) -> String {
    format!("iou_{k}")
}

/// One row per epoch: the scalar columns, then `iou_0 .. iou_{C-1}`.
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
        f("seconds", |r| r.seconds),
    ];
    let classes = rows.first().map_or(0, |r| r.iou_per_class.len());
    for k in 0..classes {
        let values: Vec<f64> = rows
            .iter()
            .map(|r| r.iou_per_class.get(k).copied().unwrap_or(f64::NAN))
            .collect();
        columns.push(Column::new(iou_column(k).into(), values));
    }
    DataFrame::new(rows.len(), columns)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes).map_err(Into::into))
}

/// Writes `path` atomically through `fill`: the file appears whole or not at all.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temporary_sibling(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        fill(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        anyhow::Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_os_string());
    let mut tmp = name;
    tmp.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(tmp)
}

/// Writes `frame` as `<stem>.parquet` and `<stem>.csv` in `dir`.
pub fn write_frame(frame: &mut DataFrame, dir: &Path, stem: &str) -> anyhow::Result<()> {
    write_atomic_with(&dir.join(format!("{stem}.parquet")), |file| {
        ParquetWriter::new(file).finish(frame)?;
        Ok(())
    })?;
    write_atomic_with(&dir.join(format!("{stem}.csv")), |file| {
        CsvWriter::new(file).finish(frame)?;
        Ok(())
    })
}

/// Reads a Parquet frame.
pub fn read_parquet(path: &Path) -> anyhow::Result<DataFrame> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
        format!("cannot read {} as Parquet", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize) -> EpochRow {
        EpochRow {
            epoch,
            train_loss: 1.0 / epoch as f64,
            val_loss: 0.5,
            val_miou: 0.25,
            pixel_accuracy: 0.75,
            binary_accuracy: 0.9,
            binary_accuracy_sigmoid: 0.9,
            binary_accuracy_softmax: 0.8,
            iou_per_class: vec![0.5, f64::NAN, 0.1],
            grad_norm: 2.0,
            seconds: 0.1,
        }
    }

    #[test]
    fn frame_has_one_row_per_epoch_and_one_iou_column_per_class() {
        let df = epoch_frame(&[row(1), row(2)]).expect("frame");
        assert_eq!(df.height(), 2);
        assert!(df.column("iou_2").is_ok());
        assert!(df.column("iou_3").is_err());
    }

    #[test]
    fn parquet_round_trip_keeps_every_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut df = epoch_frame(&[row(1), row(2)]).expect("frame");
        write_frame(&mut df, dir.path(), "metrics").expect("write");
        let back = read_parquet(&dir.path().join("metrics.parquet")).expect("read");
        assert!(back.equals_missing(&df));
        assert!(dir.path().join("metrics.csv").exists());
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp."))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
