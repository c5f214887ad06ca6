//! A synthetic 7-class segmentation dataset generated in memory from a seed: RGB images of
//! textured shapes on a noisy background, no files needed.
//!
//! The image is tiled into 16×16 cells; each cell holds, with probability `fill`, one shape
//! whose class is drawn by `class_weights`. Classes are built to need both shape and texture:
//! discs and squares share a colour, the two triangle classes differ only in texture, and the
//! cross is small and rare by default. Every draw comes from a ChaCha RNG seeded by `seed`, so
//! the same configuration always gives the same tensors, however many threads generate them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::samples::{
    is_default_prefetch, is_default_workers, Cache, LabelKind, Pixels, Reader, Sample,
    DEFAULT_PREFETCH, DEFAULT_WORKERS, MAX_PREFETCH, MAX_WORKERS,
};
use super::{Dataset, Loading, Split};

/// The side of the square cell that holds at most one shape.
const CELL: i64 = 16;
/// The range of a shape's radius, as a share of half a cell.
const SCALE_RANGE: (f64, f64) = (0.55, 0.95);

/// Names of the classes, background first.
pub const CLASS_NAMES: [&str; 7] = [
    "background",
    "disc",
    "square",
    "striped_triangle",
    "checked_triangle",
    "ring",
    "cross",
];

/// The colours the report paints each class with.
pub const PALETTE: [[u8; 3]; 7] = [
    [40, 40, 40],
    [230, 85, 70],
    [250, 160, 60],
    [70, 120, 230],
    [140, 90, 220],
    [240, 220, 60],
    [60, 200, 90],
];

/// How to generate the synthetic data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    pub height: i64,
    pub width: i64,
    pub train_images: usize,
    pub val_images: usize,
    /// Images of a held-out test split (none by default), drawn from their own stream.
    #[serde(skip_serializing_if = "is_zero")]
    pub test_images: usize,
    /// Standard deviation of the Gaussian noise added to every pixel (images live in [0, 1]).
    pub noise: f64,
    /// The probability that a cell holds a shape.
    pub fill: f64,
    /// Relative frequency of the six shape classes (disc, square, striped triangle, checked
    /// triangle, ring, cross); the default makes the cross rare.
    pub class_weights: Vec<f64>,
    pub seed: u64,
    /// Keep the generated images in memory (`"memory"`), or generate each batch's images
    /// when it is built (`"none"`; each image has its own stream, so they are the same).
    #[serde(skip_serializing_if = "Cache::is_memory")]
    pub cache: Cache,
    /// Threads that build batches ahead of the training step; 0 builds each batch in the
    /// training thread.
    #[serde(skip_serializing_if = "is_default_workers")]
    pub workers: usize,
    /// Batches built ahead and waiting at most.
    #[serde(skip_serializing_if = "is_default_prefetch")]
    pub prefetch: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            height: 64,
            width: 64,
            train_images: 192,
            val_images: 48,
            test_images: 0,
            noise: 0.1,
            fill: 0.75,
            class_weights: vec![1.0, 1.0, 0.8, 0.8, 0.6, 0.12],
            seed: 0,
            cache: Cache::Memory,
            workers: DEFAULT_WORKERS,
            prefetch: DEFAULT_PREFETCH,
        }
    }
}

/// A synthetic configuration that cannot generate data.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyntheticError {
    #[error("must list 6 non-negative weights with a positive sum (one per shape class: disc, square, striped_triangle, checked_triangle, ring, cross), got {0:?}")]
    Weights(Vec<f64>),
    #[error("(and data.width) must be at least {CELL}, one shape cell, got {0}×{1}")]
    TooSmall(i64, i64),
    #[error("must lie in [0, 1], got {0}")]
    Fill(f64),
    #[error("must be finite and non-negative, got {0}")]
    Noise(f64),
    #[error("(and data.val_images) must be at least 1")]
    Empty,
    #[error("must be at most {MAX_WORKERS}, got {0}")]
    Workers(usize),
    #[error("must be 1..={MAX_PREFETCH} batches, got {0}")]
    Prefetch(usize),
}

