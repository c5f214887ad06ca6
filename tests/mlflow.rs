//! `lossbench export mlflow` against a real `mlflow server` started on 127.0.0.1 for the
//! test (SQLite backend, proxied artifacts in a temporary folder), read back through
//! MLflow's REST API: one run per run folder plus the parent, every metric value at every
//! step, params, tags, status, the report as artifacts; a second export adds nothing, and
//! one after a killed run has finished adds only its missing epochs.
//! Skipped, saying so, without the venv's `mlflow`; failing instead in CI.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use polars::prelude::*;
use serde_json::{json, Value};

/// The MLflow the test starts: the venv's, as `.ci/run` installs it.
const MLFLOW_PIN: &str = "mlflow==3.17.2";

/// The venv's `bin` folder: `LOSSBENCH_PYTHON`'s, or the one `make libtorch` installs.
fn venv_bin() -> Option<PathBuf> {
    match std::env::var_os("LOSSBENCH_PYTHON") {
        Some(python) => Some(PathBuf::from(python).parent()?.to_path_buf()),
        None => {
            Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/lossbench/torch-2.13.0/bin"))
        }
    }
}

/// The venv's `mlflow`; `None`, saying the test is skipped and how to get it, without it
/// (failing instead in CI).
fn mlflow_or_skip() -> Option<PathBuf> {
    let bin = venv_bin();
    let found = bin
        .as_ref()
        .map(|b| b.join("mlflow"))
        .filter(|p| p.exists());
    if found.is_none() {
        let pip = bin.map_or_else(|| "pip".into(), |b| b.join("pip").display().to_string());
        common::skip_unless_ci(&format!(
            "no mlflow in the venv; `{pip} install {MLFLOW_PIN}` (.ci/run installs it)"
        ));
    }
    found
}

/// A running `mlflow server`; dropping it stops its whole process group.
struct Server {
    child: Child,
    uri: String,
    log: PathBuf,
}

