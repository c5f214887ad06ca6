//! Watching a sweep from outside while it runs: `lossbench status` on a sweep with runs in
//! every state, and `lossbench report` of a sweep still running, which writes the report of
//! the runs finished so far beside, never over, the final one.

mod common;

use std::path::Path;

use common::{lossbench, sweep, text};
use serde_json::Value;

/// Rewrites the state of the run in `dir` in its `status.json`.
fn set_state(dir: &Path, state: &str, epochs_done: Option<usize>) {
    let path = dir.join("status.json");
    let mut status: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("status.json")).expect("JSON");
    status["state"] = Value::from(state);
    if let Some(n) = epochs_done {
        status["epochs_done"] = Value::from(n);
    }
    std::fs::write(&path, serde_json::to_vec(&status).expect("JSON")).expect("write");
}

#[test]
fn status_counts_every_state_and_a_running_sweep_gets_a_partial_report_beside_the_final() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = sweep(
        dir.path(),
        "watch",
        2,
        "loss = [\"cce\", \"dice\"]\nseed = [1, 2, 3]",
    );
    let file = file.to_str().expect("a path");
    let out = lossbench(&[
        "run", file, "--jobs", "2", "--only", "seed=1", "--only", "loss=cce",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = lossbench(&["run", file, "--jobs", "2", "--only", "seed=2"]);
    assert!(out.status.success(), "{}", text(&out));
    let root = dir.path().join("results/watch");
    let final_page = dir.path().join("plots/watch/index.html");
    let final_before = std::fs::read(&final_page).expect("the report of the runs so far");

    // Three finished runs become: one failed, one diverged, one running under a live
    // process (this test's, holding the sweep's lock as `lossbench run` would).
    let runs = lossbench::store::run_dirs(&root).expect("run folders");
    assert_eq!(runs.len(), 3);
    set_state(&runs[0], "failed", None);
    set_state(&runs[1], "running", Some(1));
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname").trim(),
        "started": 0,
        "command": "lossbench run watch.toml",
    });
    std::fs::write(root.join(".lock"), holder.to_string()).expect("the lock");

    let out = lossbench(&["status", root.to_str().expect("a path"), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let standing: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let counts = &standing["counts"];
    assert_eq!(counts["done"], 1, "{standing:#}");
    assert_eq!(counts["failed"], 1);
    assert_eq!(counts["running"], 1);
    assert_eq!(counts["pending"], 3);
    assert_eq!(standing["planned"], 6);
    let running = &standing["running"][0];
    assert_eq!(running["epoch"], 1);
    assert_eq!(running["epochs"], 2);
    assert!(running["score"].as_f64().is_some(), "{running}");
    assert!(
        standing["left_seconds"].as_f64().is_some_and(|s| s > 0.0),
        "{standing:#}"
    );
    assert_eq!(standing["best"].as_array().map(Vec::len), Some(1));

    let out = lossbench(&["status", root.to_str().expect("a path")]);
    let said = text(&out);
    assert!(
        said.contains("3 runs started of 6: 1 done, 1 running, 3 pending, 1 failed"),
        "{said}"
    );
    assert!(said.contains("epoch 1/2"), "{said}");
    assert!(
        said.contains("left, from the epochs measured so far"),
        "{said}"
    );

    let out = lossbench(&["report", root.to_str().expect("a path")]);
    assert!(out.status.success(), "{}", text(&out));
    let partial = std::fs::read_to_string(dir.path().join("plots/watch/partial/index.html"))
        .expect("the partial report");
    assert!(partial.contains("lossbench report (partial): watch"));
    assert!(partial.contains("Partial report: 1 of 6 runs are done and the sweep is still running"));
    assert_eq!(
        std::fs::read(&final_page).expect("the report"),
        final_before
    );

    // Stopped: the report goes to its place and says how many of the planned runs it holds.
    std::fs::remove_file(root.join(".lock")).expect("unlock");
    set_state(&runs[2], "diverged", None);
    let out = lossbench(&["status", root.to_str().expect("a path"), "--json"]);
    let standing: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(standing["counts"]["diverged"], 1, "{standing:#}");
    assert_eq!(
        standing["counts"]["interrupted"], 1,
        "a running run without its process"
    );
    assert_eq!(standing["counts"]["running"], 0);
}
