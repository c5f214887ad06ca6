//! Evaluates a network on a split: its argmax predictions, its loss and metrics (overlap,
//! calibration, boundaries), and where its loss's gradient at the logits falls among the
//! classes.

use anyhow::Context;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::data::feed::Feed;
use crate::data::Split;
use crate::losses::{Activation, Criterion};
use crate::metrics::{Accumulator, BoundaryAccumulator, CalibrationAccumulator, Metrics, Quality};
use crate::model::UNet;

/// The argmax prediction `[k, H, W]` (int64, on the CPU) of `net` for the first `k` images
/// of `split`.
pub fn predict(
    net: &UNet,
    feed: &Feed,
    split: &Split,
    k: i64,
    device: Device,
) -> anyhow::Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let (xs, _) = feed.to_device(&feed.first(split, k)?, device);
    Ok(net
        .forward_t(&xs, false)
        .argmax(1, false)
        .to_device(Device::Cpu))
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
    /// The masks of the first batch (int64, on the device).
    pub first_masks: Tensor,
}

/// How a split's quality metrics are taken: the activation whose probabilities are
/// calibrated, and the boundary tolerance in pixels.
#[derive(Clone, Copy, Debug)]
pub struct Scoring {
    pub activation: Activation,
    pub boundary_tolerance: f64,
}

impl Scoring {
    /// How `config`'s runs are scored: its loss's activation and `train.boundary_tolerance`
    /// (or the default).
    pub fn of(config: &crate::config::RunConfig) -> Scoring {
        Scoring {
            activation: config.loss.name.activation(),
            boundary_tolerance: config
                .train
                .boundary_tolerance
                .unwrap_or(crate::metrics::DEFAULT_BOUNDARY_TOLERANCE),
        }
    }
}

/// The loss and metrics of `net` on `split` (any split), in `feed`'s batches.
pub fn evaluate(
    net: &UNet,
    criterion: &Criterion,
    feed: &Feed,
    split: &Split,
    classes: i64,
    device: Device,
    scoring: Scoring,
) -> anyhow::Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let ignore = feed.ignore();
    let mut acc = Accumulator::new(classes, ignore, device);
    let mut calibration = CalibrationAccumulator::new(scoring.activation, ignore, device);
    let mut boundary =
        BoundaryAccumulator::new(classes as usize, ignore, scoring.boundary_tolerance);
    let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
    let mut first = None;
    for batch in feed.in_order(split) {
        let batch = batch?;
        let (xs, ys) = feed.to_device(&batch, device);
        let size = ys.size();
        let (len, h, w) = (size[0], size[1] as usize, size[2] as usize);
        let logits = net.forward_t(&xs, false);
        loss_sum += criterion
            .compute(&logits, &ys, ignore)
            .context("the loss failed on a validation batch")?
            .to_kind(Kind::Double)
            * len as f64;
        acc.update(&logits, &ys);
        calibration.update(&logits, &ys);
        let cpu = |t: &Tensor| Vec::<i64>::try_from(&t.to_device(Device::Cpu).reshape([-1]));
        let predicted = cpu(&logits.argmax(1, false)).context("cannot read the predictions")?;
        let target = cpu(&ys).context("cannot read the masks")?;
        boundary.update(&predicted, &target, h, w);
        if first.is_none() {
            first = Some((logits, ys));
        }
    }
    let metrics = acc.finish().context("cannot read the validation metrics")?;
    let calibration = calibration
        .finish()
        .context("cannot read the calibration sums")?;
    let (first_logits, first_masks) = first.context("the validation split has no image")?;
    Ok(Evaluation {
        loss: loss_sum.double_value(&[]) / split.len() as f64,
        quality: Quality::new(&metrics, calibration, boundary.finish()),
        metrics,
        first_logits,
        first_masks,
    })
}

/// Per class, the share of the loss's gradient magnitude at the logits that falls on that
/// class's pixels: `Σ_{pixels of c} Σ_channels |∂loss/∂z|`, normalised to sum to 1, from
/// `first_logits`, the logits of the network in evaluation mode on the first batch of a
/// split, and `ys`, its masks (as [`evaluate`] returns them, so that no second forward pass
/// is needed).
pub fn gradient_share(
    criterion: &Criterion,
    first_logits: &Tensor,
    ys: &Tensor,
    classes: i64,
    ignore: Option<i64>,
) -> anyhow::Result<Vec<f64>> {
    let logits = first_logits.detach().set_requires_grad(true);
    criterion
        .compute(&logits, ys, ignore)
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
