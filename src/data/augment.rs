//! Data augmentation of training batches, as users of torchvision.transforms.v2 and
//! albumentations write it: a random resized crop or a random rescale and crop to
//! `data.crop`, flips, quarter turns, rotations and colour jitter, drawn per sample from
//! the sample's own generator and applied to an image and its mask alike.
//!
//! [`AugmentConfig`] is the `[data.augment]` table; [`AugmentConfig::draw`] draws one
//! sample's parameters ([`Draw`]) from a `rand` generator only, so a sample's augmentation
//! depends on its seed and nothing else; [`AugmentConfig::apply`] applies them with the
//! libtorch operations torchvision.transforms.v2.functional uses, so an image comes out as
//! torchvision makes it from the same parameters (`tests/augment.rs` compares the two).

#[cfg(test)]
mod apply_tests;
mod color;
mod ops;
mod rotate;
#[cfg(test)]
mod tests;
mod validate;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// The generator of the sample at `position` of epoch `epoch` (1-based) of a run seeded
/// `seed`: ChaCha8 on stream `epoch << 32 | position` of the seed, so a sample's draw
/// depends on nothing else (not on the worker that builds its batch, nor on a resume).
pub fn sample_rng(seed: u64, epoch: usize, position: usize) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((epoch as u64) << 32) | position as u64);
    rng
}

/// The `[data.augment]` table: what is drawn for each training sample. Every key but
/// `split` and `pad` is optional; an unset one draws nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Which split's batches are augmented: must be the training split (`"train"` by
    /// default); the caller checks it names data.train.
    pub split: String,
    /// torchvision's RandomResizedCrop to data.crop: `{ scale = [0.08, 1.0], ratio =
    /// [0.75, 1.3333333] }` (both optional, those defaults), always applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resized_crop: Option<ResizedCrop>,
    /// Random rescale by a factor drawn uniformly in `[lo, hi]` (aspect kept;
    /// mmsegmentation's RandomResize `ratio_range`), then a random crop to data.crop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<[f64; 2]>,
    /// Probability of a left-right flip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hflip: Option<f64>,
    /// Probability of an up-down flip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vflip: Option<f64>,
    /// Probability of a turn by k×90° counter-clockwise, k uniform in {1, 2, 3}.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate90: Option<f64>,
    /// A rotation by an angle drawn uniformly in a range, as torchvision's RandomRotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate: Option<Rotate>,
    /// Colour jitter, as torchvision's ColorJitter without hue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Pad images smaller than data.crop at the bottom and right (image with 0, mask with
    /// ignore_index), as mmsegmentation's RandomCrop and Pad. Default true.
    pub pad: bool,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            split: "train".into(),
            resized_crop: None,
            scale: None,
            hflip: None,
            vflip: None,
            rotate90: None,
            rotate: None,
            jitter: None,
            pad: true,
        }
    }
}

/// torchvision's RandomResizedCrop: the share of the image's area a crop covers and its
/// aspect ratio (width / height), each drawn in a range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResizedCrop {
    /// Range of the crop's share of the image's area, `0 < lo <= hi <= 1`.
    pub scale: [f64; 2],
    /// Range of the crop's aspect ratio (width / height), drawn log-uniformly, `0 < lo <= hi`.
    pub ratio: [f64; 2],
}

impl Default for ResizedCrop {
    fn default() -> Self {
        ResizedCrop {
            scale: [0.08, 1.0],
            ratio: [3.0 / 4.0, 4.0 / 3.0],
        }
    }
}

/// A range written as one number or as a pair `[lo, hi]`; what the number means is the
/// key's (`d` is `[-d, d]` for degrees, `b` is `[max(0, 1 - b), 1 + b]` for jitter).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Range {
    /// One number.
    Value(f64),
    /// `[lo, hi]`.
    Pair([f64; 2]),
}

impl Range {
    /// The range `[-d, d]` of a number `d`, or the pair.
    fn around_zero(self) -> [f64; 2] {
        match self {
            Range::Value(d) => [-d, d],
            Range::Pair(p) => p,
        }
    }

    /// The range `[max(0, 1 - b), 1 + b]` of a number `b`, or the pair (ColorJitter's).
    fn around_one(self) -> [f64; 2] {
        match self {
            Range::Value(b) => [(1.0 - b).max(0.0), 1.0 + b],
            Range::Pair(p) => p,
        }
    }
}

/// How a rotation samples the image (masks are always sampled nearest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// The nearest source pixel (torchvision's default for rotations).
    #[default]
    Nearest,
    /// Bilinear between the four nearest source pixels.
    Bilinear,
}

/// `rotate`: torchvision's RandomRotation (expand = false, about the centre, fill 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotate {
    /// Range of the angle in degrees, counter-clockwise: `[lo, hi]` within [-180, 180], or
    /// `d` meaning `[-d, d]`. Default `[-10, 10]`.
    pub degrees: Range,
    /// Probability of a rotation. Default 1.
    pub p: f64,
    /// How images are sampled: `"nearest"` (default) or `"bilinear"`.
    pub interpolation: Interpolation,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate {
            degrees: Range::Pair([-10.0, 10.0]),
            p: 1.0,
            interpolation: Interpolation::Nearest,
        }
    }
}

