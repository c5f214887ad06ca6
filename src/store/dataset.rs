//! The descriptions the report reads: `sweep.json`, `dataset.json` and the PNG strips.
//!
//! Each dataset's folder holds its `dataset.json` and example strips; each run's folder
//! its `predictions.png`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::atomic::{write_atomic, write_atomic_with};
use super::SweepStore;
use crate::config::sweep::ReportConfig;

/// `sweep.json`: the sweep as the report needs it, written with every frame rebuild.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepInfo {
    pub name: String,
    pub description: Option<String>,
    /// Where the report goes: `plots/<name>`.
    pub plots_dir: PathBuf,
    /// Axis labels (frame columns) in grid order.
    pub axes: Vec<String>,
    pub runs: usize,
    /// The sweep file as it was named on the command line.
    #[serde(default)]
    pub file: Option<String>,
    /// The `--set` arguments it was run with, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<String>,
    /// The sweep file's `[report]` table.
    #[serde(default)]
    pub report: ReportConfig,
    /// The commit of the build that wrote this record (see [`crate::provenance`]).
    #[serde(default)]
    pub lossbench_commit: Option<String>,
    /// How many of the sweep's finished runs each build made, by commit.
    #[serde(default)]
    pub builds: std::collections::BTreeMap<String, usize>,
}

/// Reads a sweep folder's `sweep.json`.
pub fn read_sweep_info(root: &Path) -> anyhow::Result<SweepInfo> {
    let path = root.join("sweep.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: {} is not a sweep's results folder (run `lossbench run` first)",
            path.display(),
            root.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a sweep description", path.display()))
}

/// Reads a sweep folder's `dataset.json`.
pub fn read_dataset_info(root: &Path) -> anyhow::Result<DatasetInfo> {
    let path = root.join("dataset.json");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a dataset description", path.display()))
}

/// The folder of the dataset files of dataset `name` (a value of the dataset axis: a name,
/// or a `data.root` path) in the sweep folder `root`: `datasets/<name>`, every character
/// other than letters, digits, `-` and `_` written `_`.
pub fn dataset_dir(root: &Path, name: &str) -> PathBuf {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join("datasets").join(slug)
}

/// How many validation images the report shows predictions for.
pub const EXAMPLES: i64 = 4;

/// `dataset.json` of a sweep: what the report needs to know of the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub class_names: Vec<String>,
    pub palette: Vec<[u8; 3]>,
    /// Share of the training split's valid pixels in each class.
    pub train_frequencies: Vec<f64>,
    pub ignore_index: Option<i64>,
    pub height: i64,
    pub width: i64,
    /// The files of each split (and of each fold), for data read from files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<crate::data::SplitFiles>,
}

impl SweepStore {
    /// Where the dataset files of the dataset `name` of a sweep over several datasets live
    /// (`datasets/<name>/`, the name made a plain folder name); the sweep's own folder for
    /// `None`.
    pub fn dataset_dir(&self, name: Option<&str>) -> PathBuf {
        match name {
            Some(name) => dataset_dir(&self.root, name),
            None => self.root.clone(),
        }
    }

    /// Writes `dataset.json`, and the first validation images and their masks side by side
    /// as `examples.png` and `examples_mask.png` (class indices as grey levels), into
    /// [`SweepStore::dataset_dir`] of `name`.
    pub fn write_dataset(
        &self,
        data: &crate::data::Dataset,
        name: Option<&str>,
    ) -> anyhow::Result<()> {
        let dir = self.dataset_dir(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let classes = data.num_classes();
        let mut counts = vec![0i64; classes as usize];
        for image in &data.train_class_counts {
            for (total, count) in counts.iter_mut().zip(image) {
                *total += count;
            }
        }
        let total = counts.iter().sum::<i64>().max(1) as f64;
        let (height, width) = data.image_size();
        let info = DatasetInfo {
            class_names: data.class_names.clone(),
            palette: data.palette.clone(),
            train_frequencies: counts.iter().map(|c| *c as f64 / total).collect(),
            ignore_index: data.ignore_index,
            height,
            width,
            files: data.files.clone(),
        };
        write_atomic(
            &dir.join("dataset.json"),
            &serde_json::to_vec_pretty(&info)?,
        )?;
        let k = EXAMPLES.min(data.val.len());
        let shown = data.display_images(&data.val, k)?;
        let size = shown.images.size();
        let (height, width) = (size[2], size[3]);
        let rgb = (shown.images.clamp(0.0, 1.0) * 255.0)
            .round()
            .to_kind(tch::Kind::Uint8);
        let rgb = if rgb.size()[1] == 1 {
            rgb.repeat([1, 3, 1, 1])
        } else {
            rgb.narrow(1, 0, 3)
        };
        // [k, 3, H, W] -> [H, k * W, 3]
        let strip = rgb
            .permute([2, 0, 3, 1])
            .reshape([height, k * width, 3])
            .contiguous();
        let bytes = Vec::<u8>::try_from(&strip.reshape([-1]))?;
        write_png(
            &dir.join("examples.png"),
            image::ColorType::Rgb8,
            (k * width) as u32,
            height as u32,
            &bytes,
        )?;
        write_index_strip(
            &dir.join("examples_mask.png"),
            &shown.masks.to_kind(tch::Kind::Int64),
        )
    }

    /// Writes a run's predictions for the example images as `predictions.png`.
    pub fn write_predictions(&self, id: &str, predictions: &tch::Tensor) -> anyhow::Result<()> {
        write_index_strip(&self.run_dir(id).join("predictions.png"), predictions)
    }
}

/// Writes index masks `[k, H, W]` side by side as an 8-bit grey PNG (255 stays 255).
fn write_index_strip(path: &Path, masks: &tch::Tensor) -> anyhow::Result<()> {
    let size = masks.size();
    let (k, h, w) = (size[0], size[1], size[2]);
    let strip = masks
        .clamp(0, 255)
        .to_kind(tch::Kind::Uint8)
        .permute([1, 0, 2])
        .reshape([h, k * w])
        .contiguous();
    let bytes = Vec::<u8>::try_from(&strip.reshape([-1]))?;
    write_png(path, image::ColorType::L8, (k * w) as u32, h as u32, &bytes)
}

fn write_png(
    path: &Path,
    colour: image::ColorType,
    width: u32,
    height: u32,
    bytes: &[u8],
) -> anyhow::Result<()> {
    write_atomic_with(path, |file| {
        let encoder = image::codecs::png::PngEncoder::new(std::io::BufWriter::new(file));
        image::ImageEncoder::write_image(encoder, bytes, width, height, colour.into())?;
        Ok(())
    })
}
