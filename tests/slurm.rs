//! A sweep on Slurm as a user runs it: `lossbench slurm --submit` on a real cluster (the
//! one-node cluster of scripts/slurm-local.sh; skipped, saying so, when there is none and
//! `CI` is unset), and the pieces it is made of without one: `run --shard`, `collect`, and
//! the scripts written for review.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lossbench::store::read_parquet;

mod common;
use common::{sweep, text};

const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

fn lossbench(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("lossbench runs")
}

/// Why there is no Slurm cluster to submit to, if there is none.
fn no_slurm() -> Option<String> {
    if std::env::var_os("SLURM_CONF").is_none() {
        return Some("SLURM_CONF is not set".to_string());
    }
    for tool in ["sbatch", "squeue", "sinfo", "scancel"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!("`{tool}` is not on PATH"));
        }
    }
    match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => None,
        Ok(out) => Some(format!("`sinfo` failed: {}", text(&out).trim())),
        Err(e) => Some(format!("`sinfo` failed: {e}")),
    }
}

/// The text of every file in `dir`, each under its name.
fn logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| {
            format!(
                "--- {}\n{}",
                f.display(),
                std::fs::read_to_string(f).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The number after `label` in `text`, e.g. the id in "array job 12 (4 tasks)".
fn id_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let rest = &text[text.find(label)? + label.len()..];
    let id = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    (!id.is_empty()).then_some(id)
}

/// Whether the test can run: `false`, saying it is skipped, when there is no cluster and
/// `CI` is unset; a failure when `CI` is set.
fn cluster_or_skip() -> bool {
    let Some(why) = no_slurm() else {
        return true;
    };
    let message = format!(
        "no Slurm cluster ({why}); start a one-node one with \
         `eval \"$(scripts/slurm-local.sh up)\"` (as root, after apt-get install slurm-wlm munge)"
    );
    common::skip_unless_ci(&message);
    false
}

/// `lossbench slurm SWEEP ARGS... --submit` in `dir`: what it said, and the ids of the array
/// and collect jobs.
fn submit(dir: &Path, sweep: &Path, args: &[&str]) -> (String, String, String) {
    let mut all = vec!["slurm", sweep.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    all.push("--submit");
    let out = lossbench(dir, &all);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let (Some(array), Some(collect)) = (
        id_after(&said, "array job "),
        id_after(&said, "collect job "),
    ) else {
        panic!("no job ids in: {said}");
    };
    let (array, collect) = (array.to_string(), collect.to_string());
    (said, array, collect)
}

/// Waits up to `seconds` until jobs `array` and `collect` have left the queue; cancels them
/// and fails with `context()` otherwise.
fn wait_for(array: &str, collect: &str, seconds: u64, context: impl Fn() -> String) {
    let jobs = format!("{array},{collect}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-j", &jobs, "-o", "%i %T %R"])
            .output()
            .expect("squeue");
        let queued = String::from_utf8_lossy(&queue.stdout).trim().to_string();
        if queued.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let _ = Command::new("scancel").args([array, collect]).status();
            panic!(
                "jobs {jobs} still queued after {seconds} s:\n{queued}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn slurm_submit_runs_four_runs_as_an_array_then_collects_the_frame_and_report() {
    if !cluster_or_skip() {
        return;
    }
    let start = Instant::now();
    // Under the target folder rather than /tmp: on a real cluster the jobs' nodes see it.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = sweep(
        dir.path(),
        "onslurm",
        2,
        "loss = [\"cce\", \"bce\"]\nseed = [1, 2]",
    );
    let description = "two losses, it's \"quoted\" $HOME";
    let set = format!("sweep.description={description}");
    let (said, array, collect) = submit(
        dir.path(),
        &path,
        &["--set", &set, "--max-parallel", "2", "--time", "00:05:00"],
    );
    let log_dir = dir.path().join("results/onslurm/slurm/logs");
    let context = || format!("{said}\n{}", logs(&log_dir));
    wait_for(&array, &collect, 120, context);
    let collect_log =
        std::fs::read_to_string(log_dir.join(format!("collect-{collect}.out"))).unwrap_or_default();
    assert!(
        collect_log.contains("4 runs: 4 done"),
        "collect did not find 4 done runs:\n{}",
        context()
    );
    for task in 0..4 {
        let log = log_dir.join(format!("run-{array}_{task}.out"));
        assert!(log.exists(), "no {}:\n{}", log.display(), context());
    }
    let root = dir.path().join("results/onslurm");
    let frame = read_parquet(&root.join("metrics.parquet")).unwrap_or_else(|e| {
        panic!("no merged frame ({e:#}):\n{}", context());
    });
    assert_eq!(frame.height(), 4 * 2, "4 runs × 2 epochs:\n{frame}");
    let runs = frame
        .column("run_id")
        .and_then(|c| c.n_unique())
        .expect("run_id");
    assert_eq!(runs, 4, "{frame}");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("sweep.json")).expect("sweep.json"))
            .expect("json");
    assert_eq!(
        info["description"], description,
        "--set reached the jobs unchanged"
    );
    let index = dir.path().join("plots/onslurm/index.html");
    assert!(index.exists(), "no report:\n{}", context());
    eprintln!(
        "slurm sweep: submitted, ran 4 runs as array job {array} and collected as job {collect} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn shards_write_run_folders_only_and_collect_builds_the_whole_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "sharded", 1, "seed = [1, 2, 3]");
    let path = path.to_str().expect("utf-8");
    let root = dir.path().join("results/sharded");

    let first = lossbench(dir.path(), &["run", path, "--shard", "0/2", "--jobs", "1"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(text(&first).contains("2 runs: 2 done"), "{}", text(&first));
    assert!(
        text(&first).contains("lossbench collect"),
        "{}",
        text(&first)
    );
    assert!(
        !root.join("metrics.parquet").exists(),
        "a shard wrote the frame"
    );
    assert!(
        !dir.path().join("plots/sharded").exists(),
        "a shard wrote the report"
    );

    let early = lossbench(dir.path(), &["collect", path]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(
        text(&early).contains("3 runs: 2 done") && text(&early).contains("1 not started"),
        "{}",
        text(&early)
    );

    let second = lossbench(dir.path(), &["run", path, "--shard", "1/2", "--jobs", "1"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        text(&second).contains("1 runs: 1 done"),
        "{}",
        text(&second)
    );
    let done = lossbench(dir.path(), &["collect", path]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    assert!(text(&done).contains("3 runs: 3 done"), "{}", text(&done));
    let frame = read_parquet(&root.join("metrics.parquet")).expect("frame");
    assert_eq!(frame.height(), 3, "3 runs × 1 epoch");
    assert!(dir.path().join("plots/sharded/index.html").exists());

    let bad = lossbench(dir.path(), &["run", path, "--shard", "2/2"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("numbered 0 to 1"), "{}", text(&bad));
}

#[test]
fn slurm_without_submit_writes_scripts_that_sh_accepts_for_review() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "review", 1, "seed = [1, 2, 3]");
    let out = lossbench(
        dir.path(),
        &[
            "slurm",
            path.to_str().expect("utf-8"),
            "--set",
            "train.epochs=2",
            "--gpus-per-task",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("sbatch --dependency=afterany:"),
        "{}",
        text(&out)
    );
    let slurm_dir = dir.path().join("results/review/slurm");
    assert!(slurm_dir.join("logs").is_dir(), "Slurm does not create it");
    let array = std::fs::read_to_string(slurm_dir.join("array.sbatch")).expect("array");
    let collect = std::fs::read_to_string(slurm_dir.join("collect.sbatch")).expect("collect");
    let sweep_file = std::fs::canonicalize(&path).expect("sweep path");
    for (name, script) in [("array", &array), ("collect", &collect)] {
        assert!(
            script.contains(BIN),
            "{name} calls the binary by absolute path"
        );
        assert!(script.contains(sweep_file.to_str().expect("utf-8")));
        assert!(script.contains("--set train.epochs=2"), "{script}");
        let checked = Command::new("sh")
            .args([
                "-n",
                slurm_dir
                    .join(format!("{name}.sbatch"))
                    .to_str()
                    .expect("utf-8"),
            ])
            .output()
            .expect("sh");
        assert!(checked.status.success(), "{name}: {}", text(&checked));
    }
    assert!(array.contains("#SBATCH --array=0-2\n"), "{array}");
    assert!(array.contains("#SBATCH --gpus-per-task=1\n"), "{array}");
    assert!(collect.contains(" collect "), "{collect}");
    // Without --submit nothing ran.
    assert!(!dir.path().join("results/review/runs").exists());
}

/// The run folders' `status.json` of a sweep, parsed.
fn statuses(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(root.join("runs"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read(e.path().join("status.json")).ok())
                .filter_map(|b| serde_json::from_slice(&b).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_requeued_task_resumes_from_its_checkpoint_and_the_frame_equals_an_uninterrupted_one() {
    if !cluster_or_skip() {
        return;
    }
    // One run of 8 epochs long enough (about a second each) to requeue in the middle.
    let sweep_text = |dir: &Path| {
        format!(
            "[sweep]\nname = \"requeue\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
             [base]\ndata.height = 64\ndata.width = 64\ndata.train_images = 64\ndata.val_images = 8\n\
             model.depth = 3\nmodel.base_channels = 8\ntrain.epochs = 8\ntrain.batch_size = 8\ntrain.threads = 1\n\
             [grid]\nseed = [4]\n",
            r = dir.join("results").display(),
            p = dir.join("plots").display(),
        )
    };
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference_path = reference_dir.path().join("requeue.toml");
    std::fs::write(&reference_path, sweep_text(reference_dir.path())).expect("write");
    let reference = lossbench(
        reference_dir.path(),
        &["run", reference_path.to_str().expect("utf-8")],
    );
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let expected =
        read_parquet(&reference_dir.path().join("results/requeue/metrics.parquet")).expect("frame");

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = dir.path().join("requeue.toml");
    std::fs::write(&path, sweep_text(dir.path())).expect("write");
    let (said, array, collect) = submit(dir.path(), &path, &["--time", "00:10:00"]);
    let root = dir.path().join("results/requeue");
    let log_dir = root.join("slurm/logs");
    let context = || format!("{said}\n{}", logs(&log_dir));

    // Requeue the task once it has finished 2 epochs and is still running.
    let deadline = Instant::now() + Duration::from_secs(120);
    let requeued_after = loop {
        let done = statuses(&root)
            .iter()
            .find(|s| s["state"] == "running")
            .and_then(|s| s["epochs_done"].as_u64());
        if let Some(epochs) = done.filter(|&e| (2..8).contains(&e)) {
            let requeue = Command::new("scontrol")
                .args(["requeue", &format!("{array}_0")])
                .output()
                .expect("scontrol");
            assert!(
                requeue.status.success(),
                "{}\n{}",
                text(&requeue),
                context()
            );
            break epochs;
        }
        assert!(
            Instant::now() < deadline,
            "the task never ran 2 epochs:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    wait_for(&array, &collect, 300, context);
    let task_log =
        std::fs::read_to_string(log_dir.join(format!("run-{array}_0.out"))).unwrap_or_default();
    assert!(
        task_log.contains("from its checkpoint after epoch"),
        "the requeued task (requeued after {requeued_after} epochs) did not resume:\n{}",
        context()
    );
    let frame = read_parquet(&root.join("metrics.parquet")).unwrap_or_else(|e| {
        panic!("no merged frame ({e:#}):\n{}", context());
    });
    assert_eq!(
        lossbench::store::bitwise_difference(&expected, &frame, &lossbench::store::TIMINGS)
            .expect("compare"),
        None,
        "the requeued sweep's frame differs from an uninterrupted one:\n{}",
        context()
    );
}

/// A tuned sweep: two losses, each with 4 learning rates halved to 2 (rung 0, 1 epoch)
/// then to 1 (rung 1, 2 epochs), then the final runs on 2 seeds.
fn tuned_sweep(dir: &Path, name: &str) -> PathBuf {
    common::sweep_with(
        dir,
        name,
        2,
        "train.threads = 1",
        "loss = [\"cce\", \"bce\"]\nseed = [1, 2]\n\n[tune]\nspace.\"optim.lr\" = [0.3, 0.03, 0.003, 0.0003]\nscheduler = \"halving\"\nreduction = 2\nseeds = [11, 12]\n",
    )
}

#[test]
fn a_tuned_sweep_trains_a_stage_by_shards_then_the_follower_collects_it_and_writes_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tuned_sweep(dir.path(), "tunedshards");
    let path = path.to_str().expect("utf-8");
    let early = lossbench(
        dir.path(),
        &["run", path, "--stage", "final", "--jobs", "1"],
    );
    assert_ne!(early.status.code(), Some(0), "{}", text(&early));
    assert!(
        text(&early).contains("not ready to train: the next stage is rung-0"),
        "{}",
        text(&early)
    );
    let unstaged = lossbench(dir.path(), &["run", path, "--shard", "0/2"]);
    assert!(
        text(&unstaged).contains("needs --stage"),
        "{}",
        text(&unstaged)
    );
    for shard in ["0/2", "1/2"] {
        let out = lossbench(
            dir.path(),
            &[
                "run", path, "--stage", "rung-0", "--shard", shard, "--jobs", "1",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{shard}: {}", text(&out));
        assert!(
            text(&out).contains("8 runs: 8 done"),
            "{shard}: {}",
            text(&out)
        );
    }
    let root = dir.path().join("results/tunedshards");
    assert!(
        !root.join("tune/rung-0/metrics.parquet").exists(),
        "shards write run folders only"
    );
    let follower = lossbench(dir.path(), &["slurm", path, "--after-stage", "rung-0"]);
    assert_eq!(follower.status.code(), Some(0), "{}", text(&follower));
    assert!(
        root.join("tune/rung-0/metrics.parquet").exists(),
        "{}",
        text(&follower)
    );
    let scripts = root.join("tune/rung-1/slurm");
    let array = std::fs::read_to_string(scripts.join("array.sbatch")).expect("array");
    let next = std::fs::read_to_string(scripts.join("collect.sbatch")).expect("follower");
    assert!(array.contains("--stage rung-1 --shard"), "{array}");
    assert!(
        array.contains("#SBATCH --array=0-7"),
        "4 runs a loss, 2 losses: {array}"
    );
    assert!(next.contains("--submit --after-stage rung-1"), "{next}");
    let done = lossbench(dir.path(), &["run", path, "--stage", "rung-0"]);
    assert!(
        text(&done).contains("stage rung-0 of tunedshards has finished"),
        "{}",
        text(&done)
    );
    let unfinished = lossbench(dir.path(), &["slurm", path, "--after-stage", "rung-1"]);
    assert_eq!(unfinished.status.code(), Some(1), "{}", text(&unfinished));
    assert!(
        text(&unfinished).contains("did not finish"),
        "{}",
        text(&unfinished)
    );
}

#[test]
fn slurm_submit_tunes_a_sweep_one_stage_array_after_another_then_reports() {
    if !cluster_or_skip() {
        return;
    }
    let start = Instant::now();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = tuned_sweep(dir.path(), "tunedslurm");
    let out = lossbench(
        dir.path(),
        &[
            "slurm",
            path.to_str().expect("utf-8"),
            "--time",
            "00:05:00",
            "--submit",
        ],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("which submits the next stage"), "{said}");
    let root = dir.path().join("results/tunedslurm");
    let logs_of = || {
        ["tune/rung-0", "tune/rung-1", ""]
            .iter()
            .map(|s| logs(&root.join(s).join("slurm/logs")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-o", "%j %T"])
            .output()
            .expect("squeue");
        let queued: Vec<String> = String::from_utf8_lossy(&queue.stdout)
            .lines()
            .filter(|l| l.starts_with("lossbench-tunedslurm"))
            .map(String::from)
            .collect();
        if queued.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let _ = Command::new("scancel")
                .args(["-n", "lossbench-tunedslurm"])
                .status();
            panic!(
                "still queued after 300 s: {queued:?}\n{said}\n{}",
                logs_of()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let tuning = lossbench::store::read_tuning(&root)
        .expect("reads")
        .unwrap_or_else(|| panic!("no tuning record:\n{}", logs_of()));
    assert_eq!(tuning.trials.len(), 2 * (4 + 2) * 2, "{}", logs_of());
    let frame = read_parquet(&root.join("metrics.parquet"))
        .unwrap_or_else(|e| panic!("no final frame ({e:#}):\n{}", logs_of()));
    assert_eq!(frame.height(), 2 * 2 * 2, "2 losses × 2 seeds × 2 epochs");
    assert!(
        dir.path().join("plots/tunedslurm/index.html").exists(),
        "no report:\n{}",
        logs_of()
    );
    eprintln!(
        "tuned slurm sweep: 3 stages, 28 runs, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