/// `jitter`: torchvision's ColorJitter without hue. Each factor is a number `b >= 0`
/// meaning `[max(0, 1 - b), 1 + b]` or a pair `[lo, hi]` with `0 <= lo <= hi`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jitter {
    /// Range of the brightness factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brightness: Option<Range>,
    /// Range of the contrast factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contrast: Option<Range>,
    /// Range of the saturation factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Range>,
    /// Probability of jittering. Default 1.
    pub p: f64,
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter {
            brightness: None,
            contrast: None,
            saturation: None,
            p: 1.0,
        }
    }
}

impl Jitter {
    /// ColorJitter's draw: a random order of the three adjustments, then each set factor
    /// uniformly in its range (brightness, contrast, saturation, in that order).
    fn draw(&self, rng: &mut impl Rng) -> Vec<(ColorOp, f64)> {
        let mut order = [ColorOp::Brightness, ColorOp::Contrast, ColorOp::Saturation];
        order.shuffle(rng);
        let mut factor = |r: Option<Range>| r.map(|r| uniform(rng, r.around_one()));
        let (b, c, s) = (
            factor(self.brightness),
            factor(self.contrast),
            factor(self.saturation),
        );
        order
            .into_iter()
            .filter_map(|op| {
                let f = match op {
                    ColorOp::Brightness => b,
                    ColorOp::Contrast => c,
                    ColorOp::Saturation => s,
                };
                f.map(|f| (op, f))
            })
            .collect()
    }
}

/// One sample's augmentation: the parameters [`AugmentConfig::draw`] drew, applied by
/// [`AugmentConfig::apply`] in the order of the fields. The default draws nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draw {
    /// The crop, resize and padding that give the output its size.
    pub geometry: Option<Geometry>,
    /// Flip left-right.
    pub hflip: bool,
    /// Flip up-down.
    pub vflip: bool,
    /// Quarter turns counter-clockwise, 0 to 3 (`torch.rot90(x, k, dims=[-2, -1])`).
    pub rot90: i64,
    /// A rotation about the centre.
    pub rotate: Option<Rotation>,
    /// Colour adjustments in the order they are applied, each with its factor.
    pub color: Vec<(ColorOp, f64)>,
}

/// How the output is cut from the image.
#[derive(Clone, Debug, PartialEq)]
pub enum Geometry {
    /// torchvision's `resized_crop`: the region (`top`, `left`, `height`, `width`) of the
    /// image, which lies inside it, resized to `size` (height, width).
    ResizedCrop {
        top: i64,
        left: i64,
        height: i64,
        width: i64,
        size: (i64, i64),
    },
    /// The whole image resized to `scaled` (height, width; the image's own size for a
    /// plain crop), then the region of `size` at (`top`, `left`); where `scaled` is
    /// smaller than `size` the offset is 0 and the bottom or right is padded.
    ScaledCrop {
        scaled: (i64, i64),
        top: i64,
        left: i64,
        size: (i64, i64),
    },
}

/// A rotation: torchvision's `rotate(angle, interpolation, expand=False, fill=0)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rotation {
    /// Degrees counter-clockwise.
    pub degrees: f64,
    /// How the image is sampled (masks: nearest).
    pub interpolation: Interpolation,
}

/// A colour adjustment of torchvision.transforms.v2.functional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorOp {
    /// `adjust_brightness`.
    Brightness,
    /// `adjust_contrast`.
    Contrast,
    /// `adjust_saturation`.
    Saturation,
}

/// `true` with probability `p`; draws nothing when `p` is 0 or 1 (or not a number).
fn coin(rng: &mut impl Rng, p: f64) -> bool {
    if p >= 1.0 {
        true
    } else if p > 0.0 {
        rng.random::<f64>() < p
    } else {
        false
    }
}

/// A number drawn uniformly in `[lo, hi)` (`lo` when they are equal).
fn uniform(rng: &mut impl Rng, [lo, hi]: [f64; 2]) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// An integer drawn uniformly in `0..=n` (0 when `n` is negative).
fn offset(rng: &mut impl Rng, n: i64) -> i64 {
    rng.random_range(0..=n.max(0))
}

/// A side scaled by `f`, rounded half up as mmcv's `rescale_size`, at least 1.
fn scaled_side(side: i64, f: f64) -> i64 {
    ((side as f64 * f + 0.5).floor() as i64).max(1)
}

