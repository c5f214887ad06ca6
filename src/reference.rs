//! Checks lossbench's losses and metrics against reference values in the format of
//! `tests/reference/losses.json` (written by `peer/reference.py`): logits and targets per
//! case, and for each loss (by name, and as `[loss]` tables with parameters) its value and
//! its gradient with respect to the logits, computed elsewhere (e.g. PyTorch autograd); or
//! a user's script loss against the values of one loss.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use tch::{Kind, Tensor};

use crate::config::LossConfig;
use crate::losses::{class_pixels, image_class_counts, Criterion, Loss};
use crate::metrics::{Accumulator, Metrics};
use crate::run::criterion;

/// A reference file.
#[derive(Debug, Deserialize)]
pub struct ReferenceFile {
    pub tolerance: Tolerances,
    pub cases: Vec<Case>,
}

/// Tolerances for checks in f64 and in f32.
#[derive(Debug, Deserialize)]
pub struct Tolerances {
    pub f64: Tolerance,
    pub f32: Tolerance,
}

/// A value passes when it is within `rel` relative or `abs` absolute of the reference.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

/// Logits, target and the expected value of every loss on them.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub shape: [i64; 4],
    pub ignore_index: Option<i64>,
    pub logits: Vec<f64>,
    pub target: Vec<i64>,
    pub losses: BTreeMap<String, Expected>,
    /// Losses with parameters, each a `[loss]` table of a sweep file (`{"name": "focal",
    /// "gamma": 1}`) with its value and gradient; class weights by frequency are derived
    /// from this case's target.
    #[serde(default)]
    pub variants: Vec<Variant>,
    pub metrics: Option<ExpectedMetrics>,
}

/// A loss with parameters and its expected value and gradient.
#[derive(Debug, Deserialize)]
pub struct Variant {
    pub loss: LossConfig,
    #[serde(flatten)]
    pub expected: Expected,
}

/// One loss's value and gradient (same layout as the logits).
#[derive(Debug, Deserialize)]
pub struct Expected {
    pub value: f64,
    pub grad: Vec<f64>,
}

/// The metrics of the argmax prediction.
#[derive(Debug, Deserialize)]
pub struct ExpectedMetrics {
    pub confusion: Vec<Vec<i64>>,
    pub iou_per_class: Vec<Option<f64>>,
    pub miou: f64,
    pub pixel_accuracy: f64,
    pub binary_accuracy_sigmoid: f64,
    pub binary_accuracy_softmax: f64,
}

/// The largest errors of one quantity against its reference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Errors {
    pub max_abs: f64,
    pub max_rel: f64,
    /// Elements outside both bounds.
    pub failures: usize,
}

impl Errors {
    fn add(&mut self, got: f64, want: f64, tol: Tolerance) {
        let abs = (got - want).abs();
        let rel = if want == 0.0 {
            if abs == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            abs / want.abs()
        };
        self.max_abs = self.max_abs.max(abs);
        if want != 0.0 {
            self.max_rel = self.max_rel.max(rel);
        }
        if !(abs <= tol.abs || rel <= tol.rel) {
            self.failures += 1;
        }
    }

    fn merge(&mut self, other: Errors) {
        self.max_abs = self.max_abs.max(other.max_abs);
        self.max_rel = self.max_rel.max(other.max_rel);
        self.failures += other.failures;
    }
}

/// Value and gradient errors of one loss over every case.
#[derive(Clone, Debug, Default)]
pub struct LossReport {
    pub cases: usize,
    pub value: Errors,
    pub grad: Errors,
}

/// The precision a check runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F64,
    F32,
}

