//! A split's images and masks as they are kept: in memory, compact (images as decoded, 8 or
//! 16 bits a channel, masks in the smallest integer type that holds the classes), or read
//! from their files when a batch needs them. Plain buffers, not tensors, so that a split can
//! be shared by the worker threads that build batches ([`super::loader`]); a sample becomes
//! tensors only when a batch is made of it.

use std::fmt::Debug;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Where the images are kept between batches (`data.cache`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cache {
    /// Decoded once and kept in memory, compact.
    #[default]
    Memory,
    /// Read and decoded from the files for every batch.
    None,
}

impl Cache {
    /// Whether the images are kept in memory (the default).
    pub fn is_memory(&self) -> bool {
        *self == Cache::Memory
    }
}
/// Batch-building threads by default.
pub const DEFAULT_WORKERS: usize = 2;
/// Batches built ahead by default.
pub const DEFAULT_PREFETCH: usize = 4;
pub const MAX_WORKERS: usize = 256;
pub const MAX_PREFETCH: usize = 1024;

pub fn is_default_workers(workers: &usize) -> bool {
    *workers == DEFAULT_WORKERS
}

pub fn is_default_prefetch(prefetch: &usize) -> bool {
    *prefetch == DEFAULT_PREFETCH
}

/// An image's pixels as kept, channel after channel (`[C, H, W]`, row-major).
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    /// 8-bit files.
    U8(Vec<u8>),
    /// 16-bit files.
    U16(Vec<u16>),
    /// Floats in [0, 1] (generated data, floating-point files).
    F32(Vec<f32>),
}

/// A mask's classes as kept (`[H, W]`, row-major), `ignore_index` included.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    U8(Vec<u8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
}

/// The integer type that masks are kept in: the smallest that holds every class and
/// `ignore_index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    U8,
    I16,
    I32,
}

impl LabelKind {
    /// The smallest kind that holds `0..classes` and `ignore`.
    pub fn holding(classes: i64, ignore: Option<i64>) -> LabelKind {
        let top = (classes - 1).max(ignore.unwrap_or(0));
        if top <= i64::from(u8::MAX) {
            LabelKind::U8
        } else if top <= i64::from(i16::MAX) {
            LabelKind::I16
        } else {
            LabelKind::I32
        }
    }

    /// `classes` (each in `0..=top` of this kind, as [`LabelKind::holding`] chose it) kept
    /// in this kind.
    pub fn keep(self, classes: &[i64]) -> Labels {
        match self {
            LabelKind::U8 => Labels::U8(classes.iter().map(|&c| c as u8).collect()),
            LabelKind::I16 => Labels::I16(classes.iter().map(|&c| c as i16).collect()),
            LabelKind::I32 => Labels::I32(classes.iter().map(|&c| c as i32).collect()),
        }
    }
}

/// One image and its mask as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub pixels: Pixels,
    pub labels: Labels,
    pub channels: i64,
    pub height: i64,
    pub width: i64,
}

impl Sample {
    /// The image `[C, H, W]` as a tensor of its kept kind: `Uint8`, `Int16` holding the bits
    /// of 16-bit values, or `Float`.
    pub fn image(&self) -> Tensor {
        let shape = [self.channels, self.height, self.width];
        match &self.pixels {
            Pixels::U8(v) => Tensor::from_slice(v).view(shape),
            Pixels::U16(v) => {
                let bits: Vec<i16> = v.iter().map(|&p| p as i16).collect();
                Tensor::from_slice(&bits).view(shape)
            }
            Pixels::F32(v) => Tensor::from_slice(v).view(shape),
        }
    }

    /// The mask `[H, W]` as a tensor of its kept kind.
    pub fn mask(&self) -> Tensor {
        let shape = [self.height, self.width];
        match &self.labels {
            Labels::U8(v) => Tensor::from_slice(v).view(shape),
            Labels::I16(v) => Tensor::from_slice(v).view(shape),
            Labels::I32(v) => Tensor::from_slice(v).view(shape),
        }
    }

