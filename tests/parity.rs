//! Parity with PyTorch: the venv's torch, running `peer/parity.py` (the U-Net and losses of
//! `peer/`), starts from bitwise lossbench's initial weights for the same seed and scheme,
//! and trains to the same loss at every step from the same batches. A difference in
//! initialisation, optimizer or batching shows as 10% or more within a few steps; kernels
//! that round differently stay far below the 1e-3 checked here.
//!
//! Needs the virtualenv's python (`LOSSBENCH_PYTHON`, or the one `make libtorch` installs);
//! without it (a libtorch of one's own) each test says it is skipped.

mod common;

use std::path::Path;
use std::process::Command;

use lossbench::config::RunConfig;
use lossbench::data::{DataConfig, Dataset, SyntheticConfig};
use lossbench::losses::Loss;
use lossbench::model::Init;
use lossbench::run::train::Learner;
use tch::{Kind, Tensor};

/// A small run: 32×32 synthetic images, a depth-3 U-Net of base 8, 18 training images in
/// batches of 4 (so every epoch ends with a batch of 2).
fn config(loss: Loss, init: Init, batch_norm: bool) -> RunConfig {
    let mut c = RunConfig {
        data: DataConfig::Synthetic(SyntheticConfig {
            height: 32,
            width: 32,
            train_images: 18,
            val_images: 6,
            ..Default::default()
        }),
        ..Default::default()
    };
    c.model.depth = 3;
    c.model.base_channels = 8;
    c.model.init = init;
    c.model.batch_norm = batch_norm;
    c.loss.name = loss;
    c.train.batch_size = 4;
    c.train.seed = 5;
    c
}

/// The peer's shape arguments for `config` on `data`.
fn shape_args(config: &RunConfig, data: &Dataset) -> Vec<String> {
    let mut args = vec![
        "--seed".into(),
        config.train.seed.to_string(),
        "--init".into(),
        serde_json::to_value(config.model.init)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .expect("init name"),
        "--in-channels".into(),
        data.in_channels().to_string(),
        "--classes".into(),
        data.num_classes().to_string(),
        "--base".into(),
        config.model.base_channels.to_string(),
        "--depth".into(),
        config.model.depth.to_string(),
    ];
    if !config.model.batch_norm {
        args.push("--no-batch-norm".into());
    }
    args
}

fn peer(python: &Path, args: &[String]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/parity.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "peer/parity.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn initial_weights_are_bitwise_pytorchs_for_every_scheme() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for init in [Init::Pytorch, Init::Keras, Init::Kaiming] {
        for batch_norm in [true, false] {
            let config = config(Loss::Cce, init, batch_norm);
            let data = config.data.load().expect("data");
            let learner = Learner::new(&config, &data, 1).expect("learner");
            let named: Vec<(String, Tensor)> = learner
                .vars
                .variables()
                .into_iter()
                .map(|(name, t)| (name, t.contiguous()))
                .collect();
            let weights = dir.path().join("weights.safetensors");
            Tensor::write_safetensors(&named, &weights).expect("write weights");
            let mut args = vec!["init".to_string()];
            args.extend(shape_args(&config, &data));
            args.extend(["--weights".into(), weights.display().to_string()]);
            let report = peer(&python, &args);
            let what = format!("{init:?}, batch norm {batch_norm}");
            assert_eq!(report["missing"], serde_json::json!([]), "{what}: {report}");
            assert_eq!(report["extra"], serde_json::json!([]), "{what}: {report}");
            let tensors = report["tensors"].as_object().expect("tensors");
            assert_eq!(tensors.len(), named.len(), "{what}");
            for (name, t) in tensors {
                assert_eq!(
                    t["bitwise_equal"],
                    serde_json::json!(true),
                    "{what}: {name} differs from PyTorch's: {t}"
                );
            }
        }
    }
}

