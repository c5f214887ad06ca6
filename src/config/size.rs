//! Estimates the memory a run's sizes need before anything is allocated, and refuses a
//! configuration that cannot fit in this machine's memory.
//!
//! Three parts, each a lower bound worked out in `u128` with checked arithmetic (a product
//! too large even for that counts as too large): the dataset's tensors (every image as f32,
//! every mask as i64), the model's weights with their gradients and the optimizer's state,
//! and the activations one batch leaves for the backward pass (the output of every
//! convolution, norm, upsampling and concatenation of the U-Net). A configuration is
//! refused only when the sum exceeds the whole memory of the machine (`MemTotal`), so an
//! ordinary configuration never comes near the limit; the message states each product. A
//! CUDA run is also weighed against its GPU's free memory, with CUDA's own share added.

use std::sync::OnceLock;

use super::{Optimizer, Precision, RunConfig};
use crate::data::{Cache, DataConfig};
use crate::device::Request;

/// A configuration too large for this machine: the key to blame, what it needs, the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct TooLarge {
    /// The dotted key whose value the error is located at.
    pub key: &'static str,
    pub message: String,
    pub fix: String,
}

/// The memory of this machine in bytes: `MemTotal` of `/proc/meminfo`, else the physical
/// pages `sysconf` counts; `None` when neither can be read (then only products too large
/// for any machine are refused).
pub fn machine_memory() -> Option<u128> {
    static MEMORY: OnceLock<Option<u128>> = OnceLock::new();
    *MEMORY.get_or_init(|| meminfo_total().or_else(sysconf_total))
}

fn meminfo_total() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    mem_total(&text)
}

/// `MemTotal: N kB` of a `/proc/meminfo` text, in bytes.
fn mem_total(text: &str) -> Option<u128> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let n: u128 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

fn sysconf_total() -> Option<u128> {
    // SAFETY: sysconf only reads system constants.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let (pages, size) = (u128::try_from(pages).ok()?, u128::try_from(size).ok()?);
    pages.checked_mul(size).filter(|&b| b > 0)
}

/// Checks that `config` fits in this machine's memory and, for a CUDA run, in the free
/// memory of its GPU (when that GPU is visible here: a sweep for a cluster is planned
/// anywhere, and the device check says why a GPU is missing).
pub fn check(config: &RunConfig) -> Result<(), TooLarge> {
    check_within(config, machine_memory())?;
    let index = match Request::parse(&config.device) {
        Ok(Request::Cuda(index)) => index.unwrap_or(0),
        Ok(Request::Auto) => 0,
        _ => return Ok(()),
    };
    match crate::device::free_memory(index) {
        Some(free) => check_on_gpu(config, free, &format!("cuda:{index}")),
        None => Ok(()),
    }
}

/// [`check`] against `memory` bytes (`None`: unknown, only overflowing products refused).
pub fn check_within(config: &RunConfig, memory: Option<u128>) -> Result<(), TooLarge> {
    let have = memory.map(|m| format!("this machine has {}", bytes(Some(m))));
    fits(config, &parts(config), memory, have)
}

/// What CUDA itself holds on a GPU before a run allocates: its context, cuDNN's and
/// cuBLAS' handles and workspaces (a lower bound: about 500 MiB on recent GPUs).
pub const CUDA_CONTEXT: u128 = 512 << 20;

/// [`check`] on a GPU with `free` bytes free: the run's weights, gradients and optimizer
/// state, one batch's activations and [`CUDA_CONTEXT`] (the data stay in the host's memory;
/// only the batch in hand is on the GPU, counted with its activations).
pub fn check_on_gpu(config: &RunConfig, free: u128, device: &str) -> Result<(), TooLarge> {
    let have = format!("{device} has {} free", bytes(Some(free)));
    fits(config, &gpu_parts(config), Some(free), Some(have))
}

/// The bytes one run of `config` holds on its GPU beside the others ([`check_on_gpu`]'s
/// parts but CUDA's context, which the runs of one process share); `None` when the
/// product overflows.
pub fn gpu_bytes(config: &RunConfig) -> Option<u128> {
    on_gpu(parts(config))
        .iter()
        .try_fold(0u128, |sum, p| p.bytes.and_then(|b| sum.checked_add(b)))
}

