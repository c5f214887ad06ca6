//! Trains and evaluates one configuration: a straight-line loop over epochs that yields one
//! [`EpochRow`] per epoch.
//!
//! Determinism on CPU comes from three things: weights are initialised under a process-wide
//! lock right after seeding libtorch's generator (runs beside each other would otherwise
//! interleave their draws), every epoch's batch order and flips are drawn under the same
//! lock right after (as PyTorch's `DataLoader` draws them, [`crate::data::order`]; or, with
//! `train.order = "chacha"`, from the run's own ChaCha RNG), and the intra-op thread count
//! is fixed and recorded. Losses and metrics accumulate on the tensor side and
//! are read back once per epoch, so the step never waits on the host. A run can write a
//! [`checkpoint`] after each epoch and go on from one, with the same bits as if it had
//! never stopped. After the last epoch the weights [`super::select`] kept are evaluated on
//! the test split, when the data have one.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use super::evaluate::{evaluate, gradient_share, Scoring};
use super::optim::{self, Optim};
use super::precision::{self, LossScaler};
use super::select::{evaluate_test, Selection, Selector};
use crate::config::{Order, Precision, RunConfig};
use crate::data::augment;
use crate::data::feed::{Feed, Item, Prepare};
use crate::data::loader::Batches;
use crate::data::order::{self, EpochDraws};
use crate::data::Dataset;
use crate::losses::Criterion;
use crate::model::{UNet, UNetConfig};
use crate::run::criterion;
use crate::store::checkpoint::{self, Checkpoint};
use crate::store::EpochRow;

pub use super::evaluate::predict;

/// Serialises seeding and weight initialisation across every run in the process.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// How a training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every epoch ran.
    Done,
    /// The training loss of this epoch was NaN or infinite; training stopped there.
    Diverged { epoch: usize },
    /// The stop flag was raised; the epochs before it are complete.
    Interrupted,
}

/// A finished training: its rows, how it ended, and the weights.
pub struct Trained {
    pub rows: Vec<EpochRow>,
    pub ending: Ending,
    pub threads: usize,
    pub device: Device,
    pub vars: nn::VarStore,
    pub net: UNet,
    /// Where its batches came from (for predictions).
    pub feed: Feed,
    /// What a finished run selected (with `train.select = "best_val"` or a test split):
    /// `vars` and `net` then hold the selected weights.
    pub selection: Option<Selection>,
}

impl Trained {
    /// Writes the weights as safetensors (in contiguous layout, whatever the training's
    /// memory layout) to a temporary sibling, then renames it to `path`.
    pub fn save_weights(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let named: Vec<(String, Tensor)> = self
            .vars
            .variables()
            .into_iter()
            .map(|(name, t)| (name, t.contiguous()))
            .collect();
        let tmp = path.with_extension("safetensors.tmp");
        Tensor::write_safetensors(&named, &tmp)
            .and_then(|()| std::fs::rename(&tmp, path).map_err(Into::into))
            .with_context(|| format!("cannot save the weights to {}", path.display()))
    }
}

/// The state of a training at the end of an epoch, as [`train`] hands it to its callback:
/// what a checkpoint holds.
pub struct Snapshot<'a> {
    vars: &'a nn::VarStore,
    optim: &'a Optim,
    scaler: Option<&'a LossScaler>,
    epoch: usize,
    rng_word_pos: Option<u128>,
    selector: &'a Selector,
}

impl Snapshot<'_> {
    /// Writes this state as the checkpoint at `path`, atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::faults::point("checkpoint");
        let mut named = optim::checkpoint_tensors(self.vars, self.optim);
        named.extend(self.selector.save());
        named.extend(self.scaler.map(LossScaler::state).unwrap_or_default());
        checkpoint::write(path, named, self.epoch, self.rng_word_pos)
    }
}

