//! torchvision.transforms.v2.functional's `rotate_image` (expand false, about the centre):
//! its inverse affine matrix, affine grid and grid transform, op for op.

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};

use super::Interpolation;

/// `rotate_image(image, degrees, interpolation, fill=fill)` of `[C, H, W]` (Uint8, Int32
/// or Float). Angles that are multiples of 90° (180°, or 90° and 270° of a square image)
/// turn the image as torchvision's fast path does and need no fill; others need `fill`.
pub(super) fn rotate(
    image: &Tensor,
    degrees: f64,
    interpolation: Interpolation,
    fill: Option<f64>,
) -> Result<Tensor> {
    // Python's `angle % 360`: in [0, 360).
    let angle = degrees.rem_euclid(360.0);
    let (h, w) = (image.size()[1], image.size()[2]);
    if angle == 0.0 {
        let mut out = image.f_zeros_like()?;
        out.f_copy_(image)?;
        return Ok(out);
    }
    let quarter = match angle {
        180.0 => Some(2),
        90.0 if h == w => Some(1),
        270.0 if h == w => Some(3),
        _ => None,
    };
    if let Some(k) = quarter {
        return Ok(image.f_rot90(k, [-2, -1])?);
    }
    let fill = fill.context("a rotation by an angle that is no multiple of 90° needs a fill")?;
    // torchvision rotates by -angle: its affine and rotate turn opposite ways.
    let matrix = inverse_rotation(-angle);
    let theta = Tensor::f_from_slice(&matrix.map(|v| v as f32))?.f_view([1, 2, 3])?;
    let grid = affine_grid(&theta, w, h)?;
    grid_transform(image, &grid, interpolation, fill)
}

/// `_get_inverse_affine_matrix([0, 0], angle, [0, 0], 1.0, [0, 0])`: the same f64
/// operations, so the same bits.
fn inverse_rotation(angle: f64) -> [f64; 6] {
    let (scale, cx, cy, tx, ty) = (1.0, 0.0, 0.0, 0.0, 0.0);
    let rot = angle.to_radians();
    let (sx, sy) = (0.0f64.to_radians(), 0.0f64.to_radians());
    let cos_sy = sy.cos();
    let tan_sx = sx.tan();
    let rot_minus_sy = rot - sy;
    let cx_plus_tx: f64 = cx + tx;
    let cy_plus_ty: f64 = cy + ty;
    let a = rot_minus_sy.cos() / cos_sy;
    let b = -(a * tan_sx + rot.sin());
    let c = rot_minus_sy.sin() / cos_sy;
    let d = rot.cos() - c * tan_sx;
    let mut m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0];
    m[2] += cx - m[0] * cx_plus_tx - m[1] * cy_plus_ty;
    m[5] += cy - m[3] * cx_plus_tx - m[4] * cy_plus_ty;
    m
}

/// `_affine_grid(theta, w, h, ow=w, oh=h)`: the sampling grid `[1, h, w, 2]` (float32).
fn affine_grid(theta: &Tensor, w: i64, h: i64) -> Result<Tensor> {
    let options = (Kind::Float, Device::Cpu);
    let xs = Tensor::f_linspace((1.0 - w as f64) * 0.5, (w as f64 - 1.0) * 0.5, w, options)?;
    let ys = Tensor::f_linspace((1.0 - h as f64) * 0.5, (h as f64 - 1.0) * 0.5, h, options)?;
    let base = Tensor::f_stack(
        &[
            xs.f_view([1, w])?.f_expand([h, w], false)?,
            ys.f_view([h, 1])?.f_expand([h, w], false)?,
            Tensor::f_ones([h, w], options)?,
        ],
        -1,
    )?;
    // As torchvision: divide the transposed theta in place, keeping its strides.
    let half = Tensor::f_from_slice(&[(0.5 * w as f64) as f32, (0.5 * h as f64) as f32])?;
    let mut rescaled = theta.f_transpose(1, 2)?;
    let _ = rescaled.f_div_(&half)?;
    Ok(base
        .f_view([1, h * w, 3])?
        .f_bmm(&rescaled)?
        .f_view([1, h, w, 2])?)
}

/// `_apply_grid_transform(image, grid, mode, fill)` of `[C, H, W]`: a channel of ones is
/// sampled with the image and says where the fill goes; integers are rounded back.
fn grid_transform(
    image: &Tensor,
    grid: &Tensor,
    interpolation: Interpolation,
    fill: f64,
) -> Result<Tensor> {
    let kind = image.kind();
    let (c, h, w) = (image.size()[0], image.size()[1], image.size()[2]);
    let float_img = match kind {
        Kind::Float => image.f_unsqueeze(0)?,
        _ => image.f_to_kind(Kind::Float)?.f_unsqueeze(0)?,
    };
    let ones = Tensor::f_ones([1, 1, h, w], (Kind::Float, Device::Cpu))?;
    let input = Tensor::f_cat(&[float_img, ones], 1)?;
    // grid_sample's modes: 0 bilinear, 1 nearest; padding 0: zeros.
    let mode = match interpolation {
        Interpolation::Bilinear => 0,
        Interpolation::Nearest => 1,
    };
    let sampled = input.f_grid_sampler(grid, mode, 0, false)?;
    let out = sampled.f_narrow(1, 0, c)?;
    let inside = sampled.f_narrow(1, c, 1)?.f_expand_as(&out)?;
    let fill = Tensor::f_from_slice(&[fill as f32])?.f_view([1, 1, 1, 1])?;
    let out = match interpolation {
        Interpolation::Nearest => fill
            .f_expand_as(&out)?
            .f_where_self(&inside.f_lt(0.5)?, &out)?,
        Interpolation::Bilinear => out.f_sub(&fill)?.f_mul(&inside)?.f_add(&fill)?,
    };
    let out = out.f_squeeze_dim(0)?;
    match kind {
        Kind::Float => Ok(out),
        _ => Ok(out.f_round()?.f_to_kind(kind)?),
    }
}
