//! Datasets on disk: a root with, per split, a folder of images and a folder of masks paired
//! by file stem (`images/<split>/x.jpg` with `masks/<split>/x.png`), or one folder of each
//! that a seeded validation fraction, k seeded folds or a `file,split` CSV list splits; and
//! an optional held-out test split (`test`: a folder or a row of the list; or
//! `test_fraction` of the training images).
//!
//! Images are PNG, JPEG or TIFF, RGB or grayscale (alpha dropped, 16-bit scaled to [0, 1]).
//! Masks are PNG or TIFF in the forms users have: 8- or 16-bit index images, palette
//! (indexed-colour) PNGs read by their indices, and RGB colour masks mapped to classes
//! through a palette (from the configuration, a `name,r,g,b` CSV class table, or a
//! `dataset.json` beside the data); `mask_name` names masks that differ from their image's
//! stem. `class_map` relabels or merges labels; `ignore_index` marks pixels that losses and
//! metrics skip. Optional resize and centre crop, per-channel normalisation with the
//! training split's statistics, and a seeded horizontal flip (applied by the training loop).
//!
//! Files are decoded in parallel (rayon) and each split becomes one pair of tensors. Bad data
//! are errors that name the file and the value, never panics. The submodules: `pairing`
//! (files and splits), `images` and `masks` (decoding), `classes` (labels to classes),
//! [`check`] (the data check, which reports every problem instead of the first).

pub mod check;
mod classes;
mod decode;
mod images;
mod load;
mod masks;
mod pairing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::augment::AugmentConfig;
use super::samples::{
    is_default_prefetch, is_default_workers, Cache, DEFAULT_PREFETCH, DEFAULT_WORKERS,
    MAX_PREFETCH, MAX_WORKERS,
};

/// How to read a dataset from folders: the `[data]` table with `kind = "folder"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FolderConfig {
    /// The dataset's folder; a relative path is taken from the current folder.
    pub root: PathBuf,
    /// The training split's name (`{split}` in `images` and `masks`).
    pub train: String,
    /// The validation split's name.
    pub val: String,
    /// The held-out test split's name: a folder like `train` and `val` (`{split}` in
    /// `images` and `masks`), or the rows of `split_file` with this split. None by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// The image folder under `root`, with `{split}` for the split's name.
    pub images: String,
    /// The mask folder under `root`, with `{split}` for the split's name.
    pub masks: String,
    /// The mask value (after `class_map`) that losses and metrics ignore; `dataset.json`'s
    /// when unset, else none.
    pub ignore_index: Option<i64>,
    /// Class names (of the classes after `class_map`); from `dataset.json` when unset.
    pub classes: Option<Vec<String>>,
    /// The colour of every source class, in label order: decodes RGB colour masks, and
    /// colours the report. From `dataset.json` when unset.
    pub palette: Option<Vec<[u8; 3]>>,
    /// A colour of RGB masks that means `ignore_index` (e.g. CamVid's void `[0, 0, 0]`).
    pub ignore_color: Option<[u8; 3]>,
    /// Source label (a number, or a class name of `dataset.json`) → the class it becomes (a
    /// number, a name of `classes`, or `"ignore"`). Every label the masks hold must be
    /// mapped, or be `ignore_index`.
    pub class_map: Option<BTreeMap<String, ClassTarget>>,
    /// Resize every image and mask to `[height, width]` (bilinear / nearest) first.
    pub resize: Option<[u32; 2]>,
    /// Then take the centre `[height, width]`.
    pub crop: Option<[u32; 2]>,
    /// Standardise each channel with the training split's mean and standard deviation.
    pub normalize: bool,
    /// Flip each training image (and its mask) left-right with probability 1/2, drawn from
    /// the run's seeded RNG.
    pub hflip: bool,
    /// Augmentation of the training batches (`[data.augment]`). With it, `crop` is the size
    /// training images are cropped (or padded) to at random, and validation and test images
    /// are evaluated at their own size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
    /// Read at most this many images of each split (the first ones by name).
    pub limit: Option<usize>,
    /// Keep the decoded images in memory (`"memory"`), or read every batch from the files
    /// (`"none"`), for datasets larger than memory.
    #[serde(skip_serializing_if = "Cache::is_memory")]
    pub cache: Cache,
    /// Threads that build batches ahead of the training step (read, decode, augment); 0
    /// builds each batch in the training thread.
    #[serde(skip_serializing_if = "is_default_workers")]
    pub workers: usize,
    /// Batches built ahead and waiting at most.
    #[serde(skip_serializing_if = "is_default_prefetch")]
    pub prefetch: usize,
    /// Validate on this share (0 < f < 1) of the images of one folder, drawn with
    /// `split_seed`; the rest train.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Cut the images of one folder into this many seeded, disjoint folds for
    /// cross-validation; `fold` validates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<u32>,
    /// The fold that validates, `0..folds` (a grid axis: `fold = [0, 1, 2]` or `"all"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<u32>,
    /// Hold out this share (0 < f < 1) of the training folder's images as the test split,
    /// drawn with `split_seed` before validation or folds are made from the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// The seed of `val_fraction`, `test_fraction` and `folds` (0 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// A CSV list under `root` with the columns `file,split` (file name or stem; split
    /// `train`, `val`, or another name that is left out) over the images of one folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_file: Option<PathBuf>,
    /// The mask file of an image, with `{stem}` for the image's stem, e.g.
    /// `"{stem}_mask.png"` (CamVid: `"{stem}_L.png"`); masks share the image's stem when
    /// unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_name: Option<String>,
    /// A CSV class table under `root` with the columns `name,r,g,b`, one row per label in
    /// label order: the class names and the palette (as CamVid's `class_dict.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_dict: Option<PathBuf>,
}