/// Trains 20 steps of `loss` in lossbench and in PyTorch from the same seed on the same
/// batches and compares every step's loss, and the validation loss after the last step.
fn trains_like_pytorch(loss: Loss) {
    let Some(python) = common::python() else {
        return;
    };
    let config = config(loss, Init::Pytorch, true);
    let mut data = config.data.load().expect("data");
    // Some ignored pixels, as in real masks: every 7th pixel of every other row.
    let ignore = 255;
    for split in [&mut data.train, &mut data.val] {
        let marks = Tensor::zeros_like(&split.masks).to_kind(Kind::Bool);
        let _ = marks.slice(1, 0, None, 2).slice(2, 0, None, 7).fill_(1);
        split.masks = split.masks.masked_fill(&marks, ignore);
    }
    data.ignore_index = Some(ignore);
    let mut learner = Learner::new(&config, &data, 1).expect("learner");
    let (order, lengths) =
        common::batch_order(data.train.len(), config.train.batch_size as i64, 20);
    let (ours, start) = common::train_steps(&mut learner, &order, &lengths[..20]);
    let val = tch::no_grad(|| {
        use tch::nn::ModuleT;
        let logits = learner.net.forward_t(&data.val.images, false);
        learner
            .criterion
            .compute(&logits, &data.val.masks, Some(ignore))
            .expect("loss")
            .double_value(&[])
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("batches.safetensors");
    let used = start;
    let tensors = [
        ("images", data.train.images.shallow_clone()),
        ("masks", data.train.masks.shallow_clone()),
        ("order", Tensor::from_slice(&order[..used])),
        ("lengths", Tensor::from_slice(&lengths[..20])),
        ("val_images", data.val.images.shallow_clone()),
        ("val_masks", data.val.masks.shallow_clone()),
    ];
    Tensor::write_safetensors(&tensors, &input).expect("write the batches");
    let mut args = vec!["train".to_string()];
    args.extend(shape_args(&config, &data));
    args.extend([
        "--input".into(),
        input.display().to_string(),
        "--loss".into(),
        loss.name().into(),
        "--lr".into(),
        config.optim.lr.to_string(),
        "--ignore-index".into(),
        ignore.to_string(),
    ]);
    let theirs = peer(&python, &args);
    let steps: Vec<f64> = theirs["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|v| v.as_f64().expect("a loss"))
        .collect();
    assert_eq!(steps.len(), 20);
    for (i, (a, b)) in ours.iter().zip(&steps).enumerate() {
        let rel = (a - b).abs() / b.abs();
        assert!(
            rel <= 1e-3,
            "{loss}: step {} loss {a} in lossbench, {b} in PyTorch (relative {rel:.2e})\nlossbench: {ours:?}\nPyTorch: {steps:?}",
            i + 1
        );
    }
    let worst = ours
        .iter()
        .zip(&steps)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    println!("{loss}: largest relative step difference {worst:.2e} over 20 steps");
    let their_val = theirs["val_loss"].as_f64().expect("val_loss");
    assert!(
        (val - their_val).abs() <= 1e-3 * their_val.abs(),
        "{loss}: validation loss {val} in lossbench, {their_val} in PyTorch"
    );
    assert!(ours[19] < 0.95 * ours[0], "{loss} did not train: {ours:?}");
}

#[test]
fn cce_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Cce);
}

#[test]
fn bce_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Bce);
}

#[test]
fn dice_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Dice);
}

#[test]
fn iou_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Iou);
}

#[test]
fn bce_dice_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::BceDice);
}

