//! Crashes and broken results folders lose nothing and explain themselves: `lossbench run`
//! killed with SIGKILL at five points then rerun gives the frame of an uninterrupted sweep,
//! bit for bit; a second run of a running sweep is refused naming the first; a results
//! folder that is read-only, full or a file fails plainly and leaves earlier results as
//! they were.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lossbench::store::{bitwise_difference, read_parquet};

mod common;
use common::text;

const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

/// A sweep of 2 epochs per run on 16×16 images, one thread per run.
fn sweep(dir: &Path, grid: &str) -> PathBuf {
    common::sweep_with(dir, "faults", 2, "train.threads = 1", grid)
}

const GRID: &str = "loss = [\"cce\", \"dice\"]\nseed = [1, 2]";

fn run(path: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(path)
        .args(["--jobs", "2"])
        .envs(env.iter().copied())
        .output()
        .expect("lossbench runs")
}

fn sweep_frame(dir: &Path) -> polars::prelude::DataFrame {
    read_parquet(&dir.join("results/faults/metrics.parquet")).expect("sweep frame")
}

/// No run folder says done without its whole frame and weights.
fn check_no_false_done(dir: &Path, point: &str) {
    let runs = dir.join("results/faults/runs");
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return;
    };
    for entry in entries {
        let run = entry.expect("entry").path();
        let Ok(status) = std::fs::read_to_string(run.join("status.json")) else {
            continue;
        };
        let status: serde_json::Value = serde_json::from_str(&status).expect("status json");
        if status["state"] == "done" {
            let rows = read_parquet(&run.join("metrics.parquet")).expect("frame of a done run");
            assert_eq!(
                rows.height(),
                2,
                "{point}: done run {} lacks epochs",
                run.display()
            );
            assert!(
                run.join("weights.safetensors").is_file(),
                "{point}: no weights"
            );
        }
    }
}

#[test]
fn sigkill_at_five_points_then_rerun_gives_the_uninterrupted_frame() {
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = run(&sweep(reference_dir.path(), GRID), &[]);
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let expected = sweep_frame(reference_dir.path());
    assert_eq!(expected.height(), 8);

    for point in [
        "step#5",                  // inside the first epochs
        "write:metrics.parquet#3", // a run's frame half written (temporary file, no rename)
        "weights#2",               // a run trained, not yet marked done
        "run-done#2",              // between runs
        "write:runs.parquet#1",    // the sweep's frame being written
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = sweep(dir.path(), GRID);
        let killed = run(&path, &[("LOSSBENCH_KILL_AT", point)]);
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: not killed: {}",
            text(&killed)
        );
        check_no_false_done(dir.path(), point);
        let resumed = run(&path, &[]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            text(&resumed)
        );
        let frame = sweep_frame(dir.path());
        let difference =
            bitwise_difference(&expected, &frame, &lossbench::store::TIMINGS).expect("compare");
        assert_eq!(difference, None, "{point}: the resumed frame differs");
        let ids = frame
            .column("run_id")
            .expect("run_id")
            .str()
            .expect("str")
            .clone();
        let epochs = frame
            .column("epoch")
            .expect("epoch")
            .cast(&polars::prelude::DataType::Int64)
            .expect("cast");
        let keys: HashSet<(String, i64)> = ids
            .iter()
            .zip(epochs.i64().expect("i64").iter())
            .map(|(id, e)| (id.unwrap_or_default().to_string(), e.unwrap_or(-1)))
            .collect();
        assert_eq!(keys.len(), 8, "{point}: duplicated or missing rows");
        let leftovers: Vec<PathBuf> = walk(&dir.path().join("results"))
            .into_keys()
            .filter(|p| p.to_string_lossy().contains(".tmp."))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{point}: temporary files left: {leftovers:?}"
        );
    }
}

