//! The data check: reads a folder dataset as the loader would, changing nothing, and tells
//! what it found: images per split, sizes and channels, the label values with their pixel
//! counts, class frequencies, every problem the loader would raise (all of them, not the
//! first), warnings (train and validation overlap or share a folder), and a `[base]` snippet
//! to paste into a sweep file. [`guess`] finds the layout of a bare folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::classes::largest_label;
use super::decode::Decoded;
use super::masks::{Colours, IGNORE_COLOUR};
use super::{ClassTarget, FolderConfig};

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub root: PathBuf,
    /// How the splits are made, in words.
    pub splitting: String,
    /// Per split (name, images, distinct `height×width` with counts, channel counts).
    pub splits: Vec<SplitSummary>,
    /// With `data.folds`, the number of images of each fold.
    pub fold_sizes: Vec<usize>,
    /// Raw mask value → pixels, over both splits (`None`: an RGB mask's ignore colour).
    pub labels: BTreeMap<Option<u32>, u64>,
    /// Class names and their share of the training split's valid pixels.
    pub classes: Vec<(String, f64)>,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// A `[base]` table that reads these data.
    pub snippet: String,
}

/// One split as found.
#[derive(Debug, Clone, Default)]
pub struct SplitSummary {
    pub name: String,
    pub images: usize,
    pub sizes: BTreeMap<String, usize>,
    pub channels: BTreeMap<i64, usize>,
}

