//! Runs a plan: picks the runs to do (skipping finished ones on resume), loads each distinct
//! dataset once, trains `jobs` runs at a time with `jobs × threads = cores`, records every
//! epoch as it finishes, and rebuilds the sweep's frame at the end (except for a shard:
//! shards of a sweep run side by side, each writing only its own run folders, and
//! `lossbench collect` rebuilds the frame once they are all over).
//!
//! The runs go to `jobs` plain scoped threads that take the next run from a shared queue,
//! not to a rayon pool: a rayon worker that waits on Polars' own pool (writing a frame)
//! steals other tasks meanwhile, which started a second run on the same thread in the
//! middle of the first and broke the `jobs` limit.
//!
//! One run's failure (an error, a panic in libtorch, a diverged loss) is recorded in its
//! folder and the sweep goes on. A finished run's selection and test scores join its rows.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;

use crate::config::{ConfigError, LossConfig, Order, RunConfig};
use crate::data::Dataset;
use crate::plan::{Filter, Plan, PlannedRun};
use crate::run::criterion;
use crate::run::observe::{Call, Observers};
use crate::run::progress::Progress;
use crate::run::train::{self, Ending};
use crate::store::{
    checkpoint, finished_by_commit, other_builds_warning, RunStatus, State, SweepStore, WEIGHTS,
};

/// How to run a plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Runs at once; `None` for as many as the machine's cores allow.
    pub jobs: Option<usize>,
    /// Rerun finished runs too.
    pub force: bool,
    pub only: Option<Filter>,
    /// `(I, N)`: only the runs at positions I, I + N, I + 2N, ... of the selection.
    pub shard: Option<(usize, usize)>,
    /// The tools that follow the runs as they train (live TensorBoard, MLflow).
    pub observers: Observers,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Runs of the (filtered) plan.
    pub selected: usize,
    /// Finished earlier and kept.
    pub skipped: usize,
    pub done: usize,
    pub diverged: usize,
    pub failed: usize,
    pub interrupted: usize,
    /// Runs of the selection not done, counting earlier sweeps' diverged runs.
    pub not_done: usize,
    /// Wall-clock seconds of the runs trained now, and of it the time their checkpoints
    /// took (writing them and hashing the files for the status).
    pub seconds: f64,
    pub checkpoint_seconds: f64,
    /// The largest checkpoint written, in bytes.
    pub checkpoint_bytes: u64,
}

impl Summary {
    /// Whether every selected run is done.
    pub fn all_done(&self) -> bool {
        self.not_done == 0
    }
}

/// The value of the run's dataset axis (`dataset` or `data.root`), when the sweep has one.
fn dataset_name(run: &PlannedRun<'_>) -> Option<String> {
    run.axes()
        .find(|(label, _)| crate::analyse::datasets::DATASET_AXES.contains(label))
        .map(|(_, value)| crate::plan::display_value(value))
}

/// The cores this process may use: the machine's, or fewer inside a Slurm task that asked
/// for fewer (`SLURM_CPUS_PER_TASK`; Slurm does not always pin a task to its CPUs).
pub fn cores() -> usize {
    let machine = std::thread::available_parallelism().map_or(1, usize::from);
    cores_of(
        machine,
        std::env::var("SLURM_CPUS_PER_TASK").ok().as_deref(),
    )
}

/// [`cores`] from the machine's cores and `SLURM_CPUS_PER_TASK`.
fn cores_of(machine: usize, slurm_cpus: Option<&str>) -> usize {
    slurm_cpus
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or(machine, |n| n.min(machine))
}

/// Jobs and threads per job for `runs` runs on `cores` cores: as many jobs as cores (one
/// thread each side by side trains faster here than one run with every thread), never more
/// jobs than runs, and the threads that are left shared out.
pub fn layout(jobs: Option<usize>, runs: usize, cores: usize) -> (usize, usize) {
    let jobs = jobs.unwrap_or(cores).min(runs).max(1);
    (jobs, (cores / jobs).max(1))
}

/// The runs of `plan` that `options` select (`--only`, then `--shard` over what `--only`
/// kept), and those of them that are to be trained.
pub fn select<'a>(
    plan: &'a Plan,
    store: &SweepStore,
    options: &Options,
) -> anyhow::Result<(Vec<PlannedRun<'a>>, Vec<PlannedRun<'a>>)> {
    let (selected, todo, _) = select_finished(plan, store, options);
    Ok((selected, todo))
}

