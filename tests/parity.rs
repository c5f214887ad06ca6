//! Parity with PyTorch: the venv's torch, running `peer/parity.py` (the U-Net and losses of
//! `peer/`), starts from bitwise lossbench's initial weights for the same seed and scheme,
//! draws the same batches from `DataLoader(shuffle=True)` as lossbench's default order, and
//! trains to bitwise the same loss at every step, in fp32 and under autocast. lossbench's
//! orders are also checked against `tests/reference/orders.json` (`peer/orders.py`), which
//! needs no python.
//!
//! The tests that compare with PyTorch need the virtualenv's python (`LOSSBENCH_PYTHON`, or
//! the one `make libtorch` installs); without it (a libtorch of one's own) each says it is
//! skipped.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use lossbench::config::{Precision, RunConfig};
use lossbench::data::samples::{Labels, Pixels, Sample};
use lossbench::data::{order, DataConfig, Dataset, Split, SyntheticConfig};
use lossbench::losses::Loss;
use lossbench::model::{Init, UNet, UNetConfig};
use lossbench::run::train::{batches, Learner};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

/// Held by every test of this binary while it seeds and draws from libtorch's global
/// generator, which the tests running beside each other share.
static GENERATOR: Mutex<()> = Mutex::new(());

fn generator() -> std::sync::MutexGuard<'static, ()> {
    GENERATOR.lock().unwrap_or_else(|p| p.into_inner())
}

/// The learner of `config` on `data` with one thread, built while no other test draws.
fn learner(config: &RunConfig, data: &Dataset) -> Learner {
    let _guard = generator();
    Learner::new(config, data, 1).expect("learner")
}