impl SyntheticError {
    /// The key of `[data]` at fault.
    pub fn key(&self) -> &'static str {
        match self {
            SyntheticError::Weights(_) => "class_weights",
            SyntheticError::TooSmall(..) => "height",
            SyntheticError::Fill(_) => "fill",
            SyntheticError::Noise(_) => "noise",
            SyntheticError::Empty => "train_images",
            SyntheticError::Workers(_) => "workers",
            SyntheticError::Prefetch(_) => "prefetch",
        }
    }
}

/// Generates a split's images when a batch asks for them (`cache = "none"`).
#[derive(Debug)]
struct Generator {
    config: SyntheticConfig,
    split: u64,
    count: usize,
}

impl Reader for Generator {
    fn read(&self, index: usize) -> anyhow::Result<Sample> {
        if index >= self.count {
            anyhow::bail!("no image {index} in a split of {}", self.count);
        }
        Ok(self.config.sample(self.split, index))
    }
}

/// Whether a count is 0 (left out of the canonical form, so that configurations written
/// before test splits existed keep their run ids).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl SyntheticConfig {
    /// The keys that are unset by default (so absent from the serialised default).
    pub const OPTIONAL_KEYS: [&'static str; 4] = ["test_images", "cache", "workers", "prefetch"];

    /// Checks every field; the generator relies on these bounds.
    pub fn validate(&self) -> Result<(), SyntheticError> {
        let w = &self.class_weights;
        if w.len() != 6
            || w.iter().any(|x| !x.is_finite() || *x < 0.0)
            || w.iter().sum::<f64>() <= 0.0
        {
            return Err(SyntheticError::Weights(w.clone()));
        }
        if self.height < CELL || self.width < CELL {
            return Err(SyntheticError::TooSmall(self.height, self.width));
        }
        if !(0.0..=1.0).contains(&self.fill) {
            return Err(SyntheticError::Fill(self.fill));
        }
        if !self.noise.is_finite() || self.noise < 0.0 {
            return Err(SyntheticError::Noise(self.noise));
        }
        if self.train_images == 0 || self.val_images == 0 {
            return Err(SyntheticError::Empty);
        }
        if self.workers > MAX_WORKERS {
            return Err(SyntheticError::Workers(self.workers));
        }
        if !(1..=MAX_PREFETCH).contains(&self.prefetch) {
            return Err(SyntheticError::Prefetch(self.prefetch));
        }
        Ok(())
    }

    /// Generates the splits. Train, validation and test draw from separate streams of the
    /// seed, so adding a test split leaves the other two as they were.
    pub fn generate(&self) -> Result<Dataset, SyntheticError> {
        self.validate()?;
        let (train, train_class_counts) = self.split(self.train_images, 0);
        Ok(Dataset {
            train,
            val: self.split(self.val_images, 1).0,
            test: (self.test_images > 0).then(|| self.split(self.test_images, 2).0),
            class_names: CLASS_NAMES.map(String::from).to_vec(),
            palette: PALETTE.to_vec(),
            ignore_index: None,
            normalization: None,
            hflip: false,
            files: None,
            train_class_counts,
            loading: Loading {
                workers: self.workers,
                prefetch: self.prefetch,
            },
            augmentation: None,
        })
    }

    /// The expected share of pixels of each class (background first) under this
    /// configuration, from the mean rasterised area of each shape over its scale range.
    pub fn expected_frequencies(&self) -> Vec<f64> {
        let cells = (self.height / CELL) * (self.width / CELL);
        let total_weight: f64 = self.class_weights.iter().sum();
        let steps = 64;
        let mut freq = vec![0.0; CLASS_NAMES.len()];
        for (k, w) in self.class_weights.iter().enumerate() {
            let mean_area: f64 = (0..steps)
                .map(|i| {
                    let u = (i as f64 + 0.5) / steps as f64;
                    let scale = SCALE_RANGE.0 + u * (SCALE_RANGE.1 - SCALE_RANGE.0);
                    shape_area(k + 1, scale * CELL as f64 / 2.0) as f64
                })
                .sum::<f64>()
                / steps as f64;
            freq[k + 1] = self.fill * w / total_weight * mean_area * cells as f64
                / (self.height * self.width) as f64;
        }
        freq[0] = 1.0 - freq[1..].iter().sum::<f64>();
        freq
    }

    /// `count` images of split `split`, generated in parallel: image `i` draws from its own
    /// ChaCha stream `(split << 32) | i` of the seed, so the result does not depend on the
    /// order the threads run in.
    /// Also gives each image's pixels of each class.
    /// With `cache = "none"` the images are generated once here for the counts, then again
    /// batch by batch.
    fn split(&self, count: usize, split: u64) -> (Split, Vec<Vec<i64>>) {
        let classes = CLASS_NAMES.len();
        if self.cache == Cache::None {
            let counts = (0..count)
                .into_par_iter()
                .map(|i| self.sample(split, i).class_counts(classes))
                .collect();
            let generator = Generator {
                config: self.clone(),
                split,
                count,
            };
            let sizes = vec![(self.height, self.width); count];
            return (Split::files(Arc::new(generator), sizes, 3), counts);
        }
        let samples: Vec<Sample> = (0..count)
            .into_par_iter()
            .map(|i| self.sample(split, i))
            .collect();
        let counts = samples.iter().map(|s| s.class_counts(classes)).collect();
        (Split::memory(samples, 3), counts)
    }

    /// Image `i` of split `split` (0 train, 1 validation, 2 test), from its own stream.
    fn sample(&self, split: u64, i: usize) -> Sample {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream((split << 32) | i as u64);
        let (image, mask) = self.image(&mut rng);
        Sample {
            pixels: Pixels::F32(image),
            labels: LabelKind::holding(CLASS_NAMES.len() as i64, None).keep(&mask),
            channels: 3,
            height: self.height,
            width: self.width,
        }
    }

    /// One image `[3, H, W]` (row-major) and its mask `[H, W]`.
    fn image(&self, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<i64>) {
        let (h, w) = (self.height as usize, self.width as usize);
        let mut mask = vec![0i64; h * w];
        let mut rgb = vec![[0.0f64; 3]; h * w];

        // Background: a grey with a random tint and a linear gradient.
        let tint: [f64; 3] = std::array::from_fn(|_| 0.45 + rng.random_range(-0.1..0.1));
        let (gx, gy) = (rng.random_range(-0.15..0.15), rng.random_range(-0.15..0.15));
        for y in 0..h {
            for x in 0..w {
                let ramp = gx * (x as f64 / w as f64 - 0.5) + gy * (y as f64 / h as f64 - 0.5);
                rgb[y * w + x] = tint.map(|t| t + ramp);
            }
        }

        let total_weight: f64 = self.class_weights.iter().sum();
        for cy in 0..(self.height / CELL) as usize {
            for cx in 0..(self.width / CELL) as usize {
                if rng.random::<f64>() >= self.fill {
                    continue;
                }
                let class = pick(&self.class_weights, total_weight, rng.random::<f64>());
                let scale = rng.random_range(SCALE_RANGE.0..SCALE_RANGE.1);
                let radius = scale * CELL as f64 / 2.0;
                let slack = CELL as f64 / 2.0 - radius;
                let centre = (
                    (cx as i64 * CELL) as f64
                        + CELL as f64 / 2.0
                        + rng.random_range(-slack..=slack),
                    (cy as i64 * CELL) as f64
                        + CELL as f64 / 2.0
                        + rng.random_range(-slack..=slack),
                );
                let jitter: [f64; 3] = std::array::from_fn(|_| rng.random_range(-0.08..0.08));
                let x0 = cx * CELL as usize;
                let y0 = cy * CELL as usize;
                for y in y0..y0 + CELL as usize {
                    for x in x0..x0 + CELL as usize {
                        let (dx, dy) = (x as f64 + 0.5 - centre.0, y as f64 + 0.5 - centre.1);
                        if inside(class, dx, dy, radius) {
                            mask[y * w + x] = class as i64;
                            let base = colour(class, x, y);
                            rgb[y * w + x] = std::array::from_fn(|c| base[c] + jitter[c]);
                        }
                    }
                }
            }
        }

        let mut planar = vec![0.0f32; 3 * h * w];
        for (i, px) in rgb.iter().enumerate() {
            for c in 0..3 {
                let noisy = px[c] + self.noise * gaussian(rng);
                planar[c * h * w + i] = noisy.clamp(0.0, 1.0) as f32;
            }
        }
        (planar, mask)
    }
}