/// [`select`], with the statuses of the selected runs that have finished (done or diverged,
/// in sound folders), read once.
#[allow(clippy::type_complexity)]
fn select_finished<'a>(
    plan: &'a Plan,
    store: &SweepStore,
    options: &Options,
) -> (Vec<PlannedRun<'a>>, Vec<PlannedRun<'a>>, Vec<RunStatus>) {
    let selected: Vec<PlannedRun<'a>> = plan
        .runs()
        .filter(|r| options.only.as_ref().is_none_or(|f| f.matches(r)))
        .enumerate()
        .filter(|(i, _)| {
            options
                .shard
                .is_none_or(|(index, count)| i % count == index)
        })
        .map(|(_, r)| r)
        .collect();
    let mut todo = Vec::new();
    let mut finished = Vec::new();
    for run in &selected {
        // A damaged folder (unreadable status, a vouched-for file missing or changed) is no
        // finished run: it is done again.
        let status = store.sound_status(&run.id()).filter(|s| s.state.is_final());
        if options.force || status.is_none() {
            todo.push(*run);
        }
        finished.extend(status);
    }
    (selected, todo, finished)
}

/// Says when builds of other commits made finished runs of the sweep, and records what the
/// sweep plans (`sweep.json`) for `lossbench status` and a report of the sweep while it
/// runs (shard 0 alone, of a sharded sweep).
fn record_start(
    plan: &Plan,
    store: &SweepStore,
    options: &Options,
    finished: &[RunStatus],
    progress: &Progress,
) -> anyhow::Result<()> {
    if let Some(warning) = other_builds_warning(&finished_by_commit(finished)) {
        progress.println(&warning);
    }
    if options.shard.is_none_or(|(index, _)| index == 0) {
        store.record_sweep(plan, finished)?;
    }
    Ok(())
}