/// What to add to libtorch's "CUDA out of memory" for a run of `config` on `device`, whose
/// GPU has `total` bytes: this estimate, part by part, and what to lower.
pub fn out_of_memory(config: &RunConfig, device: &str, total: Option<u128>) -> String {
    let parts = gpu_parts(config);
    let detail: Vec<String> = parts
        .iter()
        .map(|p| format!("{} {}", p.what, bytes(p.bytes)))
        .collect();
    let estimate = parts
        .iter()
        .try_fold(0u128, |sum, p| p.bytes.and_then(|b| sum.checked_add(b)));
    let has = total.map_or_else(String::new, |t| {
        format!(" of the {} it has", bytes(Some(t)))
    });
    format!(
        "lossbench estimated this run at {} on {device}{has} ({}); the rest was taken by \
         the runs beside it, other processes or libtorch's cache: lower train.batch_size, \
         set train.precision = \"bf16\", or train fewer runs at a time (--jobs)",
        bytes(estimate),
        detail.join(", ")
    )
}

/// The parts a GPU holds: all but the data.
fn on_gpu(parts: Vec<Part>) -> Vec<Part> {
    parts
        .into_iter()
        .filter(|p| !matches!(p.product, Product::Data { .. }))
        .collect()
}

fn gpu_parts(config: &RunConfig) -> Vec<Part> {
    let mut parts = on_gpu(parts(config));
    parts.push(Part {
        what: "CUDA's context and workspaces",
        key: "device",
        product: Product::Context,
        bytes: Some(CUDA_CONTEXT),
        fix: "free the GPU (nvidia-smi lists what holds it) or use another",
    });
    parts
}

/// Whether `parts` fit in `memory`; else the error blaming the largest, saying what `have`.
fn fits(
    config: &RunConfig,
    parts: &[Part],
    memory: Option<u128>,
    have: Option<String>,
) -> Result<(), TooLarge> {
    let total = parts
        .iter()
        .try_fold(0u128, |sum, p| p.bytes.and_then(|b| sum.checked_add(b)));
    let fits = match (total, memory) {
        (Some(total), Some(memory)) => total <= memory,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if fits {
        return Ok(());
    }
    // The largest part is the one to blame (a part that overflowed is the largest).
    let Some(worst) = parts.iter().max_by_key(|p| p.bytes.unwrap_or(u128::MAX)) else {
        return Ok(());
    };
    let have = have.unwrap_or_else(|| "more than any machine has".to_string());
    let needs = match total {
        Some(_) => format!("at least {}", bytes(total)),
        None => bytes(None),
    };
    let detail: Vec<String> = parts
        .iter()
        .map(|p| format!("{} {} ({})", p.what, bytes(p.bytes), p.product))
        .collect();
    Err(TooLarge {
        key: worst.key,
        message: format!(
            "{} needs {needs}, {have}: {}",
            lead(config, worst.key),
            detail.join("; ")
        ),
        fix: worst.fix.to_string(),
    })
}

/// The setting blamed, with its value: `data.height × data.width = 100000 × 100000`.
fn lead(config: &RunConfig, key: &str) -> String {
    let model = &config.model;
    match (&config.data, key) {
        (DataConfig::Synthetic(s), "data.height") => {
            format!("data.height × data.width = {} × {}", s.height, s.width)
        }
        (DataConfig::Folder(f), "data.resize") => {
            format!("{key} = {:?}", f.resize.unwrap_or_default())
        }
        (DataConfig::Folder(f), "data.crop") => format!("{key} = {:?}", f.crop.unwrap_or_default()),
        (_, "train.batch_size") => format!("{key} = {}", config.train.batch_size),
        (_, "device") => format!("{key} = {:?}", config.device),
        _ => format!(
            "model.base_channels = {} at model.depth = {}",
            model.base_channels, model.depth
        ),
    }
}

/// One part of the estimate.
#[derive(Debug, Clone)]
struct Part {
    /// What it is, e.g. `the images and masks`.
    what: &'static str,
    /// The key the error is located at when this part is the largest.
    key: &'static str,
    /// The numbers it multiplies, written out only for the message.
    product: Product,
    /// `None` when the product overflows `u128`.
    bytes: Option<u128>,
    fix: &'static str,
}

/// The factors of a part, as the message writes them.
#[derive(Debug, Clone)]
enum Product {
    Model {
        parameters: Option<u128>,
        base: u128,
        depth: usize,
        copies: u128,
        state: &'static str,
    },
    Data {
        at_least: bool,
        /// Images held: the splits' (`train + val`), or with `data.cache = "none"` the
        /// batches built ahead (`batches × batch`).
        held: Held,
        height: u128,
        width: u128,
        channels: u128,
        /// Bytes of a channel as kept: 1 for 8-bit files, 4 for generated floats.
        channel_bytes: u128,
    },
    Batch {
        at_least: bool,
        images: u128,
        values: Option<u128>,
        /// Bytes a value: 4 in fp32, 2 under bf16 or fp16 autocast.
        value_bytes: u128,
    },
    /// CUDA's own share of a GPU ([`CUDA_CONTEXT`]).
    Context,
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let least = |yes: bool| if yes { "at least " } else { "" };
        match self {
            Product::Model {
                parameters,
                base,
                depth,
                copies,
                state,
            } => write!(
                f,
                "{} parameters (model.base_channels = {base}, model.depth = {depth}) × {copies} × 4 bytes: {state}",
                count(*parameters)
            ),
            Product::Data {
                at_least,
                held,
                height,
                width,
                channels,
                channel_bytes,
            } => {
                let held = match held {
                    Held::Splits { train, val } => format!("({train} + {val}) images"),
                    Held::Queue { batches, images } => format!(
                        "{batches} batches built ahead (data.cache = \"none\") × {images} images"
                    ),
                };
                write!(
                    f,
                    "{}{held} × {height} × {width} pixels × ({channels} channel(s) × {channel_bytes} + 1) bytes",
                    least(*at_least)
                )
            }
            Product::Batch {
                at_least,
                images,
                values,
                value_bytes,
            } => write!(
                f,
                "{}{images} image(s) × {} activations × {value_bytes} bytes{}",
                least(*at_least),
                count(*values),
                if *value_bytes == 4 { "" } else { " (train.precision)" }
            ),
            Product::Context => write!(f, "a lower bound"),
        }
    }
}

