//! `lossbench status`: how a sweep stands while `lossbench run` trains it, from its results
//! folder alone (another terminal, a Slurm login node): once, refreshed in place with
//! `--watch`, or as JSON for scripts.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::sweep::human_duration;
use crate::store::standing::{standing, Standing, SCORE};

/// Prints how the sweep in `results` stands: as JSON, or as lines, every `watch` seconds
/// in place until stopped.
pub fn status(results: &Path, json: bool, watch: Option<u64>) -> anyhow::Result<ExitCode> {
    loop {
        let now = standing(results)?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &now)?;
            writeln!(out)?;
        } else {
            if watch.is_some() {
                // Clear the screen and go home: the next standing replaces this one.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            for line in lines(&now) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush().context("cannot write the status")?;
        let Some(seconds) = watch else {
            return Ok(ExitCode::SUCCESS);
        };
        std::thread::sleep(Duration::from_secs(seconds.max(1)));
    }
}

/// The standing in words, a line each, its stages' after it.
pub fn lines(s: &Standing) -> Vec<String> {
    let mut out = Vec::new();
    if s.root.join("runs").is_dir() {
        let c = &s.counts;
        let of = s.planned.map_or(String::new(), |p| format!(" of {p}"));
        out.push(format!(
            "{}: {} runs started{of}: {} done, {} running, {} pending, {} failed, {} diverged, {} interrupted",
            s.root.display(),
            c.done + c.running + c.failed + c.diverged + c.interrupted,
            c.done,
            c.running,
            c.pending,
            c.failed,
            c.diverged,
            c.interrupted
        ));
        for (lock, h) in &s.holders {
            out.push(format!(
                "  trained by process {} on {} ({lock}): {}",
                h.pid, h.host, h.command
            ));
        }
        if s.holders.is_empty() {
            out.push("  no lossbench process is training it now".to_string());
        }
        for r in &s.running {
            let score = r
                .score
                .map_or_else(String::new, |v| format!(", {SCORE} {v:.4}"));
            out.push(format!(
                "  running {}  epoch {}/{}{score}",
                r.label, r.epoch, r.epochs
            ));
        }
        let mut time = Vec::new();
        if let Some(e) = s.elapsed_seconds {
            time.push(format!("{} since it started", human_duration(e)));
        }
        if let Some(l) = s.left_seconds {
            time.push(format!(
                "about {} left, from the epochs measured so far",
                human_duration(l)
            ));
        }
        if !time.is_empty() {
            out.push(format!("  {}", time.join("; ")));
        }
        for b in &s.best {
            out.push(format!(
                "  best {} so far: {} ({SCORE} {:.4})",
                b.loss, b.label, b.score
            ));
        }
    } else {
        out.push(format!(
            "{}: a tuned sweep, stage by stage",
            s.root.display()
        ));
    }
    for stage in &s.stages {
        out.extend(lines(stage));
    }
    out
}