    /// Bytes of its pixels and labels.
    pub fn bytes(&self) -> usize {
        let pixels = match &self.pixels {
            Pixels::U8(v) => v.len(),
            Pixels::U16(v) => 2 * v.len(),
            Pixels::F32(v) => 4 * v.len(),
        };
        pixels
            + match &self.labels {
                Labels::U8(v) => v.len(),
                Labels::I16(v) => 2 * v.len(),
                Labels::I32(v) => 4 * v.len(),
            }
    }

    /// Per class of `0..classes`, its pixels in the mask (`ignore` and values outside the
    /// classes left out).
    pub fn class_counts(&self, classes: usize) -> Vec<i64> {
        let mut counts = vec![0i64; classes];
        let mut add = |v: i64| {
            if (0..classes as i64).contains(&v) {
                counts[v as usize] += 1;
            }
        };
        match &self.labels {
            Labels::U8(v) => v.iter().for_each(|&c| add(i64::from(c))),
            Labels::I16(v) => v.iter().for_each(|&c| add(i64::from(c))),
            Labels::I32(v) => v.iter().for_each(|&c| add(i64::from(c))),
        }
        counts
    }
}

/// Reads one sample of a split from its files, as a batch asks for it; an error names the
/// file.
pub trait Reader: Send + Sync + Debug {
    fn read(&self, index: usize) -> anyhow::Result<Sample>;
}

/// Where a split's samples are.
#[derive(Clone, Debug)]
enum Kept {
    Memory(Arc<Vec<Sample>>),
    Files(Arc<dyn Reader>),
}

/// The images and masks of one split, with each image's size; cheap to clone (the samples
/// are shared).
#[derive(Clone, Debug)]
pub struct Split {
    kept: Kept,
    sizes: Arc<Vec<(i64, i64)>>,
    channels: i64,
}

impl Split {
    /// A split held in memory. Every sample has `channels` channels.
    pub fn memory(samples: Vec<Sample>, channels: i64) -> Split {
        let sizes = samples.iter().map(|s| (s.height, s.width)).collect();
        Split {
            kept: Kept::Memory(Arc::new(samples)),
            sizes: Arc::new(sizes),
            channels,
        }
    }

    /// A split read from its files by `reader`, whose images have these sizes (height,
    /// width) and `channels` channels.
    pub fn files(reader: Arc<dyn Reader>, sizes: Vec<(i64, i64)>, channels: i64) -> Split {
        Split {
            kept: Kept::Files(reader),
            sizes: Arc::new(sizes),
            channels,
        }
    }

