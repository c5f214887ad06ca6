//! Atomic writes (a temporary sibling, synced, then renamed) and Parquet frames out and in.
//!
//! A crash never leaves half of a file that a later step would trust.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;

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
        if let Some(e) = crate::faults::write_failure() {
            return Err(e.into());
        }
        let mut file = File::create(&tmp)?;
        fill(&mut file)?;
        file.sync_all()?;
        if let Some(name) = path.file_name() {
            crate::faults::point(&format!("write:{}", name.to_string_lossy()));
        }
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
