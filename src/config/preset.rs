//! Presets: a named set of defaults that makes a run another framework's run. `preset =
//! "keras"` gives Keras 3's defaults, each also a key of its own that a file may still set:
//!
//! | key | PyTorch (default) | Keras 3 |
//! | --- | --- | --- |
//! | `model.init` | `pytorch` | `keras` (glorot_uniform kernels, zero biases) |
//! | `model.bn_momentum` | 0.1 | 0.01 (Keras' `momentum=0.99` is the weight of the old value) |
//! | `model.bn_eps` | 1e-5 | 1e-3 |
//! | `model.bn_variance` | `unbiased` | `biased` (the moving variance averages the batch's biased variance) |
//! | `optim.eps` | 1e-8 | 1e-7 |
//! | `optim.eps_hat` | false | true (ε added to √v before bias correction) |
//! | `loss.from_logits` | true | false (cce, bce, depth_softmax_cce and the compounds' cross-entropy term: from probabilities clipped to [ε, 1 − ε], `loss.epsilon` = 1e-7) |
//!
//! A preset fills only the keys a configuration leaves unset, before it is read, so that an
//! explicit key always wins and the run's `config.toml` writes every value out.

use serde::{Deserialize, Serialize};

use crate::losses::Loss;

/// The `preset` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// PyTorch's defaults (torch.nn, torch.optim, the logits forms of the losses).
    #[default]
    Pytorch,
    /// Keras 3's defaults: what a Keras U-Net trained with `model.fit` does.
    Keras,
}

impl Preset {
    /// Whether this is the default preset (left out of a configuration's canonical form, so
    /// that configurations written before presets existed keep their run ids).
    pub fn is_default(&self) -> bool {
        *self == Preset::Pytorch
    }

    /// The `(dotted key, value)` defaults of this preset for a run of `loss`.
    pub fn defaults(self, loss: Loss) -> Vec<(&'static str, toml::Value)> {
        match self {
            Preset::Pytorch => Vec::new(),
            Preset::Keras => {
                let mut keys = vec![
                    ("model.init", toml::Value::from("keras")),
                    ("model.bn_momentum", toml::Value::from(0.01)),
                    ("model.bn_eps", toml::Value::from(1e-3)),
                    ("model.bn_variance", toml::Value::from("biased")),
                    ("optim.eps", toml::Value::from(1e-7)),
                    ("optim.eps_hat", toml::Value::from(true)),
                ];
                if loss.has_logits_form() {
                    keys.push(("loss.from_logits", toml::Value::from(false)));
                }
                keys
            }
        }
    }
}

/// Fills the defaults of the table's `preset` into the keys it leaves unset. An error (a
/// message about the `preset` key) when the preset is not one of [`Preset`]'s names.
pub fn apply(table: &mut toml::Table) -> Result<(), String> {
    let Some(value) = table.get("preset") else {
        return Ok(());
    };
    let preset: Preset = value
        .clone()
        .try_into()
        .map_err(|_| format!("`preset` must be \"pytorch\" or \"keras\", got {value}"))?;
    let loss = table
        .get("loss")
        .and_then(|l| l.get("name"))
        .and_then(toml::Value::as_str)
        .and_then(|name| name.parse::<Loss>().ok())
        .unwrap_or(Loss::Cce);
    for (key, value) in preset.defaults(loss) {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = entry {
            section.entry(name).or_insert(value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::RunConfig;

    fn config(items: &[&str]) -> RunConfig {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        RunConfig::from_overrides(&items).expect("a valid configuration")
    }

    #[test]
    fn keras_preset_sets_every_keras_default() {
        let c = config(&["preset=keras", "loss.name=bce"]);
        assert_eq!(c.model.init, crate::model::Init::Keras);
        assert_eq!(c.model.bn_momentum, 0.01);
        assert_eq!(c.model.bn_eps, 1e-3);
        assert_eq!(c.model.bn_variance, crate::model::BnVariance::Biased);
        assert_eq!(c.optim.eps, 1e-7);
        assert!(c.optim.eps_hat);
        assert_eq!(c.loss.from_logits, Some(false));
    }

    #[test]
    fn an_explicit_key_wins_over_the_preset() {
        let c = config(&["preset=keras", "model.bn_eps=1e-5", "loss.from_logits=true"]);
        assert_eq!(c.model.bn_eps, 1e-5);
        assert_eq!(c.loss.from_logits, Some(true));
        assert_eq!(c.optim.eps, 1e-7);
    }

    #[test]
    fn keras_preset_leaves_losses_without_a_logits_form_alone() {
        let c = config(&["preset=keras", "loss.name=dice"]);
        assert_eq!(c.loss.from_logits, None);
        assert_eq!(c.model.init, crate::model::Init::Keras);
    }

    #[test]
    fn pytorch_preset_changes_nothing_and_keeps_run_ids() {
        assert_eq!(config(&["preset=pytorch"]), RunConfig::default());
        let canonical = serde_json::to_string(&RunConfig::default()).expect("json");
        assert!(!canonical.contains("preset"), "{canonical}");
        assert!(!canonical.contains("bn_"), "{canonical}");
        assert!(!canonical.contains("eps"), "{canonical}");
    }

    #[test]
    fn an_unknown_preset_names_the_valid_ones() {
        let err = RunConfig::from_overrides(&["preset=tensorflow".to_string()])
            .expect_err("not a preset");
        let text = err.to_string();
        assert!(text.contains("\"pytorch\" or \"keras\""), "{text}");
    }
}