/// A small run: 32×32 synthetic images, a depth-3 U-Net of base 8, 18 training images in
/// batches of 4 (so every epoch ends with a batch of 2), 10 epochs (50 steps).
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
    c.train.epochs = 10;
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
    if config.model.channels_last {
        args.push("--channels-last".into());
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
            let learner = learner(&config, &data);
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

/// Steps of the fp32 trajectory tests: 10 epochs of 5 batches.
const STEPS: usize = 50;
/// Steps of the mixed-precision trajectory tests.
const MIXED_STEPS: usize = 20;

/// Trains `loss` in lossbench (its defaults: PyTorch's batch order, channels-last weights
/// and inputs) and in PyTorch (`DataLoader(shuffle=True)`, flips drawn in the dataset with
/// `hflip`, the model and batches in `torch.channels_last`) from the same seed, on one
/// thread each, in `precision` (under `torch.autocast("cpu")` and, for fp16,
/// `torch.amp.GradScaler("cpu")` on PyTorch's side), for [`STEPS`] steps in fp32 and
/// [`MIXED_STEPS`] in bf16 and fp16. The batches, every step's loss, the validation loss
/// after the last step and, in fp16, the skipped steps and the final loss scale are
/// bitwise PyTorch's: the same kernels of the same libtorch on the same values in the same
/// order. (With PyTorch's model in its default contiguous layout instead, the
/// convolutions' kernels differ and so do the last bits: 2.2e-7 relative at step 1, 7.5e-4
/// over 20 steps and 2.0e-2 over 50, as Adam amplifies them.)
fn trains_like_pytorch(loss: Loss, hflip: bool, precision: Precision) {
    let Some(python) = common::python() else {
        return;
    };
    let steps_run = match precision {
        Precision::Fp32 => STEPS,
        Precision::Bf16 | Precision::Fp16 => MIXED_STEPS,
    };
    let mut config = config(loss, Init::Pytorch, true);
    config.train.precision = precision;
    let mut data = config.data.load().expect("data");
    data.hflip = hflip;
    // Some ignored pixels, as in real masks: every 7th pixel of every other row.
    let ignore = 255;
    for split in [&mut data.train, &mut data.val] {
        let samples = (0..split.len() as usize)
            .map(|i| {
                let (image, mask) = split.get(i).expect("a sample");
                let marks = Tensor::zeros_like(&mask).to_kind(Kind::Bool);
                let _ = marks.slice(0, 0, None, 2).slice(1, 0, None, 7).fill_(1);
                let mask = mask.masked_fill(&marks, ignore);
                let size = image.size();
                Sample {
                    pixels: Pixels::F32(Vec::try_from(image.reshape([-1])).expect("pixels")),
                    labels: Labels::U8(Vec::try_from(mask.reshape([-1])).expect("labels")),
                    channels: size[0],
                    height: size[1],
                    width: size[2],
                }
            })
            .collect();
        *split = Split::memory(samples, split.channels());
    }
    data.ignore_index = Some(ignore);
    let mut learner = learner(&config, &data);
    let batch = config.train.batch_size as i64;
    let (order, lengths) = common::pytorch_batches(&learner, data.train.len(), batch, steps_run);
    let (ours, used, ours_skipped) =
        common::train_steps(&mut learner, &data, &order, &lengths[..steps_run]);
    let val = tch::no_grad(|| {
        use tch::nn::ModuleT;
        let logits = learner
            .net
            .forward_t(&common::split_tensors(&data, &data.val).0, false);
        learner
            .criterion
            .compute(
                &logits,
                &common::split_tensors(&data, &data.val).1,
                Some(ignore),
            )
            .expect("loss")
            .double_value(&[])
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("data.safetensors");
    let tensors = [
        ("images", common::split_tensors(&data, &data.train).0),
        ("masks", common::split_tensors(&data, &data.train).1),
        ("val_images", common::split_tensors(&data, &data.val).0),
        ("val_masks", common::split_tensors(&data, &data.val).1),
    ];
    Tensor::write_safetensors(&tensors, &input).expect("write the data");
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
        "--batch".into(),
        batch.to_string(),
        "--steps".into(),
        steps_run.to_string(),
        "--precision".into(),
        precision_name(precision),
    ]);
    if hflip {
        args.push("--hflip".into());
    }
    let theirs = peer(&python, &args);
    assert_eq!(
        theirs["fetched"],
        json!(order[..used]),
        "{loss}: PyTorch's DataLoader fetched other images than lossbench's order"
    );
    let steps: Vec<f64> = theirs["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|v| v.as_f64().expect("a loss"))
        .collect();
    assert_eq!(steps.len(), steps_run);
    let first = ours.iter().zip(&steps).position(|(a, b)| a != b);
    if let Some(i) = first {
        panic!(
            "{loss} ({precision:?}, flips {hflip}): step {} loss {} in lossbench, {} in PyTorch\nlossbench: {ours:?}\nPyTorch: {steps:?}",
            i + 1,
            ours[i],
            steps[i]
        );
    }
    assert_eq!(
        json!(val),
        theirs["val_loss"],
        "{loss} ({precision:?}): the validation loss after the last step"
    );
    assert!(
        ours[steps_run - 1] < 0.95 * ours[0],
        "{loss} did not train: {ours:?}"
    );
    if precision == Precision::Fp16 {
        assert_eq!(
            json!(ours_skipped),
            theirs["skipped"],
            "{loss}: fp16 steps skipped by lossbench's loss scale and by GradScaler"
        );
        assert_eq!(json!(learner.loss_scale()), theirs["scale"]);
    }
}

/// `precision` as the peer's `--precision` and the sweep file spell it.
fn precision_name(precision: Precision) -> String {
    serde_json::to_value(precision)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .expect("precision name")
}

#[test]
fn cce_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Cce, false, Precision::Fp32);
}

#[test]
fn cce_with_flips_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Cce, true, Precision::Fp32);
}

#[test]
fn bce_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Bce, false, Precision::Fp32);
}

#[test]
fn dice_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Dice, false, Precision::Fp32);
}

#[test]
fn iou_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::Iou, false, Precision::Fp32);
}

#[test]
fn bce_dice_trains_step_for_step_like_pytorch() {
    trains_like_pytorch(Loss::BceDice, false, Precision::Fp32);
}