/// torchvision's `RandomResizedCrop.make_params` on an image of `h`×`w`, with `rng`:
/// (top, left, height, width).
fn resized_crop_region(
    rng: &mut impl Rng,
    rc: &ResizedCrop,
    (h, w): (i64, i64),
) -> (i64, i64, i64, i64) {
    let area = (h * w) as f64;
    let log_ratio = [rc.ratio[0].ln(), rc.ratio[1].ln()];
    for _ in 0..10 {
        let target_area = area * uniform(rng, rc.scale);
        let aspect = uniform(rng, log_ratio).exp();
        // Python's round: half to even.
        let cw = (target_area * aspect).sqrt().round_ties_even() as i64;
        let ch = (target_area / aspect).sqrt().round_ties_even() as i64;
        if 0 < cw && cw <= w && 0 < ch && ch <= h {
            let top = offset(rng, h - ch);
            let left = offset(rng, w - cw);
            return (top, left, ch, cw);
        }
    }
    // The fallback: the central crop of the largest region whose ratio is in range.
    let in_ratio = w as f64 / h as f64;
    let (lo, hi) = (rc.ratio[0].min(rc.ratio[1]), rc.ratio[0].max(rc.ratio[1]));
    let (ch, cw) = if in_ratio < lo {
        ((w as f64 / lo).round_ties_even() as i64, w)
    } else if in_ratio > hi {
        (h, (h as f64 * hi).round_ties_even() as i64)
    } else {
        (h, w)
    };
    ((h - ch).div_euclid(2), (w - cw).div_euclid(2), ch, cw)
}

/// The keys of `[data.augment]` that are unset by default.
pub const OPTIONAL_KEYS: [&str; 7] = [
    "resized_crop",
    "scale",
    "hflip",
    "vflip",
    "rotate90",
    "rotate",
    "jitter",
];

impl AugmentConfig {
    /// Whether nothing at all is drawn: no operation is set, or none can happen (every
    /// probability 0). A random crop to data.crop is still drawn when data.crop is set.
    pub fn is_identity(&self) -> bool {
        let never = |p: Option<f64>| p.is_none_or(|p| p == 0.0);
        self.resized_crop.is_none()
            && self.scale.is_none()
            && never(self.hflip)
            && never(self.vflip)
            && never(self.rotate90)
            && never(self.rotate.as_ref().map(|r| r.p))
            && never(self.jitter.as_ref().map(|j| j.p))
    }

    /// Whether masks may get pixels with no source, filled with ignore_index: with
    /// `rotate`, or with `pad` and a crop (the caller then needs data.ignore_index).
    pub fn fills_masks(&self, crop: Option<[u32; 2]>) -> bool {
        self.rotate.is_some() || (self.pad && crop.is_some())
    }

    /// One sample's parameters, drawn from `rng` alone, for an image of `size` (height,
    /// width) and the crop size `crop` (data.crop). Without `crop`, a resized crop keeps
    /// the image's size and a rescale is not cropped.
    pub fn draw(&self, rng: &mut impl Rng, size: (i64, i64), crop: Option<(i64, i64)>) -> Draw {
        let geometry = self.draw_geometry(rng, size, crop);
        let hflip = self.hflip.is_some_and(|p| coin(rng, p));
        let vflip = self.vflip.is_some_and(|p| coin(rng, p));
        let rot90 = match self.rotate90 {
            Some(p) if coin(rng, p) => rng.random_range(1..=3),
            _ => 0,
        };
        let rotate = match &self.rotate {
            Some(r) if coin(rng, r.p) => Some(Rotation {
                degrees: uniform(rng, r.degrees.around_zero()),
                interpolation: r.interpolation,
            }),
            _ => None,
        };
        let color = match &self.jitter {
            Some(j) if coin(rng, j.p) => j.draw(rng),
            _ => Vec::new(),
        };
        Draw {
            geometry,
            hflip,
            vflip,
            rot90,
            rotate,
            color,
        }
    }

    /// The crop of [`AugmentConfig::draw`]: a resized crop, or a rescale then a crop, or a
    /// plain crop, or none.
    fn draw_geometry(
        &self,
        rng: &mut impl Rng,
        size: (i64, i64),
        crop: Option<(i64, i64)>,
    ) -> Option<Geometry> {
        if let Some(rc) = &self.resized_crop {
            let (top, left, height, width) = resized_crop_region(rng, rc, size);
            return Some(Geometry::ResizedCrop {
                top,
                left,
                height,
                width,
                size: crop.unwrap_or(size),
            });
        }
        let scaled = match self.scale {
            Some(range) => {
                let f = uniform(rng, range);
                (scaled_side(size.0, f), scaled_side(size.1, f))
            }
            None if crop.is_some() => size,
            None => return None,
        };
        let out = crop.unwrap_or(scaled);
        let top = offset(rng, scaled.0 - out.0);
        let left = offset(rng, scaled.1 - out.1);
        Some(Geometry::ScaledCrop {
            scaled,
            top,
            left,
            size: out,
        })
    }

    /// Applies `draw` to `image` (`[C, H, W]` on the CPU: Uint8; Int16 holding the bits of
    /// u16; or Float in [0, 1]) and its `mask` (`[H, W]`: Uint8, Int16 or Int32 class
    /// indices). Returns both in their own kinds, of the drawn crop's size. Mask pixels
    /// with no source (padding, the corners of a rotation) get `ignore`; without it, such
    /// a draw is an error.
    pub fn apply(
        &self,
        draw: &Draw,
        image: &Tensor,
        mask: &Tensor,
        ignore: Option<i64>,
    ) -> anyhow::Result<(Tensor, Tensor)> {
        ops::apply(draw, image, mask, ignore, self.pad)
    }
}
