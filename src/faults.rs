//! Crash and write-failure points for the fault tests, driven by environment variables so
//! that the real binary can be killed or starved at an exact place:
//!
//! - `LOSSBENCH_KILL_AT=<point>[#<n>]` sends the process SIGKILL (no cleanup, no unwinding)
//!   the `n`-th time (default the first) it reaches `<point>`: `step` (inside an epoch),
//!   `epoch` (an epoch computed, its rows not yet written), `weights` (a run trained and its
//!   weights saved, not yet marked done), `run-done` (between runs), or `write:<file name>`
//!   (a file's temporary copy written, not yet renamed into place).
//! - `LOSSBENCH_FAIL_WRITES=enospc|erofs|eio` makes every atomic write fail with that error,
//!   for machines where a full or read-only file system cannot be mounted.
//!
//! Unset, each point costs one check of a value read once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The point to die at and at which of its hits, from `LOSSBENCH_KILL_AT`.
fn target() -> Option<&'static (String, usize)> {
    static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let text = std::env::var("LOSSBENCH_KILL_AT").ok()?;
            Some(match text.split_once('#') {
                Some((point, n)) => (point.to_string(), n.parse().unwrap_or(1)),
                None => (text, 1),
            })
        })
        .as_ref()
}

/// Kills the process here if `LOSSBENCH_KILL_AT` names `point` and this is its `n`-th hit.
pub fn point(point: &str) {
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let Some((name, n)) = target() else { return };
    if name == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The error every atomic write fails with, from `LOSSBENCH_FAIL_WRITES`.
pub fn write_failure() -> Option<std::io::Error> {
    static ERRNO: OnceLock<Option<i32>> = OnceLock::new();
    let errno = ERRNO.get_or_init(
        || match std::env::var("LOSSBENCH_FAIL_WRITES").ok()?.as_str() {
            "enospc" => Some(libc::ENOSPC),
            "erofs" => Some(libc::EROFS),
            "eio" => Some(libc::EIO),
            _ => None,
        },
    );
    errno.map(std::io::Error::from_raw_os_error)
}