impl ReferenceFile {
    /// Reads a reference file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read reference file {}", path.display()))?;
        let file: ReferenceFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a reference file of the documented format",
                path.display()
            )
        })?;
        for (i, case) in file.cases.iter().enumerate() {
            let n: i64 = case.shape.iter().product();
            let [b, _, h, w] = case.shape;
            if case.logits.len() as i64 != n || case.target.len() as i64 != b * h * w {
                anyhow::bail!(
                    "{}: case {i}: logits or target length does not match shape {:?}",
                    path.display(),
                    case.shape
                );
            }
        }
        Ok(file)
    }

    /// The tolerance for `precision`.
    pub fn tolerance(&self, precision: Precision) -> Tolerance {
        match precision {
            Precision::F64 => self.tolerance.f64,
            Precision::F32 => self.tolerance.f32,
        }
    }

    /// Evaluates every loss of every case in `precision` and collects the errors per loss:
    /// by name for the built-in losses, by [`LossConfig::describe`] (every parameter shown)
    /// for the variants. A name lossbench does not know is an error.
    pub fn check_losses(
        &self,
        precision: Precision,
    ) -> anyhow::Result<BTreeMap<String, LossReport>> {
        let mut reports: BTreeMap<String, LossReport> = BTreeMap::new();
        for (i, case) in self.cases.iter().enumerate() {
            for (name, expected) in &case.losses {
                let loss: Loss = name.parse().with_context(|| format!("case {i}"))?;
                let config = LossConfig {
                    name: loss,
                    ..LossConfig::default()
                };
                let criterion = case.criterion(&config)?;
                let report = reports.entry(name.clone()).or_default();
                report.add(case.check(
                    &criterion,
                    expected,
                    self.tolerance(precision),
                    precision,
                )?);
            }
            for variant in &case.variants {
                variant
                    .loss
                    .validate()
                    .map_err(|e| anyhow::anyhow!("case {i}: `{}` {}", e.key, e.message))?;
                let criterion = case.criterion(&variant.loss)?;
                let shown = variant.loss.set_parameters().into_iter().collect();
                let report = reports.entry(variant.loss.describe(&shown)).or_default();
                report.add(case.check(
                    &criterion,
                    &variant.expected,
                    self.tolerance(precision),
                    precision,
                )?);
            }
        }
        Ok(reports)
    }

    /// Checks `criterion` (a script loss) against every case's values of loss `name`.
    pub fn check_criterion(
        &self,
        criterion: &Criterion,
        name: &str,
        precision: Precision,
    ) -> anyhow::Result<LossReport> {
        let mut report = LossReport::default();
        for case in &self.cases {
            if let Some(expected) = case.losses.get(name) {
                report.add(case.check(
                    criterion,
                    expected,
                    self.tolerance(precision),
                    precision,
                )?);
            }
        }
        if report.cases == 0 {
            anyhow::bail!("the reference file has no values of loss `{name}`");
        }
        Ok(report)
    }
}

impl LossReport {
    /// Adds one case's errors.
    fn add(&mut self, (value, grad): (Errors, Errors)) {
        self.cases += 1;
        self.value.merge(value);
        self.grad.merge(grad);
    }
}

impl Case {
    fn target(&self) -> Tensor {
        Tensor::from_slice(&self.target).reshape([self.shape[0], self.shape[2], self.shape[3]])
    }

    /// The criterion of `loss` on this case, class weights by frequency from its target.
    fn criterion(&self, loss: &LossConfig) -> anyhow::Result<Criterion> {
        let classes = self.shape[1];
        criterion::for_loss(loss, classes, tch::Device::Cpu, || {
            class_pixels(&image_class_counts(
                &self.target(),
                classes,
                self.ignore_index,
            ))
        })
    }

    /// The value and gradient errors of `criterion` on this case in `precision`.
    fn check(
        &self,
        criterion: &Criterion,
        expected: &Expected,
        tol: Tolerance,
        precision: Precision,
    ) -> anyhow::Result<(Errors, Errors)> {
        let kind = match precision {
            Precision::F64 => Kind::Double,
            Precision::F32 => Kind::Float,
        };
        let logits = Tensor::from_slice(&self.logits)
            .reshape(self.shape)
            .to_kind(kind)
            .set_requires_grad(true);
        let value = criterion.compute(&logits, &self.target(), self.ignore_index)?;
        value.backward();
        let grad = Vec::<f64>::try_from(logits.grad().to_kind(Kind::Double).reshape([-1]))
            .context("cannot read the gradient")?;
        let mut value_errors = Errors::default();
        value_errors.add(
            value.to_kind(Kind::Double).double_value(&[]),
            expected.value,
            tol,
        );
        let mut grad_errors = Errors::default();
        for (g, e) in grad.iter().zip(&expected.grad) {
            grad_errors.add(*g, *e, tol);
        }
        if grad.len() != expected.grad.len() {
            grad_errors.failures += 1;
        }
        Ok((value_errors, grad_errors))
    }

