//! The `lossbench` binary as a user runs it: exit statuses, messages, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
use common::{lossbench, sweep, text, BIN};

#[test]
fn the_sweep_banner_states_the_thread_count_the_runs_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One job on a machine of any size: the layout alone would give every core to it.
    let set = common::sweep_with(dir.path(), "threads", 1, "train.threads = 3", "seed = [1]");
    let out = lossbench(&["run", set.to_str().expect("utf-8"), "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 at a time, 3 thread(s) each"),
        "{}",
        text(&out)
    );
}

#[test]
fn run_then_resume_exits_zero_and_skips_finished_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "cli", 1, "seed = [1, 2]");
    let path = path.to_str().expect("utf-8 path");
    let first = lossbench(&["run", path, "--jobs", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(text(&first).contains("2 runs: 2 done"), "{}", text(&first));
    let second = lossbench(&["run", path]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        text(&second).contains("2 finished earlier"),
        "{}",
        text(&second)
    );
    let plan = lossbench(&["plan", path]);
    assert!(
        text(&plan).contains("[done]") && text(&plan).contains("2 runs (0 to run"),
        "{}",
        text(&plan)
    );
}

#[test]
fn invalid_configuration_exits_two_with_file_line_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[base]\ntrain.epoch = 3\n").expect("write");
    let out = lossbench(&["run", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let msg = text(&out);
    assert!(
        msg.contains("bad.toml:2:7: unknown key `train.epoch`")
            && msg.contains("did you mean `train.epochs`"),
        "{msg}"
    );
}

#[test]
fn diverged_run_makes_the_exit_status_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "nan", 1, "\"optim.lr\" = [1e20]");
    let out = lossbench(&[
        "run",
        path.to_str().expect("utf-8"),
        "--set",
        "optim.name=sgd",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("1 diverged"), "{}", text(&out));
}

#[test]
fn rerun_of_a_folder_that_is_not_a_run_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lossbench(&["rerun", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("is not a run folder"), "{}", text(&out));
}

#[test]
fn ctrl_c_marks_the_running_run_interrupted_and_keeps_finished_epochs() {
    stop_a_run_with("INT", 130);
}

#[test]
fn sigterm_stops_a_run_as_ctrl_c_does_with_status_143() {
    stop_a_run_with("TERM", 143);
}

/// Sends `signal` to a sweep's run after two finished epochs: the run ends as interrupted,
/// keeping its finished epochs, and the process exits with `status`.
fn stop_a_run_with(signal: &str, status: i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "sigint", 200, "seed = [1]");
    let mut child = Command::new(BIN)
        .args(["run", path.to_str().expect("utf-8"), "--jobs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // Wait for two finished epochs, then send the signal (SIGINT as Ctrl-C would).
    let mut epochs = 0;
    for line in lines.by_ref() {
        if line.expect("line").contains("epoch ") {
            epochs += 1;
            if epochs == 2 {
                break;
            }
        }
    }
    assert_eq!(epochs, 2, "the run printed its epochs");
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status_of(&child.wait().expect("wait")), status, "{rest:?}");
    let runs = dir.path().join("results/sigint/runs");
    let run = std::fs::read_dir(&runs)
        .expect("runs")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("status.json")).expect("status"))
            .expect("json");
    assert_eq!(json["state"], "interrupted");
    let done = json["epochs_done"].as_u64().expect("epochs_done");
    assert!((2..200).contains(&done), "{done}");
    let frame =
        std::fs::read_to_string(dir.path().join("results/sigint/metrics.csv")).expect("frame");
    assert_eq!(
        frame.lines().count() as u64,
        done + 1,
        "header + one row per finished epoch"
    );
}

/// The exit status, or 128 + the signal that killed the process.
fn status_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or(status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

#[test]
fn a_command_with_no_epoch_to_finish_exits_at_once_on_sigterm() {
    // `plan` times one training step of the first run; at 256×256 with 16 base channels
    // that step takes seconds, so the signal arrives while it works.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "slowplan", 1, "seed = [1]");
    let mut child = Command::new(BIN)
        .args(["plan", path.to_str().expect("utf-8")])
        .args(["--set", "data.height=256", "--set", "data.width=256"])
        .args(["--set", "model.base_channels=16", "--set", "model.depth=4"])
        .args(["--set", "train.batch_size=16"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    let waited = sent.elapsed();
    assert_eq!(status_of(&status), 143, "{status:?}");
    assert!(
        waited < std::time::Duration::from_secs(2),
        "plan took {waited:?} to stop"
    );
}

#[test]
fn verify_losses_passes_on_the_reference_and_fails_on_a_tampered_copy() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/losses.json");
    let ok = lossbench(&["verify-losses", reference.to_str().expect("utf-8")]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reference).expect("read")).expect("json");
    let value = json["cases"][0]["losses"]["bce"]["value"]
        .as_f64()
        .expect("value");
    json["cases"][0]["losses"]["bce"]["value"] = serde_json::json!(value * 1.01);
    let dir = tempfile::tempdir().expect("tempdir");
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&json).expect("json")).expect("write");
    let bad = lossbench(&["verify-losses", tampered.to_str().expect("utf-8")]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("FAIL (1 values"), "{}", text(&bad));
}

/// `[1, 2, ..., n]`.
fn list(n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

#[test]
fn a_grid_over_the_cap_is_refused_at_once_by_every_command_that_expands_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The grid of the issue: 5 losses × 1000 seeds × 100 epochs × 50 widths.
    let grid = format!(
        "loss = [\"cce\", \"bce\", \"dice\", \"iou\", \"bce_dice\"]\nseed = {}\n\"train.epochs\" = {}\n\"model.base_channels\" = {}",
        list(1000),
        list(100),
        list(50)
    );
    let path = sweep(dir.path(), "huge", 1, &grid);
    let path = path.to_str().expect("utf-8");
    for command in ["plan", "run", "collect", "slurm"] {
        // The best of two, so that a moment of a busy machine does not fail the test.
        let (out, seconds) = (0..2)
            .map(|_| {
                let start = Instant::now();
                let out = lossbench(&[command, path]);
                (out, start.elapsed().as_secs_f64())
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("two tries");
        assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out));
        assert!(
            text(&out).contains("the grid makes 25,000,000 runs: loss (5) × seed (1000) × train.epochs (100) × model.base_channels (50), more than the cap of 1,000,000 runs")
                && text(&out).contains("--max-runs 25000000"),
            "{command}: {}",
            text(&out)
        );
        assert!(seconds < 1.0, "{command} took {seconds:.2} s");
    }
    assert!(!dir.path().join("results").exists(), "nothing written");
    // --max-runs sets the cap either way.
    let small = sweep(dir.path(), "small", 1, "seed = [1, 2]");
    let small = small.to_str().expect("utf-8");
    let refused = lossbench(&["plan", small, "--max-runs", "1"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("the grid makes 2 runs: seed (2), more than the cap of 1 run"),
        "{}",
        text(&refused)
    );
    let planned = lossbench(&["plan", small, "--max-runs", "2"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly() {
    // `lossbench plan sweep.toml | head -1`: the plan's later lines meet a closed pipe.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path(), "piped", 1, &format!("seed = {}", list(2000)));
    let mut child = Command::new(BIN)
        .args(["plan", path.to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a first line");
    // Dropping the reader closes the pipe.
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!first.is_empty());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        status_of(&out.status),
        128 + 13,
        "{:?}: {stderr}",
        out.status
    );
}
