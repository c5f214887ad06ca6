//! The `[loss]` table: a loss's name, its scale, its parameters (each one a key that a grid
//! can sweep), the file of a script loss; their validation; the [`Params`] a run trains
//! with; and the label that names the loss in frames and legends by what varies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Invalid;
use crate::losses::{frequency_weights, Frequency, Loss, Params};

/// The `[loss]` table. Every parameter is optional and left out of the canonical form when
/// unset, so that configurations written before it existed keep their run ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    pub name: Loss,
    /// Multiplies the training loss (not the recorded value): a control for the scale of
    /// BCE's gradients, which are averaged over C channels.
    pub scale: f64,
    /// Focal's focusing exponent γ (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Focal: the class balance (class 0 weighs `1 − α`, the others `α`; none by default).
    /// Tversky: the weight of false positives (default 0.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Tversky's weight of false negatives (default 0.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// Per-class weights of cce, bce and focal: a list, `"inverse_frequency"` or
    /// `"median_frequency"` (from the training split's pixels; a run records the list in
    /// its `config.toml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weights: Option<ClassWeights>,
    /// BCE's weight of positives: one number, or one per channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_weight: Option<PerClass>,
    /// Whether dice, iou, tversky, generalized_dice, lovasz and the Dice term of a compound
    /// count class 0 (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_background: Option<bool>,
    /// Added to the numerator and denominator of each soft-overlap score (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth: Option<f64>,
    /// A compound loss's term weights, e.g. `{ bce = 1.0, dice = 0.5 }` (each 1 by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<BTreeMap<String, f64>>,
    /// The TorchScript file of `name = "script"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The BLAKE3 hash of the file at `path`, written by the plan (so that editing the file
    /// makes new runs) and checked before the script trains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_hash: Option<String>,
    /// The loss's name in frames, reports and legends, instead of the one lossbench makes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `false`: the cross-entropy (of cce, bce, depth_softmax_cce, or a compound's term)
    /// is computed from probabilities clipped to `[epsilon, 1 − epsilon]`, as Keras'
    /// losses with `from_logits=False` do (no gradient where the clip binds); `true`
    /// (default): from the logits, as PyTorch's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_logits: Option<bool>,
    /// The clip of `from_logits = false` (Keras' `backend.epsilon()`, 1e-7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

/// Keras' `backend.epsilon()`: the default clip of probabilities.
pub const KERAS_EPSILON: f64 = 1e-7;

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            name: Loss::Cce,
            scale: 1.0,
            gamma: None,
            alpha: None,
            beta: None,
            class_weights: None,
            pos_weight: None,
            include_background: None,
            smooth: None,
            weights: None,
            path: None,
            script_hash: None,
            label: None,
            from_logits: None,
            epsilon: None,
        }
    }
}

/// The keys of the `[loss]` table that are parameters of some losses only, with those
/// losses. A run's loss is the name with these; `loss.scale` and `loss.label` are not.
pub const PARAMETERS: [(&str, &[Loss]); 12] = [
    ("gamma", &[Loss::Focal]),
    ("alpha", &[Loss::Focal, Loss::Tversky]),
    ("beta", &[Loss::Tversky]),
    (
        "class_weights",
        &[
            Loss::Cce,
            Loss::Bce,
            Loss::Focal,
            Loss::BceDice,
            Loss::CceDice,
        ],
    ),
    ("pos_weight", &[Loss::Bce, Loss::BceDice]),
    ("include_background", &OVERLAP_AND_LOVASZ),
    ("smooth", OVERLAP),
    ("weights", &[Loss::BceDice, Loss::CceDice]),
    ("path", &[Loss::Script]),
    ("script_hash", &[Loss::Script]),
    ("from_logits", &LOGITS_FORM),
    ("epsilon", &LOGITS_FORM),
];

/// The losses with a cross-entropy that Keras computes from probabilities
/// ([`Loss::has_logits_form`]).
const LOGITS_FORM: [Loss; 5] = [
    Loss::Cce,
    Loss::Bce,
    Loss::BceDice,
    Loss::CceDice,
    Loss::DepthSoftmaxCce,
];

