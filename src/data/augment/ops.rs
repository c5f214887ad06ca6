//! The kernels of [`super::AugmentConfig::apply`]: ports of
//! torchvision.transforms.v2.functional's tensor kernels (`resize_image`, `crop`,
//! `rotate_image`, `adjust_brightness_image`, `adjust_contrast_image`,
//! `adjust_saturation_image`) onto the same libtorch operations, so that they give
//! torchvision's results to the bit.

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use super::color::color;
use super::rotate::rotate;
use super::{Draw, Geometry, Interpolation, Rotation};

/// The longest side an output or an intermediate image may have.
const MAX_SIDE: i64 = 1 << 16;

/// The pixels of an image, and the kind the kernels see them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pixels {
    /// Uint8, as is.
    U8,
    /// Int16 holding the bits of u16, widened to Int32 in 0..=65535.
    U16,
    /// Float in [0, 1], as is.
    F32,
}

impl Pixels {
    /// The pixels of an image of `kind`.
    fn of(kind: Kind) -> Result<Pixels> {
        match kind {
            Kind::Uint8 => Ok(Pixels::U8),
            Kind::Int16 => Ok(Pixels::U16),
            Kind::Float => Ok(Pixels::F32),
            other => bail!("images to augment are Uint8, Int16 (u16) or Float, got {other:?}"),
        }
    }

    /// The image as the kernels see it.
    fn widen(self, image: &Tensor) -> Result<Tensor> {
        match self {
            Pixels::U16 => Ok(image.f_to_kind(Kind::Int)?.f_bitwise_and(0xFFFF)?),
            _ => Ok(image.shallow_clone()),
        }
    }

    /// The image back in its own kind (u16 values into the bits of Int16).
    fn narrow(self, image: Tensor) -> Result<Tensor> {
        match self {
            Pixels::U16 => Ok(image.f_to_kind(Kind::Int16)?),
            _ => Ok(image),
        }
    }

    /// torchvision's `_max_value` of the pixels' dtype.
    pub(super) fn bound(self) -> f64 {
        match self {
            Pixels::U8 => 255.0,
            Pixels::U16 => 65535.0,
            Pixels::F32 => 1.0,
        }
    }

    /// A float result back in the kernels' kind: integers truncated, as `Tensor.to`.
    pub(super) fn cast(self, image: Tensor) -> Result<Tensor> {
        match self {
            Pixels::U8 => Ok(image.f_to_kind(Kind::Uint8)?),
            Pixels::U16 => Ok(image.f_to_kind(Kind::Int)?),
            Pixels::F32 => Ok(image),
        }
    }
}

/// The range of values a mask of `kind` holds, or an error for other kinds.
fn mask_range(kind: Kind) -> Result<(i64, i64)> {
    match kind {
        Kind::Uint8 => Ok((0, 255)),
        Kind::Int16 => Ok((i16::MIN.into(), i16::MAX.into())),
        Kind::Int => Ok((i32::MIN.into(), i32::MAX.into())),
        other => bail!("masks to augment are Uint8, Int16 or Int32, got {other:?}"),
    }
}

/// Checks that `image` (`[C, H, W]`) and `mask` (`[H, W]`) are on the CPU, of one size
/// with no side 0, and that `ignore` fits the mask's kind; the image's pixels.
fn check_inputs(image: &Tensor, mask: &Tensor, ignore: Option<i64>) -> Result<Pixels> {
    let pixels = Pixels::of(image.kind())?;
    let (lo, hi) = mask_range(mask.kind())?;
    ensure!(
        image.device() == Device::Cpu && mask.device() == Device::Cpu,
        "augmentation runs on the CPU; the image is on {:?} and the mask on {:?}",
        image.device(),
        mask.device()
    );
    let (size, msize) = (image.size(), mask.size());
    ensure!(
        size.len() == 3 && msize.len() == 2 && size[1..] == msize[..],
        "an image [C, H, W] and a mask [H, W] of the same size are augmented, got {size:?} and \
         {msize:?}"
    );
    ensure!(
        size.iter().all(|&s| s > 0),
        "an image of shape {size:?} has nothing to augment"
    );
    if let Some(i) = ignore {
        ensure!(
            (lo..=hi).contains(&i),
            "ignore_index {i} does not fit a {:?} mask ({lo} to {hi})",
            mask.kind()
        );
    }
    Ok(pixels)
}