/// Trains `config` on `data` with `threads` intra-op threads, going on after the epoch of
/// `resume` when given, and calls `on_epoch` after each epoch with its row and the state
/// at its end (which the caller may save as a checkpoint). Checks `stop` between steps;
/// when it is raised, the run ends as [`Ending::Interrupted`] without the partial epoch.
pub fn train(
    config: &RunConfig,
    data: &Dataset,
    threads: usize,
    stop: &AtomicBool,
    resume: Option<&Checkpoint>,
    mut on_epoch: impl FnMut(&EpochRow, &Snapshot),
) -> anyhow::Result<Trained> {
    let mut learner = Learner::new(config, data, threads)?;
    let mut shuffle = Shuffle::new(config, std::mem::take(&mut learner.draws), resume)?;
    let mut first_epoch = 1;
    let mut selector = Selector::new(config);
    if let Some(from) = resume {
        optim::restore_checkpoint(&from.tensors, &learner.vars, &mut learner.opt)
            .context("cannot resume from the checkpoint")?;
        selector
            .restore(&from.tensors)
            .context("cannot resume the selection from the checkpoint")?;
        if let Some(scaler) = &mut learner.scaler {
            scaler
                .restore(&from.tensors)
                .context("cannot resume the loss scale from the checkpoint")?;
        }
        first_epoch = from.epoch + 1;
    }
    let device = learner.device;
    let classes = learner.net_config.num_classes;
    let batches = batches(data.train.len(), learner.batch, config.train.drop_last);
    let steps = batches.len();
    let total_steps = steps * config.train.epochs;

    let mut rows = Vec::with_capacity(config.train.epochs);
    let mut ending = Ending::Done;
    for epoch in first_epoch..=config.train.epochs {
        let start = Instant::now();
        let items = shuffle.epoch(epoch, data.train.len(), data.hflip)?;
        let prepare = augmenter(data, config.train.seed, epoch);
        let mut loader = learner.feed.epoch(&data.train, items, &batches, prepare);
        let mut sums = StepSums::new(device);
        let schedule = config.optim.schedule;
        let lr_at =
            |i: usize| schedule.lr_at(config.optim.lr, (epoch - 1) * steps + i, total_steps);
        if !run_steps(&mut learner, &mut loader, stop, steps, &lr_at, &mut sums)? {
            ending = Ending::Interrupted;
            break;
        }
        sums.data_seconds = loader.waited().as_secs_f64();
        let row = score_epoch(&learner, config, data, epoch, &sums, steps, lr_at(0), start)?;
        selector.observe(&row, &learner.vars);
        let snapshot = Snapshot {
            vars: &learner.vars,
            optim: &learner.opt,
            scaler: learner.scaler.as_ref(),
            epoch,
            rng_word_pos: shuffle.word_pos(),
            selector: &selector,
        };
        on_epoch(&row, &snapshot);
        let diverged = !row.train_loss.is_finite();
        rows.push(row);
        if diverged {
            ending = Ending::Diverged { epoch };
            break;
        }
    }
    let selection = if ending == Ending::Done && selector.records(data) {
        let epoch = selector.finish(&mut learner.vars, config.train.epochs)?;
        let test = evaluate_test(
            &learner.net,
            &learner.criterion,
            config,
            data,
            classes,
            device,
        )?;
        Some(Selection { epoch, test })
    } else {
        None
    };
    Ok(Trained {
        rows,
        ending,
        threads,
        device,
        vars: learner.vars,
        net: learner.net,
        feed: learner.feed,
        selection,
    })
}

/// One epoch's `steps` training steps, each on the next batch of `loader` at the learning
/// rate `lr_at` gives its index; `false` when `stop` was raised before every step ran.
fn run_steps(
    learner: &mut Learner,
    loader: &mut Batches,
    stop: &AtomicBool,
    steps: usize,
    lr_at: &dyn Fn(usize) -> f64,
    sums: &mut StepSums,
) -> anyhow::Result<bool> {
    for i in 0..steps {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        crate::faults::point("step");
        let batch = loader
            .next()
            .with_context(|| format!("no batch {i} of {steps}"))??;
        let (xs, ys) = learner.feed.to_device(&batch, learner.device);
        learner.opt.set_lr(lr_at(i));
        let _ = learner.step(&xs, &ys, sums)?;
    }
    Ok(true)
}