impl Check {
    /// Whether the loader would read the data: no problem found.
    pub fn usable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `config`'s data; reads only. With `data.folds` and no `data.fold`, fold 0 stands
/// for the split and every fold's size is given.
pub fn check(config: &FolderConfig) -> Check {
    let mut config = config.clone();
    if config.folds.is_some() && config.fold.is_none() {
        config.fold = Some(0);
    }
    let mut out = Check {
        root: config.root.clone(),
        splitting: describe(&config),
        ..Default::default()
    };
    if let Err(e) = config.validate() {
        out.problems.push(format!("data.{}: {e}", e.key));
        out.snippet = snippet(&config);
        return out;
    }
    let meta = match config.meta() {
        Ok(m) => m,
        Err(e) => {
            out.problems.push(format!("{e:#}"));
            out.snippet = snippet(&config);
            return out;
        }
    };
    let splits = match config.splits() {
        Ok(s) => s,
        Err(e) => {
            out.problems.push(format!("{e:#}"));
            out.snippet = snippet(&config);
            return out;
        }
    };
    out.problems.extend(splits.problems.iter().cloned());
    if splits.same_folder {
        out.warnings.push(format!(
            "train and validation are the same folder ({}): the validation score would be measured on training images; set data.val_fraction or data.folds to split it",
            config.folder(&config.images, &config.train).display()
        ));
    }
    let stems = |pairs: &[super::pairing::Pair]| -> BTreeSet<String> {
        pairs
            .iter()
            .filter_map(|p| p.image.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    };
    let overlap: Vec<String> = stems(&splits.train)
        .intersection(&stems(&splits.val))
        .cloned()
        .collect();
    if !overlap.is_empty() && !splits.same_folder {
        out.warnings.push(format!(
            "{} image name(s) are in both train and validation (e.g. {}): the same image may be trained and validated on",
            overlap.len(),
            overlap.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(test) = &splits.test {
        let held = stems(test);
        let seen: BTreeSet<String> = stems(&splits.train)
            .union(&stems(&splits.val))
            .cloned()
            .collect();
        let leaked: Vec<&String> = held.intersection(&seen).collect();
        if !leaked.is_empty() {
            out.warnings.push(format!(
                "{} test image name(s) are also in train or validation (e.g. {}): the test split would not be held out",
                leaked.len(),
                leaked.iter().take(3).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out.fold_sizes = splits
        .files
        .folds
        .as_ref()
        .map(|f| f.iter().map(Vec::len).collect())
        .unwrap_or_default();

    let palette = config.palette.clone().or_else(|| meta.palette.clone());
    let ignore = config.ignore_index.or(meta.ignore_index);
    let colours = Colours::new(palette.as_deref(), config.ignore_color);
    let decode = |pairs: &[super::pairing::Pair], problems: &mut Vec<String>| -> Vec<Decoded> {
        let results: Vec<anyhow::Result<Decoded>> = pairs
            .par_iter()
            .map(|p| config.decode(p, &colours))
            .collect();
        results
            .into_iter()
            .filter_map(|r| r.map_err(|e| problems.push(format!("{e:#}"))).ok())
            .collect()
    };
    let train = decode(&splits.train, &mut out.problems);
    let val = decode(&splits.val, &mut out.problems);
    let test = splits.test.as_deref().map(|t| decode(t, &mut out.problems));
    let mut named = vec![(&config.train, &train), (&config.val, &val)];
    if let (Some(name), Some(test)) = (&config.test, &test) {
        named.push((name, test));
    }
    let test_name = String::from("test");
    if let (None, Some(test)) = (&config.test, &test) {
        named.push((&test_name, test));
    }
    for (name, decoded) in named {
        let mut summary = SplitSummary {
            name: name.clone(),
            images: decoded.len(),
            ..Default::default()
        };
        for d in decoded {
            let (w, h) = d.image.dimensions();
            *summary.sizes.entry(format!("{h}×{w}")).or_default() += 1;
            *summary.channels.entry(d.image.channels()).or_default() += 1;
        }
        out.splits.push(summary);
    }
    for d in train.iter().chain(&val) {
        for &v in d.mask.labels.as_raw() {
            let key = (v != IGNORE_COLOUR).then_some(v);
            *out.labels.entry(key).or_default() += 1;
        }
    }
    if let Err(e) = check_uniform(&train, &val) {
        out.problems.push(format!("{e:#}"));
    }
    if config.class_map.is_none() && config.classes.is_none() && meta.classes.is_none() {
        if let Some(map) = suggested_class_map(&out.labels, ignore) {
            out.warnings.push(format!(
                "the masks hold the labels {}, not the classes 0..={}: the snippet maps them with data.class_map, and the class frequencies use that map",
                map.keys().cloned().collect::<Vec<_>>().join(", "),
                map.len() - 1
            ));
            config.class_map = Some(map);
        }
    }
    match config.labels(&meta, || {
        Ok(largest_label(
            train.iter().chain(&val).map(|d| &d.mask.labels),
            ignore,
        ))
    }) {
        Err(e) => out.problems.push(format!("{e:#}")),
        Ok(labels) => {
            let mut counts = vec![0u64; labels.names.len()];
            for (d, is_train) in train
                .iter()
                .map(|d| (d, true))
                .chain(val.iter().map(|d| (d, false)))
            {
                match labels.apply(d, ignore) {
                    Err(e) => out.problems.push(format!("{e:#}")),
                    Ok(classes) if is_train => {
                        for c in classes.into_iter().filter(|c| Some(*c) != ignore) {
                            if let Some(n) = usize::try_from(c).ok().and_then(|c| counts.get_mut(c))
                            {
                                *n += 1;
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
            let total = counts.iter().sum::<u64>().max(1) as f64;
            out.classes = labels
                .names
                .iter()
                .zip(&counts)
                .map(|(n, c)| (n.clone(), *c as f64 / total))
                .collect();
        }
    }
    out.snippet = snippet(&config);
    out
}

/// Every image of both splits has the same size and channel count.
fn check_uniform(train: &[Decoded], val: &[Decoded]) -> anyhow::Result<()> {
    let mut all = train.iter().chain(val);
    let Some(first) = all.next() else {
        return Ok(());
    };
    let (w0, h0) = first.image.dimensions();
    for d in all {
        let (w, h) = d.image.dimensions();
        if (w, h) != (w0, h0) {
            anyhow::bail!(
                "{} is {h}×{w} but {} is {h0}×{w0}; set data.resize = [height, width] (or data.crop) to give every image one size",
                d.pair.image.display(),
                first.pair.image.display()
            );
        }
        if d.image.channels() != first.image.channels() {
            anyhow::bail!(
                "{} has {} channel(s) but {} has {}; use one kind of image (RGB or grayscale)",
                d.pair.image.display(),
                d.image.channels(),
                first.pair.image.display(),
                first.image.channels()
            );
        }
    }
    Ok(())
}

/// How `config` makes its splits, in words.
fn describe(config: &FolderConfig) -> String {
    let images = config.folder(&config.images, &config.train);
    let seed = config.split_seed.unwrap_or(0);
    match (config.val_fraction, config.folds, &config.split_file) {
        (Some(f), _, _) => format!(
            "one folder ({}), {:.0}% validates (data.val_fraction = {f}, data.split_seed = {seed})",
            images.display(),
            100.0 * f
        ),
        (_, Some(k), _) => format!(
            "one folder ({}) in {k} folds (data.folds = {k}, data.split_seed = {seed}); shown: fold {}",
            images.display(),
            config.fold.unwrap_or(0)
        ),
        (_, _, Some(file)) => format!(
            "one folder ({}) split by the list {}",
            images.display(),
            config.root.join(file).display()
        ),
        _ => format!(
            "a folder per split: {} and {}",
            images.display(),
            config.folder(&config.images, &config.val).display()
        ),
    }
}

/// A class map for mask values that are not the classes `0..k` themselves (e.g. 0/255
/// masks): each value found, but `ignore`, becomes the next class in value order.
fn suggested_class_map(
    labels: &BTreeMap<Option<u32>, u64>,
    ignore: Option<i64>,
) -> Option<BTreeMap<String, ClassTarget>> {
    let values: Vec<u32> = labels
        .keys()
        .flatten()
        .copied()
        .filter(|v| Some(*v as i64) != ignore)
        .collect();
    let contiguous = values.iter().enumerate().all(|(i, v)| *v as usize == i);
    (!contiguous).then(|| {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), ClassTarget::Index(i as i64)))
            .collect()
    })
}

/// The `[base]` keys that read `config`'s data.
fn snippet(config: &FolderConfig) -> String {
    let mut lines = vec![
        "[base]".to_string(),
        "data.kind = \"folder\"".to_string(),
        format!("data.root = {}", quoted(&config.root.to_string_lossy())),
    ];
    let default = FolderConfig::default();
    if config.images != default.images || config.masks != default.masks {
        lines.push(format!("data.images = {}", quoted(&config.images)));
        lines.push(format!("data.masks = {}", quoted(&config.masks)));
    }
    if let Some(name) = &config.mask_name {
        lines.push(format!("data.mask_name = {}", quoted(name)));
    }
    if let Some(f) = config.val_fraction {
        lines.push(format!("data.val_fraction = {f}"));
    }
    if let Some(k) = config.folds {
        lines.push(format!("data.folds = {k}"));
    }
    if let Some(seed) = config.split_seed {
        lines.push(format!("data.split_seed = {seed}"));
    }
    for (key, file) in [
        ("split_file", &config.split_file),
        ("class_dict", &config.class_dict),
    ] {
        if let Some(file) = file {
            lines.push(format!("data.{key} = {}", quoted(&file.to_string_lossy())));
        }
    }
    if let Some(i) = config.ignore_index {
        lines.push(format!("data.ignore_index = {i}"));
    }
    if let Some(map) = &config.class_map {
        let entries: Vec<String> = map
            .iter()
            .map(|(k, v)| match v {
                ClassTarget::Index(i) => format!("{} = {i}", quoted(k)),
                ClassTarget::Name(n) => format!("{} = {}", quoted(k), quoted(n)),
            })
            .collect();
        lines.push(format!("data.class_map = {{ {} }}", entries.join(", ")));
    }
    lines.join("\n")
}

/// `text` as a TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A configuration for the bare folder `dir`: the first of the common layouts whose training
/// image folder exists (`images/train`, `train/image`, `image`, ...), split by
/// `val_fraction = 0.2` when it has no validation folder. `None` when no layout fits.
pub fn guess(dir: &Path) -> Option<FolderConfig> {
    const LAYOUTS: [(&str, &str); 12] = [
        ("images/{split}", "masks/{split}"),
        ("images/{split}", "labels/{split}"),
        ("{split}/images", "{split}/masks"),
        ("{split}/images", "{split}/labels"),
        ("{split}/image", "{split}/label"),
        ("{split}/image", "{split}/mask"),
        ("{split}", "{split}_labels"),
        ("images", "masks"),
        ("images", "labels"),
        ("image", "label"),
        ("image", "mask"),
        ("img", "mask"),
    ];
    let mut config = FolderConfig {
        root: dir.to_path_buf(),
        ..Default::default()
    };
    let (images, masks) = LAYOUTS.iter().find(|(images, masks)| {
        config.folder(images, &config.train).is_dir()
            && config.folder(masks, &config.train).is_dir()
    })?;
    config.images = images.to_string();
    config.masks = masks.to_string();
    if !config.folder(images, &config.val).is_dir() || !images.contains("{split}") {
        config.val_fraction = Some(0.2);
    }
    Some(config)
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data: {}", self.root.display())?;
        writeln!(f, "splits: {}", self.splitting)?;
        for s in &self.splits {
            let sizes: Vec<String> = s.sizes.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            let channels: Vec<String> = s
                .channels
                .iter()
                .map(|(c, n)| format!("{c} channel(s) ({n})"))
                .collect();
            writeln!(
                f,
                "  {}: {} images; sizes {}; {}",
                s.name,
                s.images,
                if sizes.is_empty() {
                    "-".into()
                } else {
                    sizes.join(", ")
                },
                if channels.is_empty() {
                    "-".into()
                } else {
                    channels.join(", ")
                }
            )?;
        }
        if !self.fold_sizes.is_empty() {
            let sizes: Vec<String> = self
                .fold_sizes
                .iter()
                .enumerate()
                .map(|(i, n)| format!("fold {i}: {n}"))
                .collect();
            writeln!(f, "  folds: {}", sizes.join(", "))?;
        }
        let total = self.labels.values().sum::<u64>().max(1) as f64;
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(v, n)| {
                let value = v.map_or_else(|| "ignore colour".to_string(), |v| v.to_string());
                format!("{value}: {n} ({:.1}%)", 100.0 * *n as f64 / total)
            })
            .collect();
        writeln!(
            f,
            "label values (pixels, both splits): {}",
            if labels.is_empty() {
                "-".into()
            } else {
                labels.join(", ")
            }
        )?;
        if !self.classes.is_empty() {
            let classes: Vec<String> = self
                .classes
                .iter()
                .map(|(n, share)| format!("{n} {:.1}%", 100.0 * share))
                .collect();
            writeln!(f, "class frequencies (train): {}", classes.join(", "))?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        writeln!(
            f,
            "{}",
            if self.usable() {
                "usable: the loader reads these data".to_string()
            } else {
                format!("not usable: {} problem(s)", self.problems.len())
            }
        )?;
        writeln!(f, "\nfor a sweep file:\n{}", self.snippet)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::write_flat;
    use super::*;
    use image::{GrayImage, Luma};

    #[test]
    fn a_bare_folder_of_0_255_masks_is_usable_and_gets_a_class_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_flat(&dir.path().join("train"), 10);
        let config = guess(dir.path()).expect("a layout");
        assert_eq!(
            (config.images.as_str(), config.masks.as_str()),
            ("{split}/image", "{split}/label")
        );
        assert_eq!(config.val_fraction, Some(0.2));
        let check = check(&config);
        assert!(check.usable(), "{check}");
        assert_eq!(check.splits[0].images + check.splits[1].images, 10);
        assert_eq!(check.labels.get(&Some(0)), Some(&1280));
        assert_eq!(check.labels.get(&Some(255)), Some(&1280));
        assert!(
            check
                .snippet
                .contains("data.class_map = { \"0\" = 0, \"255\" = 1 }"),
            "{}",
            check.snippet
        );
        let text = check.to_string();
        assert!(
            text.contains("train: 8 images; sizes 16×16 (8); 1 channel(s) (8)"),
            "{text}"
        );
    }

    #[test]
    fn every_problem_is_listed_and_the_same_folder_warned_of() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 6);
        config.val = config.train.clone();
        std::fs::remove_file(root.join("label/img_01.png")).expect("rm");
        GrayImage::from_pixel(8, 8, Luma([0]))
            .save(root.join("label/img_02.png"))
            .expect("mask");
        std::fs::write(root.join("image/img_03.png"), b"").expect("empty");
        GrayImage::from_pixel(16, 16, Luma([7]))
            .save(root.join("label/img_04.png"))
            .expect("mask");
        let check = check(&config);
        assert!(!check.usable());
        let all = check.problems.join("\n");
        for expected in [
            "img_01.png has no mask",
            "size mismatch: mask",
            "img_03.png is empty (0 bytes)",
            "label 7 at row 0, column 0 is not in data.class_map",
        ] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
        assert!(
            check.warnings.iter().any(|w| w.contains("the same folder")),
            "{:?}",
            check.warnings
        );
    }

    #[test]
    fn folds_without_a_fold_give_every_fold_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = write_flat(dir.path(), 11);
        config.folds = Some(5);
        let check = check(&config);
        assert!(check.usable(), "{check}");
        assert_eq!(check.fold_sizes.iter().sum::<usize>(), 11);
        assert_eq!(check.fold_sizes.len(), 5);
    }

    #[test]
    fn a_test_split_is_listed_beside_train_and_validation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = write_flat(dir.path(), 10);
        config.val_fraction = Some(0.2);
        config.test_fraction = Some(0.2);
        let check = check(&config);
        assert!(check.usable(), "{check}");
        let splits: Vec<(&str, usize)> = check
            .splits
            .iter()
            .map(|s| (s.name.as_str(), s.images))
            .collect();
        assert_eq!(splits, [("train", 6), ("val", 2), ("test", 2)]);
        assert!(check.warnings.is_empty(), "{:?}", check.warnings);
    }
}