/// What the data part holds.
#[derive(Debug, Clone)]
enum Held {
    /// Every image of the splits, kept in memory.
    Splits { train: u128, val: u128 },
    /// The batches the workers built ahead, and the images of a batch.
    Queue { batches: u128, images: u128 },
}

/// The sizes the estimate reads off a configuration.
struct Shape {
    height: u128,
    width: u128,
    /// Images of the training and the validation split (at least one each when unknown).
    train: u128,
    val: u128,
    /// Whether the counts are the configuration's (synthetic) or lower bounds (folder).
    counted: bool,
    channels: u128,
    classes: u128,
    /// The key that sets the image size.
    size_key: &'static str,
    /// Bytes of a channel as kept: 4 for generated floats, 1 for 8-bit files.
    channel_bytes: u128,
    /// With `data.cache = "none"`, the batches held at most (`data.prefetch` ready and one
    /// in each worker's hands); `None` when the splits are kept in memory.
    queue: Option<u128>,
}

fn shape(config: &RunConfig) -> Option<Shape> {
    let model = &config.model;
    let positive = |v: Option<i64>| v.and_then(|v| u128::try_from(v).ok()).filter(|&v| v > 0);
    match &config.data {
        DataConfig::Synthetic(s) => Some(Shape {
            height: u128::try_from(s.height).ok()?,
            width: u128::try_from(s.width).ok()?,
            train: s.train_images as u128,
            // The test split, when there is one, is held beside the validation split.
            val: (s.val_images + s.test_images) as u128,
            counted: true,
            channels: positive(model.in_channels).unwrap_or(3),
            classes: positive(model.num_classes).unwrap_or(7),
            size_key: "data.height",
            channel_bytes: 4,
            queue: queue(s.cache, s.prefetch, s.workers),
        }),
        DataConfig::Folder(f) => {
            // The images' own size is known only once they are read; a resize or a crop
            // gives it now (the crop is taken after the resize).
            let (size, key) = match (f.crop, f.resize) {
                (Some(c), _) => (c, "data.crop"),
                (None, Some(r)) => (r, "data.resize"),
                (None, None) => return None,
            };
            let classes = f.classes.as_ref().map_or(2, |c| c.len().max(1) as u128);
            Some(Shape {
                height: u128::from(size[0]),
                width: u128::from(size[1]),
                train: 1,
                val: 1,
                counted: false,
                channels: positive(model.in_channels).unwrap_or(1),
                classes: positive(model.num_classes).unwrap_or(classes),
                size_key: key,
                channel_bytes: 1,
                queue: queue(f.cache, f.prefetch, f.workers),
            })
        }
    }
}

