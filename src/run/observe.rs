//! What a sweep tells the tools that watch it while it runs (live TensorBoard curves, MLflow
//! runs): an [`Observer`] is called when a run starts, after each epoch it records and when
//! it ends, with the run's folder, whose files ([`crate::store`]'s formats) say the rest.
//! [`Observers`] fans the calls out so that one observer's failure never touches a run: its
//! first error is a warning, and that observer is off for the rest of the sweep.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One tool that watches a sweep. Calls come from the sweep's worker threads, each run's in
/// order: `run_started`, `epoch_ended` once per recorded epoch, `run_ended`; and
/// `sweep_ended` once, after every run.
pub trait Observer: Send + Sync {
    /// Its name in warnings, e.g. `TensorBoard (runs/tb)`.
    fn name(&self) -> String;
    /// The run in `dir` starts, or resumes from the epochs its folder holds.
    fn run_started(&self, dir: &Path) -> anyhow::Result<()>;
    /// The run in `dir` recorded an epoch (its frame and status are written).
    fn epoch_ended(&self, dir: &Path) -> anyhow::Result<()>;
    /// The run in `dir` ended; its status says how.
    fn run_ended(&self, dir: &Path) -> anyhow::Result<()>;
    /// Every run of the sweep has ended: what is still queued is sent.
    fn sweep_ended(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The observers of a sweep, each switched off after its first error.
#[derive(Clone, Default)]
pub struct Observers {
    list: Vec<(Arc<dyn Observer>, Arc<AtomicBool>)>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.list.iter().map(|(o, _)| o.name()).collect();
        f.debug_tuple("Observers").field(&names).finish()
    }
}

/// Which call of an observer.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    RunStarted,
    EpochEnded,
    RunEnded,
}

impl Observers {
    /// `list`, each on.
    pub fn new(list: Vec<Arc<dyn Observer>>) -> Self {
        Observers {
            list: list
                .into_iter()
                .map(|o| (o, Arc::new(AtomicBool::new(false))))
                .collect(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Makes `call` of every observer still on for the run in `dir`; one that fails says so
    /// through `warn` and is off from then on.
    pub fn notify(&self, call: Call, dir: &Path, warn: &dyn Fn(&str)) {
        for (observer, off) in &self.list {
            if off.load(Ordering::Relaxed) {
                continue;
            }
            let result = match call {
                Call::RunStarted => observer.run_started(dir),
                Call::EpochEnded => observer.epoch_ended(dir),
                Call::RunEnded => observer.run_ended(dir),
            };
            if let Err(e) = result {
                switch_off(observer.as_ref(), off, &e, warn);
            }
        }
    }

    /// Tells every observer still on that the sweep has ended.
    pub fn sweep_ended(&self, warn: &dyn Fn(&str)) {
        for (observer, off) in &self.list {
            if !off.load(Ordering::Relaxed) {
                if let Err(e) = observer.sweep_ended() {
                    switch_off(observer.as_ref(), off, &e, warn);
                }
            }
        }
    }
}

fn switch_off(observer: &dyn Observer, off: &AtomicBool, e: &anyhow::Error, warn: &dyn Fn(&str)) {
    if !off.swap(true, Ordering::Relaxed) {
        warn(&format!(
            "warning: {} stops following this sweep: {e:#}; the runs go on, and `lossbench export` brings it up to date afterwards",
            observer.name()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records its calls; fails from the `fail_at`th on.
    struct Recorder {
        calls: Mutex<Vec<String>>,
        fail_at: usize,
    }

    impl Observer for Recorder {
        fn name(&self) -> String {
            "recorder".into()
        }
        fn run_started(&self, dir: &Path) -> anyhow::Result<()> {
            self.record(format!("start {}", dir.display()))
        }
        fn epoch_ended(&self, dir: &Path) -> anyhow::Result<()> {
            self.record(format!("epoch {}", dir.display()))
        }
        fn run_ended(&self, dir: &Path) -> anyhow::Result<()> {
            self.record(format!("end {}", dir.display()))
        }
    }

    impl Recorder {
        fn record(&self, call: String) -> anyhow::Result<()> {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(call);
            anyhow::ensure!(calls.len() < self.fail_at, "server gone");
            Ok(())
        }
    }

    #[test]
    fn a_failing_observer_warns_once_and_is_off_while_the_others_go_on() {
        let failing = Arc::new(Recorder {
            calls: Mutex::new(vec![]),
            fail_at: 2,
        });
        let fine = Arc::new(Recorder {
            calls: Mutex::new(vec![]),
            fail_at: usize::MAX,
        });
        let observers = Observers::new(vec![failing.clone(), fine.clone()]);
        let warnings = Mutex::new(Vec::new());
        let warn = |w: &str| warnings.lock().expect("warnings").push(w.to_string());
        let dir = Path::new("r");
        for call in [
            Call::RunStarted,
            Call::EpochEnded,
            Call::EpochEnded,
            Call::RunEnded,
        ] {
            observers.notify(call, dir, &warn);
        }
        observers.sweep_ended(&warn);
        assert_eq!(failing.calls.lock().expect("calls").len(), 2);
        assert_eq!(fine.calls.lock().expect("calls").len(), 4);
        let warnings = warnings.into_inner().expect("warnings");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("recorder stops following this sweep: server gone"));
    }
}
