//! The batches of an epoch, built ahead of the step that needs them by a pool of worker
//! threads (reading and decoding files, flipping and augmenting), handed out in order, with
//! at most `prefetch` batches built and not yet taken: PyTorch's `DataLoader` with
//! `num_workers` and a bounded queue. Batch `k` depends only on `k`, never on which worker
//! built it or when, so the batches are the same with any number of workers.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::samples::Batch;

/// How batches are built: worker threads (0 builds each batch in the training thread when
/// the step asks for it) and how many batches may wait ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loading {
    pub workers: usize,
    pub prefetch: usize,
}

impl Default for Loading {
    fn default() -> Self {
        Loading {
            workers: 0,
            prefetch: 2,
        }
    }
}

/// Builds batch `k` of an epoch.
pub type Build = Arc<dyn Fn(usize) -> anyhow::Result<Batch> + Send + Sync>;

/// What the workers and the taker share: the next batch to build, how many were taken, and
/// whether the taker is gone.
#[derive(Default)]
struct Queue {
    next: usize,
    taken: usize,
    cancelled: bool,
}

/// The `count` batches of an epoch, in order; an iterator whose items are the batches or
/// the error that building one met (a missing or corrupt file, named). Dropping it stops the
/// workers.
pub struct Batches {
    count: usize,
    next: usize,
    build: Build,
    shared: Arc<(Mutex<Queue>, Condvar)>,
    results: Option<Receiver<(usize, anyhow::Result<Batch>)>>,
    ready: BTreeMap<usize, anyhow::Result<Batch>>,
    workers: Vec<JoinHandle<()>>,
    waited: Duration,
}

impl Batches {
    /// Starts building `count` batches with `build` as `loading` says.
    pub fn new(count: usize, build: Build, loading: Loading) -> Batches {
        let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let mut batches = Batches {
            count,
            next: 0,
            build,
            shared,
            results: None,
            ready: BTreeMap::new(),
            workers: Vec::new(),
            waited: Duration::ZERO,
        };
        if loading.workers > 0 && count > 0 {
            let (sender, receiver) = mpsc::channel();
            let ahead = loading.prefetch.max(1);
            for _ in 0..loading.workers.min(count) {
                let (shared, build, sender) = (
                    Arc::clone(&batches.shared),
                    Arc::clone(&batches.build),
                    sender.clone(),
                );
                batches.workers.push(std::thread::spawn(move || {
                    while let Some(k) = claim(&shared, count, ahead) {
                        if sender.send((k, build(k))).is_err() {
                            return;
                        }
                    }
                }));
            }
            batches.results = Some(receiver);
        }
        batches
    }

    /// The time the taker has waited for batches so far: the whole build time of each batch
    /// without workers, the time no batch was ready with them.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The next batch in order, from the workers' results.
    fn receive(&mut self) -> anyhow::Result<Batch> {
        let k = self.next;
        loop {
            if let Some(result) = self.ready.remove(&k) {
                return result;
            }
            let receiver = self
                .results
                .as_ref()
                .ok_or_else(|| anyhow!("no data worker is running"))?;
            let (i, result) = receiver
                .recv()
                .map_err(|_| anyhow!("the data workers stopped before batch {k} was built"))?;
            self.ready.insert(i, result);
        }
    }
}

/// The next batch for a worker to build, once fewer than `ahead` batches are built and not
/// taken; `None` when every batch is claimed or the taker is gone.
fn claim(shared: &(Mutex<Queue>, Condvar), count: usize, ahead: usize) -> Option<usize> {
    let (lock, wake) = shared;
    let mut queue = lock.lock().unwrap_or_else(|p| p.into_inner());
    while !queue.cancelled && queue.next < count && queue.next >= queue.taken + ahead {
        queue = wake.wait(queue).unwrap_or_else(|p| p.into_inner());
    }
    if queue.cancelled || queue.next >= count {
        return None;
    }
    queue.next += 1;
    Some(queue.next - 1)
}

impl Iterator for Batches {
    type Item = anyhow::Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let start = Instant::now();
        let result = if self.results.is_some() {
            self.receive()
        } else {
            (self.build)(self.next)
        };
        self.waited += start.elapsed();
        self.next += 1;
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).taken = self.next;
        wake.notify_all();
        Some(result)
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).cancelled = true;
        wake.notify_all();
        // Workers finish the batch in hand (their sends then fail) and stop.
        self.results = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tch::Tensor;

    fn numbered(built: Arc<AtomicUsize>, fail_at: Option<usize>) -> Build {
        Arc::new(move |k| {
            built.fetch_add(1, Ordering::SeqCst);
            if Some(k) == fail_at {
                anyhow::bail!("cannot decode the image batch-{k}.png");
            }
            Ok(Batch {
                images: Tensor::from_slice(&[k as i64]),
                masks: Tensor::from_slice(&[k as i64]),
            })
        })
    }

    fn values(batches: Batches) -> Vec<i64> {
        batches
            .map(|b| b.expect("batch").images.int64_value(&[0]))
            .collect()
    }

    #[test]
    fn batches_come_in_order_with_any_number_of_workers() {
        for workers in [0, 1, 3, 8] {
            let loading = Loading {
                workers,
                prefetch: 2,
            };
            let built = Arc::new(AtomicUsize::new(0));
            let got = values(Batches::new(20, numbered(built, None), loading));
            assert_eq!(got, (0..20).collect::<Vec<_>>(), "{workers} workers");
        }
    }

    #[test]
    fn workers_build_at_most_prefetch_batches_ahead_of_the_taker() {
        let built = Arc::new(AtomicUsize::new(0));
        let loading = Loading {
            workers: 4,
            prefetch: 3,
        };
        let mut batches = Batches::new(50, numbered(Arc::clone(&built), None), loading);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(built.load(Ordering::SeqCst), 3);
        let _ = batches.next();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(built.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_failed_batch_is_an_error_in_its_place_and_dropping_stops_the_workers() {
        let built = Arc::new(AtomicUsize::new(0));
        let loading = Loading {
            workers: 2,
            prefetch: 2,
        };
        let mut batches = Batches::new(100, numbered(Arc::clone(&built), Some(2)), loading);
        assert!(batches.next().expect("0").is_ok());
        assert!(batches.next().expect("1").is_ok());
        let error = batches.next().expect("2").expect_err("batch 2 fails");
        assert!(error.to_string().contains("batch-2.png"), "{error}");
        drop(batches);
        assert!(built.load(Ordering::SeqCst) <= 6);
    }
}
