//! Parity with Keras 3, the framework of the question lossbench exists to answer: with
//! `preset = "keras"`, lossbench trains as real Keras (`peer/keras_parity.py`, Keras on the
//! venv's PyTorch backend) does from the same initial weights on the same batches: every
//! step's loss within 1e-3, and the validation loss and Keras' own `binary_accuracy`
//! metric against what lossbench records in its frame. Each Keras default the preset sets
//! (batch norm's momentum, ε and biased moving variance; Adam's ε̂; the clipped
//! cross-entropies from probabilities) is checked here by its absence making a test fail:
//! see `without_the_preset_lossbench_is_not_keras`.
//!
//! Needs Keras in the venv (`pip install keras==3.15.1`; `.ci/run` installs it); without it
//! each test says it is skipped, and fails in CI.

mod common;

use std::path::Path;
use std::process::Command;

use lossbench::config::RunConfig;
use lossbench::data::Dataset;
use lossbench::run::evaluate::{evaluate, Scoring};
use lossbench::run::train::Learner;
use tch::Tensor;

/// The venv's python when it has Keras.
fn keras_python() -> Option<std::path::PathBuf> {
    let python = common::python()?;
    let has_keras = Command::new(&python)
        .args(["-c", "import keras"])
        .env("KERAS_BACKEND", "torch")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_keras {
        Some(python)
    } else {
        common::skip_unless_ci(&format!(
            "Keras is not installed in the PyTorch venv ({} -m pip install keras==3.15.1)",
            python.display()
        ));
        None
    }
}

/// A small run of the Keras setting of the question lossbench answers: 7 classes on 32×32
/// synthetic images, a depth-3 U-Net of base 8, 18 training images in batches of 4, through
/// the sweep file's own keys.
fn config(loss: &str, keras: bool) -> RunConfig {
    let mut items = vec![
        format!("loss.name={loss}"),
        "data.height=32".into(),
        "data.width=32".into(),
        "data.train_images=18".into(),
        "data.val_images=6".into(),
        "model.depth=3".into(),
        "model.base_channels=8".into(),
        "train.batch_size=4".into(),
        "train.seed=5".into(),
    ];
    if keras {
        items.push("preset=keras".into());
    }
    RunConfig::from_overrides(&items).expect("a valid configuration")
}

/// What one side measured: every step's loss, then the validation loss and binary accuracy.
struct Trace {
    steps: Vec<f64>,
    val_loss: f64,
    val_binary_accuracy: f64,
    /// Keras' `BinaryAccuracy` metric of lossbench's own validation outputs after the last
    /// step (NaN on lossbench's side).
    keras_metric_of_ours: f64,
}

/// Trains `config` 20 steps in lossbench on a fixed order of batches, writing its initial
/// variables and the batches under `dir` for Keras; returns its trace.
fn lossbench_side(config: &RunConfig, data: &Dataset, dir: &Path) -> Trace {
    let mut learner = Learner::new(config, data, 1).expect("learner");
    let named: Vec<(String, Tensor)> = learner
        .vars
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.contiguous()))
        .collect();
    Tensor::write_safetensors(&named, dir.join("weights.safetensors")).expect("write weights");
    let (order, lengths) =
        common::batch_order(data.train.len(), config.train.batch_size as i64, 20);
    let (steps, start, _) = common::train_steps(&mut learner, data, &order, &lengths[..20]);
    let mut tensors = vec![
        ("images", common::split_tensors(data, &data.train).0),
        ("masks", common::split_tensors(data, &data.train).1),
        ("order", Tensor::from_slice(&order[..start])),
        ("lengths", Tensor::from_slice(&lengths[..20])),
        ("val_images", common::split_tensors(data, &data.val).0),
        ("val_masks", common::split_tensors(data, &data.val).1),
    ];
    // The validation logits after the last step, for Keras' metric of lossbench's outputs.
    let val_logits = tch::no_grad(|| {
        use tch::nn::ModuleT;
        learner
            .net
            .forward_t(&common::split_tensors(data, &data.val).0, false)
            .contiguous()
    });
    tensors.push(("val_logits", val_logits));
    Tensor::write_safetensors(&tensors, dir.join("batches.safetensors")).expect("write batches");
    // The validation loss and metrics exactly as a run's frame records them.
    let evaluation = evaluate(
        &learner.net,
        &learner.criterion,
        &lossbench::data::feed::Feed::new(data, data.val.len(), 1),
        &data.val,
        data.num_classes(),
        tch::Device::Cpu,
        Scoring {
            activation: config.loss.name.activation(),
            boundary_tolerance: lossbench::metrics::DEFAULT_BOUNDARY_TOLERANCE,
        },
    )
    .expect("evaluate");
    Trace {
        steps,
        val_loss: evaluation.loss,
        val_binary_accuracy: evaluation.metrics.binary_accuracy_for(config.loss.name),
        keras_metric_of_ours: f64::NAN,
    }
}

