//! Parity with torchvision.transforms.v2: `peer/augment.py` applies torchvision's
//! functional kernels (`resized_crop`, `resize`, `crop`, `pad`, `horizontal_flip`,
//! `vertical_flip`, `rotate`, `adjust_brightness`, `adjust_contrast`,
//! `adjust_saturation`, and `torch.rot90`) to the same inputs with the same parameters as
//! lossbench's [`AugmentConfig::apply`] gets in a hand-built [`Draw`]: a 3×61×83 uint8
//! image of gradients and shapes, the same in float32 (/255) and in 16-bit, a 1-channel
//! one, and a mask of five classes (uint8 and int32).
//!
//! Asserted: every image and mask is bitwise torchvision's (max abs difference 0, no pixel
//! differs), in every case: resized crops (up and down), rescales by 1.37 and 0.71 with
//! crops and padding, rotations by 23.5° and -7° (nearest and bilinear; masks nearest with
//! fill 255), jitter in two orders, flips with quarter turns, and all of them together.
//! 16-bit images are resized as torchvision resizes int32 ones (rounded back); its uint16
//! resize truncates instead, which differs by 1 level in about half the pixels.
//!
//! Needs the venv's python with torchvision 0.28 (`LOSSBENCH_PYTHON`, or the one `make
//! libtorch` installs); without it the test says it is skipped (and fails under `CI`).

mod common;

use std::path::Path;
use std::process::Command;

use lossbench::data::augment::{AugmentConfig, ColorOp, Draw, Geometry, Interpolation, Rotation};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

const SKIP: &str =
    "torchvision.transforms.v2 (pip install torchvision==0.28.0 into the venv of `make libtorch`)";

