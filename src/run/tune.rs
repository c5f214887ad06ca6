//! A tuned sweep's stages ([`crate::config::tune`]): each grid point (each loss, each
//! optimizer, ... the grid without its seeds) tuned on its own on the validation split, then
//! trained at its chosen setting on the final seeds and judged as any sweep is.
//!
//! Every stage is an ordinary sweep whose runs are ordinary runs, with run ids, resume,
//! `--jobs` and the lock: the grid with the tuned keys as axes (their candidates' values),
//! each grid point kept only at the candidates it still has ([`plan::expand_where`]).
//! - rung `r` (`results/<sweep>/tune/rung-<r>`): the tuning seeds in place of the final
//!   ones, `train.epochs` the rung's; the first rung has every candidate, each next the
//!   best `1/reduction` of the one before (successive halving), until one is left or a rung
//!   trained the full `train.epochs`. Without halving there is one rung, in full.
//! - final (`results/<sweep>`): each grid point at its chosen setting, on the final seeds;
//!   its frame and report are the sweep's.
//! - untuned (`results/<sweep>/untuned`, with `tune.untuned`): the grid at `[base]`'s
//!   settings on the final seeds, what tuning is compared against.
//!
//! Which stage comes next follows from the run folders alone ([`progress`], which writes
//! nothing): a stage is decided once all its runs have finished, so a sweep killed anywhere
//! goes on where it stopped, and a rerun of a finished one trains nothing.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::set_dotted;
use crate::config::sweep::{Axis, Sweep};
use crate::config::tune::{Sampler, Scheduler, Space, Tune, TUNED_PREFIX};
use crate::plan::{self, display_value, Filter, Plan, PlannedRun};
use crate::store::{Choice, State, SweepStore, Trial, Tuning};

use super::select::score_of;

/// The grid axis of the seeds.
const SEED_AXIS: &str = "train.seed";

/// One stage of a tuned sweep: its id (`rung-0`, `final`, `untuned`, as `--stage` names
/// it), its name in prose (`rung 0 (1 epoch)`) and its plan.
#[derive(Debug)]
pub struct Stage {
    pub id: String,
    pub name: String,
    pub plan: Plan,
}

/// Where a tuned sweep stands: the stages that have finished, in order, the one to train
/// next (`None` when every stage has finished), and the tuning once the rungs have decided.
#[derive(Debug)]
pub struct Progress {
    pub finished: Vec<Stage>,
    pub next: Option<Stage>,
    pub tuning: Option<Tuning>,
}

impl Progress {
    /// The stage `id`, finished or next.
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.finished
            .iter()
            .chain(self.next.as_ref())
            .find(|s| s.id == id)
    }
}

/// The epochs of each rung: `train.epochs` alone in full; for successive halving
/// `min_epochs`, times `reduction` each rung, until `train.epochs`.
pub fn rung_epochs(scheduler: Scheduler, epochs: usize) -> Vec<usize> {
    match scheduler {
        Scheduler::Full => vec![epochs],
        Scheduler::Halving {
            reduction,
            min_epochs,
        } => {
            let mut out = vec![min_epochs.min(epochs).max(1)];
            while let Some(&last) = out.last().filter(|&&e| e < epochs) {
                out.push(last.saturating_mul(reduction).min(epochs));
            }
            out
        }
    }
}

/// The tuned sweep's grid and candidates, which every stage derives from.
struct Tuned<'a> {
    sweep: &'a Sweep,
    tune: &'a Tune,
    candidates: Vec<Vec<toml::Value>>,
    /// Per tuned key, its distinct candidate values: the stages' tuned axes.
    axes: Vec<Axis>,
    /// The final seeds: the grid's seed axis, or `[base]`'s seed.
    final_seeds: Vec<i64>,
    epochs: usize,
}

impl<'a> Tuned<'a> {
    fn new(sweep: &'a Sweep, tune: &'a Tune) -> anyhow::Result<Self> {
        let candidates = tune.candidates();
        let axes = tune
            .space
            .iter()
            .enumerate()
            .map(|(k, (key, _))| {
                let mut values: Vec<toml::Value> = Vec::new();
                for c in &candidates {
                    if !values.contains(&c[k]) {
                        values.push(c[k].clone());
                    }
                }
                Axis {
                    name: key.clone(),
                    key: key.clone(),
                    label: key.clone(),
                    values,
                }
            })
            .collect();
        let base = plan::expand(sweep.clone())?;
        let first = base
            .run(0)
            .ok_or_else(|| anyhow::anyhow!("the sweep has no runs"))?
            .config()?;
        let final_seeds = match sweep.axes.iter().find(|a| a.key == SEED_AXIS) {
            Some(axis) => axis
                .values
                .iter()
                .filter_map(toml::Value::as_integer)
                .collect(),
            None => vec![first.train.seed as i64],
        };
        Ok(Tuned {
            sweep,
            tune,
            candidates,
            axes,
            final_seeds,
            epochs: first.train.epochs,
        })
    }