/// [`super::AugmentConfig::apply`]: `draw` on `image` and `mask`, padding allowed when
/// `pad`.
pub(super) fn apply(
    draw: &Draw,
    image: &Tensor,
    mask: &Tensor,
    ignore: Option<i64>,
    pad: bool,
) -> Result<(Tensor, Tensor)> {
    let pixels = check_inputs(image, mask, ignore)?;
    let mut image = pixels.widen(image)?;
    let mut mask = mask.shallow_clone();
    if let Some(g) = &draw.geometry {
        (image, mask) = geometry(g, &image, &mask, ignore, pad)?;
    }
    if draw.hflip {
        image = image.f_flip([-1])?;
        mask = mask.f_flip([-1])?;
    }
    if draw.vflip {
        image = image.f_flip([-2])?;
        mask = mask.f_flip([-2])?;
    }
    ensure!(
        (0..4).contains(&draw.rot90),
        "rot90 counts quarter turns, 0 to 3, got {}",
        draw.rot90
    );
    if draw.rot90 != 0 {
        image = image.f_rot90(draw.rot90, [-2, -1])?;
        mask = mask.f_rot90(draw.rot90, [-2, -1])?;
    }
    if let Some(r) = &draw.rotate {
        (image, mask) = rotation(r, &image, &mask, ignore)?;
    }
    for &(op, factor) in &draw.color {
        image = color(op, factor, &image, pixels)?;
    }
    Ok((pixels.narrow(image)?, mask))
}

/// Checks that a size the geometry makes lies in 1..=[`MAX_SIDE`] on both sides.
fn check_size(what: &str, (h, w): (i64, i64)) -> Result<()> {
    ensure!(
        (1..=MAX_SIDE).contains(&h) && (1..=MAX_SIDE).contains(&w),
        "the {what} size {h}×{w} is not within 1×1 to {MAX_SIDE}×{MAX_SIDE}"
    );
    Ok(())
}

/// `geometry` on an image `[C, H, W]` and its mask `[H, W]`.
fn geometry(
    geometry: &Geometry,
    image: &Tensor,
    mask: &Tensor,
    ignore: Option<i64>,
    pad: bool,
) -> Result<(Tensor, Tensor)> {
    let (h, w) = (image.size()[1], image.size()[2]);
    match *geometry {
        Geometry::ResizedCrop {
            top,
            left,
            height,
            width,
            size,
        } => {
            ensure!(
                top >= 0 && left >= 0 && height > 0 && width > 0,
                "a resized crop's region ({top}, {left}, {height}×{width}) has a negative offset \
                 or an empty side"
            );
            ensure!(
                top + height <= h && left + width <= w,
                "a resized crop's region ({top}, {left}, {height}×{width}) passes the {h}×{w} \
                 image"
            );
            check_size("resized crop's", size)?;
            // torchvision's crop_image: a view inside the image.
            let image = image.f_narrow(1, top, height)?.f_narrow(2, left, width)?;
            let mask = mask.f_narrow(0, top, height)?.f_narrow(1, left, width)?;
            Ok((resize_image(&image, size)?, resize_mask(&mask, size)?))
        }
        Geometry::ScaledCrop {
            scaled,
            top,
            left,
            size,
        } => {
            check_size("rescaled", scaled)?;
            check_size("crop", size)?;
            let image = resize_image(image, scaled)?;
            let mask = resize_mask(mask, scaled)?;
            let (image, mask) = cut(&image, &mask, scaled, (top, left), size)?;
            let (ih, iw) = (image.size()[1], image.size()[2]);
            if (ih, iw) == size {
                return Ok((image, mask));
            }
            ensure!(
                pad,
                "the image ({scaled:?} after rescaling) is smaller than the crop {size:?}: set \
                 data.augment.pad = true, or crop smaller"
            );
            let ignore = ignore
                .context("padding masks needs data.ignore_index, the class of the pixels added")?;
            Ok((pad_to(&image, size, 0)?, pad_to(&mask, size, ignore)?))
        }
    }
}

