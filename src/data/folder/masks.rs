//! Decoding masks: 8- or 16-bit index PNGs, palette PNGs read by their indices, and RGB
//! colour masks mapped through a palette; nearest-neighbour resizing of labels.

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
            "mask {} is a JPEG file: masks must be lossless PNG (JPEG compression changes the labels)",
            path.display()
        );
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
            if !colours.given {
                bail!(
                    "mask {} is an RGB colour mask but no palette is given: set data.palette (one [r, g, b] per class) or add \"palette\" to dataset.json",
                    path.display()
                );
            }
            let step = if info.color_type == png::ColorType::Rgb {
                3
            } else {
                4
            };
            for (y, row) in buf.chunks(line).take(h as usize).enumerate() {
                for (x, px) in row.chunks(step).take(w as usize).enumerate() {
                    let c = [px[0], px[1], px[2]];
                    match colours.index.get(&c) {
                        Some(i) => labels.push(*i),
                        None => bail!(
                            "mask {}: colour ({}, {}, {}) at row {y}, column {x} is not in the palette (data.palette or dataset.json; data.ignore_color for a colour to ignore)",
                            path.display(),
                            c[0],
                            c[1],
                            c[2]
                        ),
                    }
                }
            }
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
