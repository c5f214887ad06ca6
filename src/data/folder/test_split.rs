//! Tests of the held-out test split in each layout: a folder like `train` and `val`, the
//! rows of a `file,split` list, and a seeded `test_fraction` of the training folder (with a
//! validation fraction or folds made from the rest), and the values that cannot work.

use super::tests::{error, small, write_flat, write_pair};
use super::*;

/// The first pixel of every image of `split` (its number in [`write_flat`]'s data).
fn numbers(split: &crate::data::Split) -> Vec<i64> {
    (0..split.len())
        .map(|i| {
            split
                .get(i as usize)
                .expect("image")
                .0
                .int64_value(&[0, 0, 0])
        })
        .collect()
}

#[test]
fn a_test_folder_is_read_like_train_and_val_and_only_when_data_test_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    write_pair(dir.path(), "test", "d", 40, 1, 0);
    write_pair(dir.path(), "test", "e", 50, 2, 1);
    let without = config.load().expect("loads");
    assert!(without.test.is_none(), "images/test alone is not read");
    assert!(without.files.as_ref().is_some_and(|f| f.test.is_none()));
    config.test = Some("test".into());
    let data = config.load().expect("loads");
    let (images, masks) =
        crate::data::feed::split_tensors(&data, data.test.as_ref().expect("a test split"));
    assert_eq!(images.size(), [2, 3, 16, 16]);
    assert_eq!(
        images.double_value(&[0, 0, 0, 0]),
        f64::from(40.0f32 / 255.0)
    );
    assert_eq!(masks.int64_value(&[1, 0, 0]), 2);
    let files = data.files.clone().expect("files");
    assert_eq!(
        files.test,
        Some(vec!["images/test/d.png".into(), "images/test/e.png".into()])
    );
    assert_eq!(files.train.len(), 2, "the training split is unchanged");
    assert!(crate::data::feed::split_tensors(&data, &data.train)
        .0
        .equal(&crate::data::feed::split_tensors(&without, &without.train).0));
}

#[test]
fn the_test_split_is_standardised_with_the_training_split_statistics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = small(dir.path());
    write_pair(dir.path(), "test", "d", 40, 1, 0);
    config.test = Some("test".into());
    config.normalize = true;
    let data = config.load().expect("loads");
    let (mean, std) = data.normalization.clone().expect("normalised");
    let (images, _) = crate::data::feed::split_tensors(&data, data.test.as_ref().expect("test"));
    let got = images.double_value(&[0, 0, 0, 0]);
    let want = (40.0 / 255.0 - mean[0]) / std[0];
    assert!((got - want).abs() < 1e-5, "{got} against {want}");
}

#[test]
fn a_split_file_puts_the_rows_of_the_split_data_test_names_in_the_test_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = write_flat(dir.path(), 10);
    let mut csv = String::from("file,split\n");
    for i in 0..10 {
        let split = match i {
            0..=5 => "train",
            6 | 7 => "val",
            _ => "test",
        };
        csv.push_str(&format!("img_{i:02}.png,{split}\n"));
    }
    std::fs::write(dir.path().join("splits.csv"), csv).expect("csv");
    config.split_file = Some("splits.csv".into());
    let left_out = config.load().expect("loads");
    assert!(
        left_out.test.is_none(),
        "without data.test, test rows are left out"
    );
    assert_eq!(numbers(&left_out.train), [0, 1, 2, 3, 4, 5]);
    config.test = Some("test".into());
    let data = config.load().expect("loads");
    assert_eq!(numbers(&data.train), [0, 1, 2, 3, 4, 5]);
    assert_eq!(numbers(&data.val), [6, 7]);
    assert_eq!(numbers(data.test.as_ref().expect("test")), [8, 9]);
    config.test = Some("holdout".into());
    let msg = error(&config);
    assert!(
        msg.contains("puts no file in split `holdout`") && msg.contains("splits.csv"),
        "{msg}"
    );
}

#[test]
fn a_test_fraction_is_held_out_before_validation_and_folds_and_never_trains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = write_flat(dir.path(), 20);
    config.val_fraction = Some(0.25);
    config.test_fraction = Some(0.2);
    let data = config.load().expect("loads");
    let test = numbers(data.test.as_ref().expect("test"));
    let (train, val) = (numbers(&data.train), numbers(&data.val));
    assert_eq!((train.len(), val.len(), test.len()), (12, 4, 4));
    let mut all: Vec<i64> = [train, val, test.clone()].concat();
    all.sort_unstable();
    assert_eq!(all, (0..20).collect::<Vec<i64>>(), "disjoint and complete");
    let again = config.load().expect("loads");
    assert_eq!(numbers(again.test.as_ref().expect("test")), test, "seeded");
    config.split_seed = Some(1);
    let other = config.load().expect("loads");
    assert_ne!(numbers(other.test.as_ref().expect("test")), test);

    // With folds: one test split for every fold, in no fold's train or validation part.
    config.split_seed = None;
    config.val_fraction = None;
    config.folds = Some(4);
    let mut tests = Vec::new();
    for fold in 0..4 {
        config.fold = Some(fold);
        let data = config.load().expect("loads");
        let test = numbers(data.test.as_ref().expect("test"));
        let seen: Vec<i64> = [numbers(&data.train), numbers(&data.val)].concat();
        assert!(test.iter().all(|t| !seen.contains(t)), "fold {fold}");
        assert_eq!(seen.len() + test.len(), 20);
        tests.push(test);
    }
    assert!(tests.windows(2).all(|w| w[0] == w[1]), "{tests:?}");
}

#[test]
fn test_split_values_that_cannot_work_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flat = write_flat(dir.path(), 6);
    let key = |config: &FolderConfig| config.validate().err().map(|e| (e.key, e.message));
    let bad = FolderConfig {
        test_fraction: Some(1.5),
        ..flat.clone()
    };
    let (k, m) = key(&bad).expect("refused");
    assert!(k == "test_fraction" && m.contains("between 0 and 1"), "{m}");
    let both = FolderConfig {
        test_fraction: Some(0.6),
        val_fraction: Some(0.4),
        ..flat.clone()
    };
    let (k, m) = key(&both).expect("refused");
    assert!(
        k == "test_fraction" && m.contains("leaving none to train on"),
        "{m}"
    );
    let folder_without_split = FolderConfig {
        test: Some("test".into()),
        ..flat.clone()
    };
    let (k, m) = key(&folder_without_split).expect("refused");
    assert!(k == "test" && m.contains("has no {split}"), "{m}");
    let same = FolderConfig {
        test: Some("val".into()),
        ..small(dir.path())
    };
    let (k, m) = key(&same).expect("refused");
    assert!(k == "test" && m.contains("a split of its own"), "{m}");
    let twice = FolderConfig {
        test: Some("test".into()),
        test_fraction: Some(0.2),
        ..small(dir.path())
    };
    assert_eq!(
        key(&twice).map(|(k, _)| k).as_deref(),
        Some("test_fraction")
    );
}