impl Server {
    fn start(mlflow: &Path, dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("mlflow-server.log");
        let out = std::fs::File::create(&log).expect("create the server's log");
        let child = Command::new(mlflow)
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(dir.join("artifacts"))
            .args(["--workers", "1"])
            .current_dir(dir)
            .stdout(out.try_clone().expect("the log twice"))
            .stderr(out)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start mlflow server");
        let mut server = Server {
            child,
            uri: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(180) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mlflow server ended ({status}):\n{}", self.log_text());
            }
            if let Ok(mut r) = ureq::get(format!("{}/health", self.uri)).call() {
                if r.body_mut()
                    .read_to_string()
                    .is_ok_and(|t| t.trim() == "OK")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "mlflow server not healthy after 180 s:\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Value {
        let mut request = ureq::get(format!("{}/api/2.0/mlflow/{endpoint}", self.uri));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let mut answer = request.call().expect(endpoint);
        answer.body_mut().read_json().expect("JSON")
    }

    fn post(&self, endpoint: &str, body: Value) -> Value {
        let mut answer = ureq::post(format!("{}/api/2.0/mlflow/{endpoint}", self.uri))
            .send_json(body)
            .expect(endpoint);
        answer.body_mut().read_json().expect("JSON")
    }

    /// The id of the experiment named `name`.
    fn experiment_id(&self, name: &str) -> String {
        let experiment = self.get("experiments/get-by-name", &[("experiment_name", name)]);
        experiment["experiment"]["experiment_id"]
            .as_str()
            .expect("an experiment id")
            .to_string()
    }

    /// Every active run of the experiment.
    fn runs(&self, experiment_id: &str) -> Vec<Value> {
        let page = self.post(
            "runs/search",
            json!({ "experiment_ids": [experiment_id], "max_results": 1000 }),
        );
        page["runs"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: signals the process group this test started.
        unsafe { libc::killpg(group, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above; whatever of the group is left.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn tags(run: &Value) -> BTreeMap<String, String> {
    pairs(&run["data"]["tags"])
}

fn params(run: &Value) -> BTreeMap<String, String> {
    pairs(&run["data"]["params"])
}

fn pairs(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&t["key"]), text(&t["value"]))
        })
        .collect()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

#[test]
fn export_mlflow_logs_every_run_under_a_parent_with_the_report_and_again_adds_only_what_is_new() {
    let Some(mlflow) = mlflow_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sweep = common::sweep(
        dir.path(),
        "mlf",
        2,
        "loss = [\"cce\", \"bce\"]\nseed = [1]",
    );
    let run = common::lossbench(&["run", sweep.to_str().expect("utf-8"), "--jobs", "2"]);
    assert!(run.status.success(), "{}", common::text(&run));
    let server = Server::start(&mlflow, dir.path());
    let results = dir.path().join("results/mlf");
    let results = results.to_str().expect("utf-8");
    let export =
        || common::lossbench(&["export", "mlflow", results, "--tracking-uri", &server.uri]);

    let first = export();
    let text = common::text(&first);
    assert!(first.status.success(), "{text}");
    assert!(text.contains("2 runs: 2 created"), "{text}");

    let experiment_id = server.experiment_id("mlf");
    let runs = server.runs(&experiment_id);
    assert_eq!(runs.len(), 3, "two runs and the parent: {runs:#?}");
    let (parents, children): (Vec<&Value>, Vec<&Value>) = runs
        .iter()
        .partition(|r| tags(r).get("lossbench.parent").map(String::as_str) == Some("true"));
    assert_eq!(parents.len(), 1);
    let parent_id = parents[0]["info"]["run_id"].as_str().expect("an id");
    assert_eq!(tags(parents[0])["lossbench.sweep"], "mlf");

    let run_dirs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("results/mlf/runs"))
        .expect("run folders")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(run_dirs.len(), 2);
    for run_dir in &run_dirs {
        let id = run_dir.file_name().expect("a name").to_string_lossy();
        let status: Value = serde_json::from_slice(
            &std::fs::read(run_dir.join("status.json")).expect("status.json"),
        )
        .expect("a status");
        let run = children
            .iter()
            .find(|r| tags(r).get("lossbench.run_id").map(String::as_str) == Some(&*id))
            .unwrap_or_else(|| panic!("no MLflow run for {id}"));
        let t = tags(run);
        assert_eq!(t["lossbench.sweep"], "mlf");
        assert_eq!(t["mlflow.parentRunId"], parent_id);
        assert_eq!(
            t["mlflow.runName"],
            status["label"].as_str().expect("a label")
        );
        assert_eq!(t["lossbench.state"], "done");
        let commit = status["lossbench_commit"].as_str().expect("a commit");
        assert_eq!(t["lossbench.commit"], commit);
        if let Some(hash) = lossbench::provenance::hash(commit) {
            assert_eq!(t["mlflow.source.git.commit"], hash);
        }
        assert_eq!(run["info"]["status"], "FINISHED");
        assert!(run["info"]["end_time"].as_i64().is_some(), "{run:#?}");

        let p = params(run);
        assert_eq!(p["train.epochs"], "2");
        assert_eq!(p["model.depth"], "2");
        assert_eq!(p["data.height"], "16");
        assert_eq!(p["optim.lr"], "0.001");
        let loss = p["loss.name"].as_str();
        assert!(["cce", "bce"].contains(&loss), "{p:?}");
        let config = lossbench::store::read_run_config(run_dir).expect("config.toml");
        let (expected, _) = lossbench::export::mlflow::convert::params(&config).expect("params");
        assert_eq!(p.len(), expected.len(), "every key of the configuration");

        let frame = lossbench::store::read_parquet(&run_dir.join("metrics.parquet"))
            .expect("the run's frame");
        let epochs: Vec<i64> = frame
            .column("epoch")
            .and_then(|c| c.cast(&DataType::Int64))
            .expect("epochs")
            .i64()
            .expect("int")
            .into_no_null_iter()
            .collect();
        assert_eq!(epochs, [1, 2]);
        let run_id = run["info"]["run_id"].as_str().expect("an id");
        let mut keys = 0;
        for column in frame.columns() {
            if column.name() == "epoch" || !column.dtype().is_primitive_numeric() {
                continue;
            }
            keys += 1;
            let expected: Vec<f64> = column
                .cast(&DataType::Float64)
                .expect("floats")
                .f64()
                .expect("f64")
                .into_no_null_iter()
                .collect();
            let key = column.name().as_str();
            let history = server.get(
                "metrics/get-history",
                &[("run_id", run_id), ("metric_key", key)],
            );
            let mut got: Vec<(i64, f64)> = history["metrics"]
                .as_array()
                .unwrap_or_else(|| panic!("no history of {key}: {history}"))
                .iter()
                .map(|m| (m["step"].as_i64().expect("a step"), number(&m["value"])))
                .collect();
            got.sort_by_key(|(step, _)| *step);
            assert_eq!(got.len(), epochs.len(), "{key}: {got:?}");
            for ((step, value), (epoch, want)) in got.iter().zip(epochs.iter().zip(&expected)) {
                assert_eq!(step, epoch, "{key}");
                assert!(
                    value.to_bits() == want.to_bits() || (value.is_nan() && want.is_nan()),
                    "{key} at step {step}: MLflow {value}, frame {want}"
                );
            }
        }
        assert!(keys >= 10, "{keys} metric columns");
        let latest = run["data"]["metrics"].as_array().expect("metrics").len();
        assert_eq!(latest, keys, "no metric beyond the frame's columns");
    }

    let listed = server.get(
        "artifacts/list",
        &[("run_id", parent_id), ("path", "report")],
    );
    let files: Vec<&str> = listed["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no artifacts: {listed}"))
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    for want in ["report/index.html", "report/findings.json"] {
        assert!(files.contains(&want), "{want} not in {files:?}");
    }
    let uploaded = std::fs::metadata(dir.path().join("plots/mlf/index.html")).expect("a report");
    let listed_size = listed["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == "report/index.html"))
        .and_then(|f| f["file_size"].as_u64());
    assert_eq!(listed_size, Some(uploaded.len()));

    let second = export();
    let text = common::text(&second);
    assert!(second.status.success(), "{text}");
    assert!(
        text.contains("0 created, 0 updated, 2 already exported"),
        "{text}"
    );
    assert!(
        text.contains("parent run") && text.contains("(found)"),
        "{text}"
    );
    assert_eq!(
        server.runs(&experiment_id).len(),
        3,
        "no run added by the second export"
    );
}

#[test]
fn export_mlflow_names_the_server_it_cannot_reach_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = dir.path().join("results/none");
    std::fs::create_dir_all(results.join("runs")).expect("a folder");
    std::fs::write(
        results.join("sweep.json"),
        r#"{"name": "none", "description": null, "plots_dir": "plots/none", "axes": [], "runs": 0}"#,
    )
    .expect("sweep.json");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let out = common::lossbench(&[
        "export",
        "mlflow",
        results.to_str().expect("utf-8"),
        "--tracking-uri",
        &uri,
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("cannot reach the MLflow tracking server at {uri}"))
            && text.contains("--tracking-uri"),
        "{text}"
    );
}

#[test]
fn live_mlflow_follows_each_run_and_an_export_afterwards_adds_nothing() {
    let Some(mlflow) = mlflow_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&mlflow, dir.path());
    let sweep = common::sweep(
        dir.path(),
        "mlive",
        2,
        "loss = [\"cce\", \"bce\"]\nseed = [1]",
    );
    let sweep = sweep.to_str().expect("utf-8");
    // Killed in the second run's second epoch: what reached the server by then is whatever
    // the worker had sent; the resumed sweep finds its runs again rather than making more.
    let killed = std::process::Command::new(common::BIN)
        .args(["run", sweep, "--jobs", "1", "--mlflow", &server.uri])
        .env("LOSSBENCH_KILL_AT", "epoch#4")
        .output()
        .expect("lossbench runs");
    assert!(!killed.status.success(), "{}", common::text(&killed));
    let run = common::lossbench(&["run", sweep, "--jobs", "2", "--mlflow", &server.uri]);
    let said = common::text(&run);
    assert!(run.status.success(), "{said}");
    assert!(!said.contains("stops following"), "{said}");

