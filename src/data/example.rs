//! `lossbench data example DIR`: writes a small two-class dataset in the layout public
//! microscopy sets have (`train/image/*.png` grayscale images, `train/label/*.png` masks of 0
//! and 255, no validation folder), drawn from the synthetic generator (shapes are 255,
//! background 0), so a cross-validation sweep can run on files without downloading any.

use std::path::Path;

use anyhow::{bail, Context};
use image::GrayImage;

use crate::data::SyntheticConfig;

/// Writes `images` grayscale `size`×`size` images and their 0/255 masks under `dir`
/// (`train/image/img_000.png`, `train/label/img_000.png`, ...), from `seed`.
pub fn write(dir: &Path, images: usize, size: u32, seed: u64) -> anyhow::Result<()> {
    let synthetic = SyntheticConfig {
        height: size as i64,
        width: size as i64,
        train_images: images,
        val_images: 1,
        seed,
        ..Default::default()
    };
    let data = synthetic
        .generate()
        .map_err(|e| anyhow::anyhow!("cannot generate the example data: {e}"))?;
    let (image_dir, label_dir) = (dir.join("train/image"), dir.join("train/label"));
    for folder in [&image_dir, &label_dir] {
        if folder.exists() {
            bail!(
                "{} exists; write the example into a new folder",
                folder.display()
            );
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let train = data.display_images(&data.train, data.train.len())?;
    let gray = (train
        .images
        .mean_dim([1i64].as_slice(), false, tch::Kind::Float)
        .clamp(0.0, 1.0)
        * 255.0)
        .round()
        .to_kind(tch::Kind::Uint8);
    let masks = train.masks.gt(0).to_kind(tch::Kind::Uint8) * 255;
    for i in 0..images as i64 {
        let pixels = Vec::<u8>::try_from(&gray.get(i).reshape([-1]))?;
        let labels = Vec::<u8>::try_from(&masks.get(i).reshape([-1]))?;
        for (folder, bytes) in [(&image_dir, pixels), (&label_dir, labels)] {
            let path = folder.join(format!("img_{i:03}.png"));
            GrayImage::from_raw(size, size, bytes)
                .context("the generator's image has the wrong size")?
                .save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folder::check;

    #[test]
    fn the_example_is_a_two_class_0_255_layout_the_data_check_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), 12, 16, 3).expect("writes");
        let check = check::check(&check::guess(dir.path()).expect("a layout"));
        assert!(check.usable(), "{check}");
        let values: Vec<Option<u32>> = check.labels.keys().copied().collect();
        assert_eq!(values, [Some(0), Some(255)]);
        assert!(check.snippet.contains("\"255\" = 1"), "{}", check.snippet);
        assert!(write(dir.path(), 12, 16, 3).is_err(), "never overwrites");
    }
}