/// Epoch `epoch`'s row, once its `steps` training steps have added to `sums`: the training
/// means, the validation split's loss, metrics and gradient shares, the epoch's first
/// learning rate `lr`, and the seconds since `started`.
#[allow(clippy::too_many_arguments)]
fn score_epoch(
    learner: &Learner,
    config: &RunConfig,
    data: &Dataset,
    epoch: usize,
    sums: &StepSums,
    steps: usize,
    lr: f64,
    started: Instant,
) -> anyhow::Result<EpochRow> {
    let (classes, ignore, device) = (
        learner.net_config.num_classes,
        data.ignore_index,
        learner.device,
    );
    let train_loss = sums.loss.double_value(&[]) / steps as f64;
    // The mean over the steps taken: a skipped step's gradient is not finite.
    let grad_norm = sums.grad_norm.double_value(&[]) / (steps - sums.skipped) as f64;
    let eval = evaluate(
        &learner.net,
        &learner.criterion,
        &learner.feed,
        &data.val,
        classes,
        device,
        Scoring::of(config),
    )?;
    let (val_loss, metrics) = (eval.loss, eval.metrics);
    let grad_share = gradient_share(
        &learner.criterion,
        &eval.first_logits,
        &eval.first_masks,
        classes,
        ignore,
    )?;
    Ok(EpochRow {
        epoch,
        train_loss,
        val_loss,
        val_miou: metrics.miou,
        pixel_accuracy: metrics.pixel_accuracy,
        binary_accuracy: metrics.binary_accuracy_for(config.loss.name),
        binary_accuracy_sigmoid: metrics.binary_accuracy_sigmoid,
        binary_accuracy_softmax: metrics.binary_accuracy_softmax,
        iou_per_class: metrics
            .iou_per_class
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect(),
        grad_norm,
        grad_share,
        quality: eval.quality,
        lr,
        seconds: started.elapsed().as_secs_f64(),
        data_seconds: sums.data_seconds,
        skipped_steps: learner.scaler.is_some().then_some(sums.skipped),
        selected_epoch: None,
        test: None,
    })
}

/// What each training image goes through after its drawn flip, when the data are
/// augmented: the augmentation drawn for the run's `seed`, the `epoch` and the image's
/// position in it ([`augment::sample_rng`]), so a rerun or a resumed run draws the same.
fn augmenter(data: &Dataset, seed: u64, epoch: usize) -> Option<Prepare> {
    let augmentation = data.augmentation.clone()?;
    let ignore = data.ignore_index;
    Some(Arc::new(move |position, image, mask| {
        let mut rng = augment::sample_rng(seed, epoch, position);
        let size = image.size();
        let (height, width) = (size[size.len() - 2], size[size.len() - 1]);
        let draw = augmentation
            .config
            .draw(&mut rng, (height, width), augmentation.crop);
        augmentation.config.apply(&draw, &image, &mask, ignore)
    }))
}

/// Where each epoch's order and flips come from (`train.order`).
enum Shuffle {
    /// PyTorch's draws of every epoch, taken at initialisation.
    Pytorch(Vec<EpochDraws>),
    /// The run's own ChaCha8 stream.
    Chacha(Box<ChaCha8Rng>),
}

impl Shuffle {
    /// The shuffle of `config` (PyTorch's `draws`, or a seeded ChaCha8), going on after
    /// `resume`'s epoch when given; an error when the checkpoint was written in the other
    /// order.
    fn new(
        config: &RunConfig,
        draws: Vec<EpochDraws>,
        resume: Option<&Checkpoint>,
    ) -> anyhow::Result<Self> {
        let position = resume.map(|c| c.rng_word_pos);
        match (config.train.order, position) {
            (Order::Pytorch, None | Some(None)) => Ok(Shuffle::Pytorch(draws)),
            (Order::Chacha, _) => {
                let mut rng = ChaCha8Rng::seed_from_u64(config.train.seed);
                rng.set_stream(2);
                match position {
                    Some(None) => bail!(
                        "the checkpoint is of a run in PyTorch's order, but train.order is \"chacha\"; resume it with train.order = \"pytorch\""
                    ),
                    Some(Some(pos)) => rng.set_word_pos(pos),
                    None => {}
                }
                Ok(Shuffle::Chacha(Box::new(rng)))
            }
            (Order::Pytorch, Some(Some(_))) => bail!(
                "the checkpoint is of a run that shuffled with its own ChaCha generator, but train.order is \"pytorch\"; resume it with train.order = \"chacha\""
            ),
        }
    }

    /// Epoch `epoch`'s (1-based) images among the `n` training images in the order
    /// visited, and which are flipped.
    fn epoch(&mut self, epoch: usize, n: i64, hflip: bool) -> anyhow::Result<Vec<Item>> {
        let marked = self.marked(epoch, n, hflip)?;
        Ok(marked
            .into_iter()
            .map(|i| Item {
                index: (i % n) as usize,
                flip: i >= n,
            })
            .collect())
    }