#[test]
fn cce_in_bf16_trains_step_for_step_like_torch_autocast() {
    trains_like_pytorch(Loss::Cce, false, Precision::Bf16);
}

#[test]
fn bce_in_bf16_trains_step_for_step_like_torch_autocast() {
    trains_like_pytorch(Loss::Bce, false, Precision::Bf16);
}

#[test]
fn dice_in_bf16_trains_step_for_step_like_torch_autocast() {
    trains_like_pytorch(Loss::Dice, false, Precision::Bf16);
}

#[test]
fn cce_in_fp16_trains_step_for_step_like_torch_autocast_and_grad_scaler() {
    trains_like_pytorch(Loss::Cce, false, Precision::Fp16);
}

#[test]
fn bce_in_fp16_trains_step_for_step_like_torch_autocast_and_grad_scaler() {
    trains_like_pytorch(Loss::Bce, false, Precision::Fp16);
}

#[test]
fn dice_in_fp16_trains_step_for_step_like_torch_autocast_and_grad_scaler() {
    trains_like_pytorch(Loss::Dice, false, Precision::Fp16);
}

/// lossbench's orders for one case of `peer/orders.py`, in its form: per epoch the images
/// in the order fetched and, with flips, whether each is flipped.
fn our_orders(case: &Value) -> Value {
    let int = |key: &str| {
        case[key]
            .as_i64()
            .unwrap_or_else(|| panic!("{key} in {case}"))
    };
    let (n, batch, epochs) = (int("n"), int("batch"), int("epochs") as usize);
    let drop_last = case["drop_last"].as_bool().expect("drop_last");
    let hflip = case["hflip"].as_bool().expect("hflip");
    let fetched: i64 = batches(n, batch, drop_last).iter().map(|b| b.1).sum();
    let draws = {
        let _guard = generator();
        tch::manual_seed(case["seed"].as_u64().expect("seed") as i64);
        if let Some(m) = case["model"].as_object() {
            let shape = |key: &str| m[key].as_i64().expect("a shape");
            let vars = tch::nn::VarStore::new(tch::Device::Cpu);
            let config = UNetConfig {
                in_channels: shape("in_channels"),
                num_classes: shape("classes"),
                base_channels: shape("base"),
                depth: shape("depth") as usize,
                init: Init::Pytorch,
                ..Default::default()
            };
            let _ = UNet::new(&vars.root(), &config);
        }
        order::draw(epochs, fetched, hflip).expect("draws")
    };
    let orders: Vec<Value> = draws
        .iter()
        .map(|d| {
            let visited = &d.order(n).expect("order")[..fetched as usize];
            let flips: Vec<bool> = match hflip {
                true => visited.iter().map(|&i| i >= n).collect(),
                false => Vec::new(),
            };
            json!({"indices": visited.iter().map(|i| i % n).collect::<Vec<_>>(), "flips": flips})
        })
        .collect();
    Value::Array(orders)
}

/// Checks every case of `golden` (`peer/orders.py`'s output) against lossbench's orders.
fn orders_match(golden: &Value, source: &str) {
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5, "{source} has {} cases", cases.len());
    for case in cases {
        let ours = our_orders(case);
        let mut what = case.clone();
        if let Some(o) = what.as_object_mut() {
            o.remove("orders");
        }
        assert_eq!(ours, case["orders"], "{source}, case {what}");
    }
}

#[test]
fn the_default_batch_order_is_the_golden_dataloader_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/orders.json");
    let text = std::fs::read_to_string(&path).expect("tests/reference/orders.json");
    let golden: Value = serde_json::from_str(&text).expect("JSON");
    orders_match(&golden, "tests/reference/orders.json");
}

#[test]
fn the_default_batch_order_is_the_venvs_dataloader_order() {
    let Some(python) = common::python() else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/orders.py");
    let out = Command::new(python)
        .arg(script)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "peer/orders.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    orders_match(&live, "peer/orders.py");
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
    let guard = generator();
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
    drop(guard);
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
