//! MLflow while a sweep runs: each run becomes an MLflow run when it starts, gets each
//! epoch's metrics as the run records them, and ends FINISHED, FAILED or KILLED as the run
//! does: the same runs, tags and values `lossbench export mlflow` makes, so an export
//! afterwards adds nothing twice (and completes what a lost server missed).
//!
//! The requests go out from a worker thread, never from a run's: the runs hand it the run
//! folders that changed, and it brings each one's MLflow run up to the folder. A server that
//! cannot be reached or answers with an error ends the worker; the next call says so, and
//! the sweep goes on without it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::client::Client;
use super::convert::RunRecord;
use super::Session;
use crate::run::observe::Observer;

/// How long one request to the server may take before the live export gives up on it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// What the runs hand the worker.
#[derive(Default)]
struct Queue {
    /// Run folders whose MLflow runs are behind.
    changed: BTreeSet<PathBuf>,
    /// The sweep has ended: sync what is queued, finish the parent, stop.
    ended: bool,
    /// Why the worker stopped, when it failed.
    failed: Option<String>,
}

/// The live MLflow export of one sweep.
pub struct Live {
    uri: String,
    shared: Arc<(Mutex<Queue>, Condvar)>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Live {
    /// Starts the worker that sends the sweep `(name, description)` to the server at `uri`
    /// (its parent run is found or made by the first sync).
    pub fn start(uri: &str, name: &str, description: Option<&str>) -> anyhow::Result<Live> {
        let client = Client::with_timeout(uri, TIMEOUT)?;
        let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let (name, description) = (name.to_string(), description.map(str::to_string));
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || work(client, (name, description), &shared))
        };
        Ok(Live {
            uri: uri.to_string(),
            shared,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Queues the run folder `dir`; an error when the worker has stopped on one.
    fn queue(&self, dir: &Path) -> anyhow::Result<()> {
        let (queue, wake) = &*self.shared;
        let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &queue.failed {
            anyhow::bail!("{why}");
        }
        queue.changed.insert(dir.to_path_buf());
        wake.notify_one();
        Ok(())
    }
}

/// The worker: waits for changed run folders and syncs each, until the sweep ends or a
/// request fails.
fn work(
    client: Client,
    (name, description): (String, Option<String>),
    shared: &(Mutex<Queue>, Condvar),
) {
    let (queue, wake) = shared;
    let mut session: Option<Session> = None;
    let mut client = Some(client);
    loop {
        let (changed, ended) = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            while q.changed.is_empty() && !q.ended {
                q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
            (std::mem::take(&mut q.changed), q.ended)
        };
        let synced = (|| -> anyhow::Result<()> {
            if session.is_none() {
                if let Some(client) = client.take() {
                    let sweep = (name.as_str(), description.as_deref());
                    session = Some(Session::open(client, sweep, None, None)?);
                }
            }
            let Some(session) = session.as_mut() else {
                return Ok(());
            };
            for dir in &changed {
                if let Some(record) = RunRecord::read(dir)? {
                    session.sync(&record)?;
                }
            }
            if ended {
                session.finish_parent(None)?;
            }
            Ok(())
        })();
        if let Err(e) = synced {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            q.failed = Some(format!("{e:#}"));
            return;
        }
        if ended {
            return;
        }
    }
}

impl Observer for Live {
    fn name(&self) -> String {
        format!("MLflow ({})", self.uri)
    }

    fn run_started(&self, dir: &Path) -> anyhow::Result<()> {
        self.queue(dir)
    }

    fn epoch_ended(&self, dir: &Path) -> anyhow::Result<()> {
        self.queue(dir)
    }

    fn run_ended(&self, dir: &Path) -> anyhow::Result<()> {
        self.queue(dir)
    }

    fn sweep_ended(&self) -> anyhow::Result<()> {
        {
            let (queue, wake) = &*self.shared;
            queue.lock().unwrap_or_else(|p| p.into_inner()).ended = true;
            wake.notify_one();
        }
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
        let (queue, _) = &*self.shared;
        match &queue.lock().unwrap_or_else(|p| p.into_inner()).failed {
            Some(why) => anyhow::bail!("{why}"),
            None => Ok(()),
        }
    }
}