/// The region of `size` at `(top, left)` of an image and mask of `scaled`, as much of it as
/// lies inside them: on a side where `scaled` is smaller than `size`, all of it (offset 0).
fn cut(
    image: &Tensor,
    mask: &Tensor,
    scaled: (i64, i64),
    (top, left): (i64, i64),
    size: (i64, i64),
) -> Result<(Tensor, Tensor)> {
    let (ch, cw) = (size.0.min(scaled.0), size.1.min(scaled.1));
    ensure!(
        top >= 0 && left >= 0 && top + ch <= scaled.0 && left + cw <= scaled.1,
        "a crop of {size:?} at ({top}, {left}) passes the {scaled:?} image"
    );
    Ok((
        image.f_narrow(1, top, ch)?.f_narrow(2, left, cw)?,
        mask.f_narrow(0, top, ch)?.f_narrow(1, left, cw)?,
    ))
}

/// `t` (`[..., h, w]`) padded at the bottom and right to `size` with `fill`.
fn pad_to(t: &Tensor, (h, w): (i64, i64), fill: i64) -> Result<Tensor> {
    let mut shape = t.size();
    let n = shape.len();
    let (th, tw) = (shape[n - 2], shape[n - 1]);
    shape[n - 2] = h;
    shape[n - 1] = w;
    let out = Tensor::f_full(shape.as_slice(), fill, (t.kind(), Device::Cpu))?;
    out.f_narrow(-2, 0, th)?.f_narrow(-1, 0, tw)?.f_copy_(t)?;
    Ok(out)
}

/// torchvision's `resize_image` (bilinear, antialias, align_corners false) of `[C, H, W]`:
/// uint8 through libtorch's uint8 kernel (torchvision's path on AVX2, AVX512 and ARM CPUs),
/// u16 through float32 and rounded back, as torchvision does for int8 to int64 (for uint16
/// it truncates).
fn resize_image(image: &Tensor, size: (i64, i64)) -> Result<Tensor> {
    let s = image.size();
    if (s[1], s[2]) == size {
        return Ok(image.shallow_clone());
    }
    let kind = image.kind();
    let input = match kind {
        Kind::Uint8 | Kind::Float => image.f_unsqueeze(0)?,
        _ => image.f_to_kind(Kind::Float)?.f_unsqueeze(0)?,
    };
    let out = input
        .f_internal_upsample_bilinear2d_aa([size.0, size.1], false, None, None)?
        .f_squeeze_dim(0)?;
    match kind {
        Kind::Uint8 | Kind::Float => Ok(out),
        _ => Ok(out.f_round()?.f_to_kind(kind)?),
    }
}

/// torchvision's `resize_mask` (nearest) of `[H, W]`: uint8 as is, other kinds through
/// float32 and rounded back.
fn resize_mask(mask: &Tensor, size: (i64, i64)) -> Result<Tensor> {
    let s = mask.size();
    if (s[0], s[1]) == size {
        return Ok(mask.shallow_clone());
    }
    let kind = mask.kind();
    let input = match kind {
        Kind::Uint8 => mask.f_view([1, 1, s[0], s[1]])?,
        _ => mask.f_to_kind(Kind::Float)?.f_view([1, 1, s[0], s[1]])?,
    };
    let out = input
        .f_upsample_nearest2d([size.0, size.1], None, None)?
        .f_view([size.0, size.1])?;
    match kind {
        Kind::Uint8 => Ok(out),
        _ => Ok(out.f_round()?.f_to_kind(kind)?),
    }
}

/// `rotation` on an image `[C, H, W]` (fill 0) and its mask `[H, W]` (nearest, fill
/// `ignore`).
fn rotation(
    r: &Rotation,
    image: &Tensor,
    mask: &Tensor,
    ignore: Option<i64>,
) -> Result<(Tensor, Tensor)> {
    let image = rotate(image, r.degrees, r.interpolation, Some(0.0))?;
    let mask = rotate(
        &mask.f_unsqueeze(0)?,
        r.degrees,
        Interpolation::Nearest,
        ignore.map(|i| i as f64),
    )
    .context("rotating masks needs data.ignore_index, the class of the corners with no source")?;
    Ok((image, mask.f_squeeze_dim(0)?))
}
