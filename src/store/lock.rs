//! One `lossbench run` per sweep (or per shard) at a time: a lock file in the results folder
//! that names the process holding it. A lock whose process is gone (killed, machine
//! rebooted) is stale and taken over.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// What the lock file says about its holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub command: String,
}

impl Holder {
    fn this_process() -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// Whether the holder still runs. A holder on another host is taken to run.
    fn is_alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// The holder whose stale lock this one replaced.
    pub took_over: Option<Holder>,
}

impl Lock {
    /// Takes the lock file `path`, or fails naming the live process that holds it.
    pub fn acquire(path: &Path) -> anyhow::Result<Lock> {
        let me = Holder::this_process();
        let mut took_over = None;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    let written = serde_json::to_vec_pretty(&me)
                        .map_err(std::io::Error::from)
                        .and_then(|json| file.write_all(&json))
                        .and_then(|()| file.sync_all());
                    if let Err(e) = written {
                        let _ = std::fs::remove_file(path);
                        return Err(e)
                            .with_context(|| format!("cannot write the lock {}", path.display()));
                    }
                    return Ok(Lock {
                        path: path.to_path_buf(),
                        took_over,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = read_holder(path);
                    match holder {
                        Some(h) if h.is_alive() => bail!(
                            "{} is in use: lossbench process {} on {} has been running it since {} (`{}`); wait for it to finish or stop it, then run again",
                            path.parent().unwrap_or(path).display(),
                            h.pid,
                            h.host,
                            since(h.started),
                            h.command
                        ),
                        // Gone, or a file too damaged to name anyone: stale.
                        stale => {
                            std::fs::remove_file(path).with_context(|| {
                                format!("cannot remove the stale lock {}", path.display())
                            })?;
                            took_over = stale;
                        }
                    }
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot create the lock {}", path.display()))
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The processes that hold a lock of the results folder `root` now (`.lock`, or a shard's
/// `.lock-<shard>`), each with its lock's name; stale locks are left out.
pub fn holders(root: &Path) -> Vec<(String, Holder)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(String, Holder)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let holder = name
                .starts_with(".lock")
                .then(|| read_holder(&e.path()))??;
            holder.is_alive().then_some((name, holder))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn read_holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// How long ago `started` (Unix seconds) was, in words.
fn since(started: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(started, |d| d.as_secs());
    let s = now.saturating_sub(started);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".lock");
        let first = Lock::acquire(&path).expect("first lock");
        let err = Lock::acquire(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&format!("lossbench process {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("is in use"), "{err}");
        drop(first);
        assert!(!path.exists());
        Lock::acquire(&path).expect("free again");
    }

    #[test]
    fn a_lock_whose_process_is_gone_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".lock");
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        let dead = Holder {
            pid,
            host: hostname(),
            started: 0,
            command: "lossbench run old.toml".into(),
        };
        std::fs::write(&path, serde_json::to_vec(&dead).expect("json")).expect("write");
        let lock = Lock::acquire(&path).expect("stale lock taken over");
        assert_eq!(lock.took_over, Some(dead));
        std::fs::write(&path, b"garbage").expect("write");
        drop(lock);
        std::fs::write(&path, b"garbage").expect("write");
        assert!(Lock::acquire(&path).is_ok(), "an unreadable lock is stale");
    }
}