    /// lossbench's metrics of this case's argmax prediction.
    pub fn metrics(&self) -> anyhow::Result<Metrics> {
        let logits = Tensor::from_slice(&self.logits)
            .reshape(self.shape)
            .to_kind(Kind::Double);
        let target =
            Tensor::from_slice(&self.target).reshape([self.shape[0], self.shape[2], self.shape[3]]);
        let mut acc = Accumulator::new(self.shape[1], self.ignore_index, tch::Device::Cpu);
        acc.update(&logits, &target);
        Ok(acc.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The project's own reference values, written by `peer/reference.py` from the venv's
    /// PyTorch.
    fn project_reference() -> ReferenceFile {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/losses.json");
        ReferenceFile::read(&path).expect("tests/reference/losses.json (make reference writes it)")
    }

    /// The independent reference values beside this checkout (`../shared/reference`), when
    /// there are any.
    fn shared_reference() -> Option<ReferenceFile> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/losses.json");
        if !path.exists() {
            println!(
                "skipped: no independent reference values at {} (the shared folder beside the checkout)",
                path.display()
            );
            return None;
        }
        Some(ReferenceFile::read(&path).expect("the shared reference file"))
    }

    /// Every loss of the file within tolerance, and among them every loss of `names`.
    fn assert_all_within(file: &ReferenceFile, precision: Precision, names: &[&str]) {
        let reports = file.check_losses(precision).expect("losses evaluate");
        for name in names {
            assert!(reports.contains_key(*name), "{name} has reference values");
        }
        for (loss, r) in &reports {
            assert!(r.cases > 0, "{loss}");
            assert_eq!(r.value.failures, 0, "{loss} value ({precision:?}): {r:?}");
            assert_eq!(r.grad.failures, 0, "{loss} gradient ({precision:?}): {r:?}");
        }
    }

    fn built_in_names() -> Vec<&'static str> {
        Loss::BUILT_IN.iter().map(|l| l.name()).collect()
    }

    fn assert_metrics_match(file: &ReferenceFile) {
        for (i, case) in file.cases.iter().enumerate() {
            let want = case.metrics.as_ref().expect("case has metrics");
            let got = case.metrics().expect("metrics");
            assert_eq!(got.confusion, want.confusion, "case {i}");
            assert_eq!(
                got.iou_per_class.len(),
                want.iou_per_class.len(),
                "case {i}"
            );
            for (g, w) in got.iou_per_class.iter().zip(&want.iou_per_class) {
                match (g, w) {
                    (Some(g), Some(w)) => {
                        assert!((g - w).abs() <= 1e-9, "case {i}: iou {g} vs {w}")
                    }
                    (None, None) => {}
                    _ => panic!("case {i}: iou {g:?} vs {w:?}"),
                }
            }
            for (name, g, w) in [
                ("miou", got.miou, want.miou),
                ("pixel_accuracy", got.pixel_accuracy, want.pixel_accuracy),
                (
                    "binary_accuracy_sigmoid",
                    got.binary_accuracy_sigmoid,
                    want.binary_accuracy_sigmoid,
                ),
                (
                    "binary_accuracy_softmax",
                    got.binary_accuracy_softmax,
                    want.binary_accuracy_softmax,
                ),
            ] {
                assert!((g - w).abs() <= 1e-9, "case {i}: {name} {g} vs {w}");
            }
        }
    }

    #[test]
    fn every_loss_matches_reference_values_and_gradients_in_f64() {
        assert_all_within(&project_reference(), Precision::F64, &built_in_names());
    }

    #[test]
    fn every_loss_matches_reference_values_and_gradients_in_f32() {
        assert_all_within(&project_reference(), Precision::F32, &built_in_names());
    }

    #[test]
    fn metrics_match_reference_exactly_or_within_1e_9() {
        assert_metrics_match(&project_reference());
    }

    #[test]
    fn the_independent_shared_reference_values_agree_too() {
        let Some(file) = shared_reference() else {
            return;
        };
        assert_all_within(&file, Precision::F64, &[]);
        assert_all_within(&file, Precision::F32, &[]);
        assert_metrics_match(&file);
    }

    #[test]
    fn the_reference_cases_cover_ignored_pixels_absent_classes_and_two_classes() {
        let file = project_reference();
        assert!(file.cases.iter().any(|c| c.ignore_index.is_some()));
        assert!(file.cases.iter().any(|c| c.shape[1] == 2));
        let absent = |c: &Case| (0..c.shape[1]).any(|k| !c.target.contains(&k));
        assert!(file.cases.iter().any(absent));
    }

    #[test]
    fn a_wrong_reference_value_is_reported_as_a_failure() {
        let mut file = project_reference();
        if let Some(e) = file.cases[0].losses.get_mut("dice") {
            e.value += 1e-3;
            e.grad[0] += 1e-3;
        }
        let reports = file.check_losses(Precision::F64).expect("losses evaluate");
        let dice = &reports["dice"];
        assert_eq!(dice.value.failures, 1);
        assert_eq!(dice.grad.failures, 1);
    }
}