/// The losses built on a soft-overlap score, then Lovász (which counts classes as they do).
const OVERLAP_AND_LOVASZ: [Loss; 7] = [
    Loss::Dice,
    Loss::Iou,
    Loss::Tversky,
    Loss::BceDice,
    Loss::CceDice,
    Loss::GeneralizedDice,
    Loss::Lovasz,
];

/// The losses built on a soft-overlap score: [`OVERLAP_AND_LOVASZ`] without its last.
const OVERLAP: &[Loss] = match OVERLAP_AND_LOVASZ.as_slice().split_last() {
    Some((_, overlap)) => overlap,
    None => &[],
};

/// The dotted keys of [`PARAMETERS`] (`loss.gamma`, ...): axes over them are part of what
/// a run's loss is, not a setting the losses are compared under.
pub fn parameter_keys() -> Vec<String> {
    PARAMETERS
        .iter()
        .map(|(key, _)| format!("loss.{key}"))
        .collect()
}

/// Class weights: given, or derived from the training split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Value", into = "toml::Value")]
pub enum ClassWeights {
    Given(Vec<f64>),
    Frequency(Frequency),
}

const CLASS_WEIGHTS_FORMS: &str =
    "expected a list of numbers, \"inverse_frequency\" or \"median_frequency\"";

impl TryFrom<toml::Value> for ClassWeights {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, Self::Error> {
        match value {
            toml::Value::String(s) => match s.as_str() {
                "inverse_frequency" => Ok(ClassWeights::Frequency(Frequency::Inverse)),
                "median_frequency" => Ok(ClassWeights::Frequency(Frequency::Median)),
                other => Err(format!("{CLASS_WEIGHTS_FORMS}, got \"{other}\"")),
            },
            toml::Value::Array(items) => numbers(&items)
                .map(ClassWeights::Given)
                .ok_or_else(|| format!("{CLASS_WEIGHTS_FORMS}; the list holds a non-number")),
            other => Err(format!("{CLASS_WEIGHTS_FORMS}, got {other}")),
        }
    }
}

impl From<ClassWeights> for toml::Value {
    fn from(weights: ClassWeights) -> Self {
        match weights {
            ClassWeights::Given(list) => list.into(),
            ClassWeights::Frequency(Frequency::Inverse) => "inverse_frequency".into(),
            ClassWeights::Frequency(Frequency::Median) => "median_frequency".into(),
        }
    }
}

/// One number for every class, or one per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Value", into = "toml::Value")]
pub enum PerClass {
    All(f64),
    Each(Vec<f64>),
}

impl TryFrom<toml::Value> for PerClass {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, Self::Error> {
        match value {
            toml::Value::Integer(i) => Ok(PerClass::All(i as f64)),
            toml::Value::Float(f) => Ok(PerClass::All(f)),
            toml::Value::Array(items) => numbers(&items)
                .map(PerClass::Each)
                .ok_or_else(|| "expected a number or a list of numbers".to_string()),
            other => Err(format!(
                "expected a number or a list of numbers, got {other}"
            )),
        }
    }
}

impl From<PerClass> for toml::Value {
    fn from(value: PerClass) -> Self {
        match value {
            PerClass::All(x) => x.into(),
            PerClass::Each(list) => list.into(),
        }
    }
}

/// The numbers of a TOML array, `None` when one is not a number.
fn numbers(items: &[toml::Value]) -> Option<Vec<f64>> {
    items
        .iter()
        .map(|v| match v {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        })
        .collect()
}

