//! Evaluates a network on a split: its argmax predictions, its loss and metrics (overlap,
//! calibration, boundaries), and where its loss's gradient at the logits falls among the
//! classes.

use anyhow::Context;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::data::Split;
use crate::losses::{Activation, Criterion};
use crate::metrics::{Accumulator, BoundaryAccumulator, CalibrationAccumulator, Metrics, Quality};
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
    /// Dice, calibration and boundary metrics.
    pub quality: Quality,
    /// The logits of the first batch, for [`gradient_share`].
    pub first_logits: Tensor,
}

/// How a split's quality metrics are taken: the activation whose probabilities are
/// calibrated, and the boundary tolerance in pixels.
#[derive(Clone, Copy, Debug)]
pub struct Scoring {
    pub activation: Activation,
    pub boundary_tolerance: f64,
}

/// The loss and metrics of `net` on `split` (any split), in batches of `train.batch_size`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    net: &UNet,
    criterion: &Criterion,
    batch: i64,
    split: &Split,
    classes: i64,
    ignore: Option<i64>,
    device: Device,
    scoring: Scoring,
) -> anyhow::Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let mut acc = Accumulator::new(classes, ignore, device);
    let mut calibration = CalibrationAccumulator::new(scoring.activation, ignore, device);
    let size = split.masks.size();
    let (h, w) = (size[1] as usize, size[2] as usize);
    let mut boundary =
        BoundaryAccumulator::new(classes as usize, ignore, scoring.boundary_tolerance);
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
        calibration.update(&logits, &ys);
        let cpu = |t: Tensor| Vec::<i64>::try_from(&t.to_device(Device::Cpu).reshape([-1]));
        let predicted = cpu(logits.argmax(1, false)).context("cannot read the predictions")?;
        let target = cpu(split.masks.narrow(0, start, len)).context("cannot read the masks")?;
        boundary.update(&predicted, &target, h, w);
        start += len;
    }
    let metrics = acc.finish().context("cannot read the validation metrics")?;
    let calibration = calibration
        .finish()
        .context("cannot read the calibration sums")?;
    Ok(Evaluation {
        loss: loss_sum.double_value(&[]) / n as f64,
        quality: Quality::new(&metrics, calibration, boundary.finish()),
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
