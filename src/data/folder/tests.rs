//! Tests of the folder loader on small datasets written to temporary folders: pairing,
//! decoding, class maps, resizing, normalisation and the errors bad files give.

use super::*;
use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};
use std::fs::File;

/// A 16×16 image whose pixels encode `seed`, and its index mask: the left half class
/// `a`, the right half class `b`.
pub(super) fn write_pair(root: &Path, split: &str, stem: &str, seed: u8, a: u8, b: u8) {
    let (images, masks) = (
        root.join("images").join(split),
        root.join("masks").join(split),
    );
    std::fs::create_dir_all(&images).expect("mkdir");
    std::fs::create_dir_all(&masks).expect("mkdir");
    RgbImage::from_fn(16, 16, |x, y| Rgb([seed, (x * 16) as u8, (y * 16) as u8]))
        .save(images.join(format!("{stem}.png")))
        .expect("image");
    GrayImage::from_fn(16, 16, |x, _| Luma([if x < 8 { a } else { b }]))
        .save(masks.join(format!("{stem}.png")))
        .expect("mask");
}

/// `n` grayscale 16×16 images `image/img_XX.png` (every pixel `XX`) and their 0/255
/// masks `label/img_XX.png` (left half 0, right half 255), and the configuration that
/// reads them as two classes without a split folder (a fraction or folds make the
/// splits).
pub(super) fn write_flat(root: &Path, n: usize) -> FolderConfig {
    std::fs::create_dir_all(root.join("image")).expect("mkdir");
    std::fs::create_dir_all(root.join("label")).expect("mkdir");
    for i in 0..n {
        GrayImage::from_pixel(16, 16, Luma([i as u8]))
            .save(root.join(format!("image/img_{i:02}.png")))
            .expect("image");
        GrayImage::from_fn(16, 16, |x, _| Luma([if x < 8 { 0 } else { 255 }]))
            .save(root.join(format!("label/img_{i:02}.png")))
            .expect("mask");
    }
    FolderConfig {
        root: root.to_path_buf(),
        images: "image".into(),
        masks: "label".into(),
        normalize: false,
        class_map: Some(BTreeMap::from([
            ("0".into(), ClassTarget::Index(0)),
            ("255".into(), ClassTarget::Index(1)),
        ])),
        ..Default::default()
    }
}

/// Two training and one validation pair with labels 0, 1, 2 and 255.
pub(super) fn small(root: &Path) -> FolderConfig {
    write_pair(root, "train", "a", 10, 0, 1);
    write_pair(root, "train", "b", 20, 2, 255);
    write_pair(root, "val", "c", 30, 1, 2);
    FolderConfig {
        root: root.to_path_buf(),
        normalize: false,
        ignore_index: Some(255),
        ..Default::default()
    }
}

pub(super) fn error(config: &FolderConfig) -> String {
    match config.load() {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn pairs_images_and_masks_by_stem_into_tensors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = small(dir.path()).load().expect("loads");
    assert_eq!(
        crate::data::feed::split_tensors(&data, &data.train)
            .0
            .size(),
        [2, 3, 16, 16]
    );
    assert_eq!(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .size(),
        [2, 16, 16]
    );
    assert_eq!(data.val.len(), 1);
    assert_eq!(data.class_names, ["class_0", "class_1", "class_2"]);
    assert_eq!(data.ignore_index, Some(255));
    // Sorted by name: a (seed 10) then b (seed 20); red channel holds the seed.
    let red = crate::data::feed::split_tensors(&data, &data.train)
        .0
        .get(1)
        .get(0)
        .get(0)
        .get(0)
        .double_value(&[]);
    assert!((red - 20.0 / 255.0).abs() < 1e-6, "{red}");
    let labels = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .get(1)
            .get(0),
    )
    .expect("row");
    assert_eq!(labels[..8], [2; 8]);
    assert_eq!(labels[8..], [255; 8]);
}

#[test]
fn dataset_json_names_the_classes_and_gives_the_palette_and_ignore_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    config.ignore_index = None;
    std::fs::write(
        dir.path().join("dataset.json"),
        r#"{"classes": ["sky", "road", "car"], "palette": [[1,2,3],[4,5,6],[7,8,9]], "ignore_index": 255}"#,
    )
    .expect("write");
    let data = config.load().expect("loads");
    assert_eq!(data.class_names, ["sky", "road", "car"]);
    assert_eq!(data.palette, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    assert_eq!(data.ignore_index, Some(255));
}

#[test]
fn sixteen_bit_index_masks_keep_their_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small(dir.path());
    let mask: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(16, 16, |x, _| Luma([if x < 4 { 255 } else { 1 }]));
    mask.save(dir.path().join("masks/val/c.png")).expect("mask");
    let data = config.load().expect("loads");
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.val)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    assert_eq!(row[..4], [255; 4]);
    assert_eq!(row[4..], [1; 12]);
}

