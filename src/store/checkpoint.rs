//! The checkpoint file (`checkpoint.safetensors`): named tensors, the epoch, the RNG position.
//!
//! A run writes it atomically after each finished epoch, so that it can go on as if it had
//! never stopped; only the latest is kept, in the run's folder. The store knows the file,
//! not the training: the caller names the tensors (the network's variables and the
//! optimizer's state) and puts them back; the store adds `state.epoch` and, for a run that
//! shuffles with its own ChaCha generator (`train.order = "chacha"`, and every run written
//! before PyTorch's order existed), `state.rng` (the RNG's word position, high 64 bits
//! first). A run in PyTorch's order has no such state: it draws every epoch's order again
//! from its seed. So a checkpoint with `state.rng` is one of a ChaCha run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use tch::Tensor;

/// The checkpoint's file name in a run's folder.
pub const FILE: &str = "checkpoint.safetensors";

/// A checkpoint read from disk.
pub struct Checkpoint {
    /// The last finished epoch (1-based).
    pub epoch: usize,
    /// The word position of the run's ChaCha shuffling RNG after that epoch; `None` for a
    /// run in PyTorch's order.
    pub rng_word_pos: Option<u128>,
    /// Every tensor of the file by name, `state.epoch` and `state.rng` included.
    pub tensors: BTreeMap<String, Tensor>,
}

/// Writes the checkpoint of `epoch` to `path` atomically (a temporary sibling, renamed):
/// the tensors `named` in their order, then the epoch and the ChaCha RNG's word position
/// `rng_word_pos`, if the run has one.
pub fn write(
    path: &Path,
    mut named: Vec<(String, Tensor)>,
    epoch: usize,
    rng_word_pos: Option<u128>,
) -> anyhow::Result<()> {
    named.push(("state.epoch".into(), Tensor::from(epoch as i64)));
    if let Some(pos) = rng_word_pos {
        named.push((
            "state.rng".into(),
            Tensor::from_slice(&[(pos >> 64) as i64, pos as u64 as i64]),
        ));
    }
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&named, &tmp)
        .map_err(anyhow::Error::from)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(Into::into))
        .with_context(|| format!("cannot write the checkpoint {}", path.display()))
}

/// Reads the checkpoint at `path`; an error says what is wrong with it.
pub fn read(path: &Path) -> anyhow::Result<Checkpoint> {
    let tensors: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read the checkpoint {}", path.display()))?
        .into_iter()
        .collect();
    let epoch = tensors
        .get("state.epoch")
        .map(|t| t.int64_value(&[]))
        .with_context(|| format!("{} has no state.epoch", path.display()))?;
    let rng_word_pos = match tensors.get("state.rng") {
        None => None,
        Some(t) if t.size() == [2] => {
            let (high, low) = (t.int64_value(&[0]), t.int64_value(&[1]));
            Some(((high as u64 as u128) << 64) | low as u64 as u128)
        }
        Some(t) => bail!(
            "{}: state.rng has shape {:?}, not [2]",
            path.display(),
            t.size()
        ),
    };
    if epoch < 1 {
        bail!("{} is at epoch {epoch}", path.display());
    }
    Ok(Checkpoint {
        epoch: epoch as usize,
        rng_word_pos,
        tensors,
    })
}
