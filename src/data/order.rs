//! The order in which an epoch visits the training set, and which images it flips, drawn as
//! a PyTorch script draws them: with the same seed, lossbench and the script train on the
//! same batches.
//!
//! The script is `torch.manual_seed(s)`, the model, then once per epoch
//! `for x, y in DataLoader(train, batch_size=B, shuffle=True, num_workers=0)` over a
//! `Dataset` whose `__getitem__` flips an image and its mask together when
//! `torch.rand(1) < 0.5` (torchvision's `RandomHorizontalFlip`) if flips are on. In PyTorch
//! 2.x (`torch/utils/data/dataloader.py`, `sampler.py`) each epoch then draws, on the global
//! CPU generator, in this order:
//!
//! 1. `_BaseDataLoaderIter.__init__`'s base seed: `torch.empty((), dtype=torch.int64).random_()`;
//! 2. `RandomSampler.__iter__`'s seed, the same way (at the epoch's first batch);
//! 3. with flips, one `torch.rand(1)` per image as the batches fetch it.
//!
//! The epoch's order is `torch.randperm(n, generator=torch.Generator().manual_seed(seed))`
//! with the sampler's seed. ATen's CPU `randperm` (`aten/src/ATen/native/TensorFactories.cpp`,
//! for n below 2³²/20) starts from the identity and, for i in 0..n-1, swaps i with
//! i + `random() % (n - i)`, where `random()` is the next `u32` of the generator's MT19937
//! (`aten/src/ATen/core/CPUGeneratorImpl.cpp`), which `manual_seed` seeds with the seed's
//! low 32 bits by the reference `init_genrand`.
//!
//! [`draw`] takes the draws of 1-3 from libtorch's global generator itself (the one
//! `tch::manual_seed` seeds and weight initialisation draws from), every epoch's at once:
//! runs that train side by side in one process share that generator, so the caller draws
//! right after initialising, under the same lock. [`randperm`] replays step 2's permutation.

use anyhow::{bail, Context};
use tch::{Device, Kind, Tensor};

/// The probability with which an image is flipped (`RandomHorizontalFlip`'s default `p`).
const FLIP_P: f32 = 0.5;

/// ATen's CPU `randperm` shuffles as [`randperm`] does below this length and otherwise by
/// another algorithm, which lossbench does not replay.
const RANDPERM_SMALL: i64 = (u32::MAX / 20) as i64;

/// What one epoch draws from the global generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochDraws {
    /// `RandomSampler`'s seed: the epoch's order is [`randperm`]`(n, sampler_seed)`.
    pub sampler_seed: u64,
    /// For each image the epoch fetches, in the order fetched, whether it is flipped; empty
    /// without flips.
    pub flips: Vec<bool>,
}

impl EpochDraws {
    /// The epoch's image indices among `n` in the order visited, with `n` added to each
    /// flipped one (index `i + n` is image `i` flipped).
    pub fn order(&self, n: i64) -> anyhow::Result<Vec<i64>> {
        let mut order = randperm(n, self.sampler_seed)?;
        for (i, flip) in order.iter_mut().zip(&self.flips) {
            if *flip {
                *i += n;
            }
        }
        Ok(order)
    }
}

/// Draws from libtorch's global CPU generator what `epochs` epochs of a `DataLoader` with
/// `shuffle=True` draw (see the module's documentation), each epoch fetching `fetched`
/// images (all of them, or fewer with `drop_last`), with a flip draw per image when `flips`.
pub fn draw(epochs: usize, fetched: i64, flips: bool) -> anyhow::Result<Vec<EpochDraws>> {
    let int64 = || -> anyhow::Result<u64> {
        let value = Tensor::empty([0i64; 0], (Kind::Int64, Device::Cpu))
            .f_random_()
            .context("cannot draw from libtorch's generator")?
            .int64_value(&[]);
        // `random_()` on int64 draws from [0, 2⁶³ − 1].
        Ok(value as u64)
    };
    (0..epochs)
        .map(|_| {
            let _base_seed = int64()?;
            let sampler_seed = int64()?;
            let flips = if flips {
                let uniform = Tensor::f_rand([fetched], (Kind::Float, Device::Cpu))
                    .context("cannot draw from libtorch's generator")?;
                Vec::<f32>::try_from(&uniform)?
                    .into_iter()
                    .map(|u| u < FLIP_P)
                    .collect()
            } else {
                Vec::new()
            };
            Ok(EpochDraws {
                sampler_seed,
                flips,
            })
        })
        .collect()
}

/// `torch.randperm(n, generator=torch.Generator().manual_seed(seed))` on the CPU; `n` must
/// lie below 2³²/20 (ATen shuffles longer ones by another algorithm).
pub fn randperm(n: i64, seed: u64) -> anyhow::Result<Vec<i64>> {
    if !(0..RANDPERM_SMALL).contains(&n) {
        bail!("cannot replay torch.randperm of {n} images (at most {RANDPERM_SMALL})");
    }
    // `manual_seed` keeps the seed's low 32 bits for the MT19937 (init_with_uint32).
    let mut mt = rand_mt::Mt::new(seed as u32);
    let mut order: Vec<i64> = (0..n).collect();
    for i in 0..(n - 1).max(0) {
        let z = i64::from(mt.next_u32()) % (n - i);
        order.swap(i as usize, (i + z) as usize);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randperm_is_a_permutation_that_depends_on_the_seeds_low_32_bits() {
        let a = randperm(50, 7).expect("randperm");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, randperm(50, 8).expect("randperm"));
        assert_eq!(a, randperm(50, 7 + (1 << 32)).expect("randperm"));
        assert_eq!(randperm(1, 3).expect("one"), [0]);
        assert!(randperm(0, 3).expect("none").is_empty());
        assert!(randperm(RANDPERM_SMALL, 3).is_err());
    }

    #[test]
    fn torch_randperm_of_ten_with_seed_zero() {
        // torch.randperm(10, generator=torch.Generator().manual_seed(0)) in PyTorch 2.13.
        assert_eq!(
            randperm(10, 0).expect("randperm"),
            [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]
        );
    }

    // `draw` takes from libtorch's process-wide generator, which the tests beside this one
    // use too: tests/parity.rs checks it against PyTorch under a lock of its own.
    #[test]
    fn an_epochs_order_marks_the_flipped_images_by_adding_n() {
        let flips = vec![
            true, false, false, true, false, false, false, false, false, true,
        ];
        let draws = EpochDraws {
            sampler_seed: 0,
            flips: flips.clone(),
        };
        let order = draws.order(10).expect("order");
        let plain = randperm(10, 0).expect("randperm");
        for ((o, p), f) in order.iter().zip(&plain).zip(&flips) {
            assert_eq!(*o, p + if *f { 10 } else { 0 });
        }
        let unflipped = EpochDraws {
            flips: Vec::new(),
            ..draws
        };
        assert_eq!(unflipped.order(10).expect("order"), plain);
    }
}
