//! Which files make a dataset's splits: the image and mask files of a folder, paired by file
//! stem (or by `mask_name`, e.g. `{stem}_mask.png`), and the train and validation splits:
//! from one folder per split, from a seeded validation fraction of one folder, from the k-th
//! of k seeded disjoint folds, or from a `file,split` CSV list; and the held-out test split,
//! from its own folder, from the list's rows of its name, or a seeded share of the training
//! images taken out before anything else is split.
//!
//! Pairing collects every problem it finds (an image without a mask, a mask without an image,
//! two files of one name) rather than stopping at the first, so the data check can show them
//! all; the loader reports the first and how many more there are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::FolderConfig;
use crate::data::SplitFiles;

/// The file extensions (lower case) read as images and masks.
pub(super) const EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "tif", "tiff"];

/// An image file and its mask file.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Pair {
    pub(super) image: PathBuf,
    pub(super) mask: PathBuf,
}

/// How the two splits are made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Splitting {
    /// A folder per split (`{split}` in `images` and `masks`).
    Folders,
    /// A seeded share of one folder validates.
    Fraction { fraction: f64, seed: u64 },
    /// One folder cut into `folds` seeded disjoint parts; part `fold` validates (`None`:
    /// no fold chosen, only for the data check).
    Folds {
        folds: usize,
        fold: Option<usize>,
        seed: u64,
    },
    /// A CSV list `file,split` over one folder.
    File(PathBuf),
}

/// The pairs of both splits, what made them, and every pairing problem found.
#[derive(Debug, Default)]
pub(crate) struct Splits {
    pub(super) train: Vec<Pair>,
    pub(super) val: Vec<Pair>,
    /// The held-out test split, when the configuration makes one.
    pub(super) test: Option<Vec<Pair>>,
    /// File names (relative to the root) of each split, and of each fold's validation part.
    pub(crate) files: SplitFiles,
    /// Every problem found, each naming the file and the fix.
    pub(crate) problems: Vec<String>,
    /// The image folders of the two splits are the same folder (and no fraction, fold or
    /// list splits it).
    pub(crate) same_folder: bool,
}

impl FolderConfig {
    /// The folder of `pattern` for `split`.
    pub(super) fn folder(&self, pattern: &str, split: &str) -> PathBuf {
        self.root.join(pattern.replace("{split}", split))
    }

    /// How this configuration makes its splits.
    pub(crate) fn splitting(&self) -> Splitting {
        let seed = self.split_seed.unwrap_or(0);
        if let Some(fraction) = self.val_fraction {
            Splitting::Fraction { fraction, seed }
        } else if let Some(folds) = self.folds {
            Splitting::Folds {
                folds: folds as usize,
                fold: self.fold.map(|f| f as usize),
                seed,
            }
        } else if let Some(file) = &self.split_file {
            Splitting::File(self.root.join(file))
        } else {
            Splitting::Folders
        }
    }