/// The same 20 steps in Keras from the files of [`lossbench_side`].
fn keras_side(python: &Path, config: &RunConfig, data: &Dataset, dir: &Path) -> Trace {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/keras_parity.py");
    let out = Command::new(python)
        .arg(script)
        .args([
            "--input",
            &dir.join("batches.safetensors").display().to_string(),
        ])
        .args([
            "--weights",
            &dir.join("weights.safetensors").display().to_string(),
        ])
        .args(["--loss", config.loss.name.name()])
        .args(["--in-channels", &data.in_channels().to_string()])
        .args(["--classes", &data.num_classes().to_string()])
        .args(["--base", &config.model.base_channels.to_string()])
        .args(["--depth", &config.model.depth.to_string()])
        .args(["--lr", &config.optim.lr.to_string()])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "peer/keras_parity.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let number = |key: &str| report[key].as_f64().expect(key);
    Trace {
        steps: report["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|v| v.as_f64().expect("a loss"))
            .collect(),
        val_loss: number("val_loss"),
        val_binary_accuracy: number("val_binary_accuracy"),
        keras_metric_of_ours: number("binary_accuracy_of_lossbench"),
    }
}

/// Both sides of `loss` with or without the preset.
fn traces(loss: &str, keras: bool) -> Option<(Trace, Trace)> {
    let python = keras_python()?;
    let config = config(loss, keras);
    let data = config.data.load().expect("data");
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = lossbench_side(&config, &data, dir.path());
    let theirs = keras_side(&python, &config, &data, dir.path());
    assert_eq!(theirs.steps.len(), 20);
    Some((ours, theirs))
}

/// The largest relative difference between two traces' steps.
fn largest_step_difference(ours: &Trace, theirs: &Trace) -> f64 {
    ours.steps
        .iter()
        .zip(&theirs.steps)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max)
}

fn trains_like_keras(loss: &str) {
    let Some((ours, theirs)) = traces(loss, true) else {
        return;
    };
    for (i, (a, b)) in ours.steps.iter().zip(&theirs.steps).enumerate() {
        let rel = (a - b).abs() / b.abs();
        assert!(
            rel <= 1e-3,
            "{loss}: step {} loss {a} in lossbench, {b} in Keras (relative {rel:.2e})\n\
             lossbench: {:?}\nKeras: {:?}",
            i + 1,
            ours.steps,
            theirs.steps
        );
    }
    println!(
        "{loss}: largest relative step difference from Keras {:.2e} over 20 steps; validation \
         loss {} (Keras {}), binary_accuracy {} (Keras {})",
        largest_step_difference(&ours, &theirs),
        ours.val_loss,
        theirs.val_loss,
        ours.val_binary_accuracy,
        theirs.val_binary_accuracy
    );
    assert!(
        (ours.val_loss - theirs.val_loss).abs() <= 1e-3 * theirs.val_loss.abs(),
        "{loss}: validation loss {} in lossbench, {} in Keras",
        ours.val_loss,
        theirs.val_loss
    );
    // The column's definition: Keras' own metric of lossbench's outputs gives lossbench's
    // binary_accuracy, to float32's rounding of a mean over 43,008 channel-pixels.
    assert!(
        (ours.val_binary_accuracy - theirs.keras_metric_of_ours).abs() <= 1e-6,
        "{loss}: lossbench's binary_accuracy column {} but Keras' BinaryAccuracy of the same \
         outputs {}",
        ours.val_binary_accuracy,
        theirs.keras_metric_of_ours
    );
    // The two trained networks: their rounding has drifted apart since about step 5 (Adam
    // turns a last-bit difference in a tiny gradient into a whole step), so a few dozen of
    // the 43,008 channel-pixels lie on opposite sides of 0.5; measured 9.1e-4 for bce.
    assert!(
        (ours.val_binary_accuracy - theirs.val_binary_accuracy).abs() <= 2e-3,
        "{loss}: validation binary_accuracy {} in lossbench, {} in Keras' metric",
        ours.val_binary_accuracy,
        theirs.val_binary_accuracy
    );
    assert!(
        ours.steps[19] < 0.95 * ours.steps[0],
        "{loss} did not train: {:?}",
        ours.steps
    );
}

#[test]
fn cce_trains_step_for_step_like_keras() {
    trains_like_keras("cce");
}

#[test]
fn bce_trains_step_for_step_like_keras() {
    trains_like_keras("bce");
}

#[test]
fn depth_softmax_cce_trains_step_for_step_like_keras() {
    trains_like_keras("depth_softmax_cce");
}

/// The check above can fail: under PyTorch's defaults (the same initial weights, Keras'
/// initialisers aside) lossbench's validation differs from Keras' by far more than its
/// tolerance, through batch norm's momentum and ε alone.
#[test]
fn without_the_preset_lossbench_is_not_keras() {
    let Some(python) = keras_python() else {
        return;
    };
    // PyTorch's defaults but Keras' initial weights, so that the same weights start both.
    let mut config = config("bce", false);
    config.model.init = lossbench::model::Init::Keras;
    let data = config.data.load().expect("data");
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = lossbench_side(&config, &data, dir.path());
    let theirs = keras_side(&python, &config, &data, dir.path());
    let step = largest_step_difference(&ours, &theirs);
    let val = (ours.val_loss - theirs.val_loss).abs() / theirs.val_loss.abs();
    println!(
        "bce under PyTorch's defaults: steps {step:.2e}, validation loss {val:.2e} from Keras"
    );
    assert!(
        val > 1e-2,
        "validation loss {} against Keras' {}",
        ours.val_loss,
        theirs.val_loss
    );
}
