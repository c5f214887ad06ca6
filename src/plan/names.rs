//! The loss names of a sweep's runs: each run's loss is named by [`LossConfig::describe`],
//! showing what varies among the sweep's losses of its name (`focal γ=1`). A script whose
//! name is another loss's becomes `stem (script)`; two other losses of one name are an
//! error that asks for a `loss.label`.
//!
//! Two losses are the same loss when their configurations, scale aside, serialise alike.
//! Expansion numbers each run's loss as it goes ([`Losses::number`]), keeping each distinct
//! loss once; the names are then worked out per distinct loss and counted per run
//! ([`Losses::names`]), so that telling whether a name is shared by different losses costs
//! one look-up, not a pass over every run.

use std::collections::{BTreeSet, HashMap};

use crate::config::loss::shown_parameters;
use crate::config::sweep::Sweep;
use crate::config::{ConfigError, LossConfig};
use crate::losses::Loss;

/// The distinct losses of a sweep's runs, scale aside, in order of first appearance.
#[derive(Debug, Default)]
pub(super) struct Losses {
    /// Each distinct loss with its scale set to 1, and its canonical JSON form.
    losses: Vec<(LossConfig, String)>,
    /// The canonical JSON form → the loss's number.
    numbers: HashMap<String, usize>,
}

/// Distinct names, each once, by their index.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    /// The index of `name`, adding it when new.
    fn of(&mut self, name: String) -> usize {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.names.len();
        self.index.insert(name.clone(), i);
        self.names.push(name);
        i
    }
}

impl Losses {
    /// The number of `loss` (scale aside), numbering it when it is new.
    pub(super) fn number(&mut self, loss: &LossConfig) -> usize {
        let mut unscaled = loss.clone();
        unscaled.scale = 1.0;
        let text = serde_json::to_string(&unscaled).unwrap_or_default();
        if let Some(&n) = self.numbers.get(&text) {
            return n;
        }
        let n = self.losses.len();
        self.numbers.insert(text.clone(), n);
        self.losses.push((unscaled, text));
        n
    }

    /// Each run's loss name, for runs whose losses have the numbers `runs` (of
    /// [`Losses::number`], in run order): the distinct names, and each run's index into
    /// them.
    pub(super) fn names(
        &self,
        runs: &[usize],
        sweep: &Sweep,
    ) -> Result<(Vec<String>, Vec<usize>), ConfigError> {
        let refs: Vec<&LossConfig> = self.losses.iter().map(|(l, _)| l).collect();
        let shown = shown_parameters(&refs);
        let mut names = Names::default();
        let first: Vec<usize> = refs
            .iter()
            .map(|l| {
                names.of(match shown.get(&l.name) {
                    Some(shown) => l.describe(shown),
                    None => l.describe(&BTreeSet::new()),
                })
            })
            .collect();
        let mut named: Vec<usize> = runs.iter().map(|&n| first[n]).collect();
        // Per name, the losses that carry it and on how many runs.
        let mut carriers: HashMap<usize, HashMap<usize, usize>> = HashMap::new();
        for (&name, &number) in named.iter().zip(runs) {
            *carriers.entry(name).or_default().entry(number).or_default() += 1;
        }
        let shared = |carriers: &HashMap<usize, HashMap<usize, usize>>, name: usize| {
            carriers.get(&name).is_some_and(|losses| losses.len() > 1)
        };
        // In run order, as each rename changes which names the later runs share.
        for (i, &number) in runs.iter().enumerate() {
            let loss = refs[number];
            if loss.name == Loss::Script && loss.label.is_none() && shared(&carriers, named[i]) {
                let renamed = names.of(format!("{} (script)", names.names[named[i]]));
                if let Some(losses) = carriers.get_mut(&named[i]) {
                    if let Some(n) = losses.get_mut(&number) {
                        *n -= 1;
                        if *n == 0 {
                            losses.remove(&number);
                        }
                    }
                }
                *carriers
                    .entry(renamed)
                    .or_default()
                    .entry(number)
                    .or_default() += 1;
                named[i] = renamed;
            }
        }
        if let Some(i) = (0..runs.len()).find(|&i| shared(&carriers, named[i])) {
            let j = (0..runs.len())
                .find(|&j| named[j] == named[i] && runs[j] != runs[i])
                .unwrap_or(i);
            return Err(ConfigError::new(
                sweep.doc.locate(&["grid"]),
                format!(
                    "two different losses are both named `{}` ({} and {})",
                    names.names[named[i]], self.losses[runs[i]].1, self.losses[runs[j]].1
                ),
            )
            .with_fix("give one of them its own name with loss.label"));
        }
        Ok((names.names, named))
    }
}