    /// The pairs of both splits (each sorted by name, at most `limit` each), with every
    /// problem found instead of the first. A folder that cannot be read is an error.
    pub(crate) fn splits(&self) -> anyhow::Result<Splits> {
        let mut out = Splits::default();
        let splitting = self.splitting();
        let mut test = match (&self.test, &splitting) {
            (
                Some(name),
                Splitting::Folders | Splitting::Fraction { .. } | Splitting::Folds { .. },
            ) => Some(self.pairs_in(name, &mut out.problems)?),
            _ => None,
        };
        let (train, val) = match splitting {
            Splitting::Folders => {
                let train = self.pairs_in(&self.train, &mut out.problems)?;
                let train = self.hold_out(train, &mut test)?;
                let val = self.pairs_in(&self.val, &mut out.problems)?;
                out.same_folder =
                    self.folder(&self.images, &self.train) == self.folder(&self.images, &self.val);
                (train, val)
            }
            splitting => {
                let val_dir = self.folder(&self.images, &self.val);
                if self.images.contains("{split}") && val_dir.is_dir() {
                    let key = match splitting {
                        Splitting::Fraction { .. } => "val_fraction",
                        Splitting::Folds { .. } => "folds",
                        _ => "split_file",
                    };
                    bail!(
                        "data.{key} splits {} into train and validation, but the validation folder {} exists too; use one: remove data.{key} to validate on the folder, or move its files away",
                        self.folder(&self.images, &self.train).display(),
                        val_dir.display()
                    );
                }
                let all = self.pairs_in(&self.train, &mut out.problems)?;
                let all = self.hold_out(all, &mut test)?;
                if let (Some(name), Splitting::File(path)) = (&self.test, &splitting) {
                    test = Some(self.listed_as(&all, path, name)?);
                }
                match self.divide(all, &splitting, &mut out) {
                    Ok(splits) => splits,
                    // Pairing problems explain a division that fails; keep them all.
                    Err(e) if !out.problems.is_empty() => {
                        out.problems.push(format!("{e:#}"));
                        (Vec::new(), Vec::new())
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let name = |p: &Pair| {
            p.image
                .strip_prefix(&self.root)
                .unwrap_or(&p.image)
                .to_string_lossy()
                .into_owned()
        };
        let limit = self.limit.unwrap_or(usize::MAX);
        out.train = train.into_iter().take(limit).collect();
        out.val = val.into_iter().take(limit).collect();
        out.test = test.map(|t| t.into_iter().take(limit).collect());
        out.files.train = out.train.iter().map(name).collect();
        out.files.val = out.val.iter().map(name).collect();
        out.files.test = out.test.as_ref().map(|t| t.iter().map(name).collect());
        if let Some(folds) = &mut out.files.folds {
            for part in folds.iter_mut() {
                for file in part.iter_mut() {
                    *file = Path::new(file)
                        .strip_prefix(&self.root)
                        .map_or(file.clone(), |p| p.to_string_lossy().into_owned());
                }
            }
        }
        Ok(out)
    }

    /// With `test_fraction`, `pool` less a seeded share of it, which becomes `test` (both
    /// kept in name order); `pool` unchanged otherwise. The draw has a stream of its own, so
    /// the validation fraction and folds of the rest are drawn as without a test split.
    fn hold_out(&self, pool: Vec<Pair>, test: &mut Option<Vec<Pair>>) -> anyhow::Result<Vec<Pair>> {
        let Some(fraction) = self.test_fraction else {
            return Ok(pool);
        };
        let n = pool.len();
        if n < 3 {
            bail!(
                "data.test_fraction needs at least 3 images (to train, validate and test), but {} holds {n}",
                self.folder(&self.images, &self.train).display()
            );
        }
        let k = ((n as f64 * fraction).round() as usize).clamp(1, n - 2);
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.split_seed.unwrap_or(0));
        rng.set_stream(1);
        order.shuffle(&mut rng);
        let held: BTreeSet<usize> = order.into_iter().take(k).collect();
        let (mut rest, mut out) = (Vec::with_capacity(n - k), Vec::with_capacity(k));
        for (i, pair) in pool.into_iter().enumerate() {
            if held.contains(&i) {
                out.push(pair);
            } else {
                rest.push(pair);
            }
        }
        *test = Some(out);
        Ok(rest)
    }

    /// The pairs of `all` that the CSV list at `path` puts in the split `name`; an error
    /// when it puts none there.
    fn listed_as(&self, all: &[Pair], path: &Path, name: &str) -> anyhow::Result<Vec<Pair>> {
        let listed = read_split_file(path)?;
        let pairs: Vec<Pair> = all
            .iter()
            .filter(|p| {
                [file_name(&p.image), stem(&p.image)]
                    .iter()
                    .any(|f| listed.get(f).map(String::as_str) == Some(name))
            })
            .cloned()
            .collect();
        if pairs.is_empty() {
            bail!(
                "data.test is `{name}`, but {} puts no file in split `{name}`; name the test rows' split in data.test",
                path.display()
            );
        }
        Ok(pairs)
    }

    /// `all` (sorted by name) divided into train and validation by `splitting`.
    fn divide(
        &self,
        all: Vec<Pair>,
        splitting: &Splitting,
        out: &mut Splits,
    ) -> anyhow::Result<(Vec<Pair>, Vec<Pair>)> {
        let n = all.len();
        let folder = self.folder(&self.images, &self.train);
        let shuffled = |seed: u64| {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            order
        };
        let listed = match splitting {
            Splitting::File(path) => Some(read_split_file(path)?),
            _ => None,
        };
        let (val_indices, folds): (BTreeSet<usize>, _) = match *splitting {
            Splitting::Folders => (BTreeSet::new(), None),
            Splitting::Fraction { fraction, seed } => {
                if n < 2 {
                    bail!(
                        "data.val_fraction needs at least 2 images to split, but {} holds {n}",
                        folder.display()
                    );
                }
                let k = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
                (shuffled(seed).into_iter().take(k).collect(), None)
            }
            Splitting::Folds { folds, fold, seed } => {
                if n < folds {
                    bail!(
                        "data.folds = {folds} needs at least {folds} images, but {} holds {n}; lower data.folds",
                        folder.display()
                    );
                }
                let order = shuffled(seed);
                let parts: Vec<BTreeSet<usize>> = (0..folds)
                    .map(|f| {
                        order[f * n / folds..(f + 1) * n / folds]
                            .iter()
                            .copied()
                            .collect()
                    })
                    .collect();
                let record: Vec<Vec<String>> = parts
                    .iter()
                    .map(|p| {
                        p.iter()
                            .map(|&i| all[i].image.to_string_lossy().into_owned())
                            .collect()
                    })
                    .collect();
                let val = fold.map(|f| parts[f].clone()).unwrap_or_default();
                (val, Some(record))
            }
            Splitting::File(ref path) => (
                self.listed(&all, path, listed.as_ref().unwrap_or(&BTreeMap::new()))?,
                None,
            ),
        };
        out.files.folds = folds;
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for (i, pair) in all.into_iter().enumerate() {
            if val_indices.contains(&i) {
                val.push(pair);
            } else if let Some(listed) = &listed {
                // Only files the list puts in the training split train.
                if listed.get(&file_name(&pair.image)).map(String::as_str) == Some(&self.train)
                    || listed.get(&stem(&pair.image)).map(String::as_str) == Some(&self.train)
                {
                    train.push(pair);
                }
            } else {
                train.push(pair);
            }
        }
        for (split, pairs) in [(&self.train, &train), (&self.val, &val)] {
            if pairs.is_empty() {
                bail!(
                    "split `{split}` is empty: {} gives it no image",
                    match splitting {
                        Splitting::File(path) => path.display().to_string(),
                        _ => folder.display().to_string(),
                    }
                );
            }
        }
        Ok((train, val))
    }

    /// The indices of `all` that the CSV list `listed` (read from `path`) puts in the
    /// validation split; a listed file that is not in the folder is an error.
    fn listed(
        &self,
        all: &[Pair],
        path: &Path,
        listed: &BTreeMap<String, String>,
    ) -> anyhow::Result<BTreeSet<usize>> {
        let known: BTreeSet<String> = all
            .iter()
            .flat_map(|p| [file_name(&p.image), stem(&p.image)])
            .collect();
        if let Some(missing) = listed.keys().find(|f| !known.contains(*f)) {
            bail!(
                "{} lists `{missing}`, which is not an image of {} (with a mask); fix the name or remove the row",
                path.display(),
                self.folder(&self.images, &self.train).display()
            );
        }
        Ok(all
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                [file_name(&p.image), stem(&p.image)]
                    .iter()
                    .any(|f| listed.get(f).map(String::as_str) == Some(&self.val))
            })
            .map(|(i, _)| i)
            .collect())
    }

    /// The image and mask files of `split`'s folders, paired and sorted by name; problems
    /// go to `problems`.
    fn pairs_in(&self, split: &str, problems: &mut Vec<String>) -> anyhow::Result<Vec<Pair>> {
        let image_dir = self.folder(&self.images, split);
        let mask_dir = self.folder(&self.masks, split);
        let image_files = list(&image_dir, "data.images")?;
        let mask_files = if mask_dir == image_dir {
            image_files.clone()
        } else {
            list(&mask_dir, "data.masks")?
        };
        let pattern = self
            .mask_name
            .as_deref()
            .and_then(|p| p.split_once("{stem}"));
        // With `mask_name`, a file of the mask pattern is a mask; by stem otherwise.
        let mask_stem = |name: &str| -> Option<String> {
            let (prefix, suffix) = pattern?;
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut images: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (name, path) in &image_files {
            if mask_dir == image_dir && mask_stem(name).is_some() {
                continue;
            }
            if let Some(other) = images.insert(stem(path), path.clone()) {
                problems.push(format!(
                    "{} and {} have the same name; keep one file per name",
                    other.display(),
                    path.display()
                ));
            }
        }
        let mut masks: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (name, path) in &mask_files {
            let key = match pattern {
                Some(_) => match mask_stem(name) {
                    Some(s) => s,
                    None => continue,
                },
                None if mask_dir == image_dir => continue,
                None => stem(path),
            };
            if let Some(other) = masks.insert(key, path.clone()) {
                problems.push(format!(
                    "{} and {} have the same name; keep one file per name",
                    other.display(),
                    path.display()
                ));
            }
        }
        if images.is_empty() {
            problems.push(format!(
                "split `{split}` is empty: {} holds no PNG, JPEG or TIFF image",
                image_dir.display()
            ));
        }
        let expected = |stem: &str| match &self.mask_name {
            Some(p) => p.replace("{stem}", stem),
            None => format!("{stem}.png"),
        };
        for (stem, mask) in &masks {
            if !images.contains_key(stem) {
                problems.push(format!(
                    "mask {} has no image: expected {}/{stem}.png, .jpg or .tif",
                    mask.display(),
                    image_dir.display()
                ));
            }
        }
        let mut pairs = Vec::with_capacity(images.len());
        for (stem, image) in images {
            match masks.get(&stem) {
                Some(mask) => pairs.push(Pair {
                    image,
                    mask: mask.clone(),
                }),
                None => problems.push(format!(
                    "image {} has no mask: expected {}/{}{}",
                    image.display(),
                    mask_dir.display(),
                    expected(&stem),
                    if self.mask_name.is_none() {
                        " (set data.mask_name, e.g. \"{stem}_mask.png\", when mask names differ)"
                    } else {
                        ""
                    }
                )),
            }
        }
        Ok(pairs)
    }
}

/// A file's name.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A file's stem.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files of `dir` with an extension of [`EXTENSIONS`] (any case), by file name; hidden
/// files left out. `key` is the configuration key that names the folder.
pub(super) fn list(dir: &Path, key: &str) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the folder {} (set {key}, with {{split}} for the split's name when there is a folder per split)",
            dir.display()
        )
    })?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = file_name(&path);
        if name.starts_with('.') || !EXTENSIONS.contains(&ext.as_str()) || !path.is_file() {
            continue;
        }
        files.insert(name, path);
    }
    Ok(files)
}