/// A rough estimate of the wall seconds `todo` takes with `jobs` at a time and `threads`
/// each, from one timed training step of the first run (evaluation counted as a third of a
/// step per batch); also that step's seconds.
pub fn estimate_seconds(
    todo: &[PlannedRun<'_>],
    jobs: usize,
    threads: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    let Some(first) = todo.first() else {
        return Ok((0.0, None));
    };
    let first = first.config()?;
    let data = first.data.load()?;
    let step = train::time_step(&first, &data, first.threads_or(threads))?;
    let (train, val) = (data.train.len() as f64, data.val.len() as f64);
    // Each run's configuration is built again, on every core; the sum goes in run order.
    let seconds: Vec<f64> = todo
        .par_iter()
        .map(|run| {
            let config = run.config()?;
            let batch = config.train.batch_size as f64;
            let steps = (train / batch).floor() + (val / batch).ceil() / 3.0;
            Ok(config.train.epochs as f64 * steps * step)
        })
        .collect::<Result<_, ConfigError>>()?;
    let total: f64 = seconds.iter().sum();
    Ok((total / jobs as f64, Some(step)))
}

/// Runs the selected runs of `plan` into `store`. `stop` (raised by Ctrl-C) ends runs in
/// progress as interrupted and starts no new ones.
pub fn execute(
    plan: &Plan,
    store: &SweepStore,
    options: &Options,
    stop: &AtomicBool,
) -> anyhow::Result<Summary> {
    let (selected, todo, finished) = select_finished(plan, store, options);
    let mut summary = Summary {
        selected: selected.len(),
        skipped: selected.len() - todo.len(),
        ..Default::default()
    };
    let progress = Progress::new(todo.len());
    // Threads per run follow the whole selection, not what is left of it, so that a resumed
    // sweep trains each run with the thread count (and so the bits) it would have had.
    let (_, threads) = layout(options.jobs, selected.len(), cores());
    let (jobs, _) = layout(options.jobs, todo.len(), cores());
    // Each run's configuration as planned, built once.
    let configs: Vec<RunConfig> = todo
        .iter()
        .map(PlannedRun::config)
        .collect::<Result<_, _>>()?;
    let (jobs, gpu_share) = super::share::limit(&configs, jobs);
    // What the runs will use: `train.threads` where a run sets it, the layout's otherwise.
    let mut counts: Vec<usize> = configs.iter().map(|c| c.threads_or(threads)).collect();
    counts.sort_unstable();
    counts.dedup();
    let each = match counts.as_slice() {
        [one] => format!("{one} thread(s) each"),
        [] => format!("{threads} thread(s) each"),
        many => format!(
            "{}-{} thread(s) each (train.threads)",
            many[0],
            many[many.len() - 1]
        ),
    };
    record_start(plan, store, options, &finished, &progress)?;
    progress.println(&format!(
        "sweep {}: {} runs selected, {} finished earlier, {} to run; {jobs} at a time, {each}{}",
        plan.sweep.name,
        selected.len(),
        summary.skipped,
        todo.len(),
        gpu_share.map_or_else(String::new, |line| format!("; {line}"))
    ));

    // A device this machine lacks stops the sweep before anything runs; what is wrong with
    // one configuration only (its batch, its shapes) fails that run, and the sweep goes on.
    for (run, config) in todo.iter().zip(&configs) {
        config
            .device()
            .with_context(|| format!("run {} cannot start", run.label()))?;
    }

    // Each distinct dataset is built once; every run gets a handle on the same tensors.
    let first_data = match plan.run(0) {
        Some(first) => Some(serde_json::to_string(&first.config()?.data)?),
        None => None,
    };
    let mut datasets: HashMap<String, Dataset> = HashMap::new();
    let mut losses: HashMap<(String, String), (LossConfig, bool)> = HashMap::new();
    let mut work = Vec::with_capacity(todo.len());
    for (run, mut config) in todo.iter().zip(configs) {
        let key = serde_json::to_string(&config.data)?;
        if !datasets.contains_key(&key) {
            let start = Instant::now();
            let data = config
                .data
                .load()
                .with_context(|| format!("cannot load the data of run {}", run.label()))?;
            let (height, width) = data.image_size();
            progress.println(&format!(
                "data: {} train + {} validation images, {height}×{width}, {} channel(s), {} classes; {:.1} MiB in memory, loaded in {:.2} s",
                data.train.len(),
                data.val.len(),
                data.in_channels(),
                data.num_classes(),
                data.bytes() as f64 / (1 << 20) as f64,
                start.elapsed().as_secs_f64()
            ));
            // Of a sharded sweep, shard 0 alone writes the sweep-level dataset files: those
            // of the plan's first dataset (or of the first loaded, until that one is), and
            // in a sweep over several datasets each dataset's own under datasets/.
            if options.shard.is_none_or(|(index, _)| index == 0) {
                if Some(&key) == first_data.as_ref()
                    || !store.dataset_dir(None).join("dataset.json").exists()
                {
                    store.write_dataset(&data, None)?;
                }
                if let Some(name) = dataset_name(run) {
                    store.write_dataset(&data, Some(&name))?;
                }
            }
            datasets.insert(key.clone(), data);
        }
        // A loss the data cannot take (class weights of the wrong length, a script that
        // fails its checks) stops the sweep here, before any run starts.
        let loss_key = (serde_json::to_string(&config.loss)?, key.clone());
        if !losses.contains_key(&loss_key) {
            let resolved = criterion::resolve(&config.loss, &datasets[&key])
                .with_context(|| format!("run {} cannot start", run.label()))?;
            losses.insert(loss_key.clone(), resolved);
        }
        config.loss = losses[&loss_key].0.clone();
        let derived = losses[&loss_key].1;
        work.push((*run, datasets[&key].clone(), Resolved { config, derived }));
    }

    let endings = Mutex::new(Vec::with_capacity(work.len()));
    let queue = Mutex::new(work.into_iter());
    let broken: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let (queue, broken, endings, progress) = (&queue, &broken, &endings, &progress);
            scope.spawn(move || loop {
                if broken.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    break;
                }
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((run, data, resolved)) = next else {
                    break;
                };
                let observers = &options.observers;
                match run_one(
                    &run, &resolved, &data, threads, worker, store, progress, stop, observers,
                ) {
                    Ok(state) => {
                        if state.is_some() {
                            let warn = |w: &str| progress.println(w);
                            observers.notify(Call::RunEnded, &store.run_dir(&run.id()), &warn);
                        }
                        endings
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(state)
                    }
                    Err(e) => {
                        broken
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    options
        .observers
        .sweep_ended(&|w: &str| progress.println(w));
    drop(progress);
    if let Some(e) = broken.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e.context(format!(
            "the sweep stopped: its results folder {} cannot be written",
            store.root.display()
        )));
    }
    let endings = endings.into_inner().unwrap_or_else(|p| p.into_inner());
    for state in endings.into_iter().flatten() {
        match state {
            State::Done => summary.done += 1,
            State::Diverged => summary.diverged += 1,
            State::Failed => summary.failed += 1,
            State::Interrupted | State::Running => summary.interrupted += 1,
        }
    }
    let trained: std::collections::HashSet<usize> = todo.iter().map(PlannedRun::index).collect();
    for run in &selected {
        let status = store.status(&run.id()).ok().flatten();
        if status.as_ref().is_none_or(|s| s.state != State::Done) {
            summary.not_done += 1;
        }
        if let Some(s) = status.filter(|_| trained.contains(&run.index())) {
            summary.seconds += s.seconds;
            summary.checkpoint_seconds += s.checkpoint_seconds;
            summary.checkpoint_bytes = summary.checkpoint_bytes.max(s.checkpoint_bytes);
        }
    }
    if options.shard.is_none() {
        store.rebuild_frame(plan)?;
    }
    Ok(summary)
}

/// A run's configuration as it trains: its loss with class weights derived from the data
/// written out as a list.
struct Resolved {
    config: RunConfig,
    /// Whether the class weights were derived (and so differ from the planned form).
    derived: bool,
}

impl Resolved {
    /// The run's `config.toml`: the configuration it trains with, in batch order `order`
    /// (written out even at its default: [`RunConfig::to_folder_toml`]), headed by the
    /// planned form of derived class weights.
    fn written(&self, order: Order) -> anyhow::Result<String> {
        let header = if self.derived {
            "# loss.class_weights below is derived from the training split's pixels (the \
             sweep asked for them by frequency)\n"
        } else {
            ""
        };
        let mut config = self.config.clone();
        config.train.order = order;
        let config = config
            .to_folder_toml()
            .context("cannot write the configuration as TOML")?;
        Ok(format!("{header}{config}"))
    }
}

/// The device worker `worker` trains a run asking for `requested` on: with several GPUs,
/// `cuda` (or `auto`) places the workers' runs on `cuda:0`, `cuda:1`, ... in turn; anything
/// else stays as asked.
fn placement(requested: &str, worker: usize, gpus: i64) -> String {
    match requested {
        "cuda" | "auto" if gpus > 1 => format!("cuda:{}", worker as i64 % gpus),
        other => other.to_string(),
    }
}

/// Trains one run and records it; `None` when `stop` was raised before it started. An
/// error is one of the results folder (it cannot be written): the sweep stops on it, since
/// every later run would meet it too.
#[allow(clippy::too_many_arguments)]
fn run_one(
    run: &PlannedRun<'_>,
    resolved: &Resolved,
    data: &Dataset,
    threads: usize,
    worker: usize,
    store: &SweepStore,
    progress: &Progress,
    stop: &AtomicBool,
    observers: &Observers,
) -> anyhow::Result<Option<State>> {
    if stop.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let (id, label) = (run.id(), run.label());
    let threads = resolved.config.threads_or(threads);
    let mut config = resolved.config.clone();
    let gpus = crate::device::gpus_for(&config.device) as i64;
    config.device = placement(&config.device, worker, gpus);
    let device = config.device().unwrap_or(tch::Device::Cpu);
    let mut status = RunStatus::starting(run, config.train.epochs, device, threads);
    // An unfinished earlier attempt goes on from its last checkpoint; a damaged folder, or
    // a checkpoint that cannot be used, starts over, with a line naming the file.
    let damage = store.damage(&id);
    let resumed = if damage.is_empty() {
        store.resumable(&id).unwrap_or_else(|e| {
            progress.println(&format!("warning: run {label} starts over: {e:#}"));
            None
        })
    } else {
        progress.println(&format!(
            "warning: run {label} is done again: {}",
            damage.join("; ")
        ));
        None
    };
    if resumed.is_some() {
        if let Ok(Some(earlier)) = store.status(&id) {
            status.resumes(&earlier);
        }
    }
    // A checkpoint that holds a ChaCha position is of a run written before PyTorch's batch
    // order became the default: it goes on in its own order, and its config.toml says so.
    if resumed
        .as_ref()
        .is_some_and(|(c, _)| c.rng_word_pos.is_some())
    {
        config.train.order = Order::Chacha;
    }
    let config = &config;
    let mut rows = resumed
        .as_ref()
        .map(|(_, rows)| rows.clone())
        .unwrap_or_default();
    status.epochs_done = rows.len();
    let bar = progress.start(run, config.train.epochs);
    let started = match &resumed {
        Some((checkpoint, _)) => {
            progress.println(&format!(
                "resume {id}  {label} from its checkpoint after epoch {}",
                checkpoint.epoch
            ));
            resolved
                .written(config.train.order)
                .and_then(|config| store.resume_run(run, &config, &status))
        }
        None => resolved
            .written(config.train.order)
            .and_then(|config| store.start_run(run, &config, &status)),
    };
    if let Err(e) = started {
        bar.finish(&format!("failed: {e:#}"));
        return Err(e);
    }
    let run_dir = store.run_dir(&id);
    let warn = |w: &str| progress.println(w);
    observers.notify(Call::RunStarted, &run_dir, &warn);
    let start = Instant::now();
    let mut record_error: Option<anyhow::Error> = None;
    let checkpoint_path = store.run_dir(&id).join(checkpoint::FILE);
    let resume = resumed.as_ref().map(|(c, _)| c);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        train::train(config, data, threads, stop, resume, |row, snapshot| {
            crate::faults::point("epoch");
            rows.push(row.clone());
            bar.epoch(row);
            status.epochs_done = rows.len();
            // The rows, then the state to go on from, then the status that vouches for both.
            let written = store.write_rows(&id, &rows).and_then(|()| {
                let saving = Instant::now();
                snapshot.save(&checkpoint_path)?;
                status.checkpoint_bytes = std::fs::metadata(&checkpoint_path)?.len();
                status.seconds = start.elapsed().as_secs_f64();
                store.write_status(&status)?;
                status.checkpoint_seconds += saving.elapsed().as_secs_f64();
                Ok(())
            });
            match written {
                Ok(()) => observers.notify(Call::EpochEnded, &run_dir, &warn),
                Err(e) => {
                    record_error.get_or_insert(e);
                }
            }
        })
    }));
    status.seconds = start.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(Ok(trained)) => {
            let saved = store
                .write_selection(&id, &mut rows, trained.selection.as_ref())
                .and_then(|()| trained.save_weights(&store.run_dir(&id).join(WEIGHTS)))
                .and_then(|()| {
                    let predictions = train::predict(
                        &trained.net,
                        &trained.feed,
                        &data.val,
                        crate::store::EXAMPLES,
                        trained.device,
                    )?;
                    store.write_predictions(&id, &predictions)
                });
            // A row that could not be recorded comes first, then the weights and examples.
            if let Some(e) = record_error.or_else(|| saved.err()) {
                bar.finish(&format!("failed: {e:#}"));
                return Err(e);
            }
            crate::faults::point("weights");
            if trained.ending != Ending::Interrupted {
                // A finished run keeps its weights, not the state to go on from.
                if let Err(e) = store.remove_checkpoint(&id) {
                    bar.finish(&format!("failed: {e:#}"));
                    return Err(e);
                }
            }
            match trained.ending {
                Ending::Done => Ok((State::Done, None)),
                Ending::Diverged { epoch } => {
                    status.diverged_epoch = Some(epoch);
                    Ok((
                        State::Diverged,
                        Some(format!("loss became NaN or infinite at epoch {epoch}")),
                    ))
                }
                Ending::Interrupted => Ok((State::Interrupted, Some("interrupted".to_string()))),
            }
        }
        Ok(Err(e)) => Err(explain_out_of_memory(e, config, device)),
        Err(panic) => Err(explain_out_of_memory(
            anyhow::anyhow!("libtorch failed: {}", panic_message(&panic)),
            config,
            device,
        )),
    };
    let (state, detail) = match outcome {
        Ok((state, detail)) => (state, detail),
        Err(e) => (State::Failed, Some(format!("{e:#}"))),
    };
    status.state = state;
    status.error = match state {
        State::Failed | State::Diverged => detail.clone(),
        _ => None,
    };
    let written = store.write_status(&status);
    let summary = match (&detail, rows.last()) {
        (Some(d), _) => format!("{}: {d}", state.name()),
        (None, Some(last)) => format!(
            "done in {:.1}s, val mIoU {:.4}",
            status.seconds, last.val_miou
        ),
        (None, None) => state.name().to_string(),
    };
    bar.finish(&summary);
    written.with_context(|| format!("cannot record the status of {label}"))?;
    crate::faults::point("run-done");
    Ok(Some(state))
}

/// `error` with the run's memory estimate and the fixes added when it is libtorch's "CUDA
/// out of memory" on a GPU.
fn explain_out_of_memory(
    error: anyhow::Error,
    config: &RunConfig,
    device: tch::Device,
) -> anyhow::Error {
    let tch::Device::Cuda(index) = device else {
        return error;
    };
    if !format!("{error:#}").contains("out of memory") {
        return error;
    }
    let total = crate::device::gpus()
        .ok()
        .and_then(|gpus| gpus.into_iter().find(|g| g.index == index))
        .and_then(|g| g.total);
    let hint = crate::config::size::out_of_memory(config, &format!("cuda:{index}"), total);
    error.context(hint)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests;
