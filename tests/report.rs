//! The report of a small real sweep: every file the page references exists and is valid,
//! the findings equal what the frame says, and headless Chromium renders the page.

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;

mod common;
use common::BIN;

/// Runs a 3 losses × 3 seeds sweep of tiny images (plus one diverging run) in `dir` and
/// returns the results and plots folders.
fn small_sweep(dir: &Path) -> (PathBuf, PathBuf) {
    let text = format!(
        "[sweep]\nname = \"small\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 32\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\noptim.lr = 1e-2\ntrain.epochs = 3\ntrain.batch_size = 8\n\
         [grid]\nloss = [\"cce\", \"bce\", \"dice\"]\nseed = [1, 2, 3]\n",
        r = dir.join("results").display(),
        p = dir.join("plots").display(),
    );
    run_sweep(dir, "small", &text, 0);
    (dir.join("results/small"), dir.join("plots/small"))
}

/// Writes `dir/<name>.toml` and runs it, expecting exit status `code`.
fn run_sweep(dir: &Path, name: &str, text: &str, code: i32) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write sweep");
    let out = Command::new(BIN)
        .args(["run", path.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The relative `src` and `href` targets of a page.
fn references(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            let target = &rest[..end];
            if !target.starts_with('#') && !target.contains("://") {
                refs.push(target.to_string());
            }
            rest = &rest[end..];
        }
    }
    refs
}

#[test]
fn report_of_a_small_sweep_references_only_valid_files_and_states_the_frame_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (results, plots) = small_sweep(dir.path());
    let index = plots.join("index.html");
    let html = std::fs::read_to_string(&index).expect("index.html written by `lossbench run`");
    let refs = references(&html);
    assert!(
        refs.iter().filter(|r| r.ends_with(".png")).count() >= 10,
        "{refs:?}"
    );
    for r in &refs {
        let path = plots.join(r);
        assert!(
            path.exists(),
            "the page references {r}, which does not exist"
        );
        if r.ends_with(".png") {
            image::open(&path).unwrap_or_else(|e| panic!("{r} is not a valid PNG: {e}"));
        }
        if r.ends_with(".svg") {
            let text = std::fs::read_to_string(&path).expect("svg");
            assert!(
                text.contains("<svg") && text.trim_end().ends_with("</svg>"),
                "{r} is not an SVG"
            );
        }
    }

    // The final mIoU per loss in the findings is the mean over seeds of the last epoch.
    let frame =
        ParquetReader::new(std::fs::File::open(results.join("metrics.parquet")).expect("frame"))
            .finish()
            .expect("parquet");
    let findings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plots.join("findings.json")).expect("findings.json"))
            .expect("json");
    let loss = frame
        .column("loss")
        .expect("loss")
        .str()
        .expect("str")
        .clone();
    let epoch = frame
        .column("epoch")
        .expect("epoch")
        .u32()
        .expect("u32")
        .clone();
    let miou = frame
        .column("val_miou")
        .expect("miou")
        .f64()
        .expect("f64")
        .clone();
    for name in ["cce", "bce", "dice"] {
        let finals: Vec<f64> = (0..frame.height())
            .filter(|&i| loss.get(i) == Some(name) && epoch.get(i) == Some(3))
            .filter_map(|i| miou.get(i))
            .collect();
        assert_eq!(finals.len(), 3, "{name}: 3 seeds");
        let mean = finals.iter().sum::<f64>() / 3.0;
        let summary = findings["summaries"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["loss"] == name))
            .unwrap_or_else(|| panic!("{name} has a summary"));
        let reported = summary["mean"].as_f64().expect("mean");
        assert!(
            (reported - mean).abs() < 1e-12,
            "{name}: {reported} against {mean}"
        );
        assert!(
            html.contains(&format!("{:.4}", mean)),
            "{name}: the page states {mean:.4}"
        );
    }
    assert!(html.contains("Verdict"));
}

#[test]
fn failed_and_diverged_runs_are_listed_in_the_report_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 5 classes does not fit the 7-class data: that run fails before its first epoch.
    // lr 1e20 with SGD overflows to NaN: that run diverges at epoch 1.
    let text = format!(
        "[sweep]\nname = \"faults\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 16\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\noptim.name = \"sgd\"\ntrain.epochs = 2\ntrain.batch_size = 8\n\
         [grid]\n\"optim.lr\" = [0.01, 1e20]\n\"model.num_classes\" = [7, 5]\n",
        r = dir.path().join("results").display(),
        p = dir.path().join("plots").display(),
    );
    run_sweep(dir.path(), "faults", &text, 1);
    let html = std::fs::read_to_string(dir.path().join("plots/faults/index.html")).expect("report");
    let table = &html[html.find("id=\"runs\"").expect("runs section")..];
    assert_eq!(
        table.matches("<tr class=\"failed\">").count(),
        2,
        "both 5-class runs listed as failed"
    );
    assert_eq!(
        table.matches("<tr class=\"diverged\">").count(),
        1,
        "the NaN run listed as diverged"
    );
    assert!(
        table.contains("model.num_classes is 5"),
        "the failure's error is shown"
    );
}

