//! Unit tests of the augmentation's kernels: sizes, kinds, fills and the errors of inputs
//! and draws they cannot apply (their parity with torchvision is `tests/augment.rs`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::tests::everything;
use super::*;

/// A 3×`h`×`w` uint8 image of distinct-ish values and a uint8 mask of 3 classes.
fn image_and_mask(h: i64, w: i64) -> (Tensor, Tensor) {
    let image = Tensor::arange(3 * h * w, (Kind::Int64, Device::Cpu))
        .remainder(251)
        .to_kind(Kind::Uint8)
        .view([3, h, w]);
    let mask = Tensor::arange(h * w, (Kind::Int64, Device::Cpu))
        .remainder(3)
        .to_kind(Kind::Uint8)
        .view([h, w]);
    (image, mask)
}

/// Whether two tensors are equal in shape, kind and every value.
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.kind() == b.kind() && a.equal(b)
}

#[test]
fn identity_draw_returns_the_input() {
    let (image, mask) = image_and_mask(7, 9);
    let (i, m) = AugmentConfig::default()
        .apply(&Draw::default(), &image, &mask, None)
        .expect("apply");
    assert!(same(&i, &image) && same(&m, &mask));
}

#[test]
fn flips_and_turns_undo_themselves() {
    let (image, mask) = image_and_mask(6, 6);
    let config = AugmentConfig::default();
    let draw = Draw {
        hflip: true,
        vflip: true,
        rot90: 2,
        ..Draw::default()
    };
    // Both flips are a half turn: with two more quarter turns, the input.
    let (i, m) = config.apply(&draw, &image, &mask, None).expect("apply");
    assert!(same(&i, &image) && same(&m, &mask));
    let quarter = Draw {
        rot90: 1,
        ..Draw::default()
    };
    let (i, _) = config.apply(&quarter, &image, &mask, None).expect("apply");
    // Counter-clockwise: the top row's last pixel goes to the first column's top.
    assert_eq!(
        i.int64_value(&[0, 0, 0]),
        image.int64_value(&[0, 0, 5]),
        "torch.rot90 turns counter-clockwise"
    );
}

#[test]
fn padding_fills_masks_with_ignore_index() {
    let (image, mask) = image_and_mask(5, 6);
    let draw = Draw {
        geometry: Some(Geometry::ScaledCrop {
            scaled: (5, 6),
            top: 0,
            left: 0,
            size: (8, 7),
        }),
        ..Draw::default()
    };
    let (i, m) = AugmentConfig::default()
        .apply(&draw, &image, &mask, Some(255))
        .expect("apply");
    assert_eq!((i.size(), m.size()), (vec![3, 8, 7], vec![8, 7]));
    assert!(same(&i.narrow(1, 0, 5).narrow(2, 0, 6), &image));
    assert!(same(&m.narrow(0, 0, 5).narrow(1, 0, 6), &mask));
    assert_eq!(i.narrow(1, 5, 3).sum(Kind::Int64).int64_value(&[]), 0);
    assert_eq!(i.narrow(2, 6, 1).sum(Kind::Int64).int64_value(&[]), 0);
    assert!(m.narrow(0, 5, 3).eq(255).all().int64_value(&[]) == 1);
    assert!(m.narrow(1, 6, 1).eq(255).all().int64_value(&[]) == 1);
}

#[test]
fn padding_needs_ignore_index_and_pad() {
    let (image, mask) = image_and_mask(5, 6);
    let draw = Draw {
        geometry: Some(Geometry::ScaledCrop {
            scaled: (5, 6),
            top: 0,
            left: 0,
            size: (8, 6),
        }),
        ..Draw::default()
    };
    let config = AugmentConfig::default();
    let e = config
        .apply(&draw, &image, &mask, None)
        .expect_err("no ignore");
    assert!(e.to_string().contains("ignore_index"), "{e}");
    let no_pad = AugmentConfig {
        pad: false,
        ..AugmentConfig::default()
    };
    let e = no_pad
        .apply(&draw, &image, &mask, Some(255))
        .expect_err("pad false");
    assert!(e.to_string().contains("pad = true"), "{e}");
}

#[test]
fn a_rotation_fills_mask_corners_with_ignore_index_and_image_corners_with_0() {
    let image = Tensor::full([1, 9, 9], 200, (Kind::Uint8, Device::Cpu));
    let mask = Tensor::full([9, 9], 1, (Kind::Int, Device::Cpu));
    let draw = Draw {
        rotate: Some(Rotation {
            degrees: 45.0,
            interpolation: Interpolation::Nearest,
        }),
        ..Draw::default()
    };
    let config = AugmentConfig::default();
    let (i, m) = config.apply(&draw, &image, &mask, Some(-1)).expect("apply");
    assert_eq!((i.int64_value(&[0, 0, 0]), m.int64_value(&[0, 0])), (0, -1));
    assert_eq!(
        (i.int64_value(&[0, 4, 4]), m.int64_value(&[4, 4])),
        (200, 1)
    );
    assert_eq!(m.kind(), Kind::Int);
    let e = config
        .apply(&draw, &image, &mask, None)
        .expect_err("no ignore");
    assert!(format!("{e:#}").contains("ignore_index"), "{e:#}");
}

#[test]
fn half_turns_need_no_fill() {
    let (image, mask) = image_and_mask(4, 7);
    let draw = Draw {
        rotate: Some(Rotation {
            degrees: -180.0,
            interpolation: Interpolation::Bilinear,
        }),
        ..Draw::default()
    };
    let (i, m) = AugmentConfig::default()
        .apply(&draw, &image, &mask, None)
        .expect("apply");
    assert!(same(&i, &image.rot90(2, [-2, -1])) && same(&m, &mask.rot90(2, [-2, -1])));
}

