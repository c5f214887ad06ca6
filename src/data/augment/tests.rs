//! Unit tests of the augmentation's table, its checks and its draws.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

/// A config read from the lines of a `[data.augment]` table.
fn parse(text: &str) -> Result<AugmentConfig, toml::de::Error> {
    toml::from_str(text)
}

/// A config with every operation set.
pub(super) fn everything() -> AugmentConfig {
    AugmentConfig {
        resized_crop: None,
        scale: Some([0.5, 2.0]),
        hflip: Some(0.5),
        vflip: Some(0.5),
        rotate90: Some(0.5),
        rotate: Some(Rotate::default()),
        jitter: Some(Jitter {
            brightness: Some(Range::Value(0.2)),
            contrast: Some(Range::Pair([0.8, 1.2])),
            saturation: Some(Range::Value(0.3)),
            p: 0.8,
        }),
        ..AugmentConfig::default()
    }
}

/// The key `config.validate(crop)` rejects.
fn rejected_key(config: &AugmentConfig, crop: Option<[u32; 2]>) -> String {
    match config.validate(crop) {
        Ok(()) => panic!("{config:?} passes validation"),
        Err((key, message)) => {
            assert!(!message.is_empty(), "{key} has a message");
            key
        }
    }
}

#[test]
fn an_empty_table_is_the_default_and_sets_no_optional_key() {
    let config = parse("").expect("empty table");
    assert_eq!(config, AugmentConfig::default());
    assert_eq!(config.split, "train");
    assert!(config.pad);
    let table = toml::Table::try_from(&config).expect("serialise");
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(keys, ["split", "pad"]);
}

#[test]
fn optional_keys_are_the_keys_a_full_table_adds() {
    let mut config = everything();
    config.resized_crop = Some(ResizedCrop::default());
    let table = toml::Table::try_from(&config).expect("serialise");
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.retain(|k| !["split", "pad"].contains(k));
    keys.sort_unstable();
    let mut optional = OPTIONAL_KEYS.to_vec();
    optional.sort_unstable();
    assert_eq!(keys, optional);
}

#[test]
fn a_table_round_trips_through_toml() {
    let config = everything();
    let text = toml::to_string(&config).expect("serialise");
    assert_eq!(parse(&text).expect("read back"), config);
}

#[test]
fn numbers_and_pairs_are_read_as_ranges() {
    let config = parse(
        "rotate = { degrees = 15, interpolation = \"bilinear\" }\n\
         jitter = { brightness = 0.2, contrast = [0.5, 1.5] }\nhflip = 1",
    )
    .expect("table");
    let rotate = config.rotate.expect("rotate");
    assert_eq!(rotate.degrees, Range::Value(15.0));
    assert_eq!(rotate.degrees.around_zero(), [-15.0, 15.0]);
    assert_eq!(rotate.interpolation, Interpolation::Bilinear);
    assert_eq!(rotate.p, 1.0);
    let jitter = config.jitter.expect("jitter");
    assert_eq!(jitter.brightness.map(Range::around_one), Some([0.8, 1.2]));
    assert_eq!(jitter.contrast.map(Range::around_one), Some([0.5, 1.5]));
    assert_eq!(Range::Value(1.5).around_one(), [0.0, 2.5]);
    assert_eq!(config.hflip, Some(1.0));
}

#[test]
fn unknown_keys_are_rejected() {
    assert!(parse("hflipp = 0.5").is_err());
    assert!(parse("rotate = { degree = 5 }").is_err());
    assert!(parse("jitter = { hue = 0.1 }").is_err());
    assert!(parse("resized_crop = { area = [0.1, 1.0] }").is_err());
}

#[test]
fn validate_accepts_a_full_table() {
    assert_eq!(everything().validate(Some([64, 64])), Ok(()));
    let config = AugmentConfig {
        resized_crop: Some(ResizedCrop::default()),
        ..AugmentConfig::default()
    };
    assert_eq!(config.validate(Some([32, 48])), Ok(()));
    assert_eq!(AugmentConfig::default().validate(None), Ok(()));
}

