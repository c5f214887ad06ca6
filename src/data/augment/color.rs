//! torchvision.transforms.v2.functional's `adjust_brightness_image`,
//! `adjust_contrast_image` and `adjust_saturation_image`, op for op: integer images are
//! computed in float32, clamped to the dtype's bound and truncated back.

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

use super::ops::Pixels;
use super::ColorOp;

/// The adjustment `op` by `factor` of an image `[C, H, W]` of 1 or 3 channels.
pub(super) fn color(op: ColorOp, factor: f64, image: &Tensor, pixels: Pixels) -> Result<Tensor> {
    let c = image.size()[0];
    ensure!(
        c == 1 || c == 3,
        "colour jitter works on images of 1 or 3 channels, got {c}"
    );
    ensure!(
        factor >= 0.0,
        "a colour factor is not negative, got {factor}"
    );
    match op {
        ColorOp::Brightness => {
            let out = image.f_mul_scalar(factor)?.f_clamp(0.0, pixels.bound())?;
            pixels.cast(out)
        }
        ColorOp::Contrast => {
            let gray = if c == 3 {
                grayscale(image, pixels)?
            } else {
                image.f_to_kind(Kind::Float)?
            };
            let mean = gray.f_mean_dim(&[-3i64, -2, -1][..], true, None::<Kind>)?;
            blend(image, &mean, factor, pixels)
        }
        // A 1-channel image has no saturation (as PIL).
        ColorOp::Saturation if c == 1 => Ok(image.shallow_clone()),
        ColorOp::Saturation => {
            let gray = grayscale(image, pixels)?;
            blend(image, &gray, factor, pixels)
        }
    }
}

/// `_rgb_to_grayscale_image(image, 1, preserve_dtype=False)` of `[3, H, W]`, floored for
/// integer images as the callers do: `[1, H, W]` float32.
fn grayscale(image: &Tensor, pixels: Pixels) -> Result<Tensor> {
    let r = image.f_select(0, 0)?;
    let g = image.f_select(0, 1)?;
    let b = image.f_select(0, 2)?;
    let l = r.f_mul_scalar(0.2989)?;
    let l = add_scaled(&l, &g, 0.587)?;
    let l = add_scaled(&l, &b, 0.114)?.f_unsqueeze(0)?;
    match pixels {
        Pixels::F32 => Ok(l),
        _ => Ok(l.f_floor()?),
    }
}

/// `_blend(image1, image2, ratio)`: `image1 * ratio + image2 * (1 - ratio)`, clamped to
/// the bound and cast back.
fn blend(image1: &Tensor, image2: &Tensor, ratio: f64, pixels: Pixels) -> Result<Tensor> {
    let out = add_scaled(&image1.f_mul_scalar(ratio)?, image2, 1.0 - ratio)?
        .f_clamp(0.0, pixels.bound())?;
    pixels.cast(out)
}

/// `acc.add_(other, alpha=alpha)` of a float32 `acc`: libtorch's CPU kernel computes
/// `fma(other, float(alpha), acc)` (fused, one rounding), which tch cannot call with an
/// alpha; this computes the same fused product in Rust. `other` broadcasts to `acc`.
fn add_scaled(acc: &Tensor, other: &Tensor, alpha: f64) -> Result<Tensor> {
    let shape = acc.size();
    let acc_values = Vec::<f32>::try_from(acc.f_contiguous()?.f_view([-1])?)?;
    let other = other
        .f_to_kind(Kind::Float)?
        .f_expand(shape.as_slice(), false)?
        .f_contiguous()?;
    let other_values = Vec::<f32>::try_from(other.f_view([-1])?)?;
    let alpha = alpha as f32;
    let out: Vec<f32> = other_values
        .iter()
        .zip(&acc_values)
        .map(|(o, a)| o.mul_add(alpha, *a))
        .collect();
    Ok(Tensor::f_from_slice(&out)?.f_view(shape.as_slice())?)
}