    /// The sweep of a stage: the grid with the tuned axes after it, in `results/name`,
    /// on `seeds` (the final ones when `None`) for `epochs` (`train.epochs` when `None`).
    fn derive(
        &self,
        name: &str,
        results: PathBuf,
        seeds: Option<&[i64]>,
        epochs: Option<usize>,
        tuned_axes: bool,
    ) -> anyhow::Result<Sweep> {
        let mut s = self.sweep.clone();
        s.tune = None;
        s.name = name.to_string();
        s.results = results;
        if name != self.sweep.name {
            s.plots = self.sweep.plots_dir().join("tune");
        }
        if let Some(seeds) = seeds {
            let values: Vec<toml::Value> = seeds.iter().map(|&s| toml::Value::Integer(s)).collect();
            match s.axes.iter_mut().find(|a| a.key == SEED_AXIS) {
                Some(axis) => axis.values = values,
                None => s.axes.push(Axis {
                    name: "seed".into(),
                    key: SEED_AXIS.into(),
                    label: "seed".into(),
                    values,
                }),
            }
        }
        if tuned_axes {
            // In the final comparison a tuned key's column is `tuned.<key>`.
            let prefix = if name == self.sweep.name {
                TUNED_PREFIX
            } else {
                ""
            };
            s.axes.extend(self.axes.iter().map(|a| Axis {
                label: format!("{prefix}{}", a.key),
                ..a.clone()
            }));
        }
        if let Some(epochs) = epochs {
            set_dotted(
                &mut s.base,
                "train.epochs",
                toml::Value::Integer(epochs as i64),
            )
            .map_err(anyhow::Error::msg)?;
        }
        let size = s
            .axes
            .iter()
            .fold(1u64, |n, a| n.saturating_mul(a.values.len() as u64));
        s.max_runs = s.max_runs.max(size);
        Ok(s)
    }