/// Sets one probability of a config.
type Setter = fn(&mut AugmentConfig, f64);

#[test]
fn validate_rejects_a_probability_outside_0_to_1() {
    for p in [1.5, -0.1, f64::NAN] {
        let config = |f: Setter| {
            let mut c = AugmentConfig::default();
            f(&mut c, p);
            c
        };
        let cases: [(Setter, &str); 5] = [
            (|c, p| c.hflip = Some(p), "hflip"),
            (|c, p| c.vflip = Some(p), "vflip"),
            (|c, p| c.rotate90 = Some(p), "rotate90"),
            (
                |c, p| {
                    c.rotate = Some(Rotate {
                        p,
                        ..Rotate::default()
                    })
                },
                "rotate.p",
            ),
            (
                |c, p| {
                    c.jitter = Some(Jitter {
                        brightness: Some(Range::Value(0.1)),
                        p,
                        ..Jitter::default()
                    })
                },
                "jitter.p",
            ),
        ];
        for (set, key) in cases {
            assert_eq!(rejected_key(&config(set), Some([8, 8])), key, "p = {p}");
        }
    }
}

#[test]
fn validate_rejects_a_rotation_outside_minus_180_to_180() {
    for degrees in [
        Range::Pair([-190.0, 10.0]),
        Range::Pair([0.0, 180.5]),
        Range::Pair([10.0, -10.0]),
        Range::Pair([f64::NAN, 10.0]),
        Range::Value(200.0),
        Range::Value(-5.0),
        Range::Value(f64::NAN),
    ] {
        let config = AugmentConfig {
            rotate: Some(Rotate {
                degrees,
                ..Rotate::default()
            }),
            ..AugmentConfig::default()
        };
        assert_eq!(rejected_key(&config, None), "rotate.degrees", "{degrees:?}");
    }
}

#[test]
fn validate_rejects_resized_crop_ranges_outside_theirs() {
    let with = |scale, ratio| AugmentConfig {
        resized_crop: Some(ResizedCrop { scale, ratio }),
        ..AugmentConfig::default()
    };
    let ratio = ResizedCrop::default().ratio;
    for scale in [[0.0, 1.0], [0.5, 1.2], [0.9, 0.5], [f64::NAN, 1.0]] {
        let key = rejected_key(&with(scale, ratio), Some([8, 8]));
        assert_eq!(key, "resized_crop.scale", "{scale:?}");
    }
    for ratio in [
        [0.0, 1.0],
        [2.0, 1.0],
        [1.0, f64::INFINITY],
        [f64::NAN, 1.0],
    ] {
        let key = rejected_key(&with([0.1, 1.0], ratio), Some([8, 8]));
        assert_eq!(key, "resized_crop.ratio", "{ratio:?}");
    }
}

#[test]
fn validate_rejects_scale_factors_outside_0_to_10() {
    for scale in [
        [0.0, 2.0],
        [1.0, 11.0],
        [2.0, 1.0],
        [f64::NAN, 2.0],
        [-1.0, 2.0],
    ] {
        let config = AugmentConfig {
            scale: Some(scale),
            ..AugmentConfig::default()
        };
        assert_eq!(rejected_key(&config, Some([8, 8])), "scale", "{scale:?}");
    }
}

#[test]
fn validate_rejects_negative_or_reversed_jitter_factors() {
    let bad = [
        Range::Value(-0.1),
        Range::Value(f64::NAN),
        Range::Pair([1.2, 0.8]),
        Range::Pair([-0.1, 1.0]),
        Range::Pair([0.5, f64::NAN]),
    ];
    for range in bad {
        let cases: [(Jitter, &str); 3] = [
            (
                Jitter {
                    brightness: Some(range),
                    ..Jitter::default()
                },
                "jitter.brightness",
            ),
            (
                Jitter {
                    contrast: Some(range),
                    ..Jitter::default()
                },
                "jitter.contrast",
            ),
            (
                Jitter {
                    saturation: Some(range),
                    ..Jitter::default()
                },
                "jitter.saturation",
            ),
        ];
        for (jitter, key) in cases {
            let config = AugmentConfig {
                jitter: Some(jitter),
                ..AugmentConfig::default()
            };
            assert_eq!(rejected_key(&config, None), key, "{range:?}");
        }
    }
}