#[test]
fn chromium_renders_the_report_without_error() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        common::skip_unless_ci(
            "chromium_renders_the_report_without_error needs Debian's chromium (apt-get install chromium; .ci/run installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, plots) = small_sweep(dir.path());
    let shot = dir.path().join("shot.png");
    let index = plots.join("index.html").canonicalize().expect("index");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,2400",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", index.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = image::open(&shot).expect("a screenshot").to_rgb8();
    // A rendered page has text and figures: many distinct colours, and not all white.
    let mut colours: Vec<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 50,
        "the page looks empty ({} colours)",
        colours.len()
    );
}

#[test]
fn a_sweep_over_two_named_datasets_reports_each_and_their_aggregate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[sweep]\nname = \"two\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [base]\nmodel.depth = 2\nmodel.base_channels = 4\noptim.lr = 1e-2\ntrain.epochs = 2\ntrain.batch_size = 8\n\
         [datasets.plain]\nkind = \"synthetic\"\nheight = 16\nwidth = 16\ntrain_images = 16\nval_images = 8\n\
         [datasets.noisy]\nkind = \"synthetic\"\nheight = 16\nwidth = 32\ntrain_images = 16\nval_images = 8\nnoise = 0.3\n\
         [grid]\ndataset = [\"plain\", \"noisy\"]\nloss = [\"cce\", \"dice\"]\nseed = [1, 2]\n",
        r = dir.path().join("results").display(),
        p = dir.path().join("plots").display(),
    );
    run_sweep(dir.path(), "two", &text, 0);
    let results = dir.path().join("results/two");
    let plots = dir.path().join("plots/two");
    for name in ["plain", "noisy"] {
        let folder = results.join("datasets").join(name);
        let info: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.join("dataset.json")).expect("each dataset's own dataset.json"),
        )
        .expect("json");
        let width = if name == "plain" { 16 } else { 32 };
        assert_eq!(info["width"], width, "{name}");
        assert!(folder.join("examples.png").exists(), "{name}");
    }
    let html = std::fs::read_to_string(plots.join("index.html")).expect("report");
    for target in references(&html) {
        assert!(plots.join(&target).exists(), "the page references {target}");
    }
    for needle in [
        "Across datasets",
        "performance_profile.png",
        "Example predictions: plain",
        "Example predictions: noisy",
        "examples_1.png",
        "per_class_iou_1.png",
        "On plain:",
        "On noisy:",
        "Across 2 datasets (each weighing the same), dice",
    ] {
        assert!(html.contains(needle), "the report shows {needle}");
    }
    let findings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plots.join("findings.json")).expect("findings"))
            .expect("json");
    let per_dataset = findings["datasets"]["per_dataset"]
        .as_array()
        .expect("per dataset");
    assert_eq!(per_dataset.len(), 2);
    for d in per_dataset {
        assert_eq!(
            d["differences"][0]["n"], 2,
            "each dataset pairs its own 2 seeds"
        );
    }
    // The aggregate is the mean of the two datasets' mean differences.
    let means: Vec<f64> = per_dataset
        .iter()
        .map(|d| d["differences"][0]["mean"].as_f64().expect("mean"))
        .collect();
    let aggregate = findings["datasets"]["aggregate"][0]["mean"]
        .as_f64()
        .expect("aggregate");
    assert!((aggregate - (means[0] + means[1]) / 2.0).abs() < 1e-12);
}

#[test]
fn the_findings_section_names_the_metric_report_metric_judges_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[sweep]\nname = \"hd\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [report]\nmetric = \"val_hd95\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 16\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\ntrain.epochs = 1\ntrain.batch_size = 8\n\
         [grid]\nloss = [\"cce\", \"bce\"]\nseed = [1, 2]\n",
        r = dir.path().join("results").display(),
        p = dir.path().join("plots").display(),
    );
    run_sweep(dir.path(), "hd", &text, 0);
    let html = std::fs::read_to_string(dir.path().join("plots/hd/index.html")).expect("report");
    assert!(
        html.contains("Final validation HD95 and paired differences"),
        "no HD95 heading"
    );
    assert!(!html.contains("mIoU and paired differences"));
}

#[test]
fn a_sweep_run_with_set_records_them_so_the_command_that_adds_seeds_repeats_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sets.toml");
    let text = format!(
        "[sweep]\nname = \"sets\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 8\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\ntrain.epochs = 1\ntrain.batch_size = 8\n\
         [grid]\nloss = [\"cce\"]\nseed = [1]\n",
        r = dir.path().join("results").display(),
        p = dir.path().join("plots").display(),
    );
    std::fs::write(&path, text).expect("write sweep");
    let sets = ["optim.name=\"sgd\"", "sweep.name=renamed"];
    let out = Command::new(BIN)
        .arg("run")
        .arg(&path)
        .args(sets.iter().flat_map(|s| ["--set", s]))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("results/renamed/sweep.json")).expect("sweep.json"),
    )
    .expect("json");
    assert_eq!(info["sets"], serde_json::json!(sets));
}
