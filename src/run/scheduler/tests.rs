//! Tests of the scheduler: parallel runs, resume, `--only`, faults, stop, devices and
//! shards.

use super::*;
use crate::config::sweep::Sweep;
use crate::plan::expand;
use crate::run::rerun::rerun;
use crate::store::read_parquet;
use crate::testing::tiny_sweep;

fn plan(path: &std::path::Path, overrides: &[&str]) -> Plan {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    expand(Sweep::load(path, &overrides).expect("sweep")).expect("plan")
}

/// The id of run `i` of `plan`.
fn id(plan: &Plan, i: usize) -> String {
    plan.run(i).expect("the plan has run i").id()
}

fn run(plan: &Plan, options: &Options) -> Summary {
    let store = SweepStore::new(plan.sweep.results_dir());
    execute(plan, &store, options, &AtomicBool::new(false)).expect("sweep runs")
}

fn two_jobs() -> Options {
    Options {
        jobs: Some(2),
        ..Default::default()
    }
}

#[test]
fn parallel_sweep_records_every_run_and_reruns_bitwise_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(
        dir.path(),
        "par",
        "loss = [\"cce\", \"bce\"]\nseed = [1, 2]",
    );
    let plan = plan(&path, &[]);
    let summary = run(&plan, &two_jobs());
    assert_eq!(
        (summary.selected, summary.done, summary.not_done),
        (4, 4, 0)
    );
    let root = plan.sweep.results_dir();
    let frame = read_parquet(&root.join("metrics.parquet")).expect("frame");
    assert_eq!(frame.height(), 4 * 2, "4 runs × 2 epochs");
    for column in [
        "run_id", "label", "loss", "seed", "epoch", "val_miou", "iou_6",
    ] {
        assert!(frame.column(column).is_ok(), "missing {column}");
    }
    assert!(root.join("metrics.csv").exists() && root.join("runs.csv").exists());
    for run in plan.runs() {
        let d = root.join("runs").join(run.id());
        for file in [
            "config.toml",
            "metrics.parquet",
            "status.json",
            "weights.safetensors",
        ] {
            assert!(d.join(file).exists(), "{} lacks {file}", run.label());
        }
    }
    // Trained beside another run with 1 thread, rerun alone: bitwise the same rows.
    let again = rerun(
        &root.join("runs").join(id(&plan, 3)),
        &AtomicBool::new(false),
    )
    .expect("rerun");
    assert_eq!(again.threads, 1);
    assert_eq!(again.difference, None);
}

#[test]
fn resume_skips_finished_runs_and_a_new_axis_value_adds_only_its_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(dir.path(), "resume", "loss = [\"dice\"]\nseed = [1, 2]");
    let first = run(&plan(&path, &[]), &two_jobs());
    assert_eq!(first.done, 2);
    let second = run(&plan(&path, &[]), &two_jobs());
    assert_eq!((second.skipped, second.done), (2, 0));
    let wider = run(&plan(&path, &["grid.seed=[1,2,3]"]), &two_jobs());
    assert_eq!((wider.skipped, wider.done), (2, 1));
    let forced = run(
        &plan(&path, &[]),
        &Options {
            force: true,
            ..two_jobs()
        },
    );
    assert_eq!((forced.skipped, forced.done), (0, 2));
}

#[test]
fn only_runs_the_matching_subset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(
        dir.path(),
        "subset",
        "loss = [\"cce\", \"iou\"]\nseed = [1, 2]",
    );
    let plan = plan(&path, &[]);
    let only = Some(Filter::parse("loss=iou,seed=2", &plan).expect("filter"));
    let summary = run(&plan, &Options { only, ..two_jobs() });
    assert_eq!((summary.selected, summary.done), (1, 1));
    let store = SweepStore::new(plan.sweep.results_dir());
    assert!(
        store.status(&id(&plan, 0)).expect("status").is_none(),
        "cce,seed=1 did not run"
    );
}

#[test]
fn diverged_and_failed_runs_are_recorded_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    // lr 1e20 with SGD overflows to NaN; 5 classes does not match the 7-class data.
    let path = tiny_sweep(
        dir.path(),
        "faults",
        "\"optim.lr\" = [0.01, 1e20]\n\"model.num_classes\" = [7, 5]",
    );
    let plan = plan(&path, &["optim.name=sgd"]);
    let summary = run(&plan, &two_jobs());
    assert_eq!((summary.done, summary.diverged, summary.failed), (1, 1, 2));
    assert!(!summary.all_done());
    let store = SweepStore::new(plan.sweep.results_dir());
    let states: Vec<(String, State, Option<String>)> = plan
        .runs()
        .map(|r| {
            let s = store.status(&r.id()).expect("read").expect("status");
            (r.label(), s.state, s.error)
        })
        .collect();
    assert_eq!(states[0].1, State::Done);
    assert_eq!(states[1].1, State::Failed);
    assert!(
        states[1]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("model.num_classes is 5")),
        "{states:?}"
    );
    assert_eq!(states[2].1, State::Diverged);
    assert!(
        states[2]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("epoch 1")),
        "{states:?}"
    );
    // Diverged runs are final: a resumed sweep keeps them; failed ones run again.
    let again = run(&plan, &two_jobs());
    assert_eq!((again.skipped, again.failed), (2, 2));
}

