//! Decoding images: PNG or JPEG, RGB or grayscale, as RGB floats in [0, 1].

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use image::{ImageBuffer, Rgb};

/// An image as RGB floats.
pub(super) type RgbImage32 = ImageBuffer<Rgb<f32>, Vec<f32>>;

/// Fails on an empty file, naming it.
pub(super) fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| BufReader::new(f).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.is_empty() {
        bail!("{} is empty (0 bytes)", path.display());
    }
    Ok(bytes)
}

/// An image as RGB floats in [0, 1] (grayscale repeated; the channel count says which).
pub(super) fn read_image(path: &Path) -> anyhow::Result<(RgbImage32, i64)> {
    let bytes = read_bytes(path)?;
    let image = image::load_from_memory(&bytes)
        .with_context(|| format!("cannot decode the image {}", path.display()))?;
    let channels = if image.color().has_color() { 3 } else { 1 };
    Ok((image.to_rgb32f(), channels))
}