    /// The number of images.
    pub fn len(&self) -> i64 {
        self.sizes.len() as i64
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Channels of the images.
    pub fn channels(&self) -> i64 {
        self.channels
    }

    /// Height and width of every image, in order.
    pub fn sizes(&self) -> &[(i64, i64)] {
        &self.sizes
    }

    /// The one size of all images, if they share one.
    pub fn uniform_size(&self) -> Option<(i64, i64)> {
        let first = *self.sizes.first()?;
        self.sizes.iter().all(|&s| s == first).then_some(first)
    }

    /// Whether the samples are read from files batch by batch.
    pub fn is_streamed(&self) -> bool {
        matches!(self.kept, Kept::Files(_))
    }

    /// Image `index` `[C, H, W]` and its mask `[H, W]` as tensors of their kept kinds.
    pub fn get(&self, index: usize) -> anyhow::Result<(Tensor, Tensor)> {
        match &self.kept {
            Kept::Memory(samples) => {
                let sample = samples
                    .get(index)
                    .with_context(|| format!("no image {index} in a split of {}", self.len()))?;
                Ok((sample.image(), sample.mask()))
            }
            Kept::Files(reader) => {
                let sample = reader.read(index)?;
                Ok((sample.image(), sample.mask()))
            }
        }
    }

    /// Bytes held in memory by the samples (none for a split read from files).
    pub fn bytes(&self) -> usize {
        match &self.kept {
            Kept::Memory(samples) => samples.iter().map(Sample::bytes).sum(),
            Kept::Files(_) => 0,
        }
    }

    /// The first `k` images and masks, stacked in their kept kinds (they must share a size).
    pub fn first(&self, k: i64) -> anyhow::Result<Batch> {
        let pairs = (0..k.min(self.len()) as usize)
            .map(|i| self.get(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        collate(pairs, None)
    }
}

/// Images `[B, C, H, W]` and masks `[B, H, W]` in their kept kinds, on the CPU: what the
/// run moves to its device and converts there.
#[derive(Debug)]
pub struct Batch {
    pub images: Tensor,
    pub masks: Tensor,
}

/// How a batch of images of different sizes is padded to one: at the bottom and right, to
/// the largest height and width rounded up to a multiple of `multiple`, with 0 in the images
/// and `ignore` in the masks.
#[derive(Clone, Copy, Debug)]
pub struct Pad {
    pub multiple: i64,
    pub ignore: Option<i64>,
}

/// Stacks images and masks into a batch; images of different sizes (or not a multiple of
/// `pad.multiple`) are padded when `pad` is given, and are an error otherwise.
pub fn collate(pairs: Vec<(Tensor, Tensor)>, pad: Option<Pad>) -> anyhow::Result<Batch> {
    let Some((first, _)) = pairs.first() else {
        bail!("a batch of no image");
    };
    let size = |t: &Tensor| {
        let s = t.size();
        (s[s.len() - 2], s[s.len() - 1])
    };
    let (mut h, mut w) = size(first);
    for (image, _) in &pairs {
        let (ih, iw) = size(image);
        h = h.max(ih);
        w = w.max(iw);
    }
    let (images, masks): (Vec<Tensor>, Vec<Tensor>) = match pad {
        Some(pad) => {
            let up = |v: i64| (v + pad.multiple - 1) / pad.multiple * pad.multiple;
            let (h, w) = (up(h), up(w));
            let padded = pairs.into_iter().map(|(image, mask)| {
                let (ih, iw) = size(&image);
                if (ih, iw) == (h, w) {
                    return Ok((image, mask));
                }
                let ignore = pad.ignore.context(
                    "images of different sizes are padded to one for evaluation, and the mask's padding needs data.ignore_index; set it",
                )?;
                let edges = [0, w - iw, 0, h - ih];
                Ok((
                    image.constant_pad_nd(edges),
                    mask.pad(edges, "constant", Some(ignore as f64)),
                ))
            });
            padded
                .collect::<anyhow::Result<Vec<_>>>()?
                .into_iter()
                .unzip()
        }
        None => {
            if let Some((image, _)) = pairs.iter().find(|(i, _)| size(i) != (h, w)) {
                let (ih, iw) = size(image);
                bail!("images of {ih}×{iw} and {h}×{w} in one batch; set data.crop to train on one size");
            }
            pairs.into_iter().unzip()
        }
    };
    Ok(Batch {
        images: Tensor::stack(&images, 0),
        masks: Tensor::stack(&masks, 0),
    })
}

/// How kept pixels become the network's input: scaled to [0, 1] as decoders do (8-bit by
/// 255, 16-bit by 65535, as `f32`), then standardised per channel when the data are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Standardize {
    /// Per-channel mean and standard deviation, of the training split.
    pub normalization: Option<(Vec<f64>, Vec<f64>)>,
}

impl Standardize {
    /// `images` (a batch's, any kept kind) moved to `device` and converted there to `f32`.
    pub fn input(&self, images: &Tensor, device: tch::Device) -> Tensor {
        let images = images.to_device(device);
        let scaled = match images.kind() {
            Kind::Uint8 => images.to_kind(Kind::Float) / 255.0,
            Kind::Int16 => {
                images
                    .to_kind(Kind::Int)
                    .bitwise_and(0xFFFF)
                    .to_kind(Kind::Float)
                    / 65535.0
            }
            Kind::Float => images,
            other => images.to_kind(other).to_kind(Kind::Float),
        };
        match &self.normalization {
            None => scaled,
            Some((mean, std)) => {
                let shape = [1, mean.len() as i64, 1, 1];
                let column = |v: &[f64]| {
                    Tensor::from_slice(v)
                        .to_kind(Kind::Float)
                        .view(shape)
                        .to_device(device)
                };
                (scaled - column(mean)) / column(std)
            }
        }
    }
}

/// Per-channel sums over images, from which [`ChannelStatistics::finish`] gives the mean and
/// standard deviation: exact counts of each 8- or 16-bit value (so the result does not
/// depend on the order images are added in, nor on whether they were kept or streamed),
/// or, for float images, sums in f64 in the order added.
#[derive(Clone, Debug, Default)]
pub struct ChannelStatistics {
    /// Per channel, the count of each value (8-bit: 256 bins, 16-bit: 65536).
    histograms: Vec<Vec<u64>>,
    /// Per channel, the sum and the sum of squares of float pixels, and their count.
    floats: Vec<(f64, f64, u64)>,
}

impl ChannelStatistics {
    /// Adds one sample's pixels.
    pub fn add(&mut self, sample: &Sample) {
        let c = sample.channels as usize;
        let plane = (sample.height * sample.width) as usize;
        match &sample.pixels {
            Pixels::U8(v) => self.count(c, plane, 256, v.iter().map(|&p| p as usize)),
            Pixels::U16(v) => self.count(c, plane, 65536, v.iter().map(|&p| p as usize)),
            Pixels::F32(v) => {
                self.floats.resize(c, (0.0, 0.0, 0));
                for (k, chunk) in v.chunks(plane.max(1)).enumerate().take(c) {
                    let (sum, squares, n) = &mut self.floats[k];
                    for &p in chunk {
                        *sum += f64::from(p);
                        *squares += f64::from(p) * f64::from(p);
                    }
                    *n += chunk.len() as u64;
                }
            }
        }
    }

    /// Adds another's counts and sums (float sums in the order merged).
    pub fn merge(&mut self, other: &ChannelStatistics) {
        if self.histograms.is_empty() {
            self.histograms.clone_from(&other.histograms);
        } else {
            for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
                for (a, b) in mine.iter_mut().zip(theirs) {
                    *a += b;
                }
            }
        }
        self.floats
            .resize(other.floats.len().max(self.floats.len()), (0.0, 0.0, 0));
        for (mine, theirs) in self.floats.iter_mut().zip(&other.floats) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
            mine.2 += theirs.2;
        }
    }