#[test]
fn validate_rejects_a_jitter_that_sets_no_factor() {
    let config = AugmentConfig {
        jitter: Some(Jitter::default()),
        ..AugmentConfig::default()
    };
    assert_eq!(rejected_key(&config, None), "jitter");
}

#[test]
fn validate_rejects_resized_crop_and_scale_together() {
    let config = AugmentConfig {
        resized_crop: Some(ResizedCrop::default()),
        scale: Some([0.5, 2.0]),
        ..AugmentConfig::default()
    };
    assert_eq!(rejected_key(&config, Some([8, 8])), "scale");
}

#[test]
fn validate_rejects_a_resize_without_a_crop() {
    let resized = AugmentConfig {
        resized_crop: Some(ResizedCrop::default()),
        ..AugmentConfig::default()
    };
    assert_eq!(rejected_key(&resized, None), "resized_crop");
    let scaled = AugmentConfig {
        scale: Some([0.5, 2.0]),
        ..AugmentConfig::default()
    };
    assert_eq!(rejected_key(&scaled, None), "scale");
}

#[test]
fn validate_rejects_quarter_turns_with_a_non_square_crop() {
    let config = AugmentConfig {
        rotate90: Some(0.5),
        ..AugmentConfig::default()
    };
    assert_eq!(rejected_key(&config, Some([32, 48])), "rotate90");
    assert_eq!(config.validate(Some([32, 32])), Ok(()));
}

#[test]
fn is_identity_only_when_nothing_can_happen() {
    assert!(AugmentConfig::default().is_identity());
    let never = AugmentConfig {
        hflip: Some(0.0),
        ..AugmentConfig::default()
    };
    assert!(never.is_identity());
    assert!(!everything().is_identity());
    let scaled = AugmentConfig {
        scale: Some([1.0, 1.0]),
        ..AugmentConfig::default()
    };
    assert!(!scaled.is_identity());
}

#[test]
fn fills_masks_with_a_rotation_or_padding_to_a_crop() {
    let default = AugmentConfig::default();
    assert!(!default.fills_masks(None));
    assert!(default.fills_masks(Some([8, 8])));
    let no_pad = AugmentConfig {
        pad: false,
        ..AugmentConfig::default()
    };
    assert!(!no_pad.fills_masks(Some([8, 8])));
    let rotate = AugmentConfig {
        rotate: Some(Rotate::default()),
        pad: false,
        ..AugmentConfig::default()
    };
    assert!(rotate.fills_masks(None));
}

#[test]
fn a_draw_depends_only_on_the_rng_state() {
    let config = everything();
    let draws = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..20)
            .map(|_| config.draw(&mut rng, (61, 83), Some((48, 48))))
            .collect::<Vec<_>>()
    };
    assert_eq!(draws(7), draws(7));
    assert_ne!(draws(7), draws(8));
}

#[test]
fn an_identity_config_draws_nothing_from_the_rng() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let before = rng.clone();
    let draw = AugmentConfig::default().draw(&mut rng, (10, 12), None);
    assert_eq!(draw, Draw::default());
    assert_eq!(rng, before);
}

