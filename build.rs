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

use std::path::Path;

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