#[test]
fn random_draws_give_the_crop_size_and_keep_kinds() {
    let config = AugmentConfig {
        rotate: Some(Rotate {
            interpolation: Interpolation::Bilinear,
            ..Rotate::default()
        }),
        ..everything()
    };
    let (image, mask) = image_and_mask(30, 41);
    let images = [
        image.shallow_clone(),
        image.to_kind(Kind::Int16) * 250,
        image.to_kind(Kind::Float) / 255.0,
    ];
    let masks = [
        mask.shallow_clone(),
        mask.to_kind(Kind::Int16),
        mask.to_kind(Kind::Int),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (image, mask) in images.iter().zip(&masks) {
        for _ in 0..10 {
            let draw = config.draw(&mut rng, (30, 41), Some((24, 24)));
            let (i, m) = config.apply(&draw, image, mask, Some(255)).expect("apply");
            assert_eq!((i.size(), m.size()), (vec![3, 24, 24], vec![24, 24]));
            assert_eq!((i.kind(), m.kind()), (image.kind(), mask.kind()));
        }
    }
}

#[test]
fn sixteen_bit_images_keep_values_above_32767() {
    // u16 65535 and 40000 as the bits of Int16.
    let values = [65535i64, 40000, 1000, 0];
    let image = Tensor::from_slice(&values)
        .to_kind(Kind::Int)
        .to_kind(Kind::Int16)
        .view([1, 2, 2]);
    let mask = Tensor::zeros([2, 2], (Kind::Uint8, Device::Cpu));
    let draw = Draw {
        hflip: true,
        color: vec![(ColorOp::Brightness, 1.5)],
        ..Draw::default()
    };
    let (i, _) = AugmentConfig::default()
        .apply(&draw, &image, &mask, None)
        .expect("apply");
    assert_eq!(i.kind(), Kind::Int16);
    let u16: Vec<i64> =
        Vec::try_from(i.to_kind(Kind::Int).bitwise_and(0xFFFF).view([-1])).expect("values");
    // Flipped, then ×1.5 clamped to 65535.
    assert_eq!(u16, [60000, 65535, 0, 1500]);
}

#[test]
fn brightness_clamps_uint8_at_255_and_truncates() {
    let image = Tensor::from_slice(&[100u8, 200, 3]).view([1, 1, 3]);
    let mask = Tensor::zeros([1, 3], (Kind::Uint8, Device::Cpu));
    let draw = Draw {
        color: vec![(ColorOp::Brightness, 1.5)],
        ..Draw::default()
    };
    let (i, _) = AugmentConfig::default()
        .apply(&draw, &image, &mask, None)
        .expect("apply");
    assert_eq!(
        Vec::<u8>::try_from(i.view([-1])).expect("values"),
        [150, 255, 4]
    );
}

#[test]
fn apply_rejects_inputs_it_cannot_augment() {
    let (image, mask) = image_and_mask(4, 5);
    let config = AugmentConfig::default();
    let none = Draw::default();
    let bad: [(&str, Tensor, Tensor, Option<i64>); 6] = [
        ("Int64 image", image.to_kind(Kind::Int64), mask.copy(), None),
        ("Float mask", image.copy(), mask.to_kind(Kind::Float), None),
        ("sizes differ", image.copy(), mask.narrow(0, 0, 3), None),
        ("2-D image", image.select(0, 0), mask.copy(), None),
        (
            "empty image",
            image.narrow(2, 0, 0),
            mask.narrow(1, 0, 0),
            None,
        ),
        ("ignore past u8", image.copy(), mask.copy(), Some(300)),
    ];
    for (what, image, mask, ignore) in bad {
        assert!(
            config.apply(&none, &image, &mask, ignore).is_err(),
            "{what}"
        );
    }
}

#[test]
fn apply_rejects_draws_outside_the_image() {
    let (image, mask) = image_and_mask(4, 5);
    let config = AugmentConfig::default();
    let region = |top, height, size| Draw {
        geometry: Some(Geometry::ResizedCrop {
            top,
            left: 0,
            height,
            width: 5,
            size,
        }),
        ..Draw::default()
    };
    let offset = Draw {
        geometry: Some(Geometry::ScaledCrop {
            scaled: (4, 5),
            top: 1,
            left: 0,
            size: (4, 4),
        }),
        ..Draw::default()
    };
    let bad = [
        ("region past the bottom", region(1, 4, (4, 4))),
        ("negative top", region(-1, 2, (4, 4))),
        ("empty output", region(0, 4, (0, 4))),
        ("huge output", region(0, 4, (1 << 20, 4))),
        ("offset past the bottom", offset),
        (
            "five quarter turns",
            Draw {
                rot90: 5,
                ..Draw::default()
            },
        ),
        (
            "negative factor",
            Draw {
                color: vec![(ColorOp::Contrast, -1.0)],
                ..Draw::default()
            },
        ),
    ];
    for (what, draw) in bad {
        assert!(
            config.apply(&draw, &image, &mask, Some(255)).is_err(),
            "{what}"
        );
    }
    let four = Tensor::zeros([4, 4, 5], (Kind::Uint8, Device::Cpu));
    let jitter = Draw {
        color: vec![(ColorOp::Brightness, 1.1)],
        ..Draw::default()
    };
    assert!(
        config.apply(&jitter, &four, &mask, None).is_err(),
        "4 channels"
    );
}