#[test]
fn resized_crops_lie_inside_the_image_within_the_ranges() {
    let config = AugmentConfig {
        resized_crop: Some(ResizedCrop::default()),
        ..AugmentConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..500 {
        let Some(Geometry::ResizedCrop {
            top,
            left,
            height,
            width,
            size,
        }) = config.draw(&mut rng, (61, 83), Some((32, 40))).geometry
        else {
            panic!("a resized crop");
        };
        assert_eq!(size, (32, 40));
        assert!(top >= 0 && left >= 0 && top + height <= 61 && left + width <= 83);
        let area = (height * width) as f64 / (61.0 * 83.0);
        assert!((0.06..=1.0).contains(&area), "area share {area}");
    }
}

#[test]
fn a_resized_crop_falls_back_to_the_central_crop() {
    // No crop of ratio 10 to 20 fits a square image: the fallback keeps the whole width.
    let config = AugmentConfig {
        resized_crop: Some(ResizedCrop {
            scale: [0.9, 1.0],
            ratio: [10.0, 20.0],
        }),
        ..AugmentConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let geometry = config.draw(&mut rng, (50, 50), Some((8, 8))).geometry;
    let central = Geometry::ResizedCrop {
        top: 22,
        left: 0,
        height: 5,
        width: 50,
        size: (8, 8),
    };
    assert_eq!(geometry, Some(central));
}

#[test]
fn rescales_keep_the_aspect_and_crop_inside_or_at_the_origin() {
    let config = AugmentConfig {
        scale: Some([0.5, 2.0]),
        ..AugmentConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (mut smaller, mut larger) = (0, 0);
    for _ in 0..300 {
        let Some(Geometry::ScaledCrop {
            scaled,
            top,
            left,
            size,
        }) = config.draw(&mut rng, (60, 90), Some((64, 64))).geometry
        else {
            panic!("a scaled crop");
        };
        assert_eq!(size, (64, 64));
        assert!((30..=120).contains(&scaled.0) && (45..=180).contains(&scaled.1));
        let f = scaled.1 as f64 / 90.0;
        assert!((scaled.0 as f64 - 60.0 * f).abs() <= 1.0, "{scaled:?}");
        assert!(top >= 0 && top <= (scaled.0 - 64).max(0));
        assert!(left >= 0 && left <= (scaled.1 - 64).max(0));
        if scaled.0 < 64 {
            smaller += 1;
        } else {
            larger += 1;
        }
    }
    assert!(smaller > 0 && larger > 0);
}

#[test]
fn a_crop_alone_is_drawn_when_data_crop_is_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let draw = AugmentConfig::default().draw(&mut rng, (20, 30), Some((16, 16)));
    let Some(Geometry::ScaledCrop {
        scaled,
        top,
        left,
        size,
    }) = draw.geometry
    else {
        panic!("a crop");
    };
    assert_eq!((scaled, size), ((20, 30), (16, 16)));
    assert!((0..=4).contains(&top) && (0..=14).contains(&left));
}

#[test]
fn certain_operations_always_happen_and_draw_in_their_ranges() {
    let config = AugmentConfig {
        hflip: Some(1.0),
        vflip: Some(0.0),
        rotate90: Some(1.0),
        rotate: Some(Rotate {
            degrees: Range::Pair([5.0, 7.0]),
            ..Rotate::default()
        }),
        ..everything()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut turns = [0; 4];
    for _ in 0..200 {
        let draw = config.draw(&mut rng, (32, 32), Some((32, 32)));
        assert!(draw.hflip && !draw.vflip);
        turns[draw.rot90 as usize] += 1;
        let degrees = draw.rotate.expect("a rotation").degrees;
        assert!((5.0..=7.0).contains(&degrees));
    }
    assert_eq!(turns[0], 0);
    assert!(turns[1..].iter().all(|&n| n > 30), "{turns:?}");
}

#[test]
fn jitter_draws_every_order_and_factors_in_range() {
    let config = everything();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut orders = std::collections::HashSet::new();
    let mut jittered = 0;
    for _ in 0..400 {
        let draw = config.draw(&mut rng, (16, 16), Some((16, 16)));
        if draw.color.is_empty() {
            continue;
        }
        jittered += 1;
        assert_eq!(draw.color.len(), 3);
        for &(op, f) in &draw.color {
            let [lo, hi] = match op {
                ColorOp::Brightness => [0.8, 1.2],
                ColorOp::Contrast => [0.8, 1.2],
                ColorOp::Saturation => [0.7, 1.3],
            };
            assert!((lo..=hi).contains(&f), "{op:?} {f}");
        }
        orders.insert(draw.color.iter().map(|c| c.0 as u8).collect::<Vec<_>>());
    }
    assert_eq!(orders.len(), 6);
    assert!(
        (280..=360).contains(&jittered),
        "p = 0.8 gave {jittered} of 400"
    );
}
