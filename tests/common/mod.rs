//! What the binary's tests share: a tiny synthetic sweep file, the text a run printed, the
//! virtualenv's python for the tests that compare with PyTorch, and how a test that lacks an
//! outside requirement says it is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `lossbench` binary of this build.
#[allow(dead_code)] // not every test binary runs the binary
pub const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

/// `lossbench args...`, run to its end.
#[allow(dead_code)] // not every test binary runs the binary
pub fn lossbench(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("lossbench runs")
}

/// A tiny sweep file `dir/<name>.toml` (16×16 synthetic images, a depth-2 U-Net) whose
/// results and plots go under `dir`, with `extra` lines added to `[base]`.
pub fn sweep_with(dir: &Path, name: &str, epochs: usize, extra: &str, grid: &str) -> PathBuf {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nresults = \"{results}\"\nplots = \"{plots}\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 32\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\ntrain.epochs = {epochs}\ntrain.batch_size = 8\n\
         {extra}\n[grid]\n{grid}\n",
        results = dir.join("results").display(),
        plots = dir.join("plots").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write sweep");
    path
}

/// [`sweep_with`] with nothing added.
#[allow(dead_code)] // not every test binary uses both
pub fn sweep(dir: &Path, name: &str, epochs: usize, grid: &str) -> PathBuf {
    sweep_with(dir, name, epochs, "", grid)
}

/// Standard output then standard error.
#[allow(dead_code)] // not every test binary runs the binary
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The venv's python (its torch is the libtorch lossbench links): `LOSSBENCH_PYTHON`, or
/// the one `make libtorch` installs. `None`, saying the test is skipped, when there is none,
/// as with a libtorch of one's own (`LIBTORCH=...`).
#[allow(dead_code)] // not every test binary compares with PyTorch
pub fn python() -> Option<PathBuf> {
    let path = match std::env::var_os("LOSSBENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?)
            .join(".cache/lossbench/torch-2.13.0/bin/python"),
    };
    if path.exists() {
        Some(path)
    } else {
        skipped(&format!(
            "no PyTorch virtualenv python at {} (run `make libtorch` or set LOSSBENCH_PYTHON)",
            path.display()
        ));
        None
    }
}

/// Says, past cargo's capture of a passing test's output, that a test is skipped and why
/// (`what`: what is missing and how to get it).
#[allow(dead_code)] // not every test binary has an outside requirement
pub fn skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}

/// A test's outside requirement is missing: outside CI, says the test is skipped and
/// returns; in CI (`CI` set, where `.ci/run` installs every requirement) fails the test.
#[allow(dead_code)] // not every test binary has an outside requirement
pub fn skip_unless_ci(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run this test, but {what}"
    );
    skipped(what);
}

/// The batches of `steps` training steps as the Keras tests feed both sides: epochs of a
/// ChaCha8 shuffle (seed 1) of `n` images, each cut by lossbench's own [`batches`] into
/// batches of `batch` (the last smaller one kept). Returns the image indices in order and
/// each batch's length, `steps` batches or a few more.
///
/// [`batches`]: lossbench::run::train::batches
#[allow(dead_code)] // only the Keras tests feed batches of their own
pub fn batch_order(n: i64, batch: i64, steps: usize) -> (Vec<i64>, Vec<i64>) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (mut order, mut lengths) = (Vec::new(), Vec::new());
    while lengths.len() < steps {
        let mut epoch: Vec<i64> = (0..n).collect();
        epoch.shuffle(&mut rng);
        for (start, len) in lossbench::run::train::batches(n, batch, false) {
            order.extend_from_slice(&epoch[start as usize..(start + len) as usize]);
            lengths.push(len);
        }
    }
    (order, lengths)
}

/// The batches of `steps` training steps in PyTorch's order, as a run of `learner` (with
/// `train.order = "pytorch"`) visits its `n` training images in batches of `batch` (the
/// last smaller one kept): the indices in order (`i + n` for image `i` flipped) and each
/// batch's length, `steps` batches or a few more.
#[allow(dead_code)] // only the parity tests train step by step
pub fn pytorch_batches(
    learner: &lossbench::run::train::Learner,
    n: i64,
    batch: i64,
    steps: usize,
) -> (Vec<i64>, Vec<i64>) {
    let (mut order, mut lengths) = (Vec::new(), Vec::new());
    for draws in &learner.draws {
        if lengths.len() >= steps {
            break;
        }
        order.extend(draws.order(n).expect("the epoch's order"));
        lengths.extend(
            lossbench::run::train::batches(n, batch, false)
                .iter()
                .map(|b| b.1),
        );
    }
    assert!(lengths.len() >= steps, "train.epochs covers {steps} steps");
    (order, lengths)
}

/// One training step of `learner` per batch of `lengths`, taking the images of `order` in
/// turn (`n` added to an index flips it) from `data`'s training split; every step's loss,
/// how many indices of `order` the steps used, and how many steps fp16's loss scale skipped.
#[allow(dead_code)] // only the parity tests train step by step
pub fn train_steps(
    learner: &mut lossbench::run::train::Learner,
    data: &lossbench::data::Dataset,
    order: &[i64],
    lengths: &[i64],
) -> (Vec<f64>, usize, usize) {
    let n = data.train.len();
    let mut sums = lossbench::run::train::StepSums::new(tch::Device::Cpu);
    let (mut ranges, mut start) = (Vec::new(), 0);
    for &len in lengths {
        ranges.push((start, len));
        start += len;
    }
    let items = order[..start as usize]
        .iter()
        .map(|&i| lossbench::data::feed::Item {
            index: (i % n) as usize,
            flip: i >= n,
        })
        .collect();
    let feed = learner.feed.clone();
    let mut losses = Vec::new();
    for batch in feed.epoch(&data.train, items, &ranges, None) {
        let (xs, ys) = feed.to_device(&batch.expect("a batch"), tch::Device::Cpu);
        losses.push(
            learner
                .step(&xs, &ys, &mut sums)
                .expect("step")
                .double_value(&[]),
        );
    }
    (losses, start as usize, sums.skipped)
}

/// A whole split as the network sees it: images `[N, C, H, W]` (`f32`, standardised as the
/// data are) and masks `[N, H, W]` (int64), on the CPU.
#[allow(dead_code)] // only the tests that hand whole splits to another library
pub fn split_tensors(
    data: &lossbench::data::Dataset,
    split: &lossbench::data::Split,
) -> (tch::Tensor, tch::Tensor) {
    let feed = lossbench::data::feed::Feed::new(data, split.len().max(1), 1);
    let batch = feed.first(split, split.len()).expect("the split's images");
    feed.to_device(&batch, tch::Device::Cpu)
}
