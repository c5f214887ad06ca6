//! Helpers shared by the tests: tiny sweep files that train in seconds.

use std::path::{Path, PathBuf};

/// The `[base]` of a tiny sweep: 16×16 synthetic images, a depth-2 U-Net, 2 epochs.
pub const TINY_BASE: &str = r#"
[base]
data.height = 16
data.width = 16
data.train_images = 32
data.val_images = 8
model.depth = 2
model.base_channels = 4
optim.lr = 1e-2
train.epochs = 2
train.batch_size = 8
"#;

/// Writes `dir/<name>.toml`: a sweep named `name` whose results go under `dir/results`,
/// with the tiny base and `grid` (the lines of a `[grid]` table).
pub fn tiny_sweep(dir: &Path, name: &str, grid: &str) -> PathBuf {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nresults = \"{}\"\nplots = \"{}\"\n{TINY_BASE}\n[grid]\n{grid}\n",
        dir.join("results").display(),
        dir.join("plots").display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the sweep file");
    path
}