/// The venv's python when it has torchvision.transforms.v2.
fn torchvision_python() -> Option<std::path::PathBuf> {
    let Some(python) = common::python() else {
        common::skip_unless_ci(SKIP);
        return None;
    };
    let has = Command::new(&python)
        .args(["-c", "import torchvision.transforms.v2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        Some(python)
    } else {
        common::skip_unless_ci(SKIP);
        None
    }
}

/// The inputs: images `image.u8`, `image.f32`, `image.u16` (bits in Int16), `image.gray`
/// and masks `mask.u8`, `mask.i32`.
fn inputs() -> Vec<(String, Tensor)> {
    let (h, w) = (61i64, 83i64);
    let y = Tensor::arange(h, (Kind::Float, tch::Device::Cpu)).view([h, 1]);
    let x = Tensor::arange(w, (Kind::Float, tch::Device::Cpu)).view([1, w]);
    // A disc, a bar and a checkerboard over three gradients.
    let disc = ((&y - 30.0).square() + (&x - 25.0).square()).lt(15.0 * 15.0);
    let bar = (&x - &y * 0.8 - 40.0).abs().lt(5.0);
    let checks = ((&x / 7.0).floor() + (&y / 5.0).floor()).remainder(2.0);
    let r = (&x * 3.0 + &y).remainder(256.0);
    let g = (&y * 4.0 + checks * 60.0).clamp(0.0, 255.0);
    let b = ((&x - &y).abs() * 2.5 + 20.0).clamp(0.0, 255.0);
    let image = Tensor::stack(&[r, g, b], 0);
    let image = image.where_self(&disc.logical_not(), &(255.0 - &image));
    let image = image
        .where_self(&bar.logical_not(), &(&image * 0.3))
        .floor();
    let u8 = image.to_kind(Kind::Uint8);
    let mask = Tensor::zeros([h, w], (Kind::Int, tch::Device::Cpu))
        + disc.to_kind(Kind::Int)
        + bar.to_kind(Kind::Int) * 2
        + x.ge(70.0).to_kind(Kind::Int) * 3;
    let u16 = (image * 257.0 + (&x + &y) * 3.0)
        .clamp(0.0, 65535.0)
        .to_kind(Kind::Int)
        .to_kind(Kind::Int16);
    vec![
        ("image.f32".into(), u8.to_kind(Kind::Float) / 255.0),
        ("image.gray".into(), u8.narrow(0, 1, 1).contiguous()),
        ("image.u16".into(), u16),
        ("image.u8".into(), u8),
        ("mask.u8".into(), mask.to_kind(Kind::Uint8)),
        ("mask.i32".into(), mask),
    ]
}

/// A case: its name, image, mask and draw.
struct Case {
    name: &'static str,
    image: &'static str,
    mask: &'static str,
    draw: Draw,
}

/// A draw with only `geometry`.
fn crop(geometry: Geometry) -> Draw {
    Draw {
        geometry: Some(geometry),
        ..Draw::default()
    }
}

/// A draw with only a rotation.
fn rotation(degrees: f64, interpolation: Interpolation) -> Draw {
    Draw {
        rotate: Some(Rotation {
            degrees,
            interpolation,
        }),
        ..Draw::default()
    }
}

/// A draw with only colour adjustments.
fn jitter(color: &[(ColorOp, f64)]) -> Draw {
    Draw {
        color: color.to_vec(),
        ..Draw::default()
    }
}

/// Every case compared.
fn cases() -> Vec<Case> {
    use ColorOp::{Brightness, Contrast, Saturation};
    use Interpolation::{Bilinear, Nearest};
    let up = Geometry::ResizedCrop {
        top: 7,
        left: 11,
        height: 40,
        width: 57,
        size: (48, 64),
    };
    let down = Geometry::ResizedCrop {
        top: 3,
        left: 5,
        height: 55,
        width: 70,
        size: (24, 31),
    };
    let bigger = Geometry::ScaledCrop {
        scaled: (84, 114),
        top: 9,
        left: 30,
        size: (64, 64),
    };
    let smaller = Geometry::ScaledCrop {
        scaled: (43, 59),
        top: 0,
        left: 0,
        size: (48, 64),
    };
    let order1 = [(Contrast, 0.6), (Brightness, 1.3), (Saturation, 1.7)];
    let order2 = [(Saturation, 0.4), (Brightness, 0.8), (Contrast, 1.25)];
    let flips = Draw {
        hflip: true,
        vflip: true,
        rot90: 1,
        ..Draw::default()
    };
    let all = Draw {
        geometry: Some(up.clone()),
        hflip: true,
        vflip: false,
        rot90: 3,
        rotate: Some(Rotation {
            degrees: -7.0,
            interpolation: Bilinear,
        }),
        color: order1.to_vec(),
    };
    let case = |name, image, mask, draw| Case {
        name,
        image,
        mask,
        draw,
    };
    vec![
        case("crop_up_u8", "u8", "u8", crop(up.clone())),
        case("crop_up_f32", "f32", "u8", crop(up.clone())),
        case("crop_up_u16", "u16", "i32", crop(up)),
        case("crop_down_u8", "u8", "u8", crop(down.clone())),
        case("crop_down_f32", "f32", "i32", crop(down)),
        case("scale_up_u8", "u8", "u8", crop(bigger.clone())),
        case("scale_up_f32", "f32", "u8", crop(bigger)),
        case("scale_down_pad_u8", "u8", "u8", crop(smaller.clone())),
        case("scale_down_pad_u16", "u16", "i32", crop(smaller)),
        case("rotate_23_nearest_u8", "u8", "u8", rotation(23.5, Nearest)),
        case(
            "rotate_23_bilinear_u8",
            "u8",
            "u8",
            rotation(23.5, Bilinear),
        ),
        case("rotate_m7_nearest_u8", "u8", "i32", rotation(-7.0, Nearest)),
        case(
            "rotate_m7_bilinear_u8",
            "u8",
            "u8",
            rotation(-7.0, Bilinear),
        ),
        case(
            "rotate_23_bilinear_f32",
            "f32",
            "u8",
            rotation(23.5, Bilinear),
        ),
        case(
            "rotate_m7_bilinear_u16",
            "u16",
            "u8",
            rotation(-7.0, Bilinear),
        ),
        case("rotate_180_u8", "u8", "u8", rotation(-180.0, Bilinear)),
        case("jitter_1_u8", "u8", "u8", jitter(&order1)),
        case("jitter_2_u8", "u8", "u8", jitter(&order2)),
        case("jitter_1_f32", "f32", "u8", jitter(&order1)),
        case("jitter_2_f32", "f32", "u8", jitter(&order2)),
        case("jitter_1_u16", "u16", "u8", jitter(&order1)),
        case("jitter_2_gray", "gray", "u8", jitter(&order2)),
        case("flips_rot90_u8", "u8", "u8", flips),
        case("all_u8", "u8", "u8", all.clone()),
        case("all_f32", "f32", "i32", all),
    ]
}

/// The case's parameters as `peer/augment.py` reads them.
fn case_json(case: &Case) -> Value {
    let d = &case.draw;
    let geometry = match &d.geometry {
        None => Value::Null,
        Some(Geometry::ResizedCrop {
            top,
            left,
            height,
            width,
            size,
        }) => json!({"kind": "resized_crop", "top": top, "left": left, "height": height,
                     "width": width, "size": [size.0, size.1]}),
        Some(Geometry::ScaledCrop {
            scaled,
            top,
            left,
            size,
        }) => json!({"kind": "scaled_crop", "scaled": [scaled.0, scaled.1], "top": top,
                     "left": left, "size": [size.0, size.1]}),
    };
    let rotate = d.rotate.map(|r| {
        let mode = match r.interpolation {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
        };
        json!({"degrees": r.degrees, "interpolation": mode})
    });
    let color: Vec<Value> = d
        .color
        .iter()
        .map(|(op, f)| {
            let op = match op {
                ColorOp::Brightness => "brightness",
                ColorOp::Contrast => "contrast",
                ColorOp::Saturation => "saturation",
            };
            json!([op, f])
        })
        .collect();
    json!({"name": case.name, "image": case.image, "mask": case.mask, "ignore": 255,
           "geometry": geometry, "hflip": d.hflip, "vflip": d.vflip, "rot90": d.rot90,
           "rotate": rotate, "color": color})
}

/// Max abs difference and how many elements differ, of two tensors of one shape (u16
/// images compared as u16).
fn difference(ours: &Tensor, theirs: &Tensor, u16: bool) -> (f64, i64) {
    assert_eq!(ours.size(), theirs.size(), "shapes");
    assert_eq!(ours.kind(), theirs.kind(), "kinds");
    let widen = |t: &Tensor| {
        let t = t.to_kind(Kind::Double);
        if u16 {
            t.remainder(65536.0)
        } else {
            t
        }
    };
    let diff = (widen(ours) - widen(theirs)).abs();
    (
        diff.max().double_value(&[]),
        diff.gt(0.0).sum(Kind::Int64).int64_value(&[]),
    )
}

/// torchvision's results for every case, from `peer/augment.py`.
fn torchvision_side(python: &Path, dir: &Path) -> std::collections::HashMap<String, Tensor> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/augment.py");
    let out = Command::new(python)
        .arg(script)
        .arg("--input")
        .arg(dir.join("inputs.safetensors"))
        .arg("--cases")
        .arg(dir.join("cases.json"))
        .arg("--output")
        .arg(dir.join("out.safetensors"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "peer/augment.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Tensor::read_safetensors(dir.join("out.safetensors"))
        .expect("read torchvision's results")
        .into_iter()
        .collect()
}

#[test]
fn apply_matches_torchvision_transforms_v2_bitwise() {
    let Some(python) = torchvision_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let inputs = inputs();
    Tensor::write_safetensors(&inputs, dir.path().join("inputs.safetensors")).expect("write");
    let cases = cases();
    let text = serde_json::to_string(&cases.iter().map(case_json).collect::<Vec<_>>());
    std::fs::write(dir.path().join("cases.json"), text.expect("json")).expect("write cases");
    let theirs = torchvision_side(&python, dir.path());
    let input = |name: String| &inputs.iter().find(|(n, _)| *n == name).expect(&name).1;
    let config = AugmentConfig::default();
    let mut report = Vec::new();
    for case in &cases {
        let image = input(format!("image.{}", case.image));
        let mask = input(format!("mask.{}", case.mask));
        let (ours_image, ours_mask) = config
            .apply(&case.draw, image, mask, Some(255))
            .expect(case.name);
        let theirs_image = &theirs[&format!("{}.image", case.name)];
        let theirs_mask = &theirs[&format!("{}.mask", case.name)];
        let (image_max, image_n) = difference(&ours_image, theirs_image, case.image == "u16");
        let (mask_max, mask_n) = difference(&ours_mask, theirs_mask, false);
        report.push(format!(
            "{}: image max {image_max}, {image_n} of {} differ; mask max {mask_max}, {mask_n} \
             differ",
            case.name,
            ours_image.numel()
        ));
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert!(
        report
            .lines()
            .all(|l| l.contains("max 0, 0 of") && l.ends_with("max 0, 0 differ")),
        "not bitwise torchvision's:\n{report}"
    );
}
