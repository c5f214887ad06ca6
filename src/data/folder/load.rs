//! Reading a folder dataset's splits: decoded once and kept in memory, or scanned once and
//! then read from the files batch by batch; the checks of sizes and channels across splits.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::classes::largest_label;
use super::decode::Decoder;
use super::masks::{read_mask, Colours};
use super::pairing::Pair;
use super::FolderConfig;
use crate::data::samples::Cache;
use crate::data::samples::{ChannelStatistics, LabelKind, Sample};
use crate::data::{Augmentation, Dataset, Loading, Split};

impl FolderConfig {
    /// Reads every split: decoded once and kept in memory (`data.cache = "memory"`), or
    /// scanned once (the training split's channel statistics and class counts, every image's
    /// size) and then read from the files batch by batch (`data.cache = "none"`).
    pub fn load(&self) -> anyhow::Result<Dataset> {
        self.validate()
            .map_err(|e| anyhow::anyhow!("data.{}: {e}", e.key))?;
        let meta = self.meta()?;
        let palette = self.palette.clone().or_else(|| meta.palette.clone());
        let ignore = self.ignore_index.or(meta.ignore_index);
        let colours = Colours::new(palette.as_deref(), self.ignore_color);
        let splits = self.splits()?;
        if let Some(first) = splits.problems.first() {
            match splits.problems.len() - 1 {
                0 => bail!("{first}"),
                more => bail!(
                    "{first} (and {more} more problem(s); `lossbench data check` lists them all)"
                ),
            }
        }
        // Augmented training crops at random: no image is centre-cropped.
        let decoding = FolderConfig {
            crop: self.crop.filter(|_| self.augment.is_none()),
            ..self.clone()
        };
        let labels = self.labels(&meta, || {
            let largest = splits
                .train
                .par_iter()
                .chain(splits.val.par_iter())
                .map(|p| {
                    decoding
                        .mask_only(p, &colours)
                        .map(|l| largest_label([&l].into_iter(), ignore))
                })
                .collect::<anyhow::Result<Vec<u32>>>()?;
            Ok(largest.into_iter().max().unwrap_or(0))
        })?;
        let report_palette = labels.palette(palette.as_deref(), || {
            let first = splits.train.first()?;
            read_mask(&first.mask, &colours).ok()?.colours
        });
        let kind = LabelKind::holding(labels.names.len() as i64, ignore);
        let class_names = labels.names.clone();
        let decoder = |pairs: &[Pair]| Decoder {
            config: decoding.clone(),
            colours: colours.clone(),
            labels: labels.clone(),
            ignore,
            kind,
            pairs: pairs.to_vec(),
        };
        let streamed = self.cache == Cache::None;
        let train = keep_train(decoder(&splits.train), class_names.len(), streamed)?;
        let val = decoding.keep(decoder(&splits.val), streamed)?;
        let test = splits
            .test
            .as_deref()
            .map(|t| decoding.keep(decoder(t), streamed))
            .transpose()?;
        let cropped = self.augment.is_some() && self.crop.is_some();
        if cropped {
            self.check_crop(&splits.train, &train.split)?;
        } else {
            check_uniform(&splits.train, &train.split, &splits.val, &val)?;
            if let (Some(pairs), Some(test)) = (&splits.test, &test) {
                check_uniform(&splits.train, &train.split, pairs, test)?;
            }
        }
        let crop = self.crop.map(|[h, w]| (i64::from(h), i64::from(w)));
        let augmentation = self
            .augment
            .clone()
            .map(|config| Augmentation { config, crop });
        let normalization = self
            .normalize
            .then(|| train.statistics.finish())
            .transpose()?;
        Ok(Dataset {
            train: train.split,
            val,
            test,
            class_names,
            palette: report_palette,
            ignore_index: ignore,
            normalization,
            hflip: self.hflip,
            files: Some(splits.files),
            train_class_counts: train.counts,
            loading: Loading {
                workers: self.workers,
                prefetch: self.prefetch,
            },
            augmentation,
        })
    }

    /// With `augment.pad = false`, every training image must hold `data.crop` after the
    /// smallest rescale (a resized crop resizes whatever it cuts, so needs no check).
    fn check_crop(&self, pairs: &[Pair], train: &Split) -> anyhow::Result<()> {
        let (Some(augment), Some([ch, cw])) = (&self.augment, self.crop) else {
            return Ok(());
        };
        if augment.pad || augment.resized_crop.is_some() {
            return Ok(());
        }
        let least = augment.scale.map_or(1.0, |[lo, _]| lo);
        let small = pairs.iter().zip(train.sizes()).find(|(_, &(h, w))| {
            ((h as f64 * least).round() as i64) < i64::from(ch)
                || ((w as f64 * least).round() as i64) < i64::from(cw)
        });
        if let Some((pair, (h, w))) = small {
            bail!(
                "data.crop [{ch}, {cw}] is larger than {} ({h}×{w}{}) and data.augment.pad is false; set data.augment.pad = true (pads with 0 and data.ignore_index), lower data.crop, or use data.augment.resized_crop",
                pair.image.display(),
                if least < 1.0 { format!(", rescaled by as little as {least}") } else { String::new() }
            );
        }
        Ok(())
    }

