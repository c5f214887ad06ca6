//! The checks of `[data.augment]` that no type rules out.

use super::{AugmentConfig, Range};

/// The key inside `augment` at fault and what is wrong.
type Fault = (String, String);

/// An error at `key`.
fn fault(key: &str, message: String) -> Result<(), Fault> {
    Err((key.to_string(), message))
}

/// A probability, in [0, 1].
fn probability(key: &str, p: Option<f64>) -> Result<(), Fault> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => fault(
            key,
            format!("is {p}; a probability lies in [0, 1] (0 never, 1 always): set one there"),
        ),
        _ => Ok(()),
    }
}

/// A pair `[lo, hi]` with `lo <= hi`, both finite, `lo` above `min` (or at it when
/// `min_allowed`) and `hi` at most `max`; `rule` and `example` say so in the message.
fn pair(
    key: &str,
    [lo, hi]: [f64; 2],
    (min, min_allowed): (f64, bool),
    max: f64,
    (rule, example): (&str, &str),
) -> Result<(), Fault> {
    let above_min = if min_allowed { lo >= min } else { lo > min };
    if lo.is_finite() && hi.is_finite() && above_min && lo <= hi && hi <= max {
        Ok(())
    } else {
        fault(
            key,
            format!("is [{lo}, {hi}]; needs {rule}: set a pair such as {example}"),
        )
    }
}

/// `rotate.degrees`: `d` in [0, 180], or `[lo, hi]` with `-180 <= lo <= hi <= 180`.
fn degrees(key: &str, degrees: Range) -> Result<(), Fault> {
    match degrees {
        Range::Value(d) if !(0.0..=180.0).contains(&d) => fault(
            key,
            format!("is {d}; a number d means [-d, d] and lies in [0, 180]: set e.g. 10"),
        ),
        Range::Value(_) => Ok(()),
        Range::Pair(p) => pair(
            key,
            p,
            (-180.0, true),
            180.0,
            ("-180 <= lo <= hi <= 180 (degrees)", "[-10.0, 10.0]"),
        ),
    }
}

/// A jitter factor: `b >= 0`, or `[lo, hi]` with `0 <= lo <= hi`.
fn factor(key: &str, factor: Option<Range>) -> Result<(), Fault> {
    match factor {
        Some(Range::Value(b)) if !(b.is_finite() && b >= 0.0) => fault(
            key,
            format!("is {b}; a number b means [max(0, 1 - b), 1 + b] and is >= 0: set e.g. 0.2"),
        ),
        Some(Range::Pair(p)) => pair(
            key,
            p,
            (0.0, true),
            f64::INFINITY,
            ("0 <= lo <= hi (factors, 1 keeps the image)", "[0.8, 1.2]"),
        ),
        _ => Ok(()),
    }
}

impl AugmentConfig {
    /// Checks the values that no type rules out, given data.crop (height, width): the key
    /// inside `augment` at fault (e.g. `"rotate.degrees"`) and a message saying the value,
    /// the allowed range and the fix. That rotations and padding need data.ignore_index is
    /// the caller's check ([`AugmentConfig::fills_masks`]).
    pub fn validate(&self, crop: Option<[u32; 2]>) -> Result<(), (String, String)> {
        self.validate_geometry(crop)?;
        probability("hflip", self.hflip)?;
        probability("vflip", self.vflip)?;
        probability("rotate90", self.rotate90)?;
        if let (Some(_), Some([h, w])) = (self.rotate90, crop) {
            if h != w {
                fault(
                    "rotate90",
                    format!(
                        "needs a square data.crop, got {h}×{w}: quarter turns swap height and \
                         width and a batch's images must share one size; make data.crop square \
                         or remove rotate90"
                    ),
                )?;
            }
        }
        if let Some(r) = &self.rotate {
            degrees("rotate.degrees", r.degrees)?;
            probability("rotate.p", Some(r.p))?;
        }
        if let Some(j) = &self.jitter {
            factor("jitter.brightness", j.brightness)?;
            factor("jitter.contrast", j.contrast)?;
            factor("jitter.saturation", j.saturation)?;
            probability("jitter.p", Some(j.p))?;
            if j.brightness.is_none() && j.contrast.is_none() && j.saturation.is_none() {
                fault(
                    "jitter",
                    "sets none of brightness, contrast, saturation: set one (e.g. \
                     brightness = 0.2) or remove the jitter table"
                        .into(),
                )?;
            }
        }
        Ok(())
    }

    /// The checks of `resized_crop` and `scale`.
    fn validate_geometry(&self, crop: Option<[u32; 2]>) -> Result<(), (String, String)> {
        if let Some(rc) = &self.resized_crop {
            pair(
                "resized_crop.scale",
                rc.scale,
                (0.0, false),
                1.0,
                (
                    "0 < lo <= hi <= 1 (shares of the image's area)",
                    "[0.08, 1.0]",
                ),
            )?;
            pair(
                "resized_crop.ratio",
                rc.ratio,
                (0.0, false),
                f64::INFINITY,
                ("0 < lo <= hi (width / height)", "[0.75, 1.3333333]"),
            )?;
            if crop.is_none() {
                fault(
                    "resized_crop",
                    "needs data.crop, the size it crops to: set data.crop = [height, width]".into(),
                )?;
            }
        }
        if let Some(scale) = self.scale {
            pair(
                "scale",
                scale,
                (0.0, false),
                10.0,
                ("0 < lo <= hi <= 10 (factors)", "[0.5, 2.0]"),
            )?;
            if self.resized_crop.is_some() {
                fault(
                    "scale",
                    "is set with resized_crop, and both resize and crop: pick one".into(),
                )?;
            }
            if crop.is_none() {
                fault(
                    "scale",
                    "needs data.crop, the size it crops to: set data.crop = [height, width]".into(),
                )?;
            }
        }
        Ok(())
    }
}
