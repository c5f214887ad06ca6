//! Per-epoch checkpoints: after each finished epoch a run writes, atomically, everything it
//! needs to go on as if it had never stopped: every variable of the network (weights and
//! batch-norm statistics), the optimizer's state (moments or momentum buffers, the step
//! count), the epoch reached and the position of the run's own shuffling RNG. Only the
//! latest is kept (`checkpoint.safetensors` in the run's folder).
//!
//! libtorch's generator is not saved: it is drawn from only while the network is
//! initialised (no dropout, no random augmentation inside libtorch), and a resumed run
//! restores the initialised weights from the checkpoint, so nothing draws from it again.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Tensor};

use super::optim::Optim;

/// The checkpoint's file name in a run's folder.
pub const FILE: &str = "checkpoint.safetensors";

/// A checkpoint read from disk.
pub struct Checkpoint {
    /// The last finished epoch (1-based).
    pub epoch: usize,
    /// The word position of the run's shuffling RNG after that epoch.
    pub rng_word_pos: u128,
    tensors: BTreeMap<String, Tensor>,
}

/// Writes the checkpoint of `epoch` to `path` atomically (a temporary sibling, renamed).
pub fn write(
    path: &Path,
    vars: &nn::VarStore,
    optim: &Optim,
    epoch: usize,
    rng: &ChaCha8Rng,
) -> anyhow::Result<()> {
    let word_pos = rng.get_word_pos();
    let mut named: Vec<(String, Tensor)> = vars
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("model.{name}"), t.detach().contiguous()))
        .collect();
    named.extend(
        optim
            .state()
            .into_iter()
            .map(|(name, t)| (name, t.contiguous())),
    );
    named.push(("state.epoch".into(), Tensor::from(epoch as i64)));
    named.push((
        "state.rng".into(),
        Tensor::from_slice(&[(word_pos >> 64) as i64, word_pos as u64 as i64]),
    ));
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
    let rng = tensors
        .get("state.rng")
        .filter(|t| t.size() == [2])
        .map(|t| (t.int64_value(&[0]), t.int64_value(&[1])))
        .with_context(|| format!("{} has no state.rng", path.display()))?;
    if epoch < 1 {
        bail!("{} is at epoch {epoch}", path.display());
    }
    Ok(Checkpoint {
        epoch: epoch as usize,
        rng_word_pos: ((rng.0 as u64 as u128) << 64) | rng.1 as u64 as u128,
        tensors,
    })
}

impl Checkpoint {
    /// Copies the saved variables into `vars` and the saved state into `optim`; an error
    /// names the first variable that is missing or of another shape.
    pub fn restore(&self, vars: &nn::VarStore, optim: &mut Optim) -> anyhow::Result<()> {
        tch::no_grad(|| -> anyhow::Result<()> {
            for (name, mut var) in vars.variables() {
                let key = format!("model.{name}");
                let saved = self
                    .tensors
                    .get(&key)
                    .with_context(|| format!("the checkpoint has no {key}"))?;
                if saved.size() != var.size() {
                    bail!(
                        "{key} has shape {:?} in the checkpoint, the network {:?}",
                        saved.size(),
                        var.size()
                    );
                }
                var.copy_(saved);
            }
            Ok(())
        })?;
        optim.restore(&self.tensors)
    }
}