    /// Epoch `epoch`'s indices with `n` added to each one flipped.
    fn marked(&mut self, epoch: usize, n: i64, hflip: bool) -> anyhow::Result<Vec<i64>> {
        match self {
            Shuffle::Pytorch(draws) => draws
                .get(epoch - 1)
                .with_context(|| format!("no order was drawn for epoch {epoch}"))?
                .order(n),
            Shuffle::Chacha(rng) => {
                let mut order: Vec<i64> = (0..n).collect();
                order.shuffle(rng.as_mut());
                if hflip {
                    for i in &mut order {
                        if rng.random_bool(0.5) {
                            *i += n;
                        }
                    }
                }
                Ok(order)
            }
        }
    }

    /// What a checkpoint keeps of it: the ChaCha stream's position.
    fn word_pos(&self) -> Option<u128> {
        match self {
            Shuffle::Pytorch(_) => None,
            Shuffle::Chacha(rng) => Some(rng.get_word_pos()),
        }
    }
}

/// One epoch's batches as `(start, length)` in its shuffled order of `images` images: full
/// batches of `batch`, then the rest as a last, smaller batch unless `drop_last` (PyTorch's
/// `DataLoader` keeps it by default).
pub fn batches(images: i64, batch: i64, drop_last: bool) -> Vec<(i64, i64)> {
    let end = if drop_last {
        images - images % batch
    } else {
        images
    };
    (0..end)
        .step_by(batch as usize)
        .map(|start| (start, batch.min(end - start)))
        .collect()
}

/// Seconds of one training step of `config` on `data` with `threads` threads (the median
/// of three after a warm-up); used to estimate a sweep's time.
pub fn time_step(config: &RunConfig, data: &Dataset, threads: usize) -> anyhow::Result<f64> {
    let mut config = config.clone();
    config.train.batch_size = config.train.batch_size.min(data.train.len() as usize);
    let mut learner = Learner::new(&config, data, threads)?;
    let mut times = step_times(&mut learner, data, 1, 3)?;
    times.sort_by(f64::total_cmp);
    Ok(times[1])
}

