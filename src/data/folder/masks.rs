//! Decoding masks: 8- or 16-bit index PNGs and TIFFs, palette PNGs read by their indices,
//! and RGB colour masks (PNG or TIFF) mapped through a palette; nearest-neighbour resizing
//! of labels.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use image::{ImageBuffer, Luma};

use super::images::read_bytes;

/// A mask's raw labels.
pub(super) type LabelImage = ImageBuffer<Luma<u32>, Vec<u32>>;

/// Raw labels of a mask; the mark of an RGB mask's ignore colour.
pub(super) const IGNORE_COLOUR: u32 = u32::MAX;

/// A mask's raw labels (palette indices for palette and RGB masks) and, for palette PNGs,
/// their colours.
pub(super) struct Mask {
    pub(super) labels: LabelImage,
    pub(super) colours: Option<Vec<[u8; 3]>>,
}

/// The RGB colours of a palette and the colour meaning "ignore", for RGB masks.
#[derive(Clone, Debug)]
pub(super) struct Colours {
    pub(super) index: HashMap<[u8; 3], u32>,
    pub(super) given: bool,
}

impl Colours {
    pub(super) fn new(palette: Option<&[[u8; 3]]>, ignore: Option<[u8; 3]>) -> Colours {
        let mut index: HashMap<[u8; 3], u32> = palette
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u32))
            .collect();
        if let Some(c) = ignore {
            index.insert(c, IGNORE_COLOUR);
        }
        Colours {
            index,
            given: palette.is_some(),
        }
    }
}

/// A PNG mask's labels: index and palette PNGs by their values, RGB(A) PNGs through the
/// palette.
pub(super) fn read_mask(path: &Path, colours: &Colours) -> anyhow::Result<Mask> {
    let bytes = read_bytes(path)?;
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        bail!(
            "mask {} is a JPEG file: masks must be lossless PNG or TIFF (JPEG compression changes the labels)",
            path.display()
        );
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return read_tiff_mask(path, &bytes, colours);
    }
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("cannot decode the mask {} as PNG", path.display()))?;
    let size = reader
        .output_buffer_size()
        .with_context(|| format!("mask {} is too large", path.display()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("cannot decode the mask {} as PNG", path.display()))?;
    let (w, h) = (info.width, info.height);
    let depth = info.bit_depth as u8;
    let line = info.line_size;
    let mut labels = Vec::with_capacity((w * h) as usize);
    let mut palette_colours = None;
    match info.color_type {
        png::ColorType::Grayscale | png::ColorType::Indexed => {
            for row in buf.chunks(line).take(h as usize) {
                labels.extend(unpack(row, depth, w as usize));
            }
            if info.color_type == png::ColorType::Indexed {
                palette_colours = reader
                    .info()
                    .palette
                    .as_ref()
                    .map(|p| p.chunks(3).map(|c| [c[0], c[1], c[2]]).collect());
            }
        }
        png::ColorType::Rgb | png::ColorType::Rgba => {
            if depth != 8 {
                bail!(
                    "mask {} is a {depth}-bit RGB image; colour masks must be 8-bit",
                    path.display()
                );
            }
            let step = if info.color_type == png::ColorType::Rgb {
                3
            } else {
                4
            };
            let samples: Vec<u8> = buf
                .chunks(line)
                .take(h as usize)
                .flat_map(|row| row.iter().take(w as usize * step).copied())
                .collect();
            labels = colour_labels(path, &samples, step, w, colours)?;
        }
        png::ColorType::GrayscaleAlpha => bail!(
            "mask {} is grayscale with alpha; save it as a plain grayscale (index) PNG",
            path.display()
        ),
    }
    let labels = ImageBuffer::from_raw(w, h, labels)
        .with_context(|| format!("mask {} has a truncated image", path.display()))?;
    Ok(Mask {
        labels,
        colours: palette_colours,
    })
}

/// The `width` values of one PNG scan line of `depth` bits per sample.
pub(super) fn unpack(row: &[u8], depth: u8, width: usize) -> Vec<u32> {
    match depth {
        16 => row
            .chunks(2)
            .take(width)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as u32)
            .collect(),
        8 => row.iter().take(width).map(|&b| b as u32).collect(),
        bits => {
            let per = 8 / bits as usize;
            let mask = (1u8 << bits) - 1;
            (0..width)
                .map(|i| {
                    let byte = row[i / per];
                    let shift = 8 - bits as usize * (i % per + 1);
                    ((byte >> shift) & mask) as u32
                })
                .collect()
        }
    }
}

/// `labels` resized to `width × height` by nearest neighbour (labels are never blended).
pub(super) fn nearest(labels: &LabelImage, width: u32, height: u32) -> LabelImage {
    let (w, h) = labels.dimensions();
    let source = |out: u32, size: u32, from: u32| {
        (((out as f64 + 0.5) * from as f64 / size as f64) as u32).min(from - 1)
    };
    ImageBuffer::from_fn(width, height, |x, y| {
        *labels.get_pixel(source(x, width, w), source(y, height, h))
    })
}