    let experiment_id = server.experiment_id("mlive");
    let runs = server.runs(&experiment_id);
    assert_eq!(runs.len(), 3, "two runs and the parent: {runs:#?}");
    for run in &runs {
        assert_eq!(run["info"]["status"], "FINISHED", "{run:#}");
        if tags(run).contains_key("lossbench.parent") {
            continue;
        }
        let run_id = run["info"]["run_id"].as_str().expect("an id");
        let history = server.get(
            "metrics/get-history",
            &[("run_id", run_id), ("metric_key", "val_miou")],
        );
        let steps: Vec<i64> = history["metrics"]
            .as_array()
            .expect("a history")
            .iter()
            .filter_map(|m| m["step"].as_i64())
            .collect();
        assert_eq!(steps.len(), 2, "{history}");
        assert_eq!(tags(run)["lossbench.state"], "done");
    }
    let results = dir.path().join("results/mlive");
    let export = common::lossbench(&[
        "export",
        "mlflow",
        results.to_str().expect("utf-8"),
        "--tracking-uri",
        &server.uri,
    ]);
    let text = common::text(&export);
    assert!(export.status.success(), "{text}");
    assert!(
        text.contains("0 created, 0 updated, 2 already exported"),
        "{text}"
    );
}

#[test]
fn a_tracking_server_that_cannot_be_reached_costs_a_warning_never_a_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bound, then let go.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let sweep = common::sweep(dir.path(), "gone", 1, "loss = [\"cce\"]\nseed = [1, 2]");
    let uri = format!("http://127.0.0.1:{port}");
    let run = common::lossbench(&["run", sweep.to_str().expect("utf-8"), "--mlflow", &uri]);
    let said = common::text(&run);
    assert!(run.status.success(), "{said}");
    assert!(
        said.contains(&format!("MLflow ({uri}) stops following this sweep")),
        "{said}"
    );
    assert_eq!(said.matches("stops following").count(), 1, "{said}");
    assert!(said.contains("2 runs: 2 done"), "{said}");
}
