//! One image and its mask, from their files to a kept sample: decoded, resized and cropped
//! as configured, the mask's labels turned into classes. The same steps whether a split is
//! decoded once into memory or file by file as batches ask ([`Decoder`] reads a split from
//! its files).

use anyhow::bail;

use super::classes::Labels;
use super::images::{read_image, Image};
use super::masks::{nearest, read_mask, Colours, LabelImage, Mask};
use super::pairing::Pair;
use super::FolderConfig;
use crate::data::samples::{LabelKind, Reader, Sample};

/// One decoded image in its stored depth and its mask's raw labels.
pub(super) struct Decoded {
    pub(super) pair: Pair,
    pub(super) image: Image,
    pub(super) mask: Mask,
}

impl FolderConfig {
    /// Decodes one image and its mask, resized and cropped as configured.
    pub(super) fn decode(&self, pair: &Pair, colours: &Colours) -> anyhow::Result<Decoded> {
        let mut image = read_image(&pair.image)?;
        let mut mask = read_mask(&pair.mask, colours)?;
        if image.dimensions() != mask.labels.dimensions() {
            let (iw, ih) = image.dimensions();
            let (mw, mh) = mask.labels.dimensions();
            bail!(
                "size mismatch: mask {} is {mh}×{mw} (height×width) but its image {} is {ih}×{iw}",
                pair.mask.display(),
                pair.image.display()
            );
        }
        if let Some([h, w]) = self.resize {
            image = image.resize(w, h);
            mask.labels = nearest(&mask.labels, w, h);
        }
        if let Some([h, w]) = self.crop {
            let (iw, ih) = image.dimensions();
            if h > ih || w > iw {
                bail!(
                    "data.crop [{h}, {w}] is larger than {} ({ih}×{iw}); lower data.crop or set data.resize",
                    pair.image.display()
                );
            }
            let (x, y) = ((iw - w) / 2, (ih - h) / 2);
            image = image.crop(x, y, w, h);
            mask.labels = image::imageops::crop_imm(&mask.labels, x, y, w, h).to_image();
        }
        Ok(Decoded {
            pair: pair.clone(),
            image,
            mask,
        })
    }
}

impl FolderConfig {
    /// A mask's raw labels as [`FolderConfig::decode`] leaves them (resized and cropped as
    /// configured), read without its image.
    pub(super) fn mask_only(&self, pair: &Pair, colours: &Colours) -> anyhow::Result<LabelImage> {
        let mut labels = read_mask(&pair.mask, colours)?.labels;
        if let Some([h, w]) = self.resize {
            labels = nearest(&labels, w, h);
        }
        if let Some([h, w]) = self.crop {
            let (mw, mh) = labels.dimensions();
            if h <= mh && w <= mw {
                let (x, y) = ((mw - w) / 2, (mh - h) / 2);
                labels = image::imageops::crop_imm(&labels, x, y, w, h).to_image();
            }
        }
        Ok(labels)
    }
}

/// What turns a split's files into kept samples.
#[derive(Debug)]
pub(super) struct Decoder {
    pub(super) config: FolderConfig,
    pub(super) colours: Colours,
    pub(super) labels: Labels,
    pub(super) ignore: Option<i64>,
    pub(super) kind: LabelKind,
    /// The split's files, in order (for [`Reader::read`]).
    pub(super) pairs: Vec<Pair>,
}

impl Decoder {
    /// The kept sample of `pair`.
    pub(super) fn sample(&self, pair: &Pair) -> anyhow::Result<Sample> {
        let decoded = self.config.decode(pair, &self.colours)?;
        let classes = self.labels.apply(&decoded, self.ignore)?;
        let (width, height) = decoded.image.dimensions();
        let channels = decoded.image.channels();
        Ok(Sample {
            pixels: decoded.image.into_pixels(),
            labels: self.kind.keep(&classes),
            channels,
            height: i64::from(height),
            width: i64::from(width),
        })
    }
}

impl Reader for Decoder {
    fn read(&self, index: usize) -> anyhow::Result<Sample> {
        match self.pairs.get(index) {
            Some(pair) => self.sample(pair),
            None => bail!("no image {index} in a split of {}", self.pairs.len()),
        }
    }
}