/// A TIFF mask's labels (single page): 8- or 16-bit grayscale by value, 8-bit RGB(A)
/// through the palette.
fn read_tiff_mask(path: &Path, bytes: &[u8], colours: &Colours) -> anyhow::Result<Mask> {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Tiff)
        .with_context(|| format!("cannot decode the mask {} as TIFF", path.display()))?;
    let (w, h) = (image.width(), image.height());
    let labels: Vec<u32> = match image {
        image::DynamicImage::ImageLuma8(m) => m.into_raw().into_iter().map(u32::from).collect(),
        image::DynamicImage::ImageLuma16(m) => m.into_raw().into_iter().map(u32::from).collect(),
        image::DynamicImage::ImageRgb8(m) => colour_labels(path, m.as_raw(), 3, w, colours)?,
        image::DynamicImage::ImageRgba8(m) => colour_labels(path, m.as_raw(), 4, w, colours)?,
        other => bail!(
            "mask {} is a TIFF of {:?} pixels; masks must be 8- or 16-bit grayscale (labels) or 8-bit RGB (colours)",
            path.display(),
            other.color()
        ),
    };
    let labels = ImageBuffer::from_raw(w, h, labels)
        .with_context(|| format!("mask {} has a truncated image", path.display()))?;
    Ok(Mask {
        labels,
        colours: None,
    })
}

/// The palette index of every pixel of 8-bit colour samples `step` bytes apart, in rows of
/// `width`; an error names the first colour not in the palette and where it is.
fn colour_labels(
    path: &Path,
    samples: &[u8],
    step: usize,
    width: u32,
    colours: &Colours,
) -> anyhow::Result<Vec<u32>> {
    if !colours.given {
        bail!(
            "mask {} is an RGB colour mask but no palette is given: set data.palette (one [r, g, b] per class), data.class_dict (a name,r,g,b table), or add \"palette\" to dataset.json",
            path.display()
        );
    }
    samples
        .chunks(step)
        .enumerate()
        .map(|(i, px)| {
            let c = [px[0], px[1], px[2]];
            colours.index.get(&c).copied().with_context(|| {
                format!(
                    "mask {}: colour ({}, {}, {}) at row {}, column {} is not in the palette (data.palette, data.class_dict or dataset.json; data.ignore_color for a colour to ignore)",
                    path.display(),
                    c[0],
                    c[1],
                    c[2],
                    i / width as usize,
                    i % width as usize
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::write_flat;
    use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

    #[test]
    fn tiff_images_and_eight_and_sixteen_bit_tiff_masks_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 4);
        config.val_fraction = Some(0.25);
        for i in 0..4 {
            for folder in ["image", "label"] {
                std::fs::remove_file(root.join(format!("{folder}/img_{i:02}.png"))).expect("rm");
            }
            let image: ImageBuffer<Luma<u16>, Vec<u16>> =
                ImageBuffer::from_pixel(16, 16, Luma([257 * i as u16]));
            image
                .save(root.join(format!("image/img_{i:02}.tif")))
                .expect("tiff image");
            let label = |x: u32| if x < 8 { 0 } else { 255 };
            if i % 2 == 0 {
                GrayImage::from_fn(16, 16, |x, _| Luma([label(x) as u8]))
                    .save(root.join(format!("label/img_{i:02}.tif")))
                    .expect("8-bit tiff mask");
            } else {
                ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(16, 16, |x, _| Luma([label(x)]))
                    .save(root.join(format!("label/img_{i:02}.tiff")))
                    .expect("16-bit tiff mask");
            }
        }
        let data = config.load().expect("loads");
        assert_eq!(data.in_channels(), 1);
        assert_eq!(data.train.len() + data.val.len(), 4);
        for split in [&data.train, &data.val] {
            let masks = crate::data::feed::split_tensors(&data, split).1;
            for k in 0..split.len() {
                let row = Vec::<i64>::try_from(masks.get(k).get(0)).expect("row");
                assert_eq!(row[..8], [0; 8]);
                assert_eq!(row[8..], [1; 8]);
            }
        }
        let brightest = crate::data::feed::split_tensors(&data, &data.train)
            .0
            .max()
            .double_value(&[])
            .max(
                crate::data::feed::split_tensors(&data, &data.val)
                    .0
                    .max()
                    .double_value(&[]),
            );
        assert!(
            (brightest - 3.0 / 255.0).abs() < 1e-6,
            "16-bit scaled to [0, 1]: {brightest}"
        );
    }

    #[test]
    fn rgb_tiff_masks_map_through_the_palette_and_name_an_unknown_colour() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 2);
        config.val_fraction = Some(0.5);
        config.class_map = None;
        config.palette = Some(vec![[0, 0, 0], [200, 0, 0]]);
        for i in 0..2 {
            std::fs::remove_file(root.join(format!("label/img_{i:02}.png"))).expect("rm");
            RgbImage::from_fn(16, 16, |x, y| match (x, y) {
                (3, 2) if i == 1 => Rgb([1, 2, 3]),
                (x, _) if x < 8 => Rgb([0, 0, 0]),
                _ => Rgb([200, 0, 0]),
            })
            .save(root.join(format!("label/img_{i:02}.tif")))
            .expect("tiff mask");
        }
        let err = format!("{:#}", config.load().expect_err("an unknown colour"));
        assert!(
            err.contains("img_01.tif: colour (1, 2, 3) at row 2, column 3 is not in the palette"),
            "{err}"
        );
    }
}