fn write_palette_png(path: &Path, indices: &[u8], palette: &[u8]) {
    let file = std::io::BufWriter::new(File::create(path).expect("create"));
    let mut encoder = png::Encoder::new(file, 16, 16);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette.to_vec());
    let mut writer = encoder.write_header().expect("header");
    writer.write_image_data(indices).expect("data");
}

#[test]
fn palette_masks_are_read_by_index_and_their_colours_kept_for_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small(dir.path());
    let palette = [200, 0, 0, 0, 200, 0, 0, 0, 200];
    let indices: Vec<u8> = (0..256).map(|i| (i % 3) as u8).collect();
    for path in ["masks/train/a.png", "masks/train/b.png", "masks/val/c.png"] {
        write_palette_png(&dir.path().join(path), &indices, &palette);
    }
    let data = config.load().expect("loads");
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    assert_eq!(row[..4], [0, 1, 2, 0]);
    assert_eq!(data.palette, [[200, 0, 0], [0, 200, 0], [0, 0, 200]]);
}

#[test]
fn rgb_colour_masks_map_through_the_palette_and_an_unknown_colour_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    config.palette = Some(vec![[0, 0, 0], [255, 0, 0], [0, 255, 0]]);
    config.ignore_color = Some([255, 255, 255]);
    let colour = |x: u32| match x % 4 {
        0 => Rgb([0, 0, 0]),
        1 => Rgb([255, 0, 0]),
        2 => Rgb([0, 255, 0]),
        _ => Rgb([255, 255, 255]),
    };
    for path in ["masks/train/a.png", "masks/train/b.png", "masks/val/c.png"] {
        RgbImage::from_fn(16, 16, |x, _| colour(x))
            .save(dir.path().join(path))
            .expect("mask");
    }
    let data = config.load().expect("loads");
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.val)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    assert_eq!(row[..4], [0, 1, 2, 255]);

    RgbImage::from_fn(16, 16, |x, y| {
        if (x, y) == (5, 3) {
            Rgb([9, 9, 9])
        } else {
            colour(x)
        }
    })
    .save(dir.path().join("masks/train/b.png"))
    .expect("mask");
    let err = error(&config);
    assert!(err.contains("masks/train/b.png"), "{err}");
    assert!(
        err.contains("colour (9, 9, 9) at row 3, column 5 is not in the palette"),
        "{err}"
    );

    config.palette = None;
    let err = error(&config);
    assert!(
        err.contains("RGB colour mask but no palette is given"),
        "{err}"
    );
}

#[test]
fn class_map_merges_labels_by_number_or_name_and_can_ignore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    std::fs::write(
        dir.path().join("dataset.json"),
        r#"{"classes": ["sky", "road", "car"]}"#,
    )
    .expect("write");
    config.classes = Some(vec!["background".into(), "thing".into()]);
    config.class_map = Some(BTreeMap::from([
        ("sky".into(), ClassTarget::Name("background".into())),
        ("1".into(), ClassTarget::Index(1)),
        ("car".into(), ClassTarget::Name("ignore".into())),
    ]));
    let data = config.load().expect("loads");
    assert_eq!(data.class_names, ["background", "thing"]);
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.val)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    assert_eq!(row[..8], [1; 8]);
    assert_eq!(row[8..], [255; 8]);

    config.class_map = Some(BTreeMap::from([("0".into(), ClassTarget::Index(0))]));
    let err = error(&config);
    assert!(
        err.contains("label 1 at row 0, column 8 is not in data.class_map"),
        "{err}"
    );
}

#[test]
fn class_map_turns_0_and_255_into_classes_0_and_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_pair(root, "train", "a", 1, 0, 255);
    write_pair(root, "val", "b", 2, 255, 0);
    let config = FolderConfig {
        root: root.to_path_buf(),
        class_map: Some(BTreeMap::from([
            ("0".into(), ClassTarget::Index(0)),
            ("255".into(), ClassTarget::Index(1)),
        ])),
        ..Default::default()
    };
    let data = config.load().expect("loads");
    assert_eq!(data.num_classes(), 2);
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    assert_eq!(row[..8], [0; 8]);
    assert_eq!(row[8..], [1; 8]);
}

#[test]
fn class_map_to_a_class_that_does_not_exist_is_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    config.classes = Some(vec!["a".into(), "b".into()]);
    config.class_map = Some(BTreeMap::from([("0".into(), ClassTarget::Index(5))]));
    let err = config
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("maps to class 5, which does not exist"),
        "{err}"
    );
    config.class_map = Some(BTreeMap::from([(
        "0".into(),
        ClassTarget::Name("c".into()),
    )]));
    let err = config
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("maps to class `c`, which does not exist"),
        "{err}"
    );
}

