//! Which files make a dataset's splits: the image and mask files of a folder, paired by
//! file stem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::FolderConfig;

impl FolderConfig {
    pub(super) fn folder(&self, pattern: &str, split: &str) -> PathBuf {
        self.root.join(pattern.replace("{split}", split))
    }

    /// The image and mask files of `split`, paired by stem and sorted by name.
    pub(super) fn pairs(&self, split: &str) -> anyhow::Result<Vec<Pair>> {
        let image_dir = self.folder(&self.images, split);
        let mask_dir = self.folder(&self.masks, split);
        let images = list(&image_dir, &["png", "jpg", "jpeg"], "data.images")?;
        let masks = list(&mask_dir, &["png", "jpg", "jpeg"], "data.masks")?;
        if images.is_empty() {
            bail!(
                "split `{split}` is empty: {} holds no PNG or JPEG image",
                image_dir.display()
            );
        }
        for (stem, mask) in &masks {
            if !images.contains_key(stem) {
                bail!(
                    "mask {} has no image: expected {}/{stem}.png or .jpg",
                    mask.display(),
                    image_dir.display()
                );
            }
        }
        let mut pairs = Vec::with_capacity(images.len());
        for (stem, image) in images {
            let Some(mask) = masks.get(&stem) else {
                bail!(
                    "image {} has no mask: expected {}/{stem}.png",
                    image.display(),
                    mask_dir.display()
                );
            };
            pairs.push(Pair {
                image,
                mask: mask.clone(),
            });
        }
        if let Some(limit) = self.limit {
            pairs.truncate(limit);
        }
        Ok(pairs)
    }
}

/// The stems of the files of `dir` with one of `extensions` (any case) → their paths.
pub(super) fn list(
    dir: &Path,
    extensions: &[&str],
    key: &str,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the folder {} (set {key}, with {{split}} for the split's name)",
            dir.display()
        )
    })?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
            continue;
        };
        let stem = stem.to_string_lossy().to_string();
        let ext = ext.to_string_lossy().to_lowercase();
        if stem.starts_with('.') || !extensions.contains(&ext.as_str()) {
            continue;
        }
        if let Some(other) = files.insert(stem, path.clone()) {
            bail!(
                "{} and {} have the same name; keep one file per name",
                other.display(),
                path.display()
            );
        }
    }
    Ok(files)
}

#[derive(Clone, Debug)]
pub(super) struct Pair {
    pub(super) image: PathBuf,
    pub(super) mask: PathBuf,
}