/// The batches a streamed dataset holds at most: those built ahead and one per worker.
fn queue(cache: Cache, prefetch: usize, workers: usize) -> Option<u128> {
    (cache == Cache::None).then(|| (prefetch + workers.max(1)) as u128)
}

/// Checked products and sums, `None` on overflow.
fn mul(factors: &[u128]) -> Option<u128> {
    factors.iter().try_fold(1u128, |p, &f| p.checked_mul(f))
}

fn sum(terms: impl IntoIterator<Item = Option<u128>>) -> Option<u128> {
    terms
        .into_iter()
        .try_fold(0u128, |s, t| t.and_then(|t| s.checked_add(t)))
}

/// Channels of U-Net stage `stage` (`base_channels · 2^stage`).
fn width(base: u128, stage: usize) -> Option<u128> {
    base.checked_mul(1u128.checked_shl(stage as u32)?)
}

/// The U-Net's trainable parameters ([`crate::model::UNetConfig::parameter_count`] in
/// checked arithmetic).
fn parameters(base: u128, depth: usize, channels: u128, classes: u128, bn: bool) -> Option<u128> {
    let conv3 = |i: u128, o: u128| sum([mul(&[i, o, 9]), mul(&[o, if bn { 2 } else { 1 }])]);
    let double = |i: u128, o: u128| sum([conv3(i, o), conv3(o, o)]);
    let mut count = Some(0u128);
    let mut input = channels;
    for stage in 0..depth {
        let o = width(base, stage)?;
        count = sum([count, double(input, o)]);
        input = o;
    }
    count = sum([count, double(input, width(base, depth)?)]);
    for stage in (0..depth).rev() {
        let (i, o) = (width(base, stage + 1)?, width(base, stage)?);
        count = sum([count, mul(&[i, o, 4]), Some(o), double(mul(&[2, o])?, o)]);
    }
    sum([count, mul(&[base, classes]), Some(classes)])
}

/// The f32 values one image leaves for the backward pass: per stage of `height × width`
/// halved `stage` times, the outputs of each double convolution (two convolutions, and two
/// norms with batch norm), the pooled maps, the upsampled and the concatenated maps; then
/// the input and the logits.
fn activations(shape: &Shape, base: u128, depth: usize, bn: bool) -> Option<u128> {
    let per_double: u128 = if bn { 4 } else { 2 };
    let pixels = |stage: usize| mul(&[shape.height >> stage, shape.width >> stage]);
    let mut values = mul(&[pixels(0)?, shape.channels + shape.classes]);
    for stage in 0..depth {
        let o = width(base, stage)?;
        // Encoder: the double convolution, then the pooled map; decoder: the upsampled
        // map, the concatenation (twice the channels) and the double convolution.
        values = sum([
            values,
            mul(&[pixels(stage)?, o, per_double]),
            mul(&[pixels(stage + 1)?, o]),
            mul(&[pixels(stage)?, o, 3 + per_double]),
        ]);
    }
    sum([
        values,
        mul(&[pixels(depth)?, width(base, depth)?, per_double]),
    ])
}

