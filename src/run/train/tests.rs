//! Tests of training: schedules, flips, checkpoints and batch order, bitwise reruns, learning,
//! divergence, batch sizes and stopping.

use super::*;
use crate::config::TrainConfig;
use crate::data::{DataConfig, SyntheticConfig};
use crate::losses::{Loss, Params};

/// A small configuration that trains in a few seconds: 16×16 images, a depth-2 U-Net.
fn tiny(loss: Loss, epochs: usize) -> RunConfig {
    let mut config = RunConfig {
        data: DataConfig::Synthetic(SyntheticConfig {
            height: 16,
            width: 16,
            train_images: 64,
            val_images: 16,
            noise: 0.02,
            ..Default::default()
        }),
        ..Default::default()
    };
    config.model.depth = 2;
    config.model.base_channels = 8;
    config.loss.name = loss;
    config.optim.lr = 1e-2;
    config.train.epochs = epochs;
    config.train.batch_size = 8;
    config.train.seed = 7;
    config
}

fn run(config: &RunConfig, data: &Dataset) -> Trained {
    train(config, data, 1, &AtomicBool::new(false), None, |_, _| {}).expect("training runs")
}

fn without_time(rows: &[EpochRow]) -> Vec<EpochRow> {
    rows.iter()
        .map(|r| EpochRow {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

/// Bitwise equality, NaN included (a class absent from validation has NaN IoU).
fn bits(rows: &[EpochRow]) -> Vec<Vec<u64>> {
    without_time(rows)
        .iter()
        .map(|r| {
            let mut v = vec![r.epoch as u64];
            v.extend(
                [
                    r.train_loss,
                    r.val_loss,
                    r.val_miou,
                    r.pixel_accuracy,
                    r.binary_accuracy,
                    r.grad_norm,
                ]
                .map(f64::to_bits),
            );
            v.extend(r.iou_per_class.iter().map(|x| x.to_bits()));
            v.extend(r.grad_share.iter().map(|x| x.to_bits()));
            v
        })
        .collect()
}

#[test]
fn the_learning_rate_of_every_epoch_follows_the_schedule_and_is_recorded() {
    let mut config = tiny(Loss::Cce, 4);
    let data = config.data.load().expect("data");
    let constant = run(&config, &data);
    assert!(constant.rows.iter().all(|r| r.lr == config.optim.lr));
    config.optim.schedule = crate::config::Schedule::Cosine;
    let cosine = run(&config, &data);
    let steps = batches(data.train.len(), config.train.batch_size as i64, false).len();
    for r in &cosine.rows {
        let expected = crate::config::Schedule::Cosine.lr_at(
            config.optim.lr,
            (r.epoch - 1) * steps,
            4 * steps,
        );
        assert_eq!(r.lr, expected, "epoch {}", r.epoch);
    }
    assert!(cosine.rows.windows(2).all(|w| w[1].lr < w[0].lr));
    assert_ne!(
        bits(&constant.rows[1..]),
        bits(&cosine.rows[1..]),
        "the schedule changes the training"
    );
}

#[test]
fn flips_are_seeded_and_the_learner_holds_the_flipped_copy_after_the_originals() {
    let config = tiny(Loss::Cce, 2);
    let mut data = config.data.load().expect("data");
    let plain = run(&config, &data);
    data.hflip = true;
    let a = run(&config, &data);
    let b = run(&config, &data);
    assert_eq!(
        bits(&a.rows),
        bits(&b.rows),
        "flips come from the run's seed"
    );
    assert_ne!(
        bits(&a.rows),
        bits(&plain.rows),
        "flipping changes training"
    );
    // A flipped item's batch holds the image and mask flipped left-right.
    let learner = Learner::new(&config, &data, 1).expect("learner");
    let n = data.train.len();
    let items = (0..n as usize)
        .map(|index| crate::data::feed::Item { index, flip: true })
        .collect();
    let batch = learner
        .feed
        .epoch(&data.train, items, &[(0, n)], None)
        .next()
        .expect("a batch")
        .expect("built");
    let (xs, ys) = learner.feed.to_device(&batch, Device::Cpu);
    let (images, masks) = crate::data::feed::split_tensors(&data, &data.train);
    assert!(xs.equal(&images.flip([3])));
    assert!(ys.equal(&masks.flip([2])));
}

/// Trains `config` whole, writing a checkpoint after each epoch into `dir`; the rows.
fn with_checkpoints(config: &RunConfig, data: &Dataset, dir: &Path) -> Vec<EpochRow> {
    let path = |k: usize| dir.join(format!("checkpoint-{k}.safetensors"));
    train(config, data, 1, &AtomicBool::new(false), None, |row, s| {
        s.save(&path(row.epoch)).expect("checkpoint")
    })
    .expect("trains")
    .rows
}

/// Resumes `config` from the checkpoint of epoch `k` in `dir`.
fn resumed(config: &RunConfig, data: &Dataset, dir: &Path, k: usize) -> anyhow::Result<Trained> {
    let from = checkpoint::read(&dir.join(format!("checkpoint-{k}.safetensors")))?;
    train(
        config,
        data,
        1,
        &AtomicBool::new(false),
        Some(&from),
        |_, _| {},
    )
}

#[test]
fn a_resumed_run_goes_on_in_the_same_order_in_either_order_kind() {
    for order in [Order::Pytorch, Order::Chacha] {
        let mut config = tiny(Loss::Cce, 3);
        config.train.order = order;
        let mut data = config.data.load().expect("data");
        data.hflip = true;
        let dir = tempfile::tempdir().expect("tempdir");
        let whole = with_checkpoints(&config, &data, dir.path());
        let from =
            checkpoint::read(&dir.path().join("checkpoint-1.safetensors")).expect("checkpoint");
        assert_eq!(from.rng_word_pos.is_some(), order == Order::Chacha);
        for k in 1..3 {
            let rest = resumed(&config, &data, dir.path(), k).expect("resumes");
            assert_eq!(
                bits(&rest.rows),
                bits(&whole[k..]),
                "{order:?} from epoch {k}"
            );
        }
    }
}

#[test]
fn a_checkpoint_resumes_only_in_the_order_it_was_written_in() {
    let mut config = tiny(Loss::Cce, 2);
    config.train.order = Order::Chacha;
    let data = config.data.load().expect("data");
    let dir = tempfile::tempdir().expect("tempdir");
    with_checkpoints(&config, &data, dir.path());
    config.train.order = Order::Pytorch;
    let err = resumed(&config, &data, dir.path(), 1)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("train.order = \"chacha\""), "{err}");
}

#[test]
fn pytorchs_order_is_drawn_for_every_epoch_and_differs_from_chachas() {
    let config = tiny(Loss::Cce, 2);
    let data = config.data.load().expect("data");
    let pytorch = run(&config, &data);
    let mut chacha = config.clone();
    chacha.train.order = Order::Chacha;
    assert_ne!(bits(&pytorch.rows), bits(&run(&chacha, &data).rows));
    let learner = Learner::new(&config, &data, 1).expect("learner");
    assert_eq!(learner.draws.len(), 2);
    assert!(Learner::new(&chacha, &data, 1)
        .expect("learner")
        .draws
        .is_empty());
}

#[test]
fn same_configuration_gives_bitwise_identical_rows() {
    let config = tiny(Loss::Bce, 2);
    let data = config.data.load().expect("data");
    let a = run(&config, &data);
    let b = run(&config, &data);
    assert_eq!(a.rows.len(), 2);
    assert_eq!(bits(&a.rows), bits(&b.rows));
    let other = run(
        &RunConfig {
            train: TrainConfig {
                seed: 8,
                ..config.train.clone()
            },
            ..config.clone()
        },
        &data,
    );
    assert_ne!(bits(&a.rows), bits(&other.rows), "the seed changes the run");
}

#[test]
fn training_with_cce_raises_validation_miou_above_the_untrained_model() {
    let config = tiny(Loss::Cce, 3);
    let data = config.data.load().expect("data");
    let net_config = model_config(&config, &data).expect("model");
    let (_vars, untrained, ()) = init(&net_config, config.train.seed, Device::Cpu, || ());
    let cce = Criterion::built_in(Loss::Cce, Params::default());
    let scoring = Scoring {
        activation: Loss::Cce.activation(),
        boundary_tolerance: 2.0,
    };
    let before = evaluate(
        &untrained,
        &cce,
        &crate::data::feed::Feed::new(&data, 8, 8),
        &data.val,
        7,
        Device::Cpu,
        scoring,
    )
    .expect("eval")
    .metrics;
    let trained = run(&config, &data);
    let after = trained.rows.last().expect("rows").val_miou;
    assert_eq!(trained.ending, Ending::Done);
    assert!(
        after > before.miou + 0.1,
        "mIoU {:.3} -> {after:.3}",
        before.miou
    );
    assert!(trained
        .rows
        .iter()
        .all(|r| r.grad_norm > 0.0 && r.train_loss.is_finite()));
}

#[test]
fn huge_learning_rate_is_recorded_as_divergence() {
    let mut config = tiny(Loss::Cce, 3);
    config.optim.name = crate::config::Optimizer::Sgd;
    config.optim.lr = 1e20;
    let data = config.data.load().expect("data");
    let trained = run(&config, &data);
    assert!(
        matches!(trained.ending, Ending::Diverged { .. }),
        "{:?}",
        trained.ending
    );
}

#[test]
fn batch_larger_than_the_training_split_is_refused() {
    let mut config = tiny(Loss::Cce, 1);
    config.train.batch_size = 65;
    let data = config.data.load().expect("data");
    let err = train(&config, &data, 1, &AtomicBool::new(false), None, |_, _| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("only 64 images"), "{err}");
}

#[test]
fn the_last_smaller_batch_is_kept_unless_drop_last() {
    assert_eq!(batches(10, 4, false), [(0, 4), (4, 4), (8, 2)]);
    assert_eq!(batches(10, 4, true), [(0, 4), (4, 4)]);
    assert_eq!(batches(8, 4, false), [(0, 4), (4, 4)]);
    assert_eq!(batches(8, 4, true), [(0, 4), (4, 4)]);
}

#[test]
fn a_kept_partial_batch_is_trained_on_and_changes_the_run() {
    let mut config = tiny(Loss::Cce, 1);
    config.train.batch_size = 12; // 64 images: 5 full batches and one of 4
    let data = config.data.load().expect("data");
    let kept = run(&config, &data);
    config.train.drop_last = true;
    let dropped = run(&config, &data);
    assert_ne!(bits(&kept.rows), bits(&dropped.rows));
}

#[test]
fn a_last_batch_of_one_image_on_a_one_pixel_bottleneck_is_refused_with_the_fix() {
    let mut config = tiny(Loss::Cce, 1);
    config.model.depth = 4; // 16×16 images: a 1×1 bottleneck
    config.train.batch_size = 9; // 64 = 7 × 9 + 1
    let data = config.data.load().expect("data");
    let err = check(&config, &data)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("set train.drop_last = true"), "{err}");
    config.train.drop_last = true;
    assert!(check(&config, &data).is_ok());
}

#[test]
fn raised_stop_flag_ends_the_run_as_interrupted() {
    let config = tiny(Loss::Dice, 2);
    let data = config.data.load().expect("data");
    let trained = train(&config, &data, 1, &AtomicBool::new(true), None, |_, _| {}).expect("runs");
    assert_eq!(trained.ending, Ending::Interrupted);
    assert!(trained.rows.is_empty());
}

#[test]
fn fp16_skips_the_steps_whose_gradients_overflow_counts_them_and_resumes_with_its_scale() {
    let mut config = tiny(Loss::Cce, 3);
    config.train.precision = Precision::Fp16;
    // The gradients times 2¹⁶ times this overflow float16 until the scale has come down.
    config.loss.scale = 100.0;
    let data = config.data.load().expect("data");
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = with_checkpoints(&config, &data, dir.path());
    let skipped: Vec<Option<usize>> = whole.iter().map(|r| r.skipped_steps).collect();
    assert!(
        skipped[0].is_some_and(|s| s > 0 && s < 8),
        "epoch 1 skipped {skipped:?} of its 8 steps"
    );
    assert!(whole
        .iter()
        .all(|r| r.train_loss.is_finite() && r.grad_norm.is_finite()));
    for k in 1..3 {
        let rest = resumed(&config, &data, dir.path(), k).expect("resumes");
        assert_eq!(bits(&rest.rows), bits(&whole[k..]), "fp16 from epoch {k}");
        let rest: Vec<Option<usize>> = rest.rows.iter().map(|r| r.skipped_steps).collect();
        assert_eq!(rest, skipped[k..], "fp16 from epoch {k}");
    }
    let frame = crate::store::frame::epoch_frame(&whole).expect("frame");
    let column = frame
        .column(crate::metrics::SKIPPED_STEPS)
        .expect("skipped_steps");
    assert_eq!(
        column.u32().expect("u32").get(0),
        skipped[0].map(|s| s as u32)
    );

    config.train.precision = Precision::Bf16;
    let err = resumed(&config, &data, dir.path(), 1).map(|_| ());
    assert!(err.is_ok(), "a bf16 run ignores the fp16 scale: {err:?}");
    let bf16 = run(&config, &data);
    assert!(bf16.rows.iter().all(|r| r.skipped_steps.is_none()));
    config.train.precision = Precision::Fp16;
    let fp32_dir = tempfile::tempdir().expect("tempdir");
    let mut fp32 = config.clone();
    fp32.train.precision = Precision::Fp32;
    with_checkpoints(&fp32, &data, fp32_dir.path());
    let err = resumed(&config, &data, fp32_dir.path(), 1)
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("did not train in fp16"), "{err}");
}