/// The class (1-based) whose cumulative weight covers `u * total`.
fn pick(weights: &[f64], total: f64, u: f64) -> usize {
    let mut acc = 0.0;
    for (k, w) in weights.iter().enumerate() {
        acc += w;
        if u * total < acc {
            return k + 1;
        }
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0) + 1
}

/// Whether the pixel at offset `(dx, dy)` from a shape's centre lies inside it.
fn inside(class: usize, dx: f64, dy: f64, r: f64) -> bool {
    let d2 = dx * dx + dy * dy;
    match class {
        1 => d2 <= r * r,
        2 => dx.abs() <= 0.8 * r && dy.abs() <= 0.8 * r,
        3 | 4 => dy.abs() <= r && dx.abs() <= 0.5 * (dy + r),
        5 => d2 <= r * r && d2 >= (0.55 * r) * (0.55 * r),
        6 => {
            let arm = 0.28 * r;
            (dx.abs() <= arm && dy.abs() <= r) || (dy.abs() <= arm && dx.abs() <= r)
        }
        _ => false,
    }
}

/// The colour of a class at a pixel, textures included.
fn colour(class: usize, x: usize, y: usize) -> [f64; 3] {
    match class {
        1 | 2 => [0.85, 0.3, 0.25],
        3 => {
            let k = if (y / 2).is_multiple_of(2) { 1.0 } else { 0.55 };
            [0.25 * k, 0.45 * k, 0.85 * k]
        }
        4 => {
            let k = if (x / 2 + y / 2).is_multiple_of(2) {
                1.0
            } else {
                0.55
            };
            [0.25 * k, 0.45 * k, 0.85 * k]
        }
        5 => [0.9, 0.8, 0.2],
        _ => [0.3, 0.8, 0.35],
    }
}

