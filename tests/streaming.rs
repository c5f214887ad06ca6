//! Datasets kept in memory or streamed from their files, batches built by any number of
//! workers, augmented or not: the same batches, so the same frame bit for bit; and a file
//! that turns out corrupt while a run streams it fails that run alone, naming the file.

mod common;

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use lossbench::store::{bitwise_difference, read_parquet, TIMINGS};

/// `n` RGB images of 40×48 with structure (gradients, a disc whose place and colour
/// follow `i`) under `images/<split>`, and masks of classes 0..3 (255 on a border band)
/// under `masks/<split>`.
fn write_split(root: &Path, split: &str, n: u32) {
    let (images, masks) = (
        root.join("images").join(split),
        root.join("masks").join(split),
    );
    std::fs::create_dir_all(&images).expect("mkdir");
    std::fs::create_dir_all(&masks).expect("mkdir");
    for i in 0..n {
        let (cx, cy) = (10 + (i * 7) % 28, 8 + (i * 5) % 24);
        let inside =
            |x: u32, y: u32| (x as i32 - cx as i32).pow(2) + (y as i32 - cy as i32).pow(2) < 64;
        RgbImage::from_fn(48, 40, |x, y| {
            if inside(x, y) {
                Rgb([200, (40 * i % 255) as u8, 60])
            } else {
                Rgb([(x * 5) as u8, (y * 6) as u8, (i * 11 % 255) as u8])
            }
        })
        .save(images.join(format!("img_{i:02}.png")))
        .expect("image");
        GrayImage::from_fn(48, 40, |x, y| {
            Luma([match () {
                _ if y < 2 => 255,
                _ if inside(x, y) => 1 + (i % 2) as u8,
                _ if x > 40 => 3,
                _ => 0,
            }])
        })
        .save(masks.join(format!("img_{i:02}.png")))
        .expect("mask");
    }
}

/// A sweep over the folder dataset at `root` (12 training, 5 validation images), 2 epochs
/// of a small U-Net, with `extra` lines in `[base]` and the `grid`.
fn sweep(dir: &Path, root: &Path, name: &str, extra: &str, grid: &str) -> PathBuf {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nresults = \"{results}\"\n\
         [base]\ndata.kind = \"folder\"\ndata.root = \"{root}\"\ndata.ignore_index = 255\n\
         model.depth = 3\nmodel.base_channels = 4\ntrain.epochs = 2\ntrain.batch_size = 5\n{extra}\n\
         [grid]\n{grid}\n",
        results = dir.join("results").display(),
        root = root.display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("sweep file");
    path
}

/// The frames of the runs of sweep `name` under `dir`, by run folder.
fn frames(dir: &Path, name: &str) -> Vec<(PathBuf, polars::prelude::DataFrame)> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results").join(name).join("runs"))
        .expect("runs")
        .map(|e| e.expect("entry").path())
        .collect();
    runs.sort();
    runs.into_iter()
        .map(|run| {
            let frame = read_parquet(&run.join("metrics.parquet")).expect("a run's frame");
            (run, frame)
        })
        .collect()
}

fn assert_all_equal(runs: &[(PathBuf, polars::prelude::DataFrame)]) {
    let (first, expected) = &runs[0];
    for (run, frame) in &runs[1..] {
        let difference = bitwise_difference(expected, frame, &TIMINGS).expect("compare");
        assert!(
            difference.is_none(),
            "{} and {} differ: {difference:?}",
            first.display(),
            run.display()
        );
    }
}

#[test]
fn memory_and_streaming_with_any_number_of_workers_write_the_same_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    write_split(&root, "train", 12);
    write_split(&root, "val", 5);
    let cases = [
        ("plain", "data.hflip = true"),
        (
            "augmented",
            "data.crop = [32, 32]\ndata.augment.scale = [0.6, 1.4]\ndata.augment.hflip = 0.5\n\
             data.augment.rotate = { degrees = 15, p = 0.7 }\n\
             data.augment.jitter = { brightness = 0.3, contrast = 0.3, saturation = 0.3 }",
        ),
    ];
    for (name, extra) in cases {
        let path = sweep(
            dir.path(),
            &root,
            name,
            extra,
            "data.cache = [\"memory\", \"none\"]\ndata.workers = [0, 3]",
        );
        let out = common::lossbench(&["run", path.to_str().expect("path")]);
        assert!(out.status.success(), "{}", common::text(&out));
        let runs = frames(dir.path(), name);
        assert_eq!(runs.len(), 4, "{name}");
        assert_all_equal(&runs);
        let waited = runs[0].1.column("data_seconds").expect("data_seconds");
        let waited = waited.f64().expect("f64");
        assert!(waited.iter().all(|s| s.is_some_and(|s| s >= 0.0)));
    }
    // Augmentation changes training: the augmented runs differ from the plain ones.
    let (plain, augmented) = (frames(dir.path(), "plain"), frames(dir.path(), "augmented"));
    let difference = bitwise_difference(&plain[0].1, &augmented[0].1, &TIMINGS).expect("compare");
    assert!(difference.is_some());
}

#[test]
fn a_corrupt_file_met_while_streaming_fails_that_run_naming_it_and_the_others_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    write_split(&root, "train", 12);
    write_split(&root, "val", 5);
    write_split(&root, "val2", 5);
    // A PNG whose header is whole (the load reads it) but whose pixels are cut off: it
    // fails only when a batch decodes it, at the first validation.
    let bad = root.join("images/val2/img_03.png");
    let bytes = std::fs::read(&bad).expect("png");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("truncate");
    let path = sweep(
        dir.path(),
        &root,
        "corrupt",
        "data.cache = \"none\"",
        "data.val = [\"val\", \"val2\"]",
    );
    let out = common::lossbench(&["run", path.to_str().expect("path")]);
    let text = common::text(&out);
    assert!(
        !out.status.success(),
        "a failed run fails the sweep: {text}"
    );
    assert!(
        text.contains("img_03.png"),
        "the error names the file: {text}"
    );
    assert!(
        text.contains("1 done") && text.contains("1 failed"),
        "{text}"
    );
}

#[test]
fn generated_data_streamed_train_as_generated_data_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sweep_with(
        dir.path(),
        "generated",
        2,
        "data.test_images = 4",
        "data.cache = [\"memory\", \"none\"]\ndata.workers = [0, 2]",
    );
    let out = common::lossbench(&["run", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", common::text(&out));
    let runs = frames(dir.path(), "generated");
    assert_eq!(runs.len(), 4);
    assert_all_equal(&runs);
}
