//! How the process ends: its exit statuses, and the signals (Ctrl-C, SIGTERM, SIGHUP, and
//! SIGPIPE when a reader such as `head` closes the output early) that stop it.
//!
//! 0 success; [`FAILED`] the work ran but something failed (a run failed or diverged, a rerun
//! differed, a loss disagreed with its reference); [`USAGE`] the command could not start
//! (bad arguments, bad configuration, unreadable files); 128 + the signal's number when a
//! signal stopped it ([`INTERRUPTED`], 130, for Ctrl-C; 143 for SIGTERM).
//!
//! A signal ends the process at once, unless a [`Finishing`] guard is alive: training holds
//! one, and there the first signal only raises [`stop_flag`], which training checks between
//! steps, so the runs in progress keep their last checkpoint and the command writes what it
//! promised before it returns [`interrupted`]. A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Exit status when the work ran and something in it failed.
pub const FAILED: u8 = 1;
/// Exit status when the command could not start.
pub const USAGE: u8 = 2;
/// Exit status when Ctrl-C (SIGINT) stopped the work.
pub const INTERRUPTED: u8 = 130;

/// Raised by the first signal while work is finishing its step.
static STOP: AtomicBool = AtomicBool::new(false);
/// The last signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// How many [`Finishing`] guards are alive.
static FINISHING: AtomicUsize = AtomicUsize::new(0);

/// The handler: only async-signal-safe work (atomics and `_exit`).
extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
    if FINISHING.load(Ordering::SeqCst) > 0 && !STOP.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: `_exit` is async-signal-safe; nothing is left to flush that a signal-stopped
    // command promised to keep (files are written atomically, by rename).
    unsafe { libc::_exit(128 + signal) }
}

/// Installs the handler for SIGINT, SIGTERM, SIGHUP and SIGPIPE (which Rust's runtime
/// ignores, so that a write to a closed pipe would fail and the print panic).
pub fn handle_signals() -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: a zeroed `sigaction` is a valid value; the handler is an `extern "C" fn`
        // of the signature `sa_sigaction` expects without SA_SIGINFO.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// While alive, the first signal raises [`stop_flag`] instead of ending the process.
pub struct Finishing(());

/// Work that finishes its step on a signal (training) starts here.
pub fn finishing() -> Finishing {
    FINISHING.fetch_add(1, Ordering::SeqCst);
    Finishing(())
}

impl Drop for Finishing {
    fn drop(&mut self) {
        FINISHING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The flag the first signal raises while work is [`Finishing`].
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// Whether a signal stopped the work.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The exit status of work a signal stopped: 128 + its number (130 before any signal).
pub fn interrupted() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        s @ 1..=127 => 128 + s as u8,
        _ => INTERRUPTED,
    }
}
