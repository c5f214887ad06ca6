//! How a run takes its batches from a dataset: a split in order for evaluation, or an epoch's
//! drawn order for training (each image flipped as drawn, then prepared by the caller, e.g.
//! augmented), built by [`loader`](super::loader)'s workers; and how a batch becomes the
//! network's input and targets on the run's device. Only batches reach the device.

use std::sync::Arc;

use tch::{Device, Kind, Tensor};

use super::loader::{Batches, Build, Loading};
use super::samples::{collate, Batch, Pad, Split, Standardize};
use super::Dataset;

/// One image of an epoch's order: which, and whether it is flipped left-right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub index: usize,
    pub flip: bool,
}

/// What a training batch does to each image and mask after the drawn flip: called with the
/// image's position in the epoch, the image `[C, H, W]` and the mask `[H, W]` in their kept
/// kinds; it must give every image of a batch one size.
pub type Prepare =
    Arc<dyn Fn(usize, Tensor, Tensor) -> anyhow::Result<(Tensor, Tensor)> + Send + Sync>;

/// A dataset's batches for one run.
#[derive(Clone, Debug)]
pub struct Feed {
    standardize: Standardize,
    loading: Loading,
    ignore: Option<i64>,
    batch: i64,
    /// Evaluation pads images whose sizes differ (or are not a multiple of this) to one.
    multiple: i64,
}

impl Feed {
    /// Batches of `batch` images of `data`; evaluation pads sizes to a multiple of
    /// `multiple` (the U-Net's) when images differ in size.
    pub fn new(data: &Dataset, batch: i64, multiple: i64) -> Feed {
        Feed {
            standardize: data.standardize(),
            loading: data.loading,
            ignore: data.ignore_index,
            batch: batch.max(1),
            multiple: multiple.max(1),
        }
    }

    /// The mask value that losses and metrics skip.
    pub fn ignore(&self) -> Option<i64> {
        self.ignore
    }

    /// `split`'s images in order, in batches of `batch` (the last one smaller): how every
    /// split is evaluated. Images of one size that the U-Net takes are stacked as they are;
    /// otherwise each batch is padded at the bottom and right to its largest image, rounded
    /// up to the U-Net's multiple, with zeros in the images and `ignore_index` in the masks.
    pub fn in_order(&self, split: &Split) -> Batches {
        let n = split.len();
        let starts: Vec<i64> = (0..n).step_by(self.batch as usize).collect();
        let starts_len = starts.len();
        let (split, batch) = (split.clone(), self.batch);
        let pad = self.padding(&split);
        let build: Build = Arc::new(move |k| {
            let start = starts[k];
            let pairs = (start..(start + batch).min(n))
                .map(|i| split.get(i as usize))
                .collect::<anyhow::Result<Vec<_>>>()?;
            collate(pairs, pad)
        });
        Batches::new(starts_len, build, self.loading)
    }

    /// The padding `split` needs for evaluation: none when its images share one size that
    /// is a multiple of the U-Net's.
    fn padding(&self, split: &Split) -> Option<Pad> {
        let fits = |(h, w): (i64, i64)| h % self.multiple == 0 && w % self.multiple == 0;
        match split.uniform_size() {
            Some(size) if fits(size) => None,
            _ => Some(Pad {
                multiple: self.multiple,
                ignore: self.ignore,
            }),
        }
    }

    /// The first `k` images of `split` as one batch, as [`Feed::in_order`] makes them.
    pub fn first(&self, split: &Split, k: i64) -> anyhow::Result<Batch> {
        let pairs = (0..k.min(split.len()) as usize)
            .map(|i| split.get(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        collate(pairs, self.padding(split))
    }

    /// An epoch of training batches: `items` in order, cut at `ranges` (`(start, length)`
    /// into `items`), each image flipped when its item says so, then given to `prepare`.
    pub fn epoch(
        &self,
        split: &Split,
        items: Vec<Item>,
        ranges: &[(i64, i64)],
        prepare: Option<Prepare>,
    ) -> Batches {
        let (split, ranges_owned) = (split.clone(), ranges.to_vec());
        let build: Build = Arc::new(move |k| {
            let (start, len) = ranges_owned[k];
            let pairs = (start..start + len)
                .map(|position| {
                    let item = items[position as usize];
                    let (mut image, mut mask) = split.get(item.index)?;
                    if item.flip {
                        image = image.flip([2]);
                        mask = mask.flip([1]);
                    }
                    match &prepare {
                        Some(prepare) => prepare(position as usize, image, mask),
                        None => Ok((image, mask)),
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            collate(pairs, None)
        });
        Batches::new(ranges.len(), build, self.loading)
    }

    /// A batch on `device`: the images as the network's `f32` input, the masks as `int64`
    /// classes.
    pub fn to_device(&self, batch: &Batch, device: Device) -> (Tensor, Tensor) {
        (
            self.standardize.input(&batch.images, device),
            batch.masks.to_device(device).to_kind(Kind::Int64),
        )
    }
}

/// A whole split as the network sees it, for tests: images `[N, C, H, W]` (`f32`,
/// standardised as the data are) and masks `[N, H, W]` (int64), on the CPU.
#[cfg(test)]
pub fn split_tensors(data: &Dataset, split: &Split) -> (Tensor, Tensor) {
    let feed = Feed::new(data, split.len().max(1), 1);
    let batch = feed.first(split, split.len()).expect("the split's images");
    feed.to_device(&batch, Device::Cpu)
}