#[test]
fn a_second_run_of_a_running_sweep_is_refused_and_a_stale_lock_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "seed = [1]");
    let lock = dir.path().join("results/faults/.lock");
    std::fs::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    // A live holder: a process of ours that sleeps.
    let mut holder = Command::new("sleep").arg("30").spawn().expect("sleep");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let record = |pid: u32| {
        serde_json::json!({"pid": pid, "host": host.trim(), "started": 0, "command": "lossbench run faults.toml"})
            .to_string()
    };
    std::fs::write(&lock, record(holder.id())).expect("lock");
    let refused = run(&path, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!("lossbench process {} on", holder.id())),
        "{}",
        text(&refused)
    );
    assert!(
        !dir.path().join("results/faults/runs").exists(),
        "nothing ran"
    );
    holder.kill().expect("kill");
    holder.wait().expect("wait");
    let taken = run(&path, &[]);
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    assert!(
        text(&taken).contains("took over the lock of process"),
        "{}",
        text(&taken)
    );
    assert!(!lock.exists(), "the lock is removed at the end");
}

/// Every file under `root` and its bytes.
fn walk(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// A tmpfs of `size` at `dir`, unmounted on drop; `None` where mounting is not allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// A finished one-run sweep in `dir`, then the same sweep with a second seed under
/// `break_it`: non-zero, `expected` in the message, the first run's files unchanged.
fn check_broken_folder(dir: &Path, break_it: impl FnOnce(), env: &[(&str, &str)], expected: &str) {
    let path = sweep(dir, "seed = [1]");
    let first = run(&path, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let before = walk(&dir.join("results"));
    break_it();
    sweep(dir, "seed = [1, 2]");
    let second = run(&path, env);
    assert_ne!(second.status.code(), Some(0), "{}", text(&second));
    assert!(text(&second).contains(expected), "{}", text(&second));
    let after = walk(&dir.join("results"));
    for (file, bytes) in &before {
        assert_eq!(after.get(file), Some(bytes), "{} changed", file.display());
    }
}

#[test]
fn a_read_only_results_folder_fails_plainly_and_keeps_earlier_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    match Tmpfs::mount(&dir.path().join("results"), "8m") {
        Some(fs) => check_broken_folder(
            dir.path(),
            || fs.remount("ro"),
            &[],
            "Read-only file system",
        ),
        None => {
            println!("no tmpfs can be mounted here: the read-only file system is injected");
            check_broken_folder(
                dir.path(),
                || {},
                &[("LOSSBENCH_FAIL_WRITES", "erofs")],
                "Read-only file system",
            )
        }
    }
}

#[test]
fn a_full_results_folder_fails_plainly_and_keeps_earlier_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    match Tmpfs::mount(&dir.path().join("results"), "4m") {
        Some(_fs) => {
            let filler = dir.path().join("results/filler");
            check_broken_folder(
                dir.path(),
                || {
                    // Fill the file system to the last block.
                    let _ = Command::new("dd")
                        .args(["if=/dev/zero", "bs=64k"])
                        .arg(format!("of={}", filler.display()))
                        .output();
                },
                &[],
                "No space left on device",
            )
        }
        None => {
            println!("no tmpfs can be mounted here: the full disk is injected");
            check_broken_folder(
                dir.path(),
                || {},
                &[("LOSSBENCH_FAIL_WRITES", "enospc")],
                "No space left on device",
            )
        }
    }
}

#[test]
fn a_results_folder_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "seed = [1]");
    std::fs::create_dir_all(dir.path().join("results")).expect("mkdir");
    std::fs::write(dir.path().join("results/faults"), b"not a folder").expect("write");
    let out = run(&path, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is a file, not a folder"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(dir.path().join("results/faults")).expect("read"),
        b"not a folder"
    );
}

/// Every tensor of a safetensors file by name (the order of names in the file is not fixed).
fn tensors(path: &Path) -> BTreeMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(path)
        .expect("safetensors")
        .into_iter()
        .collect()
}

/// The one run folder of a results folder.
fn only_run(dir: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results/faults/runs"))
        .expect("runs")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1);
    runs[0].clone()
}