impl Default for FolderConfig {
    fn default() -> Self {
        FolderConfig {
            root: PathBuf::new(),
            train: "train".into(),
            val: "val".into(),
            test: None,
            images: "images/{split}".into(),
            masks: "masks/{split}".into(),
            ignore_index: None,
            classes: None,
            palette: None,
            ignore_color: None,
            class_map: None,
            resize: None,
            crop: None,
            normalize: true,
            hflip: false,
            augment: None,
            limit: None,
            cache: Cache::Memory,
            workers: DEFAULT_WORKERS,
            prefetch: DEFAULT_PREFETCH,
            val_fraction: None,
            folds: None,
            fold: None,
            test_fraction: None,
            split_seed: None,
            split_file: None,
            mask_name: None,
            class_dict: None,
        }
    }
}

/// What a class-map entry maps to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClassTarget {
    Index(i64),
    /// A name of `classes`, or `"ignore"`.
    Name(String),
}

/// A configuration value the loader cannot use, found before any file is read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FolderError {
    /// The key of `[data]` at fault (dotted, e.g. `augment.rotate.degrees`).
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: String) -> Result<(), FolderError> {
    Err(FolderError {
        key: key.into(),
        message,
    })
}

impl FolderConfig {
    /// The keys that are unset by default (so absent from the serialised default).
    pub const OPTIONAL_KEYS: [&'static str; 21] = [
        "augment",
        "cache",
        "workers",
        "prefetch",
        "test",
        "test_fraction",
        "ignore_index",
        "classes",
        "palette",
        "ignore_color",
        "class_map",
        "resize",
        "crop",
        "limit",
        "val_fraction",
        "folds",
        "fold",
        "split_seed",
        "split_file",
        "mask_name",
        "class_dict",
    ];