/// Runs `optim` in lossbench and `torch.optim` in PyTorch for 50 steps from the same
/// parameters with the same gradients, and compares the parameters after the last step,
/// each tensor's largest difference relative to its largest value. Adam and AdamW come out
/// bitwise equal; SGD rounds twice where PyTorch's `add(alpha=)` fuses a multiply-add (tch
/// has no `alpha`): 7e-8 of the parameters' scale after 50 steps, measured.
fn optimizer_steps_like_pytorch(optim: lossbench::config::OptimConfig) {
    let Some(python) = common::python() else {
        return;
    };
    const STEPS: usize = 50;
    tch::manual_seed(11);
    let vars = tch::nn::VarStore::new(tch::Device::Cpu);
    let root = vars.root();
    let shapes: [&[i64]; 3] = [&[4, 3, 3, 3], &[4], &[2, 4]];
    let params: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            root.var(
                &format!("p{i}"),
                s,
                tch::nn::Init::Uniform { lo: -1.0, up: 1.0 },
            )
        })
        .collect();
    // Gradients of varied size, some tiny (Adam's epsilon matters), some zero.
    let grads: Vec<Vec<Tensor>> = (0..STEPS)
        .map(|t| {
            shapes
                .iter()
                .map(|s| {
                    Tensor::randn(*s, (Kind::Float, tch::Device::Cpu)) * 10f64.powi(-(t as i32 % 7))
                })
                .collect()
        })
        .collect();
    let mut named: Vec<(String, Tensor)> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("param.{i}"), p.detach().copy()))
        .collect();
    for (t, gs) in grads.iter().enumerate() {
        for (i, g) in gs.iter().enumerate() {
            named.push((format!("grad.{t}.{i}"), g.copy()));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("optim.safetensors");
    Tensor::write_safetensors(&named, &input).expect("write");

    let mut opt = lossbench::run::optim::Optim::new(&optim, &vars);
    for gs in &grads {
        opt.zero_grad();
        // The gradient of Σ p·g is g, exactly.
        let total = params
            .iter()
            .zip(gs)
            .map(|(p, g)| (p * g).sum(Kind::Float))
            .fold(
                Tensor::zeros([], (Kind::Float, tch::Device::Cpu)),
                |a, b| a + b,
            );
        total.backward();
        opt.step();
    }
    let name = serde_json::to_value(optim.name)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .expect("optimizer name");
    let report = peer(
        &python,
        &[
            "optim".into(),
            "--input".into(),
            input.display().to_string(),
            "--optimizer".into(),
            name.clone(),
            "--lr".into(),
            optim.lr.to_string(),
            "--weight-decay".into(),
            optim.weight_decay.to_string(),
            "--momentum".into(),
            optim.momentum.to_string(),
            "--steps".into(),
            STEPS.to_string(),
        ],
    );
    let theirs = report["params"].as_array().expect("params");
    let mut largest = 0.0f64;
    for (p, t) in params.iter().zip(theirs) {
        let mine: Vec<f32> = Vec::try_from(p.detach().flatten(0, -1)).expect("values");
        let theirs: Vec<f64> = t
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert_eq!(mine.len(), theirs.len());
        // Relative to the tensor's scale: an element that ends near 0 makes an element-wise
        // ratio meaningless.
        let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let difference = mine
            .iter()
            .zip(&theirs)
            .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        largest = largest.max(difference / scale);
    }
    println!(
        "{name}: largest relative difference from torch.optim after {STEPS} steps: {largest:.2e}"
    );
    assert!(largest <= 1e-6, "{name}: {largest:.2e} from torch.optim");
}

#[test]
fn adam_steps_like_torch_optim_over_50_steps() {
    optimizer_steps_like_pytorch(lossbench::config::OptimConfig {
        name: lossbench::config::Optimizer::Adam,
        lr: 1e-2,
        momentum: 0.0,
        weight_decay: 1e-3,
        ..Default::default()
    });
}

#[test]
fn adamw_steps_like_torch_optim_over_50_steps() {
    optimizer_steps_like_pytorch(lossbench::config::OptimConfig {
        name: lossbench::config::Optimizer::Adamw,
        lr: 1e-2,
        momentum: 0.0,
        weight_decay: lossbench::config::ADAMW_WEIGHT_DECAY,
        ..Default::default()
    });
}

#[test]
fn sgd_with_momentum_steps_like_torch_optim_over_50_steps() {
    optimizer_steps_like_pytorch(lossbench::config::OptimConfig {
        name: lossbench::config::Optimizer::Sgd,
        lr: 1e-2,
        momentum: 0.9,
        weight_decay: 1e-4,
        ..Default::default()
    });
}