#[test]
fn a_run_killed_inside_epoch_3_of_5_resumes_from_its_checkpoint_bit_for_bit() {
    for optimizer in ["adam", "adamw", "sgd"] {
        let extra = format!("train.threads = 1\noptim.name = \"{optimizer}\"");
        let grid = "seed = [3]";
        let reference_dir = tempfile::tempdir().expect("tempdir");
        let path = common::sweep_with(reference_dir.path(), "faults", 5, &extra, grid);
        let reference = run(&path, &[]);
        assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
        let reference_run = only_run(reference_dir.path());
        assert!(
            !reference_run.join("checkpoint.safetensors").exists(),
            "a finished run keeps no checkpoint"
        );

        // 32 images in batches of 8: 4 steps an epoch, so step 10 is inside epoch 3.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = common::sweep_with(dir.path(), "faults", 5, &extra, grid);
        let killed = run(&path, &[("LOSSBENCH_KILL_AT", "step#10")]);
        assert_eq!(killed.status.signal(), Some(9), "{}", text(&killed));
        let run_dir = only_run(dir.path());
        assert!(run_dir.join("checkpoint.safetensors").is_file());
        let before = read_parquet(&run_dir.join("metrics.parquet")).expect("rows so far");
        assert_eq!(
            before.height(),
            2,
            "{optimizer}: epochs 1 and 2 were recorded"
        );

        let resumed = run(&path, &[]);
        assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
        assert!(
            text(&resumed).contains("from its checkpoint after epoch 2"),
            "{}",
            text(&resumed)
        );
        let after = read_parquet(&run_dir.join("metrics.parquet")).expect("rows");
        let expected = read_parquet(&reference_run.join("metrics.parquet")).expect("rows");
        assert_eq!(
            bitwise_difference(&expected, &after, &lossbench::store::TIMINGS).expect("compare"),
            None,
            "{optimizer}: the resumed run's rows differ from an uninterrupted run's"
        );
        // Epochs 1 and 2 were kept, not trained again: their timings are the first attempt's.
        let seconds = |f: &polars::prelude::DataFrame| -> Vec<f64> {
            f.column("seconds")
                .expect("seconds")
                .f64()
                .expect("f64")
                .into_no_null_iter()
                .collect()
        };
        assert_eq!(seconds(&after)[..2], seconds(&before)[..2], "{optimizer}");
        let (a, b) = (
            tensors(&reference_run.join("weights.safetensors")),
            tensors(&run_dir.join("weights.safetensors")),
        );
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{optimizer}: weight {name} differs");
        }
    }
}

/// The id `lossbench plan` gives the one run of the sweep file `path`.
fn planned_id(path: &Path) -> String {
    let out = Command::new(BIN)
        .arg("plan")
        .arg(path)
        .output()
        .expect("lossbench plan");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_whitespace()
        .next()
        .expect("a run id")
        .to_string()
}