/// The number of pixels a centred shape of radius `r` covers in one cell.
fn shape_area(class: usize, r: f64) -> usize {
    let half = CELL as f64 / 2.0;
    (0..CELL * CELL)
        .filter(|i| {
            let (x, y) = (
                (i % CELL) as f64 + 0.5 - half,
                (i / CELL) as f64 + 0.5 - half,
            );
            inside(class, x, y, r)
        })
        .count()
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn frequencies(masks: &tch::Tensor, classes: i64) -> Vec<f64> {
        let counts = masks.reshape([-1]).bincount::<tch::Tensor>(None, classes);
        let counts = Vec::<i64>::try_from(&counts).expect("counts");
        let total: i64 = counts.iter().sum();
        counts.iter().map(|c| *c as f64 / total as f64).collect()
    }

    #[test]
    fn same_seed_gives_identical_tensors() {
        let config = SyntheticConfig {
            height: 32,
            width: 32,
            train_images: 8,
            val_images: 4,
            ..Default::default()
        };
        let a = config.generate().expect("data");
        let b = config.generate().expect("data");
        assert!(crate::data::feed::split_tensors(&a, &a.train)
            .0
            .equal(&crate::data::feed::split_tensors(&b, &b.train).0));
        assert!(crate::data::feed::split_tensors(&a, &a.train)
            .1
            .equal(&crate::data::feed::split_tensors(&b, &b.train).1));
        assert!(crate::data::feed::split_tensors(&a, &a.val)
            .0
            .equal(&crate::data::feed::split_tensors(&b, &b.val).0));
        let other = SyntheticConfig { seed: 1, ..config }
            .generate()
            .expect("data");
        assert!(!crate::data::feed::split_tensors(&a, &a.train)
            .0
            .equal(&crate::data::feed::split_tensors(&other, &other.train).0));
    }

    #[test]
    fn tensors_have_the_configured_shapes_and_range() {
        let config = SyntheticConfig {
            height: 32,
            width: 48,
            train_images: 5,
            val_images: 3,
            ..Default::default()
        };
        let d = config.generate().expect("data");
        assert_eq!(
            crate::data::feed::split_tensors(&d, &d.train).0.size(),
            [5, 3, 32, 48]
        );
        assert_eq!(
            crate::data::feed::split_tensors(&d, &d.val).1.size(),
            [3, 32, 48]
        );
        assert_eq!(
            crate::data::feed::split_tensors(&d, &d.train).1.kind(),
            Kind::Int64
        );
        assert!(
            crate::data::feed::split_tensors(&d, &d.train)
                .0
                .min()
                .double_value(&[])
                >= 0.0
        );
        assert!(
            crate::data::feed::split_tensors(&d, &d.train)
                .0
                .max()
                .double_value(&[])
                <= 1.0
        );
    }

    #[test]
    fn class_pixel_frequencies_follow_the_configuration() {
        let config = SyntheticConfig {
            height: 32,
            width: 32,
            train_images: 2000,
            val_images: 1,
            ..Default::default()
        };
        let d = config.generate().expect("data");
        let seen = frequencies(&crate::data::feed::split_tensors(&d, &d.train).1, 7);
        let expected = config.expected_frequencies();
        for (k, (s, e)) in seen.iter().zip(&expected).enumerate() {
            let tolerance = if k == 6 { 0.25 } else { 0.1 };
            assert!(
                (s - e).abs() <= tolerance * e,
                "class {k}: seen {s:.4}, expected {e:.4}"
            );
        }
        // The cross is the rare class: under 2% of pixels, fewer than any other class.
        assert!(seen[6] < 0.02, "{seen:?}");
        assert!(seen[1..6].iter().all(|f| *f > 3.0 * seen[6]), "{seen:?}");
    }

    #[test]
    fn zero_weight_class_never_appears() {
        let config = SyntheticConfig {
            height: 32,
            width: 32,
            train_images: 200,
            val_images: 1,
            class_weights: vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0],
            ..Default::default()
        };
        let data = config.generate().expect("data");
        let seen = frequencies(&crate::data::feed::split_tensors(&data, &data.train).1, 7);
        assert_eq!(seen[2], 0.0);
        assert!(seen[1] > 0.0);
    }

    #[test]
    fn bad_weights_are_refused() {
        let config = SyntheticConfig {
            class_weights: vec![1.0, 2.0],
            ..Default::default()
        };
        assert!(matches!(config.validate(), Err(SyntheticError::Weights(_))));
    }

    #[test]
    fn test_images_add_a_test_split_of_its_own_stream_and_leave_the_others_and_the_run_id() {
        let config = SyntheticConfig {
            height: 32,
            width: 32,
            train_images: 8,
            val_images: 4,
            ..Default::default()
        };
        let plain = config.generate().expect("data");
        assert!(plain.test.is_none());
        let with_test = SyntheticConfig {
            test_images: 5,
            ..config.clone()
        };
        let data = with_test.generate().expect("data");
        let test = crate::data::feed::split_tensors(&data, data.test.as_ref().expect("a test")).0;
        assert_eq!(test.size(), [5, 3, 32, 32]);
        assert!(crate::data::feed::split_tensors(&data, &data.train)
            .0
            .equal(&crate::data::feed::split_tensors(&plain, &plain.train).0));
        assert!(crate::data::feed::split_tensors(&data, &data.val)
            .0
            .equal(&crate::data::feed::split_tensors(&plain, &plain.val).0));
        assert!(!test
            .narrow(0, 0, 4)
            .equal(&crate::data::feed::split_tensors(&data, &data.val).0));
        // Configurations without a test split keep their canonical form (and run ids).
        let text = serde_json::to_string(&config).expect("json");
        assert!(!text.contains("test_images"), "{text}");
        assert!(serde_json::to_string(&with_test)
            .expect("json")
            .contains("\"test_images\":5"));
    }
}