/// Every part of the estimate for `config`; the data and the batch only when the image
/// size is known before reading the data.
fn parts(config: &RunConfig) -> Vec<Part> {
    let model = &config.model;
    let base = u128::try_from(model.base_channels).unwrap_or(0);
    let depth = model.depth;
    let bn = model.batch_norm;
    let shape = shape(config);
    let (channels, classes) = shape.as_ref().map_or((3, 7), |s| (s.channels, s.classes));
    // Weights and gradients, and the optimizer's moments (Adam, AdamW) or momentum (SGD).
    let (copies, state) = match config.optim.name {
        Optimizer::Adam | Optimizer::Adamw => (4, "weights, gradients and 2 moments"),
        Optimizer::Sgd if config.optim.momentum > 0.0 => (3, "weights, gradients and momentum"),
        Optimizer::Sgd => (2, "weights and gradients"),
    };
    let parameters = parameters(base, depth, channels, classes, bn);
    let mut parts = vec![Part {
        what: "the model",
        key: "model.base_channels",
        product: Product::Model {
            parameters,
            base,
            depth,
            copies,
            state,
        },
        bytes: parameters.and_then(|p| mul(&[p, copies, 4])),
        fix: "lower model.base_channels or model.depth",
    }];
    let Some(shape) = shape else {
        return parts;
    };
    let at_least = !shape.counted;
    let pixel_bytes = shape.channels * shape.channel_bytes + 1;
    let (held, images_held) = match shape.queue {
        Some(batches) => {
            let images = config.train.batch_size as u128;
            (Held::Queue { batches, images }, mul(&[batches, images]))
        }
        None => (
            Held::Splits {
                train: shape.train,
                val: shape.val,
            },
            sum([Some(shape.train), Some(shape.val)]),
        ),
    };
    parts.push(Part {
        what: "the images and masks",
        key: shape.size_key,
        product: Product::Data {
            at_least,
            held,
            height: shape.height,
            width: shape.width,
            channels: shape.channels,
            channel_bytes: shape.channel_bytes,
        },
        bytes: images_held.and_then(|n| mul(&[n, shape.height, shape.width, pixel_bytes])),
        fix: match (shape.counted, shape.queue) {
            (_, Some(_)) => "lower data.prefetch or data.workers",
            (true, None) => "stream the images with data.cache = \"none\", or lower data.height and data.width (or data.train_images and data.val_images)",
            (false, None) => "stream the images with data.cache = \"none\", or lower data.resize or data.crop",
        },
    });
    let images = if shape.counted {
        (config.train.batch_size as u128).min(shape.train).max(1)
    } else {
        1
    };
    let values = activations(&shape, base, depth, bn);
    // Autocast keeps the convolutions' and norms' outputs in the lower precision.
    let value_bytes = match config.train.precision {
        Precision::Fp32 => 4,
        Precision::Bf16 | Precision::Fp16 => 2,
    };
    // Blame what lies furthest beyond an ordinary run: the batch, the image or the width.
    let ratios = [
        (images as f64 / 8.0, "train.batch_size"),
        (
            shape.height as f64 * shape.width as f64 / 4096.0,
            shape.size_key,
        ),
        (base as f64 / 16.0, "model.base_channels"),
    ];
    let key = ratios
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(shape.size_key, |(_, k)| k);
    parts.push(Part {
        what: "one batch through the U-Net",
        key,
        product: Product::Batch {
            at_least,
            images,
            values,
            value_bytes,
        },
        bytes: values.and_then(|v| mul(&[images, v, value_bytes])),
        fix: match key {
            "train.batch_size" => "lower train.batch_size",
            "model.base_channels" => "lower model.base_channels or model.depth",
            "data.height" => "lower data.height and data.width",
            _ => "lower data.resize or data.crop",
        },
    });
    // The data first, then the batch, then the model.
    parts.rotate_left(1);
    parts
}

/// A count as written in messages: `1,940,000`, or `more than 2^128`.
fn count(n: Option<u128>) -> String {
    n.map_or_else(|| "more than 2^128".to_string(), thousands)
}

