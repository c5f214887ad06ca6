//! Decoding images: PNG, JPEG or TIFF, RGB or grayscale (alpha dropped), kept in the depth
//! they were stored in (8 or 16 bits a channel; floats for floating-point files), with the
//! optional resize and centre crop.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Luma, Pixel, Rgb};

use crate::data::samples::Pixels;

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

/// A decoded image in its stored depth: RGB, or one grey channel.
pub(super) enum Image {
    Rgb8(ImageBuffer<Rgb<u8>, Vec<u8>>),
    Gray8(ImageBuffer<Luma<u8>, Vec<u8>>),
    Rgb16(ImageBuffer<Rgb<u16>, Vec<u16>>),
    Gray16(ImageBuffer<Luma<u16>, Vec<u16>>),
    Rgb32F(ImageBuffer<Rgb<f32>, Vec<f32>>),
}

/// An image in its stored depth (grayscale as one channel, alpha dropped).
pub(super) fn read_image(path: &Path) -> anyhow::Result<Image> {
    let bytes = read_bytes(path)?;
    let image = image::load_from_memory(&bytes)
        .with_context(|| format!("cannot decode the image {}", path.display()))?;
    let colour = image.color().has_color();
    Ok(match &image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => match colour {
            true => Image::Rgb8(image.to_rgb8()),
            false => Image::Gray8(image.to_luma8()),
        },
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => match colour {
            true => Image::Rgb16(image.to_rgb16()),
            false => Image::Gray16(image.to_luma16()),
        },
        _ => Image::Rgb32F(image.to_rgb32f()),
    })
}

impl Image {
    /// Width and height.
    pub(super) fn dimensions(&self) -> (u32, u32) {
        match self {
            Image::Rgb8(i) => i.dimensions(),
            Image::Gray8(i) => i.dimensions(),
            Image::Rgb16(i) => i.dimensions(),
            Image::Gray16(i) => i.dimensions(),
            Image::Rgb32F(i) => i.dimensions(),
        }
    }

    /// Channels: 3, or 1 for grayscale.
    pub(super) fn channels(&self) -> i64 {
        match self {
            Image::Gray8(_) | Image::Gray16(_) => 1,
            _ => 3,
        }
    }

    /// Resized to `width`×`height` (bilinear, in the stored depth: 8- and 16-bit values
    /// are rounded as PIL and torchvision round them).
    pub(super) fn resize(self, width: u32, height: u32) -> Image {
        let f = FilterType::Triangle;
        match self {
            Image::Rgb8(i) => Image::Rgb8(imageops::resize(&i, width, height, f)),
            Image::Gray8(i) => Image::Gray8(imageops::resize(&i, width, height, f)),
            Image::Rgb16(i) => Image::Rgb16(imageops::resize(&i, width, height, f)),
            Image::Gray16(i) => Image::Gray16(imageops::resize(&i, width, height, f)),
            Image::Rgb32F(i) => Image::Rgb32F(imageops::resize(&i, width, height, f)),
        }
    }

    /// The `width`×`height` window at `(x, y)`.
    pub(super) fn crop(self, x: u32, y: u32, width: u32, height: u32) -> Image {
        match self {
            Image::Rgb8(i) => Image::Rgb8(imageops::crop_imm(&i, x, y, width, height).to_image()),
            Image::Gray8(i) => Image::Gray8(imageops::crop_imm(&i, x, y, width, height).to_image()),
            Image::Rgb16(i) => Image::Rgb16(imageops::crop_imm(&i, x, y, width, height).to_image()),
            Image::Gray16(i) => {
                Image::Gray16(imageops::crop_imm(&i, x, y, width, height).to_image())
            }
            Image::Rgb32F(i) => {
                Image::Rgb32F(imageops::crop_imm(&i, x, y, width, height).to_image())
            }
        }
    }

    /// The pixels channel after channel (`[C, H, W]`).
    pub(super) fn into_pixels(self) -> Pixels {
        match self {
            Image::Rgb8(i) => Pixels::U8(planar(&i)),
            Image::Gray8(i) => Pixels::U8(i.into_raw()),
            Image::Rgb16(i) => Pixels::U16(planar(&i)),
            Image::Gray16(i) => Pixels::U16(i.into_raw()),
            Image::Rgb32F(i) => Pixels::F32(planar(&i)),
        }
    }
}

/// An interleaved RGB image's values as three planes.
fn planar<P: Pixel>(image: &ImageBuffer<P, Vec<P::Subpixel>>) -> Vec<P::Subpixel> {
    let raw: &[P::Subpixel] = image.as_raw();
    let c = P::CHANNEL_COUNT as usize;
    (0..c)
        .flat_map(|k| raw.iter().skip(k).step_by(c).copied())
        .collect()
}
