//! Embeds an rpath to libtorch so `lossbench` and its test executables run without
//! `LD_LIBRARY_PATH`, and records libtorch's version. torch-sys (a direct dependency,
//! `links = "tch"`) exports the folder it linked against as `DEP_TCH_LIBTORCH_LIB`.
//!
//! The Makefile shares one cargo target folder between every clone (so that the
//! dependencies build once) and sets `LOSSBENCH_CLONE` to the clone's folder. Cargo names
//! lossbench's own artifacts the same in every clone and judges them fresh by file times, so
//! a clone whose files are older than another clone's build would run that build. Rerunning
//! this script when `LOSSBENCH_CLONE` changes makes cargo rebuild lossbench itself (and only
//! it) whenever the clone that builds changes.
//!
//! It compiles `csrc/autocast.cpp` (torch.autocast's enter and exit for any device type,
//! which tch does not wrap) against the same libtorch's headers.
//!
//! It also records the commit the binary is built from (`git rev-parse HEAD` in the clone,
//! or `LOSSBENCH_COMMIT` where there is no git, e.g. a source tarball) and whether the files
//! the binary is made of (`src/`, `build.rs`, `Cargo.toml`, `Cargo.lock`) differ from it:
//! what every run's status, the frames and the report name as the code that made them.

use std::path::Path;
use std::process::Command;

/// The files and folders the binary is built from: a change to one makes the tree dirty.
const SOURCES: [&str; 5] = ["src", "csrc", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LOSSBENCH_CLONE");
    let clone = std::env::var("LOSSBENCH_CLONE")
        .or_else(|_| std::env::var("CARGO_MANIFEST_DIR"))
        .unwrap_or_default();
    println!("cargo:rustc-env=LOSSBENCH_CLONE={clone}");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").ok();
    if let Some(lib) = &lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    let version = lib
        .as_deref()
        .and_then(|l| libtorch_version(Path::new(l)))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LOSSBENCH_LIBTORCH_VERSION={version}");
    libtorch_cuda(lib.as_deref().map(Path::new));
    autocast(lib.as_deref().map(Path::new));
    let commit = commit();
    println!("cargo:rustc-env=LOSSBENCH_COMMIT={commit}");
}

/// `<40 hex digits>`, with `-dirty` when the sources differ from that commit; the value of
/// `LOSSBENCH_COMMIT` when it is set; `unknown` without git or outside a repository.
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=LOSSBENCH_COMMIT");
    if let Ok(commit) = std::env::var("LOSSBENCH_COMMIT") {
        return commit;
    }
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return "unknown".into();
    };
    // Rerun when HEAD moves (a commit, a checkout) or the index changes (an add).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for name in ["HEAD", "index", "packed-refs"] {
            println!("cargo:rerun-if-changed={dir}/{name}");
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{branch}");
        }
    }
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(SOURCES);
    match git(&status) {
        Some(changes) if changes.is_empty() => head,
        Some(_) => format!("{head}-dirty"),
        None => format!("{head}-unknown-state"),
    }
}

/// The trimmed output of `git ARGS` in this folder; `None` when git fails or is missing.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The version beside a libtorch `lib` folder: PyTorch's `version.py` (a PyPI install) or
/// libtorch's `build-version` (an unpacked libtorch).
fn libtorch_version(lib: &Path) -> Option<String> {
    let parent = lib.parent()?;
    if let Ok(text) = std::fs::read_to_string(parent.join("version.py")) {
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    std::fs::read_to_string(parent.join("build-version"))
        .ok()
        .map(|v| v.trim().to_string())
}

/// Compiles `csrc/autocast.cpp` against the headers beside libtorch's `lib` folder (its
/// `include`, in a PyPI install and in an unpacked libtorch alike), with torch-sys's flags.
fn autocast(lib: Option<&Path>) {
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    let Some(include) = lib.and_then(Path::parent).map(|p| p.join("include")) else {
        panic!("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    };
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/autocast.cpp")
        .compile("lossbench_autocast");
}

/// Records the CUDA version the libtorch was built with, as `LOSSBENCH_LIBTORCH_CUDA`: the
/// `cuda` field of PyTorch's `version.py` beside the `lib` folder (`13.0`), or `none` when
/// it is `None`, missing, or there is no `version.py` (an unpacked libtorch: libtorch itself
/// answers once its CUDA backend is loaded).
fn libtorch_cuda(lib: Option<&Path>) {
    let cuda = lib
        .and_then(Path::parent)
        .and_then(|p| std::fs::read_to_string(p.join("version.py")).ok())
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("cuda"))?;
            Some(line.split(['\'', '"']).nth(1)?.to_string())
        })
        .unwrap_or_else(|| "none".into());
    println!("cargo:rustc-env=LOSSBENCH_LIBTORCH_CUDA={cuda}");
}