#[test]
fn raised_stop_flag_starts_no_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(dir.path(), "stopped", "seed = [1, 2]");
    let plan = plan(&path, &[]);
    let store = SweepStore::new(plan.sweep.results_dir());
    let summary = execute(&plan, &store, &two_jobs(), &AtomicBool::new(true)).expect("sweep");
    assert_eq!((summary.done, summary.not_done), (0, 2));
    assert!(store.status(&id(&plan, 0)).expect("status").is_none());
}

#[test]
fn several_gpus_take_the_workers_runs_in_turn_and_explicit_devices_stay() {
    assert_eq!(placement("cuda", 0, 2), "cuda:0");
    assert_eq!(placement("cuda", 1, 2), "cuda:1");
    assert_eq!(placement("auto", 3, 2), "cuda:1");
    assert_eq!(placement("cuda", 1, 1), "cuda");
    assert_eq!(placement("cuda:0", 1, 4), "cuda:0");
    assert_eq!(placement("cpu", 1, 4), "cpu");
    assert_eq!(placement("auto", 1, 0), "auto");
}

#[test]
fn shards_partition_the_selection_exactly_with_and_without_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(
        dir.path(),
        "shards",
        "loss = [\"cce\", \"bce\", \"dice\"]\nseed = [1, 2, 3]",
    );
    let plan = plan(&path, &[]);
    let store = SweepStore::new(plan.sweep.results_dir());
    let only = Filter::parse("seed=2", &plan).expect("filter");
    for only in [None, Some(only)] {
        let base = Options {
            only: only.clone(),
            ..Default::default()
        };
        let (all, _) = select(&plan, &store, &base).expect("select");
        for count in 1..=all.len() + 2 {
            let mut ids: Vec<String> = Vec::new();
            for index in 0..count {
                let options = Options {
                    shard: Some((index, count)),
                    ..base.clone()
                };
                let (shard, todo) = select(&plan, &store, &options).expect("select");
                assert_eq!(shard.len(), todo.len());
                assert!(shard.len().abs_diff(all.len() / count) <= 1);
                ids.extend(shard.iter().map(PlannedRun::id));
            }
            ids.sort_unstable();
            let mut expected: Vec<String> = all.iter().map(PlannedRun::id).collect();
            expected.sort_unstable();
            assert_eq!(ids, expected, "{count} shards, only {only:?}");
        }
    }
    let one = Options {
        shard: Some((4, 9)),
        ..Default::default()
    };
    let (picked, _) = select(&plan, &store, &one).expect("select");
    assert_eq!(picked.len(), 1);
    assert_eq!(picked[0].id(), id(&plan, 4));
}

#[test]
fn a_shard_writes_only_its_own_run_folders_and_no_sweep_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tiny_sweep(dir.path(), "shard", "seed = [1, 2]");
    let plan = plan(&path, &["train.epochs=1"]);
    let summary = run(
        &plan,
        &Options {
            shard: Some((1, 2)),
            ..two_jobs()
        },
    );
    assert_eq!((summary.selected, summary.done), (1, 1));
    let store = SweepStore::new(plan.sweep.results_dir());
    assert!(store.status(&id(&plan, 0)).expect("status").is_none());
    assert!(store.status(&id(&plan, 1)).expect("status").is_some());
    for file in [
        "metrics.parquet",
        "runs.parquet",
        "sweep.json",
        "dataset.json",
    ] {
        assert!(!store.root.join(file).exists(), "shard 1 wrote {file}");
    }
}

#[test]
fn cores_follow_slurm_cpus_per_task_but_never_exceed_the_machine() {
    assert_eq!(cores_of(16, None), 16);
    assert_eq!(cores_of(16, Some("4")), 4);
    assert_eq!(cores_of(2, Some("8")), 2);
    assert_eq!(cores_of(8, Some("0")), 8);
    assert_eq!(cores_of(8, Some("lots")), 8);
}

#[test]
fn layout_gives_every_core_a_job_and_never_more_jobs_than_runs() {
    assert_eq!(layout(None, 10, 2), (2, 1));
    assert_eq!(layout(None, 1, 2), (1, 2));
    assert_eq!(layout(Some(1), 10, 4), (1, 4));
    assert_eq!(layout(Some(8), 10, 2), (8, 1));
    assert_eq!(layout(None, 0, 2), (1, 2));
}

#[test]
fn cuda_out_of_memory_is_explained_with_the_estimate_and_other_errors_are_left_alone() {
    let config = RunConfig::default();
    let oom = || anyhow::anyhow!("libtorch failed: CUDA out of memory. Tried to allocate 2.00 GiB");
    let explained = format!(
        "{:#}",
        explain_out_of_memory(oom(), &config, tch::Device::Cuda(0))
    );
    assert!(
        explained.starts_with("lossbench estimated this run at ")
            && explained.contains("on cuda:0")
            && explained.contains("lower train.batch_size")
            && explained.ends_with("Tried to allocate 2.00 GiB"),
        "{explained}"
    );
    let on_cpu = format!(
        "{:#}",
        explain_out_of_memory(oom(), &config, tch::Device::Cpu)
    );
    assert!(!on_cpu.contains("estimated"), "{on_cpu}");
    let other = anyhow::anyhow!("the loss failed on a training batch");
    let other = format!(
        "{:#}",
        explain_out_of_memory(other, &config, tch::Device::Cuda(0))
    );
    assert_eq!(other, "the loss failed on a training batch");
}
