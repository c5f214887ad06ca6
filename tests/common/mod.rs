//! What the binary's tests share: a tiny synthetic sweep file and the text a run printed.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A tiny sweep file `dir/<name>.toml` (16×16 synthetic images, a depth-2 U-Net) whose
/// results and plots go under `dir`, with `extra` lines added to `[base]`.
pub fn sweep_with(dir: &Path, name: &str, epochs: usize, extra: &str, grid: &str) -> PathBuf {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nresults = \"{results}\"\nplots = \"{plots}\"\n\
         [base]\ndata.height = 16\ndata.width = 16\ndata.train_images = 32\ndata.val_images = 8\n\
         model.depth = 2\nmodel.base_channels = 4\ntrain.epochs = {epochs}\ntrain.batch_size = 8\n\
         {extra}\n[grid]\n{grid}\n",
        results = dir.join("results").display(),
        plots = dir.join("plots").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write sweep");
    path
}

/// [`sweep_with`] with nothing added.
#[allow(dead_code)] // not every test binary uses both
pub fn sweep(dir: &Path, name: &str, epochs: usize, grid: &str) -> PathBuf {
    sweep_with(dir, name, epochs, "", grid)
}

/// Standard output then standard error.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