/// `n` with its digits in groups of three: `25,000,000`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as written in messages: `23.4 GiB`, or `more than 2^128 bytes`.
pub fn bytes(n: Option<u128>) -> String {
    let Some(n) = n else {
        return "more than 2^128 bytes".to_string();
    };
    const UNITS: [&str; 8] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 1024.0 {
        return format!("{value:.3e} {}", UNITS[unit]);
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u128 = 1 << 30;

    /// The default configuration with synthetic images of `height × width` and a U-Net of
    /// `base` channels at `depth`.
    fn config(height: i64, width: i64, base: i64, depth: usize) -> RunConfig {
        let mut config = RunConfig::default();
        if let DataConfig::Synthetic(s) = &mut config.data {
            (s.height, s.width) = (height, width);
        }
        (config.model.base_channels, config.model.depth) = (base, depth);
        config
    }

    #[test]
    fn mem_total_reads_kilobytes() {
        let text = "MemFree: 1 kB\nMemTotal:       24576000 kB\n";
        assert_eq!(mem_total(text), Some(24_576_000 * 1024));
        assert_eq!(mem_total("nothing\n"), None);
    }

    #[test]
    fn ordinary_configurations_fit_in_a_small_machine() {
        for (h, w, base, depth, memory) in [
            (64, 64, 16, 4, GIB / 8),
            (96, 128, 32, 4, GIB),
            (512, 512, 16, 5, 8 * GIB),
        ] {
            let c = config(h, w, base, depth);
            assert_eq!(check_within(&c, Some(memory)), Ok(()), "{h}×{w}, {base}");
        }
        // 240 images of 512×512 (780 MiB kept) and a batch of 8 through the U-Net need
        // about 3.7 GiB.
        assert!(check_within(&config(512, 512, 16, 5), Some(3 * GIB)).is_err());
        assert!(check_within(&config(512, 512, 16, 5), Some(4 * GIB)).is_ok());
    }

    #[test]
    fn an_impossible_image_size_names_its_product_and_the_machine() {
        let err =
            check_within(&config(100_000, 100_000, 16, 4), Some(23 * GIB)).expect_err("too large");
        assert_eq!(err.key, "data.height");
        for part in [
            "data.height × data.width = 100000 × 100000 needs at least ",
            "this machine has 23.0 GiB",
            "the images and masks 28.4 TiB ((192 + 48) images × 100000 × 100000 pixels × (3 channel(s) × 4 + 1) bytes",
        ] {
            assert!(err.message.contains(part), "{part}: {}", err.message);
        }
    }

    #[test]
    fn a_model_too_wide_is_blamed_on_its_width_and_overflow_does_not_panic() {
        let err = check_within(&config(64, 64, 1_000_000, 4), Some(23 * GIB)).expect_err("wide");
        assert_eq!(err.key, "model.base_channels");
        assert!(
            err.message
                .starts_with("model.base_channels = 1000000 at model.depth = 4 needs"),
            "{}",
            err.message
        );
        let huge = config(4_000_000_000_000, 4_000_000_000_000, i64::MAX, 8);
        let err = check_within(&huge, None).expect_err("overflows");
        assert!(err.message.contains("more than 2^128"), "{}", err.message);
        assert_eq!(check_within(&config(64, 64, 16, 4), None), Ok(()));
    }

    #[test]
    fn a_cuda_run_is_weighed_against_its_gpus_free_memory() {
        // 512×512, base 16, depth 5, batch 8: about 3.4 GiB on the GPU (the data stay in
        // the host's memory), with the CUDA context; a GPU with 3 GiB free refuses it and
        // one with 4 GiB takes it.
        let c = config(512, 512, 16, 5);
        assert_eq!(check_on_gpu(&c, 4 * GIB, "cuda:0"), Ok(()));
        let err = check_on_gpu(&c, 3 * GIB, "cuda:0").expect_err("too large");
        for part in [
            "cuda:0 has 3.0 GiB free",
            "CUDA's context and workspaces 512.0 MiB",
        ] {
            assert!(err.message.contains(part), "{part}: {}", err.message);
        }
        assert!(!err.message.contains("images and masks"), "{}", err.message);
        // Nothing fits in a GPU whose free memory is less than CUDA's own share.
        let small = config(64, 64, 16, 4);
        let err = check_on_gpu(&small, 256 << 20, "cuda:1").expect_err("context");
        assert_eq!(err.key, "device");
        assert!(err.fix.contains("nvidia-smi"), "{}", err.fix);
    }

    #[test]
    fn bf16_halves_a_batchs_activations_and_says_so() {
        let mut c = config(512, 512, 16, 5);
        let fp32 = gpu_bytes(&c).expect("fits u128");
        let batch = |c: &RunConfig| {
            parts(c)
                .iter()
                .find(|p| p.what == "one batch through the U-Net")
                .and_then(|p| p.bytes)
                .expect("a batch part")
        };
        let full = batch(&c);
        c.train.precision = Precision::Bf16;
        assert_eq!(batch(&c) * 2, full);
        assert_eq!(gpu_bytes(&c), Some(fp32 - full / 2));
        let err = check_on_gpu(&c, GIB, "cuda:0").expect_err("too large");
        assert!(
            err.message.contains("× 2 bytes (train.precision)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn out_of_memory_states_the_estimate_the_gpu_and_the_fixes() {
        let c = config(512, 512, 16, 5);
        let text = out_of_memory(&c, "cuda:0", Some(80 * GIB));
        for part in [
            "on cuda:0 of the 80.0 GiB it has",
            "one batch through the U-Net",
            "CUDA's context and workspaces 512.0 MiB",
            "lower train.batch_size",
            "--jobs",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    #[test]
    fn counts_and_bytes_read_as_people_write_them() {
        assert_eq!(count(Some(1_940_000)), "1,940,000");
        assert_eq!(count(Some(999)), "999");
        assert_eq!(bytes(Some(512)), "512 bytes");
        assert_eq!(bytes(Some(23 * GIB)), "23.0 GiB");
    }
}
