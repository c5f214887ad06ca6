//! Which code made which run: every run's status, the frames, the sweep's record and the
//! report name the commit of the build that trained it; a sweep resumed by a build of
//! another commit says so before anything runs; `--only` given twice selects as one
//! `--only` with both filters does.

mod common;

use std::path::Path;

use common::{lossbench, sweep, text};
use lossbench::provenance::{self, short};

/// The `lossbench_commit` column of a frame, one cell per row.
fn commits(frame: &Path) -> Vec<String> {
    let frame = lossbench::store::read_parquet(frame).expect("a frame");
    frame
        .column(provenance::COLUMN)
        .and_then(|c| c.str().cloned())
        .expect("the commit column")
        .iter()
        .map(|c| c.unwrap_or_default().to_string())
        .collect()
}

#[test]
fn runs_record_their_build_and_a_resume_by_another_build_is_warned_of() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = sweep(
        dir.path(),
        "builds",
        1,
        "loss = [\"cce\", \"dice\"]\nseed = [1, 2]",
    );
    let file = file.to_str().expect("a path");
    let out = lossbench(&["run", file, "--jobs", "2", "--only", "seed=1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("builds of other commits"),
        "{}",
        text(&out)
    );

    let root = dir.path().join("results/builds");
    let dirs = lossbench::store::run_dirs(&root).expect("run folders");
    assert_eq!(dirs.len(), 2);
    for d in &dirs {
        let status = lossbench::store::read_status(d)
            .expect("status")
            .expect("one");
        assert_eq!(status.lossbench_commit, provenance::COMMIT);
    }
    for frame in ["metrics.parquet", "runs.parquet"] {
        let cells = commits(&root.join(frame));
        assert!(
            cells.iter().any(|c| c == provenance::COMMIT),
            "{frame}: {cells:?}"
        );
    }
    let info = lossbench::store::read_sweep_info(&root).expect("sweep.json");
    assert_eq!(info.lossbench_commit.as_deref(), Some(provenance::COMMIT));
    assert_eq!(info.builds.get(provenance::COMMIT), Some(&2));

    // One finished run as another build would have left it.
    let other = "0123456789abcdef0123456789abcdef01234567";
    let path = dirs[0].join("status.json");
    let status = std::fs::read_to_string(&path).expect("status.json");
    std::fs::write(&path, status.replace(provenance::COMMIT, other)).expect("rewrite status");

    let out = lossbench(&["run", file, "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    let warning = said
        .lines()
        .find(|l| l.contains("builds of other commits"))
        .unwrap_or_else(|| panic!("no warning: {said}"));
    assert!(
        warning.contains(&format!("1 by {}", short(other))),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("1 by {} (this build)", short(provenance::COMMIT))),
        "{warning}"
    );
    let banner = said.find("sweep builds:").expect("the sweep's first line");
    assert!(said.find(warning).expect("the warning") < banner, "{said}");

    let info = lossbench::store::read_sweep_info(&root).expect("sweep.json");
    assert_eq!(info.builds.get(other), Some(&1));
    assert_eq!(info.builds.get(provenance::COMMIT), Some(&3));
    let page =
        std::fs::read_to_string(dir.path().join("plots/builds/index.html")).expect("the report");
    assert!(
        page.contains("trained by 2 builds of lossbench"),
        "no mixed-builds notice"
    );
    assert!(page.contains(&format!("3 by {}", short(provenance::COMMIT))));
    assert!(page.contains(&format!("commit {}", short(provenance::COMMIT))));
}

#[test]
fn only_given_twice_selects_what_one_only_with_both_filters_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = sweep(
        dir.path(),
        "only",
        1,
        "loss = [\"cce\", \"dice\"]\nseed = [1, 2, 3]",
    );
    let file = file.to_str().expect("a path");
    let plan = |only: &[&str]| -> Vec<String> {
        let mut args = vec!["plan", file];
        for o in only {
            args.extend(["--only", o]);
        }
        let out = lossbench(&args);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("[pending]"))
            .map(String::from)
            .collect()
    };
    let twice = plan(&["loss=dice", "seed=2"]);
    assert_eq!(twice, plan(&["loss=dice,seed=2"]));
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert_eq!(plan(&["seed=2", "loss=dice"]), twice);
}