impl LossConfig {
    /// The parameters of [`PARAMETERS`] this table sets, by key.
    pub fn set_parameters(&self) -> Vec<&'static str> {
        let set = [
            self.gamma.is_some(),
            self.alpha.is_some(),
            self.beta.is_some(),
            self.class_weights.is_some(),
            self.pos_weight.is_some(),
            self.include_background.is_some(),
            self.smooth.is_some(),
            self.weights.is_some(),
            self.path.is_some(),
            self.script_hash.is_some(),
            self.from_logits.is_some(),
            self.epsilon.is_some(),
        ];
        PARAMETERS
            .iter()
            .zip(set)
            .filter(|(_, set)| *set)
            .map(|((key, _), _)| *key)
            .collect()
    }

    /// Checks that every parameter set belongs to the loss and lies in its range.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: &str, message: String| {
            Err(Invalid {
                key: format!("loss.{key}"),
                message,
            })
        };
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return invalid(
                "scale",
                format!("must be a positive number, got {}", self.scale),
            );
        }
        for key in self.set_parameters() {
            let Some((_, losses)) = PARAMETERS.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            if !losses.contains(&self.name) {
                return invalid(key, self.misplaced(key, losses));
            }
        }
        let finite_at_least = |key: &str, value: Option<f64>, low: f64| match value {
            Some(v) if !(v.is_finite() && v >= low) => {
                invalid(key, format!("must be a number >= {low}, got {v}"))
            }
            _ => Ok(()),
        };
        finite_at_least("gamma", self.gamma, 0.0)?;
        finite_at_least("beta", self.beta, 0.0)?;
        finite_at_least("smooth", self.smooth, 0.0)?;
        match (self.name, self.alpha) {
            (Loss::Focal, Some(a)) if !(0.0..=1.0).contains(&a) => {
                return invalid("alpha", format!("must lie in [0, 1] for focal, got {a}"));
            }
            (_, alpha) => finite_at_least("alpha", alpha, 0.0)?,
        }
        if self.name == Loss::Tversky && self.alpha == Some(0.0) && self.beta == Some(0.0) {
            return invalid(
                "beta",
                "and loss.alpha are both 0, which leaves Tversky's score without false \
                 positives or negatives; give one of them a positive weight"
                    .into(),
            );
        }
        if let Some(e) = self.epsilon {
            if self.from_logits != Some(false) {
                return invalid(
                    "epsilon",
                    "is the clip of probabilities, which only loss.from_logits = false uses; \
                     set loss.from_logits = false, or remove loss.epsilon"
                        .into(),
                );
            }
            if !(e.is_finite() && e > 0.0 && e < 0.5) {
                return invalid("epsilon", format!("must lie in (0, 0.5), got {e}"));
            }
        }
        if let Some(ClassWeights::Given(w)) = &self.class_weights {
            check_weights("class_weights", w)?;
        }
        match &self.pos_weight {
            Some(PerClass::All(w)) => check_weights("pos_weight", &[*w])?,
            Some(PerClass::Each(w)) => check_weights("pos_weight", w)?,
            None => {}
        }
        if let (Some(weights), Some(terms)) = (&self.weights, self.name.terms()) {
            for (term, w) in weights {
                if !terms.contains(&term.as_str()) {
                    return invalid(
                        "weights",
                        format!(
                            "has `{term}`, which is not a term of {}; its terms are {} and {}",
                            self.name, terms[0], terms[1]
                        ),
                    );
                }
                if !(w.is_finite() && *w >= 0.0) {
                    return invalid("weights", format!("`{term}` must be >= 0, got {w}"));
                }
            }
            if weights.values().all(|w| *w == 0.0) && !weights.is_empty() {
                return invalid("weights", "are all 0; give one term a weight".into());
            }
        }
        if self.name == Loss::Script && self.path.is_none() {
            return invalid(
                "path",
                "is missing: a script loss needs the TorchScript file its module was saved \
                 to, e.g. loss.path = \"my_loss.pt\""
                    .into(),
            );
        }
        if self.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return invalid("label", "is empty; leave it out or name the loss".into());
        }
        Ok(())
    }

    /// The message for parameter `key` set on a loss it does not belong to.
    fn misplaced(&self, key: &str, losses: &[Loss]) -> String {
        let owners: Vec<&str> = losses.iter().map(|l| l.name()).collect();
        let owners = match owners.as_slice() {
            [one] => format!("a {one} parameter"),
            [init @ .., last] => format!("a parameter of {} and {last}", init.join(", ")),
            [] => "a parameter of no loss".to_string(),
        };
        format!(
            "is {owners}; loss.name is {}. Remove it, or give it to the loss it belongs to \
             alone, e.g. loss = [\"{}\", {{ name = \"{}\", {key} = ... }}]",
            self.name, self.name, losses[0]
        )
    }

    /// The parameters a run trains with, for `classes` classes; `pixels` gives the
    /// training split's pixel counts ([`crate::losses::class_pixels`]) when the class
    /// weights are derived from them. An error names the key and what to fix.
    pub fn params(
        &self,
        classes: usize,
        pixels: impl FnOnce() -> (Vec<f64>, Vec<f64>),
    ) -> Result<Params, Invalid> {
        let defaults = Params::default();
        let per_class = |key: &str, values: Vec<f64>| {
            if values.len() == classes {
                Ok(values)
            } else {
                Err(Invalid {
                    key: format!("loss.{key}"),
                    message: format!(
                        "has {} values but the data have {classes} classes; give one per class",
                        values.len()
                    ),
                })
            }
        };
        let class_weights = match &self.class_weights {
            None => None,
            Some(ClassWeights::Given(w)) => Some(per_class("class_weights", w.clone())?),
            Some(ClassWeights::Frequency(f)) => {
                let (counts, containing) = pixels();
                Some(frequency_weights(*f, &counts, &containing))
            }
        };
        let pos_weight = match &self.pos_weight {
            None => None,
            Some(PerClass::All(w)) => Some(vec![*w; classes]),
            Some(PerClass::Each(w)) => Some(per_class("pos_weight", w.clone())?),
        };
        let terms = match (self.name.terms(), &self.weights) {
            (Some(names), Some(weights)) => names.map(|n| weights.get(n).copied().unwrap_or(1.0)),
            _ => defaults.terms,
        };
        let (focal_alpha, tversky_alpha) = match self.name {
            Loss::Focal => (self.alpha, defaults.tversky_alpha),
            _ => (None, self.alpha.unwrap_or(defaults.tversky_alpha)),
        };
        Ok(Params {
            gamma: self.gamma.unwrap_or(defaults.gamma),
            focal_alpha,
            tversky_alpha,
            tversky_beta: self.beta.unwrap_or(defaults.tversky_beta),
            class_weights,
            pos_weight,
            include_background: self
                .include_background
                .unwrap_or(defaults.include_background),
            smooth: self.smooth.unwrap_or(defaults.smooth),
            terms,
            clip: (self.from_logits == Some(false)).then(|| self.epsilon.unwrap_or(KERAS_EPSILON)),
        })
    }

    /// The loss's name in frames and legends: `label` when set; a script loss's file stem;
    /// otherwise the name followed by each parameter of `shown` this loss takes, at its
    /// value or default (`focal γ=2`, `dice bg=false smooth=1`).
    pub fn describe(&self, shown: &BTreeSet<&str>) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        if self.name == Loss::Script {
            if let Some(stem) = self.path.as_ref().and_then(|p| p.file_stem()) {
                return stem.to_string_lossy().into_owned();
            }
        }
        let defaults = Params::default();
        let number = |x: f64| format!("{x}");
        let list = |w: &[f64]| {
            let items: Vec<String> = w.iter().map(|x| number(*x)).collect();
            format!("[{}]", items.join(","))
        };
        let mut parts = vec![self.name.name().to_string()];
        for (key, losses) in PARAMETERS {
            if !shown.contains(key) || !losses.contains(&self.name) {
                continue;
            }
            let part = match key {
                "gamma" => format!("γ={}", number(self.gamma.unwrap_or(defaults.gamma))),
                "alpha" => match (self.name, self.alpha) {
                    (Loss::Focal, None) => "α=none".to_string(),
                    (_, a) => format!("α={}", number(a.unwrap_or(defaults.tversky_alpha))),
                },
                "beta" => format!("β={}", number(self.beta.unwrap_or(defaults.tversky_beta))),
                "class_weights" => match &self.class_weights {
                    None => "w=none".to_string(),
                    Some(ClassWeights::Given(w)) => format!("w={}", list(w)),
                    Some(ClassWeights::Frequency(Frequency::Inverse)) => {
                        "w=inverse_frequency".to_string()
                    }
                    Some(ClassWeights::Frequency(Frequency::Median)) => {
                        "w=median_frequency".to_string()
                    }
                },
                "pos_weight" => match &self.pos_weight {
                    None => "pos_weight=none".to_string(),
                    Some(PerClass::All(w)) => format!("pos_weight={}", number(*w)),
                    Some(PerClass::Each(w)) => format!("pos_weight={}", list(w)),
                },
                "include_background" => format!(
                    "bg={}",
                    self.include_background
                        .unwrap_or(defaults.include_background)
                ),
                "smooth" => format!("smooth={}", number(self.smooth.unwrap_or(defaults.smooth))),
                "weights" => {
                    let terms = self.name.terms().unwrap_or(["", ""]);
                    let weights = self.weights.clone().unwrap_or_default();
                    terms
                        .iter()
                        .map(|t| format!("{t}={}", number(weights.get(*t).copied().unwrap_or(1.0))))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
                "from_logits" => format!("from_logits={}", self.from_logits.unwrap_or(true)),
                "epsilon" => match self.from_logits {
                    Some(false) => format!("ε={}", number(self.epsilon.unwrap_or(KERAS_EPSILON))),
                    _ => continue,
                },
                _ => continue,
            };
            parts.push(part);
        }
        parts.join(" ")
    }
}