    /// A validation or test split: decoded into memory, or its images' sizes and channels
    /// read from their headers when streamed.
    fn keep(&self, decoder: Decoder, streamed: bool) -> anyhow::Result<Split> {
        if !streamed {
            let samples = decoder
                .pairs
                .par_iter()
                .map(|p| decoder.sample(p))
                .collect::<anyhow::Result<Vec<Sample>>>()?;
            let sizes: Vec<_> = samples
                .iter()
                .map(|s| ((s.height, s.width), s.channels))
                .collect();
            let channels = one_channel_count(&decoder.pairs, &sizes)?;
            return Ok(Split::memory(samples, channels));
        }
        let probed = decoder
            .pairs
            .par_iter()
            .map(|p| self.probe(&p.image))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let channels = one_channel_count(&decoder.pairs, &probed)?;
        let sizes = probed.into_iter().map(|p| p.0).collect();
        Ok(Split::files(Arc::new(decoder), sizes, channels))
    }

    /// The size an image will have (after `resize` and `crop`) and its channels, from its
    /// header.
    fn probe(&self, path: &Path) -> anyhow::Result<((i64, i64), i64)> {
        let cannot = || format!("cannot decode the image {}", path.display());
        let decoder = image::ImageReader::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .with_guessed_format()
            .with_context(cannot)?
            .into_decoder()
            .with_context(cannot)?;
        let (w, h) = image::ImageDecoder::dimensions(&decoder);
        let colour = image::ImageDecoder::color_type(&decoder).has_color();
        let [h, w] = self.resize.unwrap_or([h, w]);
        let (h, w) = match self.crop {
            Some([ch, cw]) if ch > h || cw > w => bail!(
                "data.crop [{ch}, {cw}] is larger than {} ({h}×{w}); lower data.crop or set data.resize",
                path.display()
            ),
            Some([ch, cw]) => (ch, cw),
            None => (h, w),
        };
        Ok(((i64::from(h), i64::from(w)), if colour { 3 } else { 1 }))
    }
}

/// The training split as kept, with what its one pass over the images measured.
struct Train {
    split: Split,
    statistics: ChannelStatistics,
    counts: Vec<Vec<i64>>,
}

/// The images the training split's pass decodes at a time per thread.
const CHUNK: usize = 32;

/// Decodes the training split once: kept in memory unless `streamed`, its channel
/// statistics and each image's class counts taken either way.
fn keep_train(decoder: Decoder, classes: usize, streamed: bool) -> anyhow::Result<Train> {
    type Chunk = (
        Vec<Sample>,
        ChannelStatistics,
        Vec<Vec<i64>>,
        Vec<((i64, i64), i64)>,
    );
    let chunks = decoder
        .pairs
        .par_chunks(CHUNK)
        .map(|pairs| -> anyhow::Result<Chunk> {
            let mut chunk: Chunk = Default::default();
            for pair in pairs {
                let sample = decoder.sample(pair)?;
                chunk.1.add(&sample);
                chunk.2.push(sample.class_counts(classes));
                chunk
                    .3
                    .push(((sample.height, sample.width), sample.channels));
                if !streamed {
                    chunk.0.push(sample);
                }
            }
            Ok(chunk)
        })
        .collect::<anyhow::Result<Vec<Chunk>>>()?;
    let mut train = Train {
        split: Split::memory(Vec::new(), 3),
        statistics: ChannelStatistics::default(),
        counts: Vec::new(),
    };
    let (mut samples, mut sizes) = (Vec::new(), Vec::new());
    for (kept, statistics, counts, chunk_sizes) in chunks {
        samples.extend(kept);
        train.statistics.merge(&statistics);
        train.counts.extend(counts);
        sizes.extend(chunk_sizes);
    }
    let channels = one_channel_count(&decoder.pairs, &sizes)?;
    let sizes = sizes.into_iter().map(|s| s.0).collect();
    train.split = if streamed {
        Split::files(Arc::new(decoder), sizes, channels)
    } else {
        Split::memory(samples, channels)
    };
    Ok(train)
}

/// The channel count every image of a split has (`images` gives each one's size and
/// channels, in the order of `pairs`).
fn one_channel_count(pairs: &[Pair], images: &[((i64, i64), i64)]) -> anyhow::Result<i64> {
    let Some(&(_, first)) = images.first() else {
        return Ok(3);
    };
    if let Some((pair, (_, c))) = pairs.iter().zip(images).find(|(_, (_, c))| *c != first) {
        bail!(
            "{} has {c} channel(s) but {} has {first}; use one kind of image (RGB or grayscale)",
            pair.image.display(),
            pairs[0].image.display()
        );
    }
    Ok(first)
}

/// Every image of `other` has the size and channel count of the training split's first
/// (`train` and `other` with their files, in order).
fn check_uniform(
    train_pairs: &[Pair],
    train: &Split,
    other_pairs: &[Pair],
    other: &Split,
) -> anyhow::Result<()> {
    let named = |pairs: &[Pair], split: &Split| -> Vec<(std::path::PathBuf, (i64, i64))> {
        pairs
            .iter()
            .map(|p| p.image.clone())
            .zip(split.sizes().iter().copied())
            .collect()
    };
    let mut all = named(train_pairs, train)
        .into_iter()
        .chain(named(other_pairs, other));
    let Some((first_path, (h0, w0))) = all.next() else {
        return Ok(());
    };
    for (path, (h, w)) in all {
        if (h, w) != (h0, w0) {
            bail!(
                "{} is {h}×{w} but {} is {h0}×{w0}; set data.resize = [height, width] (or data.crop) to give every image one size",
                path.display(),
                first_path.display()
            );
        }
    }
    if train.channels() != other.channels() {
        bail!(
            "{} has {} channel(s) but {} has {}; use one kind of image (RGB or grayscale)",
            other_pairs
                .first()
                .map_or(first_path.clone(), |p| p.image.clone())
                .display(),
            other.channels(),
            first_path.display(),
            train.channels()
        );
    }
    Ok(())
}