/// Runs `warmup + steps` training steps of `learner` on the first full batches of `data`'s
/// training split (at most `warmup + steps` of them, wrapping around; each on the device
/// before its step is timed) and returns the seconds of each of the last `steps`.
pub fn step_times(
    learner: &mut Learner,
    data: &Dataset,
    warmup: usize,
    steps: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut batches = Vec::new();
    for batch in learner.feed.in_order(&data.train) {
        let batch = batch?;
        if batch.images.size()[0] == learner.batch {
            batches.push(learner.feed.to_device(&batch, learner.device));
        }
        if batches.len() == warmup + steps {
            break;
        }
    }
    if batches.is_empty() {
        bail!(
            "the training split holds no full batch of {}",
            learner.batch
        );
    }
    let mut sums = StepSums::new(learner.device);
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let (xs, ys) = &batches[i % batches.len().max(1)];
        let start = Instant::now();
        let _ = learner.step(xs, ys, &mut sums)?;
        if let Device::Cuda(index) = learner.device {
            tch::Cuda::synchronize(index as i64);
        }
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// A network, its optimizer and where its batches come from: what a training
/// step works on. [`train`] and the step benchmark both step through [`Learner::step`].
pub struct Learner {
    pub vars: nn::VarStore,
    pub net: UNet,
    pub net_config: UNetConfig,
    pub device: Device,
    /// Images per step.
    pub batch: i64,
    pub(crate) opt: Optim,
    params: Vec<Tensor>,
    /// Where the batches come from.
    pub feed: Feed,
    /// The loss with its parameters (or the user's module).
    pub criterion: Criterion,
    /// The forward pass's precision, and fp16's loss scale.
    precision: Precision,
    scaler: Option<LossScaler>,
    scale: f64,
    ignore: Option<i64>,
    /// What each epoch of a `DataLoader` with `shuffle=True` draws from libtorch's generator
    /// right after initialisation, for every epoch of `train.epochs`; empty with
    /// `train.order = "chacha"`.
    pub draws: Vec<EpochDraws>,
}

/// Sums over an epoch's steps, kept on the device so that a step never waits on the host.
pub struct StepSums {
    /// Σ training loss (before `loss.scale`).
    pub loss: Tensor,
    /// Σ L2 norm of the whole gradient, over the steps taken.
    pub grad_norm: Tensor,
    /// Steps skipped because fp16's scaled gradients overflowed.
    pub skipped: usize,
    /// Seconds the steps waited for their batches.
    pub data_seconds: f64,
}

impl StepSums {
    /// Zero sums on `device`.
    pub fn new(device: Device) -> Self {
        StepSums {
            loss: Tensor::zeros([], (Kind::Double, device)),
            grad_norm: Tensor::zeros([], (Kind::Double, device)),
            skipped: 0,
            data_seconds: 0.0,
        }
    }
}

impl Learner {
    /// fp16's current loss scale; `None` in the other precisions.
    pub fn loss_scale(&self) -> Option<f64> {
        self.scaler.as_ref().map(LossScaler::current)
    }

    /// Sets the intra-op threads, checks the shapes, seeds and builds the network and its
    /// optimizer, and draws PyTorch's batch orders.
    pub fn new(config: &RunConfig, data: &Dataset, threads: usize) -> anyhow::Result<Self> {
        let device = config.device()?;
        tch::set_num_threads(threads as i32);
        keep_freed_memory();
        let net_config = check(config, data)?;
        let batch = config.train.batch_size as i64;
        let fetched = batches(data.train.len(), batch, config.train.drop_last)
            .iter()
            .map(|&(_, len)| len)
            .sum();
        let (vars, net, draws) = init(&net_config, config.train.seed, device, || {
            match config.train.order {
                Order::Pytorch => order::draw(config.train.epochs, fetched, data.hflip),
                Order::Chacha => Ok(Vec::new()),
            }
        });
        let draws = draws?;
        let opt = Optim::new(&config.optim, &vars);
        let criterion = criterion::build(config, data, net_config.num_classes, device)?;
        let params = vars.trainable_variables();
        let feed = Feed::new(data, batch, 1 << net_config.depth);
        Ok(Learner {
            feed,
            vars,
            net,
            net_config,
            device,
            batch,
            opt,
            params,
            criterion,
            scale: config.loss.scale,
            ignore: data.ignore_index,
            draws,
            precision: config.train.precision,
            scaler: LossScaler::of(config.train.precision, device),
        })
    }

    /// One training step on the images `xs` and masks `ys` (on the device): forward
    /// (in `train.precision`), loss on float32 logits, backward of the scaled loss, the
    /// gradient norm, the optimizer's step (skipped, and counted in `sums`, when fp16's
    /// gradients overflow); adds the loss and the norm to `sums` and returns the loss
    /// (detached, before `loss.scale`).
    pub fn step(
        &mut self,
        xs: &Tensor,
        ys: &Tensor,
        sums: &mut StepSums,
    ) -> anyhow::Result<Tensor> {
        let logits =
            precision::forward(self.precision, self.device, || self.net.forward_t(xs, true))?;
        let value = self
            .criterion
            .compute(&logits.to_kind(Kind::Float), ys, self.ignore)
            .context("the loss failed on a training batch")?;
        self.opt.zero_grad();
        let scaled = &value * self.scale;
        let overflow = match &self.scaler {
            Some(scaler) => {
                scaler.scale(&scaled).backward();
                scaler.unscale_and_update(&self.params)?
            }
            None => {
                scaled.backward();
                false
            }
        };
        if overflow {
            sums.skipped += 1;
        } else {
            sums.grad_norm += global_norm(&self.params);
            self.opt.step();
        }
        let value = value.detach();
        sums.loss += value.to_kind(Kind::Double);
        Ok(value)
    }
}

/// Has glibc keep freed activation buffers for the next step instead of handing them back
/// to the kernel. By default it serves each allocation above its mmap threshold with a
/// fresh mapping and unmaps it on free, so every page of every large activation faults in
/// again (zeroed by the kernel) on every step; raising the threshold to its ceiling
/// (32 MiB) and the trim threshold to 1 GiB lets freed memory be reused. Process-wide,
/// set once; see BENCHMARKS.md for what it saves.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes glibc's allocation thresholds; it is safe to call
            // at any time and from any thread.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// Checks that `config` can train on `data` here (its device exists, the images fit the
/// U-Net, a batch fits the training split) and gives the U-Net's shape.
pub fn check(config: &RunConfig, data: &Dataset) -> anyhow::Result<UNetConfig> {
    config.device()?;
    let net_config = model_config(config, data)?;
    let (height, width) = data.image_size();
    net_config.check_input(height, width)?;
    let batch = config.train.batch_size as i64;
    if batch > data.train.len() {
        bail!(
            "train.batch_size is {batch} but the training split has only {} images; lower train.batch_size",
            data.train.len()
        );
    }
    // Batch norm cannot train on one value per channel: one image whose bottleneck is 1×1.
    let rest = data.train.len() % batch;
    let last = if rest == 0 || config.train.drop_last {
        batch
    } else {
        rest
    };
    let bottleneck = (height >> net_config.depth) * (width >> net_config.depth);
    if net_config.batch_norm && last * bottleneck == 1 {
        bail!(
            "the last batch of each epoch holds 1 image ({} training images, train.batch_size {batch}) and the U-Net's bottleneck is 1×1, so batch norm would see one value per channel; set train.drop_last = true, or change train.batch_size",
            data.train.len()
        );
    }
    Ok(net_config)
}

/// The U-Net shape for `config` on `data`: channels and classes follow the data, and an
/// explicit value that disagrees with them is an error.
pub fn model_config(config: &RunConfig, data: &Dataset) -> anyhow::Result<UNetConfig> {
    let m = &config.model;
    let follow = |key: &str, set: Option<i64>, actual: i64, what: &str| {
        match set {
        Some(v) if v != actual => bail!(
            "model.{key} is {v} but the data have {actual} {what}; remove model.{key} to follow the data, or set it to {actual}"
        ),
        _ => Ok(actual),
    }
    };
    Ok(UNetConfig {
        in_channels: follow(
            "in_channels",
            m.in_channels,
            data.in_channels(),
            "image channels",
        )?,
        num_classes: follow("num_classes", m.num_classes, data.num_classes(), "classes")?,
        base_channels: m.base_channels,
        depth: m.depth,
        batch_norm: m.batch_norm,
        channels_last: m.channels_last,
        init: m.init,
        bn_momentum: m.bn_momentum,
        bn_eps: m.bn_eps,
        bn_variance: m.bn_variance,
    })
}

/// Seeds libtorch, builds the network, then calls `then` (which draws what a script draws
/// after its model), all under [`INIT_LOCK`] so that no other run draws from the generator
/// in between.
fn init<T>(
    config: &UNetConfig,
    seed: u64,
    device: Device,
    then: impl FnOnce() -> T,
) -> (nn::VarStore, UNet, T) {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    // Drawn on the CPU, then moved, as a PyTorch script builds its model before `.to(device)`:
    // a CUDA run starts from the weights of the CPU run of the same seed.
    let mut vars = nn::VarStore::new(Device::Cpu);
    let net = UNet::new(&vars.root(), config);
    vars.set_device(device);
    let after = then();
    (vars, net, after)
}

/// The L2 norm of all gradients together, in f64, as a scalar tensor on their device (on a
/// GPU without a host sync).
fn global_norm(params: &[Tensor]) -> Tensor {
    match params.first().map(Tensor::device) {
        Some(Device::Cpu) => {
            // Summed here, in order and in f64: ATen's parallel float reduction splits its
            // work by the threads it gets, which vary when runs share a process, and its last
            // bits varied with them (seen as a rerun whose losses matched bit for bit but
            // whose gradient norm did not).
            // Copied as the f32 they are (no f64 tensor), each squared in f64.
            let mut squares = 0.0f64;
            let mut buffer: Vec<f32> = Vec::new();
            for p in params {
                let grad = p.grad().to_kind(Kind::Float).contiguous();
                let numel = grad.numel();
                buffer.resize(numel, 0.0);
                grad.copy_data(&mut buffer, numel);
                squares += buffer
                    .iter()
                    .map(|&g| f64::from(g) * f64::from(g))
                    .sum::<f64>();
            }
            Tensor::from(squares.sqrt())
        }
        _ => {
            let squares: Vec<Tensor> = params
                .iter()
                .map(|p| p.grad().to_kind(Kind::Double).square().sum(Kind::Double))
                .collect();
            Tensor::stack(&squares, 0).sum(Kind::Double).sqrt()
        }
    }
}

#[cfg(test)]
mod tests;