#[test]
fn a_run_trained_before_pytorchs_order_resumes_and_reruns_in_its_chacha_order() {
    let extra = "train.threads = 1";
    let chacha = format!("{extra}\ntrain.order = \"chacha\"");
    let grid = "seed = [3]";
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let path = common::sweep_with(reference_dir.path(), "faults", 5, &chacha, grid);
    let reference = run(&path, &[]);
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let expected =
        read_parquet(&only_run(reference_dir.path()).join("metrics.parquet")).expect("rows");

    // A run killed inside epoch 3 as a build before PyTorch's order left it: a ChaCha
    // checkpoint, a config.toml without train.order, the id the run has today.
    let dir = tempfile::tempdir().expect("tempdir");
    let old = common::sweep_with(dir.path(), "faults", 5, &chacha, grid);
    let killed = run(&old, &[("LOSSBENCH_KILL_AT", "step#10")]);
    assert_eq!(killed.status.signal(), Some(9), "{}", text(&killed));
    let killed_dir = only_run(dir.path());
    let strip_order = |run_dir: &Path| {
        let file = run_dir.join("config.toml");
        let config = std::fs::read_to_string(&file).expect("config.toml");
        let stripped = config.replace("order = \"chacha\"\n", "");
        assert_ne!(stripped, config, "config.toml records the order");
        std::fs::write(&file, stripped).expect("write config.toml");
    };
    strip_order(&killed_dir);
    let path = common::sweep_with(dir.path(), "faults", 5, extra, grid);
    let id = planned_id(&path);
    let run_dir = dir.path().join("results/faults/runs").join(&id);
    std::fs::rename(&killed_dir, &run_dir).expect("rename the run folder");

    let resumed = run(&path, &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("from its checkpoint after epoch 2"),
        "{}",
        text(&resumed)
    );
    let after = read_parquet(&run_dir.join("metrics.parquet")).expect("rows");
    assert_eq!(
        bitwise_difference(&expected, &after, &lossbench::store::TIMINGS).expect("compare"),
        None,
        "the old run went on in another order"
    );
    let config = std::fs::read_to_string(run_dir.join("config.toml")).expect("config.toml");
    assert!(config.contains("order = \"chacha\""), "{config}");

    // A finished folder of that build reruns in its order too.
    strip_order(&run_dir);
    let rerun = Command::new(BIN)
        .arg("rerun")
        .arg(&run_dir)
        .output()
        .expect("lossbench rerun");
    assert!(
        rerun.status.success() && text(&rerun).contains("bitwise equal"),
        "{}",
        text(&rerun)
    );
}

#[test]
fn damaged_run_folders_are_found_by_verify_and_redone_by_the_next_sweep() {
    let grid = "loss = [\"cce\", \"dice\", \"bce\"]\nseed = [1]";
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = run(&sweep(reference_dir.path(), grid), &[]);
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let expected = sweep_frame(reference_dir.path());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), grid);
    let first = run(&path, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let results = dir.path().join("results/faults");
    let verify = |expect: i32| {
        let out = Command::new(BIN)
            .arg("verify")
            .arg(&results)
            .output()
            .expect("verify runs");
        assert_eq!(out.status.code(), Some(expect), "{}", text(&out));
        text(&out)
    };
    assert!(verify(0).contains("3 run folders checked, 0 damaged"));

    let mut runs: Vec<PathBuf> = std::fs::read_dir(results.join("runs"))
        .expect("runs")
        .map(|e| e.expect("entry").path())
        .collect();
    runs.sort();
    // Garbage for a status, a frame cut to 100 bytes, empty weights: the cases found by hand.
    std::fs::write(runs[0].join("status.json"), "{ garbage").expect("write");
    let frame = std::fs::read(runs[1].join("metrics.parquet")).expect("read");
    std::fs::write(runs[1].join("metrics.parquet"), &frame[..100]).expect("truncate");
    std::fs::write(runs[2].join("weights.safetensors"), b"").expect("empty");
    let before = walk(&results);
    let found = verify(1);
    assert_eq!(walk(&results), before, "verify changes nothing");
    for needle in [
        format!("{}", runs[0].join("status.json").display()),
        format!(
            "{}: does not match",
            runs[1].join("metrics.parquet").display()
        ),
        format!(
            "{}: does not match",
            runs[2].join("weights.safetensors").display()
        ),
        "3 damaged file(s)".to_string(),
    ] {
        assert!(found.contains(&needle), "verify names {needle}:\n{found}");
    }

    let planned = Command::new(BIN)
        .arg("plan")
        .arg(&path)
        .output()
        .expect("plan runs");
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert_eq!(
        text(&planned).matches("[damaged: runs again]").count(),
        3,
        "{}",
        text(&planned)
    );
    let again = run(&path, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let said = text(&again);
    assert_eq!(
        said.matches("is done again").count(),
        3,
        "one warning line per damaged run:\n{said}"
    );
    let frame = sweep_frame(dir.path());
    assert_eq!(
        bitwise_difference(&expected, &frame, &lossbench::store::TIMINGS).expect("compare"),
        None,
        "the redone runs give the undamaged frame"
    );
    assert!(verify(0).contains("0 damaged"));
}
