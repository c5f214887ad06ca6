//! The memory a plan takes: a counting global allocator measures the heap that expanding
//! bench/plan.toml's grid at 100,000 runs (5 losses × 1000 seeds × 20 `train.epochs`
//! values, as `make bench` plans it) leaves live, the most it held on the way, and the
//! most that selecting the runs and printing each one's line (what `lossbench plan` does)
//! adds, each per run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use lossbench::config::sweep::Sweep;
use lossbench::plan;
use lossbench::run::scheduler::{self, Options};
use lossbench::store::SweepStore;

/// The system allocator, counting the bytes live and the most live since [`reset_peak`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` unchanged; the counters only observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak at what is live now.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// `[1, 2, ..., n]`.
fn list(n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

#[test]
fn a_plan_of_100k_runs_holds_about_24_bytes_a_run_and_planning_it_peaks_far_below_512() {
    let dir = tempfile::tempdir().expect("tempdir");
    let overrides = vec![
        format!("grid.seed={}", list(1000)),
        format!("grid.train.epochs={}", list(20)),
        format!("sweep.results={}", dir.path().join("results").display()),
        format!("sweep.plots={}", dir.path().join("plots").display()),
    ];
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/plan.toml");
    let sweep = Sweep::load(&file, &overrides).expect("bench/plan.toml loads");
    let start = std::time::Instant::now();
    let before = live();
    reset_peak();
    let plan = plan::expand(sweep).expect("the grid expands");
    let expanded = start.elapsed();
    let runs = plan.len();
    assert_eq!(runs, 100_000);
    let per_run = |bytes: usize| bytes.saturating_sub(before) as f64 / runs as f64;
    let (held, expanding) = (per_run(live()), per_run(peak()));

    // `lossbench plan`: the selection, then each run's id and label, one at a time.
    let store = SweepStore::new(plan.sweep.results_dir());
    reset_peak();
    let (selected, todo) = scheduler::select(&plan, &store, &Options::default()).expect("selects");
    let mut printed = 0;
    for run in &selected {
        printed += run.to_string().len();
    }
    let selecting = per_run(peak());
    assert_eq!((selected.len(), todo.len()), (runs, runs));
    assert!(printed > runs * 12);
    drop((selected, todo));
    eprintln!(
        "100,000 runs: {held:.1} bytes a run held, {expanding:.1} at most while expanding, \
         {selecting:.1} at most while selecting and printing; expanded in {expanded:.2?}"
    );
    // A run's record is its grid point, its id and its loss name's index: 24 bytes; the
    // sweep and the distinct loss names are held once.
    assert!(held <= 32.0, "{held:.1} bytes a run held");
    // On the way: the records, the ids seen (a hash set) and each run's loss number.
    assert!(
        expanding <= 128.0,
        "{expanding:.1} bytes a run while expanding"
    );
    // Then the selection and the runs to do (16 bytes a run each) and one line at a time;
    // `make bench`'s target for the whole `lossbench plan` is 512.
    assert!(
        selecting <= 128.0,
        "{selecting:.1} bytes a run while selecting"
    );
}
