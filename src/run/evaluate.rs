//! Evaluates a network on a split: its argmax predictions, its validation loss and metrics,
//! and where its loss's gradient at the logits falls among the classes.

use anyhow::Context;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::data::Split;
use crate::losses::Criterion;
use crate::metrics::{Accumulator, Metrics};
use crate::model::UNet;

/// The argmax prediction `[k, H, W]` (int64, on the CPU) of `net` for the first `k` images
/// of `split`.
pub fn predict(net: &UNet, split: &Split, k: i64, device: Device) -> Tensor {
    let _guard = tch::no_grad_guard();
    let xs = split
        .images
        .narrow(0, 0, k.min(split.len()))
        .to_device(device);
    net.forward_t(&xs, false)
        .argmax(1, false)
        .to_device(Device::Cpu)
}

/// What [`evaluate`] measured on a split.
pub struct Evaluation {
    /// The loss, mean over images.
    pub loss: f64,
    pub metrics: Metrics,
    /// The logits of the first batch, for [`gradient_share`].
    pub first_logits: Tensor,
}

/// The validation loss and metrics of `net` on `split`, in batches of `train.batch_size`.
pub fn evaluate(
    net: &UNet,
    criterion: &Criterion,
    batch: i64,
    split: &Split,
    classes: i64,
    ignore: Option<i64>,
    device: Device,
) -> anyhow::Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let mut acc = Accumulator::new(classes, ignore, device);
    let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
    let mut first_logits = None;
    let n = split.len();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let xs = split.images.narrow(0, start, len).to_device(device);
        let ys = split.masks.narrow(0, start, len).to_device(device);
        let logits = net.forward_t(&xs, false);
        if first_logits.is_none() {
            first_logits = Some(logits.shallow_clone());
        }
        loss_sum += criterion
            .compute(&logits, &ys, ignore)
            .context("the loss failed on a validation batch")?
            .to_kind(Kind::Double)
            * len as f64;
        acc.update(&logits, &ys);
        start += len;
    }
    let metrics = acc.finish().context("cannot read the validation metrics")?;
    Ok(Evaluation {
        loss: loss_sum.double_value(&[]) / n as f64,
        metrics,
        first_logits: first_logits.context("the validation split has no image")?,
    })
}

/// Per class, the share of the loss's gradient magnitude at the logits that falls on that
/// class's pixels: `Σ_{pixels of c} Σ_channels |∂loss/∂z|`, normalised to sum to 1, from
/// `first_logits`, the logits of the network in evaluation mode on the first batch of
/// `split` (as [`evaluate`] returns them, so that no second forward pass is needed).
pub fn gradient_share(
    criterion: &Criterion,
    first_logits: &Tensor,
    split: &Split,
    classes: i64,
    ignore: Option<i64>,
) -> anyhow::Result<Vec<f64>> {
    let len = first_logits.size()[0];
    let ys = split
        .masks
        .narrow(0, 0, len)
        .to_device(first_logits.device());
    let logits = first_logits.detach().set_requires_grad(true);
    criterion
        .compute(&logits, &ys, ignore)
        .context("the loss failed on a validation batch")?
        .backward();
    let magnitude = logits
        .grad()
        .abs()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let (targets, weights) = match ignore {
        Some(i) => {
            let valid = ys.ne(i);
            (ys.masked_select(&valid), magnitude.masked_select(&valid))
        }
        None => (ys.reshape([-1]), magnitude.reshape([-1])),
    };
    let per_class = targets.bincount(Some(&weights), classes);
    let total = per_class.sum(Kind::Double);
    let share = (per_class / total).to_device(Device::Cpu);
    Vec::<f64>::try_from(&share).context("cannot read the gradient shares")
}