    fn count(
        &mut self,
        channels: usize,
        plane: usize,
        bins: usize,
        values: impl Iterator<Item = usize>,
    ) {
        self.histograms.resize(channels, vec![0; bins]);
        for (i, v) in values.enumerate() {
            self.histograms[i / plane.max(1)][v] += 1;
        }
    }

    /// Per-channel mean and (population) standard deviation, at least 1e-6, of the values
    /// the decoders give (`v / 255` or `v / 65535` as `f32`).
    pub fn finish(&self) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        if !self.histograms.is_empty() {
            let max = (self.histograms[0].len() - 1) as f32;
            let value = |v: usize| f64::from(v as f32 / max);
            return Ok(self
                .histograms
                .iter()
                .map(|bins| {
                    let n = bins.iter().sum::<u64>().max(1) as f64;
                    let mean = bins
                        .iter()
                        .enumerate()
                        .map(|(v, &c)| c as f64 * value(v))
                        .sum::<f64>()
                        / n;
                    let var = bins
                        .iter()
                        .enumerate()
                        .map(|(v, &c)| c as f64 * (value(v) - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    (mean, var.sqrt().max(1e-6))
                })
                .unzip());
        }
        if self.floats.is_empty() {
            bail!("no image to take the channel statistics of");
        }
        Ok(self
            .floats
            .iter()
            .map(|&(sum, squares, n)| {
                let n = n.max(1) as f64;
                let mean = sum / n;
                (mean, (squares / n - mean * mean).max(0.0).sqrt().max(1e-6))
            })
            .unzip())
    }
}
