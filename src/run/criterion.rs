//! The [`Criterion`] a run trains with, from its `[loss]` table and its data: a built-in
//! loss with its parameters (class weights derived from the training split's pixels when
//! asked), or the user's TorchScript module, loaded and checked before any run starts.

use std::path::Path;

use anyhow::{bail, Context};
use tch::{Device, Kind, Tensor};

use crate::config::loss::{script_hash, ClassWeights};
use crate::config::{Invalid, LossConfig, RunConfig};
use crate::data::Dataset;
use crate::losses::{class_pixels, Criterion, Loss, Params};

/// The criterion of `config` on `data` (`classes` classes), on `device`.
pub fn build(
    config: &RunConfig,
    data: &Dataset,
    classes: i64,
    device: Device,
) -> anyhow::Result<Criterion> {
    for_loss(&config.loss, classes, device, || {
        class_pixels(&data.train_class_counts)
    })
}

/// The criterion of `loss` for `classes` classes on `device`; `pixels` gives the training
/// pixel counts ([`class_pixels`]) when class weights are derived from them.
pub fn for_loss(
    loss: &LossConfig,
    classes: i64,
    device: Device,
    pixels: impl FnOnce() -> (Vec<f64>, Vec<f64>),
) -> anyhow::Result<Criterion> {
    if loss.name == Loss::Script {
        return Ok(Criterion::script(load_script(loss, device)?));
    }
    Ok(Criterion::built_in(
        loss.name,
        params(loss, classes, pixels)?,
    ))
}

/// [`LossConfig::params`], its error as the message a user reads.
fn params(
    loss: &LossConfig,
    classes: i64,
    pixels: impl FnOnce() -> (Vec<f64>, Vec<f64>),
) -> anyhow::Result<Params> {
    loss.params(classes as usize, pixels)
        .map_err(|Invalid { key, message }| anyhow::anyhow!("`{key}` {message}"))
}

/// `loss` with class weights derived from `data`'s training split written out as their
/// list, as the run records it; and whether they were derived. A list of the wrong length
/// and a script loss that fails [`check_script`] are errors here, before the run starts.
pub fn resolve(loss: &LossConfig, data: &Dataset) -> anyhow::Result<(LossConfig, bool)> {
    let classes = data.num_classes();
    if loss.name == Loss::Script {
        check_script(loss, classes, data.ignore_index)?;
        return Ok((loss.clone(), false));
    }
    let params = params(loss, classes, || class_pixels(&data.train_class_counts))?;
    let mut resolved = loss.clone();
    let derived = matches!(loss.class_weights, Some(ClassWeights::Frequency(_)));
    if derived {
        resolved.class_weights = params.class_weights.map(ClassWeights::Given);
    }
    Ok((resolved, derived))
}

/// Loads a script loss's module on `device`, after checking that its file is the one the
/// run was planned with.
fn load_script(loss: &LossConfig, device: Device) -> anyhow::Result<tch::CModule> {
    let path = loss
        .path
        .as_deref()
        .context("`loss.path` is missing: a script loss needs its TorchScript file")?;
    let hash = script_hash(path).map_err(anyhow::Error::msg)?;
    if let Some(planned) = &loss.script_hash {
        if *planned != hash {
            bail!(
                "loss.path {} changed since this run was planned (its hash was {planned}, \
                 it is {hash} now); plan the sweep again, which gives the new file new runs",
                path.display()
            );
        }
    }
    tch::CModule::load_on_device(path, device).map_err(|e| {
        anyhow::anyhow!(
            "loss.path {} is not a TorchScript module ({}). Save one with \
             torch.jit.save(torch.jit.script(MyLoss()), \"{}\")",
            path.display(),
            first_sentence(&e.to_string()),
            path.display()
        )
    })
}

/// Checks a script loss as training will call it, on varied logits `[2, classes, 8, 8]`
/// and a target of every class with a few `ignore` pixels: it loads, takes
/// `(logits, target)`, returns a finite scalar, and passes a gradient to the logits.
pub fn check_script(loss: &LossConfig, classes: i64, ignore: Option<i64>) -> anyhow::Result<()> {
    let module = load_script(loss, Device::Cpu)?;
    let path = loss.path.as_deref().unwrap_or(Path::new("")).display();
    // Fixed, varied numbers (no draw from libtorch's process-wide generator).
    let logits = (Tensor::arange(2 * classes * 64, (Kind::Float, Device::Cpu)).sin() * 3.0)
        .reshape([2, classes, 8, 8])
        .set_requires_grad(true);
    let target = Tensor::arange(2 * 64, (Kind::Int64, Device::Cpu)).remainder(classes);
    let target = match ignore {
        Some(ignore) => target.index_fill(0, &Tensor::from_slice(&[0i64, 9, 77]), ignore),
        None => target,
    }
    .reshape([2, 8, 8]);
    let value = module.forward_ts(&[&logits, &target]).map_err(|e| {
        anyhow::anyhow!(
            "loss.path {path}: its forward does not take (logits [N, C, H, W] float32, \
             target [N, H, W] int64): {}. Write forward(self, logits: torch.Tensor, target: \
             torch.Tensor) -> torch.Tensor",
            first_line(&e.to_string())
        )
    })?;
    if value.dim() != 0 {
        bail!(
            "loss.path {path}: returned a tensor of shape {:?}, not a scalar; reduce it \
             (e.g. .mean()) before returning",
            value.size()
        );
    }
    let number = value.to_kind(Kind::Double).double_value(&[]);
    if !number.is_finite() {
        let ignored = ignore.map_or(String::new(), |i| {
            format!(", and how it treats pixels of the ignore index {i}")
        });
        bail!(
            "loss.path {path}: returned {number} on varied logits; check its logs and \
             divisions{ignored}"
        );
    }
    if !value.requires_grad() {
        bail!(
            "loss.path {path}: no gradient reaches the logits (its value does not require \
             one); do not detach them or compute under torch.no_grad()"
        );
    }
    value.backward();
    let grad = logits.grad();
    if !grad.defined() || grad.abs().sum(Kind::Double).double_value(&[]) == 0.0 {
        bail!("loss.path {path}: the gradient at the logits is zero; the loss must depend on them");
    }
    Ok(())
}

/// The first line of a libtorch message (the rest is its C++ backtrace), without tch's
/// prefix.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message).trim();
    line.strip_prefix("Internal torch error: ").unwrap_or(line)
}

/// The first sentence of [`first_line`].
fn first_sentence(message: &str) -> &str {
    let line = first_line(message);
    line.split_once(". ").map_or(line, |(first, _)| first)
}