    /// Checks what can be checked without decoding: the root exists, sizes are positive,
    /// the class map's targets exist.
    pub fn validate(&self) -> Result<(), FolderError> {
        if self.root.as_os_str().is_empty() {
            return invalid(
                "root",
                "must be set to the dataset's folder (holding images/<split> and masks/<split>)"
                    .into(),
            );
        }
        if !self.root.is_dir() {
            let cwd = std::env::current_dir().unwrap_or_default();
            let what = if self.root.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return invalid(
                "root",
                format!(
                    "`{}` {what} (relative paths are taken from {}); point data.root at the dataset's folder",
                    self.root.display(),
                    cwd.display()
                ),
            );
        }
        for (key, size) in [("resize", self.resize), ("crop", self.crop)] {
            if let Some([h, w]) = size {
                if h == 0 || w == 0 {
                    return invalid(key, format!("must be [height, width] > 0, got [{h}, {w}]"));
                }
            }
        }
        if self.limit == Some(0) {
            return invalid("limit", "must be at least 1".into());
        }
        if self.workers > MAX_WORKERS {
            return invalid(
                "workers",
                format!("must be at most {MAX_WORKERS}, got {}", self.workers),
            );
        }
        if !(1..=MAX_PREFETCH).contains(&self.prefetch) {
            return invalid(
                "prefetch",
                format!("must be 1..={MAX_PREFETCH} batches, got {}", self.prefetch),
            );
        }
        self.validate_splitting()?;
        self.validate_augment()?;
        if let Some(ignore) = self.ignore_index {
            if ignore < 0 {
                return invalid("ignore_index", format!("must be >= 0, got {ignore}"));
            }
        }
        if self.ignore_color.is_some() && self.ignore_index.is_none() {
            return invalid(
                "ignore_color",
                "needs data.ignore_index, the label its pixels get".into(),
            );
        }
        if let Some(map) = &self.class_map {
            for (source, target) in map {
                if let ClassTarget::Index(i) = target {
                    if *i < 0 {
                        return invalid(
                            "class_map",
                            format!("`{source}` maps to {i}; a class is a number >= 0"),
                        );
                    }
                }
                if let (Some(classes), ClassTarget::Index(i)) = (&self.classes, target) {
                    if *i as usize >= classes.len() && Some(*i) != self.ignore_index {
                        return invalid(
                            "class_map",
                            format!(
                                "`{source}` maps to class {i}, which does not exist: data.classes has {} classes (0..={})",
                                classes.len(),
                                classes.len() - 1
                            ),
                        );
                    }
                }
                if let ClassTarget::Name(name) = target {
                    let known = self.classes.as_ref().is_some_and(|c| c.contains(name));
                    if name != "ignore" && !known {
                        return invalid(
                            "class_map",
                            format!(
                                "`{source}` maps to class `{name}`, which does not exist; valid names are those of data.classes ({}) and \"ignore\"",
                                self.classes.as_ref().map_or("none set".into(), |c| c.join(", "))
                            ),
                        );
                    }
                    if name == "ignore" && self.ignore_index.is_none() {
                        return invalid(
                            "class_map",
                            format!("`{source}` maps to \"ignore\", which needs data.ignore_index"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the keys that make the splits and name files.
    fn validate_splitting(&self) -> Result<(), FolderError> {
        if let Some(f) = self.val_fraction {
            if !(f > 0.0 && f < 1.0) {
                return invalid(
                    "val_fraction",
                    format!("must lie between 0 and 1 (e.g. 0.2), got {f}"),
                );
            }
            if self.folds.is_some() {
                return invalid(
                    "val_fraction",
                    "and data.folds both make the validation split; set one".into(),
                );
            }
        }
        if let Some(k) = self.folds {
            if k < 2 {
                return invalid("folds", format!("must be at least 2, got {k}"));
            }
            match self.fold {
                None => {
                    return invalid(
                        "fold",
                        format!("must be set with data.folds: the fold that validates, 0..={} (as a grid axis: `fold = \"all\"` in [grid])", k - 1),
                    )
                }
                Some(f) if f >= k => {
                    return invalid(
                        "fold",
                        format!("is {f}, but data.folds = {k} has the folds 0..={}", k - 1),
                    )
                }
                Some(_) => {}
            }
        } else if self.fold.is_some() {
            return invalid(
                "fold",
                "needs data.folds, the number of folds (e.g. 5)".into(),
            );
        }
        self.validate_test()?;
        if self.split_file.is_some() && (self.val_fraction.is_some() || self.folds.is_some()) {
            return invalid(
                "split_file",
                "lists the splits, so data.val_fraction and data.folds cannot be set with it"
                    .into(),
            );
        }
        if let Some(name) = &self.mask_name {
            if !name.contains("{stem}") {
                return invalid(
                    "mask_name",
                    format!("`{name}` has no {{stem}}; write the mask's file name with {{stem}} for the image's, e.g. \"{{stem}}_mask.png\""),
                );
            }
        }
        for (key, file) in [
            ("split_file", &self.split_file),
            ("class_dict", &self.class_dict),
        ] {
            if let Some(file) = file {
                let path = self.root.join(file);
                if !path.is_file() {
                    return invalid(
                        key,
                        format!(
                            "{} is not a file (data.{key} is taken from data.root)",
                            path.display()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Checks `[data.augment]`: its values, that it augments the training split, and that
    /// masks have an `ignore_index` for the pixels that rotation or padding leave empty.
    fn validate_augment(&self) -> Result<(), FolderError> {
        let Some(augment) = &self.augment else {
            return Ok(());
        };
        augment
            .validate(self.crop)
            .or_else(|(key, message)| invalid(format!("augment.{key}"), message))?;
        if augment.split != self.train {
            return invalid(
                "augment.split",
                format!(
                    "is `{}`, which is never trained on: augmentation applies to the training split's batches (data.train = `{}`), and validation and test images are evaluated as they are; set it to `{}` or remove it",
                    augment.split, self.train, self.train
                ),
            );
        }
        let ignore = self
            .ignore_index
            .or_else(|| Meta::read(&self.root).ok().and_then(|m| m.ignore_index));
        if augment.fills_masks(self.crop) && ignore.is_none() {
            let (key, what) = match augment.rotate {
                Some(_) => ("augment.rotate", "a rotation leaves corners with no pixel"),
                None => ("augment.pad", "padding to data.crop adds pixels"),
            };
            return invalid(
                key,
                format!("needs data.ignore_index: {what}, and their mask pixels must be ignored; set data.ignore_index (e.g. 255)"),
            );
        }
        Ok(())
    }

    /// Checks the keys that make the test split.
    fn validate_test(&self) -> Result<(), FolderError> {
        if let Some(f) = self.test_fraction {
            if !(f > 0.0 && f < 1.0) {
                return invalid(
                    "test_fraction",
                    format!("must lie between 0 and 1 (e.g. 0.2), got {f}"),
                );
            }
            if self.test.is_some() {
                return invalid(
                    "test_fraction",
                    "and data.test both make the test split; set one".into(),
                );
            }
            if self.split_file.is_some() {
                return invalid(
                    "test_fraction",
                    "cannot be set with data.split_file, which lists the splits: put the test files in its rows with a split of their own and set data.test to that name".into(),
                );
            }
            if let Some(v) = self.val_fraction {
                if f + v >= 1.0 {
                    return invalid(
                        "test_fraction",
                        format!("and data.val_fraction take {f} + {v} >= 1 of the images, leaving none to train on; lower one"),
                    );
                }
            }
        }
        if let Some(test) = &self.test {
            if test.is_empty() || *test == self.train || *test == self.val {
                return invalid(
                    "test",
                    format!("is `{test}`, which must name a split of its own, neither data.train (`{}`) nor data.val (`{}`), e.g. \"test\"", self.train, self.val),
                );
            }
            if self.split_file.is_none() && !self.images.contains("{split}") {
                return invalid(
                    "test",
                    format!("names a folder split, but data.images (`{}`) has no {{split}}; write data.images and data.masks with {{split}} (e.g. \"images/{{split}}\"), or hold out a share with data.test_fraction", self.images),
                );
            }
        }
        Ok(())
    }
}

/// The optional `dataset.json` beside the data.
#[derive(Debug, Default, Deserialize)]
struct Meta {
    classes: Option<Vec<String>>,
    palette: Option<Vec<[u8; 3]>>,
    ignore_index: Option<i64>,
}

impl Meta {
    fn read(root: &Path) -> anyhow::Result<Meta> {
        let path = root.join("dataset.json");
        if !path.exists() {
            return Ok(Meta::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not valid: expected {{\"classes\": [..], \"palette\": [[r, g, b], ..], \"ignore_index\": n}}",
                path.display()
            )
        })
    }
}

#[cfg(test)]
mod test_split;
#[cfg(test)]
mod tests;