    /// The grid point of `values` (a stage's point, in its axes' order), seeds and tuned
    /// axes left out, as a key.
    fn group_of(&self, stage: &Sweep, values: &[&toml::Value]) -> String {
        stage
            .axes
            .iter()
            .zip(values)
            .filter(|(a, _)| a.key != SEED_AXIS && !self.is_tuned(&a.key))
            .map(|(a, v)| format!("{}={v}", a.label))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn is_tuned(&self, key: &str) -> bool {
        self.tune.space.iter().any(|(k, _)| k == key)
    }

    /// The candidate a stage's point takes (by its tuned axes' values).
    fn candidate_of(&self, stage: &Sweep, values: &[&toml::Value]) -> Option<usize> {
        let tuned: Vec<&toml::Value> = stage
            .axes
            .iter()
            .zip(values)
            .filter(|(a, _)| self.is_tuned(&a.key))
            .map(|(_, v)| *v)
            .collect();
        self.candidates
            .iter()
            .position(|c| c.iter().zip(&tuned).all(|(a, b)| a == *b))
    }

    /// The run's grid point as the tuning record names it: its label without the seed and
    /// the tuned keys, the loss by its name.
    fn group_label(&self, run: &PlannedRun<'_>) -> String {
        let parts: Vec<String> = run
            .axes()
            .filter(|(k, _)| {
                *k != "seed" && !self.is_tuned(k.strip_prefix(TUNED_PREFIX).unwrap_or(k))
            })
            .map(|(k, v)| match v {
                toml::Value::Table(_) if k == "loss" => format!("loss={}", run.loss()),
                _ => format!("{k}={}", display_value(v)),
            })
            .collect();
        if parts.is_empty() {
            "base".into()
        } else {
            parts.join(",")
        }
    }
}

/// Whether `run` is one `only` selects.
fn selected(only: Option<&Filter>, run: &PlannedRun<'_>) -> bool {
    only.is_none_or(|f| f.matches(run))
}

/// A stage's `--only` filter, parsed against its plan.
fn filter(only: Option<&str>, plan: &Plan) -> anyhow::Result<Option<Filter>> {
    Ok(only.map(|t| Filter::parse(t, plan)).transpose()?)
}

/// Whether every selected run of `plan` has finished (done or diverged).
fn finished(plan: &Plan, store: &SweepStore, only: Option<&Filter>) -> bool {
    plan.runs().filter(|r| selected(only, r)).all(|r| {
        store
            .sound_status(&r.id())
            .is_some_and(|s| s.state.is_final())
    })
}

/// The scheduler's words for the record (`successive halving (reduction 3, from 1 epoch)`).
fn scheduler_words(scheduler: Scheduler) -> String {
    match scheduler {
        Scheduler::Full => "full".into(),
        Scheduler::Halving {
            reduction,
            min_epochs,
        } => format!(
            "successive halving (reduction {reduction}, from {min_epochs} epoch{})",
            if min_epochs == 1 { "" } else { "s" }
        ),
    }
}

/// Where `sweep` (which has a `[tune]` table) stands, from its run folders; `only` is the
/// command's `--only`, which selects grid points to tune and train.
pub fn progress(sweep: &Sweep, only: Option<&str>) -> anyhow::Result<Progress> {
    let Some(tune) = &sweep.tune else {
        anyhow::bail!("the sweep {} has no [tune] table", sweep.name);
    };
    let tuned = Tuned::new(sweep, tune)?;
    let root = sweep.results_dir();
    let minimise = tune.minimises();
    // Per grid point, the candidates still in.
    let mut alive: Option<HashMap<String, Vec<usize>>> = None;
    let mut trials: Vec<Trial> = Vec::new();
    let mut chosen: HashMap<String, (usize, Option<f64>)> = HashMap::new();
    let mut spent: HashMap<String, usize> = HashMap::new();
    let mut losses: HashMap<String, (String, String)> = HashMap::new();
    let mut done: Vec<Stage> = Vec::new();
    let rungs = rung_epochs(tune.scheduler, tuned.epochs);
    let reduction = match tune.scheduler {
        Scheduler::Halving { reduction, .. } => reduction,
        Scheduler::Full => 1,
    };
    for (r, &epochs) in rungs.iter().enumerate() {
        let mut stage = tuned.derive(
            &format!("rung-{r}"),
            root.join("tune"),
            Some(&tune.seeds),
            Some(epochs),
            true,
        )?;
        // No trial is scored on the test split: nothing that chooses has looked at it.
        set_dotted(
            &mut stage.base,
            "train.score_test",
            toml::Value::Boolean(false),
        )
        .map_err(anyhow::Error::msg)?;
        let keep = |values: &[&toml::Value]| {
            let Some(c) = tuned.candidate_of(&stage, values) else {
                return false;
            };
            alive.as_ref().is_none_or(|a| {
                a.get(&tuned.group_of(&stage, values))
                    .is_some_and(|v| v.contains(&c))
            })
        };
        let stage = Stage {
            id: format!("rung-{r}"),
            name: format!(
                "rung {r} ({epochs} epoch{})",
                if epochs == 1 { "" } else { "s" }
            ),
            plan: plan::expand_where(stage.clone(), &keep)?,
        };
        let plan = &stage.plan;
        let store = SweepStore::new(plan.sweep.results_dir());
        let only = filter(only, plan)?;
        if !finished(plan, &store, only.as_ref()) {
            return Ok(Progress {
                finished: done,
                next: Some(stage),
                tuning: None,
            });
        }
        // Per grid point and candidate, the scores over the tuning seeds.
        let mut scores: HashMap<String, Vec<(usize, Option<f64>)>> = HashMap::new();
        for run in plan.runs().filter(|run| selected(only.as_ref(), run)) {
            let values: Vec<&toml::Value> = run.axes().map(|(_, v)| v).collect();
            let (Some(c), group) = (
                tuned.candidate_of(&plan.sweep, &values),
                tuned.group_of(&plan.sweep, &values),
            ) else {
                continue;
            };
            let id = run.id();
            let status = store.sound_status(&id);
            let score = match status.as_ref().map(|s| s.state) {
                Some(State::Done) => {
                    let rows = store.rows(&id)?;
                    let row = rows
                        .iter()
                        .find(|row| Some(row.epoch) == row.selected_epoch)
                        .or(rows.last());
                    row.map(|row| score_of(row, &tune.metric))
                        .filter(|v| v.is_finite())
                }
                _ => None,
            };
            *spent.entry(group.clone()).or_default() +=
                status.as_ref().map_or(0, |s| s.epochs_done);
            losses.insert(
                group.clone(),
                (tuned.group_label(&run), run.loss().to_string()),
            );
            let config = run.config()?;
            trials.push(Trial {
                group: tuned.group_label(&run),
                loss: run.loss().to_string(),
                values: tuned.candidates[c]
                    .iter()
                    .map(|v| {
                        v.as_float()
                            .or(v.as_integer().map(|i| i as f64))
                            .unwrap_or(f64::NAN)
                    })
                    .collect(),
                labels: tuned.candidates[c].iter().map(display_value).collect(),
                rung: r,
                epochs,
                seed: config.train.seed as i64,
                run_id: id,
                score,
            });
            scores.entry(group).or_default().push((c, score));
        }
        // Each grid point's candidates by their mean score, the best first; a candidate
        // with a diverged seed last, ties in candidate order.
        let mut next_alive = HashMap::new();
        for (group, runs) in scores {
            let mut by: Vec<(usize, Option<f64>)> = Vec::new();
            let mut order: Vec<usize> = runs.iter().map(|(c, _)| *c).collect();
            order.sort_unstable();
            order.dedup();
            for c in order {
                let mine: Vec<Option<f64>> = runs
                    .iter()
                    .filter(|(k, _)| *k == c)
                    .map(|(_, s)| *s)
                    .collect();
                let mean = mine
                    .iter()
                    .copied()
                    .collect::<Option<Vec<f64>>>()
                    .map(|v| v.iter().sum::<f64>() / v.len() as f64);
                by.push((c, mean));
            }
            by.sort_by(|a, b| {
                match (a.1, b.1) {
                    (Some(x), Some(y)) if minimise => x.total_cmp(&y),
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(a.0.cmp(&b.0))
            });
            let keep = by.len().div_ceil(reduction).max(1);
            if r + 1 == rungs.len() || keep == 1 {
                chosen.insert(group, by[0]);
            } else {
                next_alive.insert(
                    group,
                    by.into_iter()
                        .take(keep)
                        .map(|(c, _)| c)
                        .collect::<Vec<_>>(),
                );
            }
        }
        done.push(stage);
        if next_alive.is_empty() {
            break;
        }
        alive = Some(next_alive);
    }
    let groups = losses.len();
    let tuning = Tuning {
        keys: tune.space.iter().map(|(k, _)| k.clone()).collect(),
        log_scale: tune
            .space
            .iter()
            .map(|(_, s)| matches!(s, Space::LogUniform(..)))
            .collect(),
        sampler: match tune.sampler {
            Sampler::Grid => "grid".into(),
            Sampler::Random => "random".into(),
        },
        scheduler: scheduler_words(tune.scheduler),
        candidates: tuned.candidates.len(),
        seeds: tune.seeds.clone(),
        metric: tune.metric.clone(),
        final_seeds: tuned.final_seeds.clone(),
        choices: {
            let mut out: Vec<Choice> = chosen
                .iter()
                .map(|(group, (c, score))| Choice {
                    group: losses[group].0.clone(),
                    loss: losses[group].1.clone(),
                    labels: tuned.candidates[*c].iter().map(display_value).collect(),
                    score: *score,
                    run_epochs: spent.get(group).copied().unwrap_or(0),
                })
                .collect();
            out.sort_by(|a, b| a.group.cmp(&b.group));
            out
        },
        trials,
        run_epochs: spent.values().sum(),
        full_grid_run_epochs: groups * tuned.candidates.len() * tune.seeds.len() * tuned.epochs,
        untuned: tune.untuned.then(|| "untuned".to_string()),
    };
    // The final comparison: each grid point at its chosen candidate.
    let stage = tuned.derive(&sweep.name, sweep.results.clone(), None, None, true)?;
    let keep = |values: &[&toml::Value]| {
        let group = tuned.group_of(&stage, values);
        tuned.candidate_of(&stage, values).is_some()
            && chosen.get(&group).map(|c| c.0) == tuned.candidate_of(&stage, values)
    };
    let mut stages = vec![Stage {
        id: "final".into(),
        name: "final".into(),
        plan: plan::expand_where(stage.clone(), &keep)?,
    }];
    if tune.untuned {
        let stage = tuned.derive("untuned", root.clone(), None, None, false)?;
        stages.push(Stage {
            id: "untuned".into(),
            name: "untuned".into(),
            plan: plan::expand(stage)?,
        });
    }
    let mut next = None;
    for stage in stages {
        let store = SweepStore::new(stage.plan.sweep.results_dir());
        let only = filter(only, &stage.plan)?;
        if !finished(&stage.plan, &store, only.as_ref()) {
            next = Some(stage);
            break;
        }
        done.push(stage);
    }
    Ok(Progress {
        finished: done,
        next,
        tuning: Some(tuning),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_rungs_multiply_by_the_reduction_up_to_the_full_epochs() {
        let halving = |reduction, min_epochs| Scheduler::Halving {
            reduction,
            min_epochs,
        };
        assert_eq!(rung_epochs(halving(2, 1), 8), [1, 2, 4, 8]);
        assert_eq!(rung_epochs(halving(3, 1), 10), [1, 3, 9, 10]);
        assert_eq!(rung_epochs(halving(2, 3), 4), [3, 4]);
        assert_eq!(rung_epochs(halving(2, 9), 4), [4]);
        assert_eq!(rung_epochs(Scheduler::Full, 6), [6]);
    }
}