#[test]
fn grayscale_jpeg_images_give_one_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small(dir.path());
    for (split, stem) in [("train", "a"), ("train", "b"), ("val", "c")] {
        let png = dir.path().join(format!("images/{split}/{stem}.png"));
        std::fs::remove_file(&png).expect("rm");
        GrayImage::from_fn(16, 16, |x, _| Luma([(x * 10) as u8]))
            .save(dir.path().join(format!("images/{split}/{stem}.jpg")))
            .expect("jpeg");
    }
    let data = config.load().expect("loads");
    assert_eq!(data.in_channels(), 1);
}

#[test]
fn resize_and_crop_give_the_asked_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    config.resize = Some([32, 40]);
    config.crop = Some([32, 32]);
    let data = config.load().expect("loads");
    assert_eq!(data.image_size(), (32, 32));
    assert_eq!(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .size(),
        [2, 32, 32]
    );
    let row = Vec::<i64>::try_from(
        crate::data::feed::split_tensors(&data, &data.train)
            .1
            .get(0)
            .get(0),
    )
    .expect("row");
    // Nearest-neighbour resizing keeps labels; 40 wide cropped by 4 each side.
    assert!(row.iter().all(|v| *v == 0 || *v == 1), "{row:?}");
    config.crop = Some([64, 64]);
    assert!(error(&config).contains("data.crop [64, 64] is larger than"));
}

#[test]
fn normalisation_uses_the_training_split_and_display_undoes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    config.normalize = true;
    let data = config.load().expect("loads");
    let dims = [0i64, 2, 3];
    let mean = crate::data::feed::split_tensors(&data, &data.train)
        .0
        .mean_dim(dims.as_slice(), false, tch::Kind::Double);
    assert!(mean.abs().max().double_value(&[]) < 1e-5);
    let shown = data.display_images(&data.train, 2).expect("shown").images;
    let red = shown.get(1).get(0).get(0).get(0).double_value(&[]);
    assert!((red - 20.0 / 255.0).abs() < 1e-5, "{red}");
}

#[test]
fn bad_files_are_errors_that_name_the_file_and_the_value() {
    type Case = (&'static str, Box<dyn Fn(&Path)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "image without mask",
            Box::new(|r| std::fs::remove_file(r.join("masks/train/b.png")).expect("rm")),
            "images/train/b.png has no mask: expected",
        ),
        (
            "mask without image",
            Box::new(|r| std::fs::remove_file(r.join("images/train/a.png")).expect("rm")),
            "masks/train/a.png has no image",
        ),
        (
            "size mismatch",
            Box::new(|r| {
                GrayImage::new(8, 16).save(r.join("masks/train/a.png")).expect("mask")
            }),
            "size mismatch: mask",
        ),
        (
            "label out of range",
            Box::new(|r| {
                GrayImage::from_pixel(16, 16, Luma([7]))
                    .save(r.join("masks/val/c.png"))
                    .expect("mask");
                std::fs::write(r.join("dataset.json"), r#"{"classes": ["a", "b", "c"]}"#)
                    .expect("json")
            }),
            "label 7 at row 0, column 0 is not a class (0..=2, 3 classes) nor data.ignore_index (255)",
        ),
        (
            "empty split",
            Box::new(|r| {
                std::fs::remove_file(r.join("images/val/c.png")).expect("rm");
                std::fs::remove_file(r.join("masks/val/c.png")).expect("rm")
            }),
            "split `val` is empty",
        ),
        (
            "zero-byte image",
            Box::new(|r| std::fs::write(r.join("images/train/a.png"), b"").expect("write")),
            "images/train/a.png is empty (0 bytes)",
        ),
        (
            "unreadable image",
            Box::new(|r| std::fs::write(r.join("images/train/a.png"), b"not a png").expect("write")),
            "cannot decode the image",
        ),
        (
            "JPEG named .png as mask",
            Box::new(|r| {
                let jpeg = r.join("x.jpg");
                GrayImage::new(16, 16).save(&jpeg).expect("jpeg");
                std::fs::rename(&jpeg, r.join("masks/train/a.png")).expect("mv")
            }),
            "masks/train/a.png is a JPEG file: masks must be lossless PNG",
        ),
        (
            "missing split folder",
            Box::new(|r| std::fs::remove_dir_all(r.join("masks/val")).expect("rm")),
            "cannot read the folder",
        ),
    ];
    for (name, break_it, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small(dir.path());
        break_it(dir.path());
        let err = error(&config);
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn a_missing_root_is_refused_with_the_path() {
    let config = FolderConfig {
        root: PathBuf::from("/nonexistent/camvid"),
        ..Default::default()
    };
    let err = config
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("`/nonexistent/camvid` does not exist"),
        "{err}"
    );
}