/// The BLAKE3 hash of a script loss's file, as `loss.script_hash` records it; the error
/// names the file and what to do.
pub fn script_hash(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read loss.path {}: {e}; write the TorchScript file there, or correct the \
             path (a relative path is taken from the current folder)",
            path.display()
        )
    })?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// Checks a list of weights: finite, non-negative, not all zero.
fn check_weights(key: &str, weights: &[f64]) -> Result<(), Invalid> {
    let invalid = |message: String| {
        Err(Invalid {
            key: format!("loss.{key}"),
            message,
        })
    };
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return invalid(format!("must be numbers >= 0, got {w}"));
    }
    if weights.is_empty() || weights.iter().all(|w| *w == 0.0) {
        return invalid("must give some class a positive weight".into());
    }
    Ok(())
}

/// Per loss name, the parameters set on any of `losses`: what a sweep's loss labels show.
pub fn shown_parameters(losses: &[&LossConfig]) -> BTreeMap<Loss, BTreeSet<&'static str>> {
    let mut shown: BTreeMap<Loss, BTreeSet<&'static str>> = BTreeMap::new();
    for loss in losses {
        shown
            .entry(loss.name)
            .or_default()
            .extend(loss.set_parameters());
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(text: &str) -> Result<LossConfig, String> {
        toml::from_str::<LossConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_parameter_of_another_loss_is_an_error_naming_both() {
        let config = loss("name = \"dice\"\ngamma = 2").expect("parses");
        let err = config
            .validate()
            .expect_err("gamma is not a dice parameter");
        assert_eq!(err.key, "loss.gamma");
        assert!(
            err.message.contains("a focal parameter; loss.name is dice"),
            "{}",
            err.message
        );
        let config = loss("name = \"cce\"\nsmooth = 1").expect("parses");
        let err = config
            .validate()
            .expect_err("smooth is not a cce parameter");
        assert!(
            err.message
                .contains("a parameter of dice, iou, tversky, bce_dice, cce_dice and generalized_dice; loss.name is cce"),
            "{}",
            err.message
        );
    }

    #[test]
    fn class_weights_take_a_list_or_a_frequency_name_and_nothing_else() {
        let list = loss("class_weights = [1, 2.5]").expect("a list");
        assert_eq!(
            list.class_weights,
            Some(ClassWeights::Given(vec![1.0, 2.5]))
        );
        let median = loss("class_weights = \"median_frequency\"").expect("a name");
        assert_eq!(
            median.class_weights,
            Some(ClassWeights::Frequency(Frequency::Median))
        );
        let err = loss("class_weights = \"balanced\"").expect_err("unknown name");
        assert!(
            err.contains("\"inverse_frequency\" or \"median_frequency\""),
            "{err}"
        );
        let err = loss("class_weights = [1, \"a\"]").expect_err("not numbers");
        assert!(err.contains("non-number"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_errors() {
        for (text, key) in [
            ("name = \"focal\"\ngamma = -1", "loss.gamma"),
            ("name = \"focal\"\nalpha = 1.5", "loss.alpha"),
            ("name = \"tversky\"\nalpha = 0\nbeta = 0", "loss.beta"),
            ("class_weights = [0, 0]", "loss.class_weights"),
            ("name = \"bce\"\npos_weight = -2", "loss.pos_weight"),
            (
                "name = \"bce_dice\"\nweights = { bce = 1, cce = 1 }",
                "loss.weights",
            ),
            ("name = \"script\"", "loss.path"),
        ] {
            let err = loss(text).expect("parses").validate().expect_err(text);
            assert_eq!(err.key, key, "{text}: {}", err.message);
        }
    }

    #[test]
    fn params_fill_defaults_and_check_list_lengths() {
        let focal = loss("name = \"focal\"\ngamma = 1\nalpha = 0.25").expect("parses");
        let p = focal.params(3, || unreachable!()).expect("params");
        assert_eq!((p.gamma, p.focal_alpha), (1.0, Some(0.25)));
        assert_eq!(p.tversky_alpha, 0.3);
        let compound =
            loss("name = \"bce_dice\"\nweights = { dice = 0.5 }\npos_weight = 2").expect("parses");
        let p = compound.params(3, || unreachable!()).expect("params");
        assert_eq!(p.terms, [1.0, 0.5]);
        assert_eq!(p.pos_weight, Some(vec![2.0; 3]));
        let wrong = loss("class_weights = [1, 2]").expect("parses");
        let err = wrong
            .params(3, || unreachable!())
            .expect_err("2 weights, 3 classes");
        assert!(err
            .message
            .contains("has 2 values but the data have 3 classes"));
        let frequency = loss("class_weights = \"inverse_frequency\"").expect("parses");
        let p = frequency
            .params(2, || (vec![30.0, 10.0], vec![40.0, 40.0]))
            .expect("params");
        assert_eq!(p.class_weights, Some(vec![40.0 / 60.0, 40.0 / 20.0]));
    }

    #[test]
    fn labels_show_the_parameters_that_vary_or_the_user_label() {
        let focal = loss("name = \"focal\"\ngamma = 1").expect("parses");
        let plain = LossConfig {
            name: Loss::Focal,
            ..LossConfig::default()
        };
        let shown = shown_parameters(&[&focal, &plain]);
        assert_eq!(focal.describe(&shown[&Loss::Focal]), "focal γ=1");
        assert_eq!(plain.describe(&shown[&Loss::Focal]), "focal γ=2");
        assert_eq!(plain.describe(&BTreeSet::new()), "focal");
        let labelled = loss("name = \"dice\"\nlabel = \"my dice\"").expect("parses");
        assert_eq!(labelled.describe(&BTreeSet::new()), "my dice");
        let script = loss("name = \"script\"\npath = \"losses/my_cce.pt\"").expect("parses");
        assert_eq!(script.describe(&BTreeSet::from(["path"])), "my_cce");
    }

    #[test]
    fn unset_parameters_leave_the_canonical_form_as_before() {
        let json = serde_json::to_string(&LossConfig::default()).expect("json");
        assert_eq!(json, r#"{"name":"cce","scale":1.0}"#);
    }
}
