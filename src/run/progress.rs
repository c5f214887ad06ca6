//! Progress of a sweep: indicatif bars on a terminal (one for the sweep, one per running
//! run), plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::PlannedRun;
use crate::store::EpochRow;

/// Reports a sweep's progress.
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
    total: usize,
    finished: AtomicUsize,
}

/// Reports one run's progress.
pub struct RunProgress<'a> {
    sweep: &'a Progress,
    bar: Option<ProgressBar>,
    label: String,
    epochs: usize,
}

impl Progress {
    /// Bars when stderr is a terminal, lines on stdout otherwise.
    pub fn new(total: usize) -> Self {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let sweep = multi.add(ProgressBar::new(total as u64));
            sweep.set_style(
                ProgressStyle::with_template("sweep {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} elapsed, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            sweep.enable_steady_tick(Duration::from_millis(500));
            (multi, sweep)
        });
        Progress {
            bars,
            total,
            finished: AtomicUsize::new(0),
        }
    }

    /// A line above the bars (or on stdout).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => println!("{line}"),
        }
    }

    /// A run of `epochs` epochs starts.
    pub fn start(&self, run: &PlannedRun<'_>, epochs: usize) -> RunProgress<'_> {
        let label = run.label();
        let bar = self.bars.as_ref().map(|(multi, _)| {
            let bar = multi.add(ProgressBar::new(epochs as u64));
            bar.set_style(
                ProgressStyle::with_template("  {prefix:<28} {bar:20} epoch {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label.clone());
            bar
        });
        if bar.is_none() {
            println!("start  {}  {label}", run.id());
        }
        RunProgress {
            sweep: self,
            bar,
            label,
            epochs,
        }
    }
}

impl RunProgress<'_> {
    /// An epoch finished.
    pub fn epoch(&self, row: &EpochRow) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(row.epoch as u64);
                bar.set_message(format!(
                    "loss {:.4}  mIoU {:.3}",
                    row.train_loss, row.val_miou
                ));
            }
            None => println!(
                "{}  epoch {}/{}  train_loss {:.5}  val_loss {:.5}  val_miou {:.4}  {:.1}s",
                self.label,
                row.epoch,
                self.epochs,
                row.train_loss,
                row.val_loss,
                row.val_miou,
                row.seconds
            ),
        }
    }

    /// The run ended as `outcome` (a short word and details).
    pub fn finish(self, outcome: &str) {
        let n = self.sweep.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!("[{n}/{}] {}  {outcome}", self.sweep.total, self.label);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some((_, sweep)) = &self.sweep.bars {
            sweep.inc(1);
        }
        self.sweep.println(&line);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((_, sweep)) = &self.bars {
            sweep.finish_and_clear();
        }
    }
}