/// The `file,split` CSV list: file name (or stem) → split name.
fn read_split_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Row {
        file: String,
        split: String,
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read data.split_file {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.with_context(|| {
            format!(
                "{} row {}: expected the columns file,split (e.g. `img_01.png,train`)",
                path.display(),
                i + 2
            )
        })?;
        if let Some(first) = out.insert(row.file.clone(), row.split.clone()) {
            if first != row.split {
                bail!(
                    "{} puts `{}` in two splits ({first} and {}); list each file once",
                    path.display(),
                    row.file,
                    row.split
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::write_flat;
    use super::*;

    /// The first pixel of every image of a split: the image's number.
    fn numbers(split: &crate::data::Split) -> Vec<i64> {
        (0..split.len())
            .map(|i| {
                let (image, _) = split.get(i as usize).expect("image");
                image.int64_value(&[0, 0, 0])
            })
            .collect()
    }

    fn error(config: &FolderConfig) -> String {
        match config.load() {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn fraction_split_is_stable_across_runs_and_follows_the_seed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = write_flat(dir.path(), 10);
        config.val_fraction = Some(0.2);
        let a = config.load().expect("loads");
        let b = config.load().expect("loads");
        assert_eq!((a.train.len(), a.val.len()), (8, 2));
        assert_eq!(numbers(&a.val), numbers(&b.val));
        let mut all = [numbers(&a.train), numbers(&a.val)].concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let files = a.files.expect("files");
        assert_eq!(files.val.len(), 2);
        assert!(
            files.val.iter().all(|f| f.starts_with("image/img_")),
            "{files:?}"
        );
        let other_seeds: Vec<Vec<i64>> = (1..6)
            .map(|seed| {
                config.split_seed = Some(seed);
                numbers(&config.load().expect("loads").val)
            })
            .collect();
        assert!(
            other_seeds.iter().any(|v| *v != numbers(&b.val)),
            "{other_seeds:?}"
        );
    }

    #[test]
    fn folds_are_disjoint_cover_every_image_and_fold_k_validates_on_the_kth() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = write_flat(dir.path(), 11);
        config.folds = Some(5);
        let mut seen = Vec::new();
        let mut record = None;
        for k in 0..5 {
            config.fold = Some(k);
            let data = config.load().expect("loads");
            assert_eq!(data.train.len() + data.val.len(), 11);
            let files = data.files.expect("files");
            let folds = files.folds.clone().expect("folds recorded");
            assert_eq!(files.val, folds[k as usize]);
            assert!(record.is_none() || record.as_ref() == Some(&folds));
            record = Some(folds);
            assert!(numbers(&data.train)
                .iter()
                .all(|n| !numbers(&data.val).contains(n)));
            seen.extend(numbers(&data.val));
        }
        seen.sort();
        assert_eq!(
            seen,
            (0..11).collect::<Vec<_>>(),
            "every image validates exactly once"
        );
        let sizes: Vec<usize> = record.expect("folds").iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&s| s == 2 || s == 3), "{sizes:?}");
    }

    #[test]
    fn fold_keys_that_do_not_fit_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = write_flat(dir.path(), 4);
        config.folds = Some(5);
        config.fold = Some(0);
        assert!(error(&config).contains("data.folds = 5 needs at least 5 images"));
        config.fold = Some(5);
        let err = config
            .validate()
            .err()
            .map(|e| (e.key, e.message))
            .unwrap_or_default();
        assert_eq!(err.0, "fold");
        assert!(err.1.contains("has the folds 0..=4"), "{}", err.1);
        config.fold = None;
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("fold")
        );
        config.folds = None;
        config.fold = Some(1);
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("fold")
        );
        config.fold = None;
        config.val_fraction = Some(1.5);
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("val_fraction")
        );
        config.val_fraction = Some(0.2);
        config.folds = Some(2);
        config.fold = Some(0);
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("val_fraction")
        );
    }

    #[test]
    fn a_validation_folder_and_a_fraction_together_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(&root.join("train"), 4);
        config.root = root.to_path_buf();
        config.images = "{split}/image".into();
        config.masks = "{split}/label".into();
        // No validation folder: the fraction splits train/image.
        let err = error(&config);
        assert!(err.contains("cannot read the folder"), "{err}");
        config.val_fraction = Some(0.25);
        let data = config.load().expect("loads");
        assert_eq!((data.train.len(), data.val.len()), (3, 1));
        write_flat(&root.join("val"), 2);
        let err = error(&config);
        assert!(
            err.contains("data.val_fraction splits") && err.contains("val/image exists too"),
            "{err}"
        );
    }

    #[test]
    fn mask_name_pairs_masks_named_after_the_image_even_in_the_same_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 4);
        for i in 0..4 {
            std::fs::rename(
                root.join(format!("label/img_{i:02}.png")),
                root.join(format!("image/img_{i:02}_mask.png")),
            )
            .expect("mv");
        }
        config.masks = "image".into();
        config.val_fraction = Some(0.25);
        let err = error(&config);
        assert!(err.contains("set data.mask_name"), "{err}");
        config.mask_name = Some("{stem}_mask.png".into());
        let data = config.load().expect("loads");
        assert_eq!(data.train.len() + data.val.len(), 4);
        let row = Vec::<i64>::try_from(
            crate::data::feed::split_tensors(&data, &data.train)
                .1
                .get(0)
                .get(0),
        )
        .expect("row");
        assert_eq!((row[0], row[15]), (0, 1));
        std::fs::remove_file(root.join("image/img_02_mask.png")).expect("rm");
        let err = error(&config);
        assert!(
            err.contains("img_02.png has no mask: expected") && err.contains("img_02_mask.png"),
            "{err}"
        );
        config.mask_name = Some("mask.png".into());
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("mask_name")
        );
    }

    #[test]
    fn split_file_puts_each_listed_file_in_its_split_and_leaves_others_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 5);
        std::fs::write(
            root.join("splits.csv"),
            "file,split\nimg_00.png,train\nimg_01.png,val\nimg_02,train\nimg_03.png,test\n",
        )
        .expect("write");
        config.split_file = Some("splits.csv".into());
        let data = config.load().expect("loads");
        assert_eq!(numbers(&data.train), [0, 2]);
        assert_eq!(numbers(&data.val), [1]);
        std::fs::write(root.join("splits.csv"), "file,split\nimg_09.png,val\n").expect("write");
        let err = error(&config);
        assert!(
            err.contains("lists `img_09.png`, which is not an image"),
            "{err}"
        );
        std::fs::write(root.join("splits.csv"), "name,part\nimg_00.png,val\n").expect("write");
        let err = error(&config);
        assert!(err.contains("expected the columns file,split"), "{err}");
        config.split_file = Some("nothing.csv".into());
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("split_file")
        );
    }

    #[test]
    fn every_pairing_problem_is_found_not_only_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 6);
        config.val_fraction = Some(0.5);
        std::fs::remove_file(root.join("label/img_01.png")).expect("rm");
        std::fs::remove_file(root.join("label/img_03.png")).expect("rm");
        std::fs::remove_file(root.join("image/img_02.png")).expect("rm");
        let splits = config.splits().expect("splits");
        assert_eq!(splits.problems.len(), 3, "{:?}", splits.problems);
        let err = error(&config);
        assert!(err.contains("and 2 more problem(s)"), "{err}");
    }
}
