//! The sweep file's `[tune]` table: which keys each grid point (each loss, each optimizer,
//! ...) is tuned over, how the candidate settings are drawn, how they are trained (all in
//! full, or by successive halving), on which tuning seeds, and by which validation metric
//! the best is chosen.
//!
//! ```toml
//! [tune]
//! space."optim.lr" = { log_uniform = [1e-4, 1e-1] }  # or a list: [1e-4, 1e-3, 1e-2]
//! sampler = "grid"        # grid: `trials` log-spaced values per range; random: `trials` draws
//! trials = 8
//! scheduler = "halving"   # full: every candidate for train.epochs; halving: successive halving
//! reduction = 2           # halving: keep the best 1/reduction of each rung
//! min_epochs = 1          # halving: the first rung's epochs
//! seeds = [101, 102, 103] # tuning seeds, apart from the grid's final seeds
//! metric = "val_miou"     # what the best setting maximises (val_loss: minimises)
//! untuned = true          # also train the grid at [base]'s settings, for the comparison
//! ```

use rand::{Rng, SeedableRng};

use super::sweep::{Axis, FOLD_AXIS};
use super::{closest, valid_keys, ConfigError, Document, SELECT_METRICS};

/// The prefix of a tuned key's column in the final comparison's frame
/// (`tuned.optim.lr`): part of what each run is, not a setting its losses are compared
/// under.
pub const TUNED_PREFIX: &str = "tuned.";

/// The values a tuned key may take.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// These values, as listed.
    Values(Vec<toml::Value>),
    /// Numbers in `[low, high]`, spread evenly in the logarithm.
    LogUniform(f64, f64),
    /// Numbers in `[low, high]`, spread evenly.
    Uniform(f64, f64),
}

/// How the candidate settings are drawn from the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// Every combination: a list as it is, a range as `trials` evenly spread values (in the
    /// logarithm for `log_uniform`), ends included.
    Grid,
    /// `trials` settings, each key drawn on its own: a list uniformly, a range uniformly (in
    /// the logarithm for `log_uniform`), from the generator seeded by `tune.seed`.
    Random,
}

/// How the candidates are trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scheduler {
    /// Every candidate for `train.epochs`, on every tuning seed.
    Full,
    /// Successive halving (Jamieson & Talwalkar 2016): every candidate for `min_epochs`,
    /// then the best `1/reduction` for `reduction` times as many epochs (capped at
    /// `train.epochs`), and so on until one is left or a rung has trained `train.epochs`.
    Halving { reduction: usize, min_epochs: usize },
}

/// The `[tune]` table, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Tune {
    /// The tuned keys (dotted run configuration keys) and their spaces, in file order.
    pub space: Vec<(String, Space)>,
    pub sampler: Sampler,
    /// Values per range (grid) or draws (random).
    pub trials: Option<usize>,
    pub scheduler: Scheduler,
    /// The seeds every candidate trains on; the final comparison uses the grid's seeds.
    pub seeds: Vec<i64>,
    /// The validation metric whose mean over the tuning seeds chooses the best candidate
    /// (one of [`SELECT_METRICS`]), at each run's judged epoch.
    pub metric: String,
    /// Whether the grid also trains at `[base]`'s settings (untuned), on the final seeds.
    pub untuned: bool,
    /// The random sampler's seed.
    pub seed: u64,
}

/// The keys `[tune]` takes.
const KEYS: [&str; 10] = [
    "space",
    "sampler",
    "trials",
    "scheduler",
    "reduction",
    "min_epochs",
    "seeds",
    "metric",
    "untuned",
    "seed",
];

/// The most candidate settings a tuning may draw.
pub const MAX_TRIALS: usize = 10_000;

impl Tune {
    /// Reads the `[tune]` table of `doc`; every error names its key and the fix.
    pub fn read(doc: &Document, table: &toml::Table) -> Result<Self, ConfigError> {
        let at = |key: &str| doc.locate(&["tune", key]);
        if let Some(key) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            let valid: Vec<String> = KEYS.map(String::from).to_vec();
            let err = ConfigError::new(at(key), format!("unknown key `tune.{key}`"));
            return Err(match closest(key, &valid) {
                Some(near) => err.with_fix(format!("did you mean `{near}`?")),
                None => err.with_fix(format!("[tune] takes {}", KEYS.join(", "))),
            });
        }
        let space = read_space(doc, table.get("space"))?;
        let word = |key: &str, default: &str| -> Result<String, ConfigError> {
            match table.get(key) {
                None => Ok(default.to_string()),
                Some(toml::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(ConfigError::new(
                    at(key),
                    format!("`tune.{key}` must be a string, got {other}"),
                )),
            }
        };
        let count = |key: &str| -> Result<Option<usize>, ConfigError> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::Integer(n)) if *n >= 1 && *n as u64 <= MAX_TRIALS as u64 => {
                    Ok(Some(*n as usize))
                }
                Some(other) => Err(ConfigError::new(
                    at(key),
                    format!(
                        "`tune.{key}` must be a whole number from 1 to {MAX_TRIALS}, got {other}"
                    ),
                )),
            }
        };
        let sampler = match word("sampler", "grid")?.as_str() {
            "grid" => Sampler::Grid,
            "random" => Sampler::Random,
            other => {
                return Err(ConfigError::new(
                    at("sampler"),
                    format!("`tune.sampler` must be \"grid\" or \"random\", got \"{other}\""),
                )
                .with_fix("grid tries every combination; random draws `trials` settings"))
            }
        };
        let trials = count("trials")?;
        let has_range = space.iter().any(|(_, s)| !matches!(s, Space::Values(_)));
        if trials.is_none() && (sampler == Sampler::Random || has_range) {
            return Err(ConfigError::new(
                at("trials"),
                "`tune.trials` is missing: a range in tune.space, or the random sampler, needs to know how many values to draw".to_string(),
            )
            .with_fix("e.g. trials = 8"));
        }
        let (reduction, min_epochs) = (count("reduction")?, count("min_epochs")?);
        let scheduler = match word("scheduler", "full")?.as_str() {
            "full" => {
                if let Some(key) = ["reduction", "min_epochs"]
                    .into_iter()
                    .find(|k| table.contains_key(*k))
                {
                    return Err(ConfigError::new(
                        at(key),
                        format!("`tune.{key}` is for successive halving, and tune.scheduler is \"full\""),
                    )
                    .with_fix("set scheduler = \"halving\", or remove the key"));
                }
                Scheduler::Full
            }
            "halving" => {
                let reduction = reduction.unwrap_or(3);
                if reduction < 2 {
                    return Err(ConfigError::new(
                        at("reduction"),
                        "`tune.reduction` must be at least 2: each rung keeps the best 1/reduction"
                            .to_string(),
                    )
                    .with_fix("e.g. reduction = 2 (halving) or 3"));
                }
                Scheduler::Halving {
                    reduction,
                    min_epochs: min_epochs.unwrap_or(1),
                }
            }
            other => {
                return Err(ConfigError::new(
                    at("scheduler"),
                    format!("`tune.scheduler` must be \"full\" or \"halving\", got \"{other}\""),
                )
                .with_fix(
                    "full trains every candidate for train.epochs; halving is successive halving",
                ))
            }
        };
        let seeds = match table.get("seeds") {
            None => vec![1001, 1002, 1003],
            Some(toml::Value::Array(values)) if !values.is_empty() => {
                let mut seeds = Vec::new();
                for v in values {
                    match v.as_integer() {
                        Some(s) if !seeds.contains(&s) => seeds.push(s),
                        _ => {
                            return Err(ConfigError::new(
                                at("seeds"),
                                format!("`tune.seeds` must list distinct whole numbers, got {v}"),
                            )
                            .with_fix("e.g. seeds = [101, 102, 103]"))
                        }
                    }
                }
                seeds
            }
            Some(other) => {
                return Err(ConfigError::new(
                    at("seeds"),
                    format!("`tune.seeds` must be a non-empty list of seeds, got {other}"),
                )
                .with_fix("e.g. seeds = [101, 102, 103]"))
            }
        };
        let metric = word("metric", "val_miou")?;
        if !SELECT_METRICS.contains(&metric.as_str()) {
            return Err(ConfigError::new(
                at("metric"),
                format!("`tune.metric` must be a validation metric, got `{metric}`"),
            )
            .with_fix(format!("one of {}", SELECT_METRICS.join(", "))));
        }
        let untuned = match table.get("untuned") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                return Err(ConfigError::new(
                    at("untuned"),
                    format!("`tune.untuned` must be true or false, got {other}"),
                ))
            }
        };
        let seed = match table.get("seed") {
            None => 0,
            Some(toml::Value::Integer(s)) if *s >= 0 => *s as u64,
            Some(other) => {
                return Err(ConfigError::new(
                    at("seed"),
                    format!("`tune.seed` must be a whole number of at least 0, got {other}"),
                ))
            }
        };
        let tune = Tune {
            space,
            sampler,
            trials,
            scheduler,
            seeds,
            metric,
            untuned,
            seed,
        };
        let settings = tune.candidate_count();
        if settings > MAX_TRIALS as u128 {
            return Err(ConfigError::new(
                at("space"),
                format!("tune.space makes {settings} candidate settings, more than {MAX_TRIALS}"),
            )
            .with_fix("list fewer values, or use sampler = \"random\" with fewer trials"));
        }
        Ok(tune)
    }

    /// Checks `[tune]` against the grid: a tuned key is no axis, the tuning seeds are none of
    /// the final ones, and folds are not tuned over.
    pub fn check_grid(&self, doc: &Document, axes: &[Axis]) -> Result<(), ConfigError> {
        for (key, _) in &self.space {
            if let Some(axis) = axes.iter().find(|a| &a.key == key) {
                return Err(ConfigError::new(
                    doc.locate(&["tune", "space", key]),
                    format!("`{key}` is both tuned and the grid axis `{}`", axis.name),
                )
                .with_fix("tune it or list it on the grid, not both"));
            }
        }
        if let Some(axis) = axes.iter().find(|a| a.key == "train.epochs") {
            return Err(ConfigError::new(
                doc.locate(&["grid", &axis.name]),
                "a tuned sweep cannot have train.epochs as an axis: its rungs set the epochs"
                    .to_string(),
            )
            .with_fix("give train.epochs in [base]; a tuned sweep's rungs train up to it"));
        }
        if let Some(axis) = axes.iter().find(|a| a.key == FOLD_AXIS) {
            return Err(ConfigError::new(
                doc.locate(&["grid", &axis.name]),
                "a tuned sweep cannot have a fold axis: each fold would be tuned on its own".to_string(),
            )
            .with_fix("tune on one split (data.fold in [base]) and compare the tuned settings over folds in a second sweep"));
        }
        if let Some(axis) = axes.iter().find(|a| a.key == "train.seed") {
            if let Some(seed) = self
                .seeds
                .iter()
                .find(|s| axis.values.iter().any(|v| v.as_integer() == Some(**s)))
            {
                return Err(ConfigError::new(
                    doc.locate(&["tune", "seeds"]),
                    format!(
                        "tuning seed {seed} is also a final seed of the grid's `{}` axis",
                        axis.name
                    ),
                )
                .with_fix(
                    "tune on seeds apart from the final ones, e.g. seeds = [101, 102, 103]",
                ));
            }
        }
        Ok(())
    }

    /// How many candidates [`Tune::candidates`] makes.
    fn candidate_count(&self) -> u128 {
        match self.sampler {
            Sampler::Random => self.trials.unwrap_or(1) as u128,
            Sampler::Grid => self.space.iter().fold(1u128, |n, (_, s)| {
                n.saturating_mul(match s {
                    Space::Values(v) => v.len() as u128,
                    _ => self.trials.unwrap_or(1) as u128,
                })
            }),
        }
    }

    /// Whether the metric is one a smaller value of is better.
    pub fn minimises(&self) -> bool {
        self.metric.ends_with("loss")
    }

    /// The candidate settings, each a value per tuned key (in [`Tune::space`]'s order),
    /// distinct, in the order drawn.
    pub fn candidates(&self) -> Vec<Vec<toml::Value>> {
        let trials = self.trials.unwrap_or(1);
        let mut out: Vec<Vec<toml::Value>> = match self.sampler {
            Sampler::Grid => {
                let axes: Vec<Vec<toml::Value>> =
                    self.space.iter().map(|(_, s)| spread(s, trials)).collect();
                axes.iter().fold(vec![vec![]], |acc, values| {
                    acc.iter()
                        .flat_map(|prefix| {
                            values.iter().map(move |v| {
                                let mut next = prefix.clone();
                                next.push(v.clone());
                                next
                            })
                        })
                        .collect()
                })
            }
            Sampler::Random => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
                (0..trials)
                    .map(|_| self.space.iter().map(|(_, s)| draw(s, &mut rng)).collect())
                    .collect()
            }
        };
        let mut seen = Vec::new();
        out.retain(|c| {
            let new = !seen.contains(c);
            if new {
                seen.push(c.clone());
            }
            new
        });
        out
    }
}

/// A number rounded to 3 significant digits, so that labels read `0.00268`, not
/// `0.0026826957952797246`.
fn round3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 2 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// `n` evenly spread values of a range (ends included), or a list as it is.
fn spread(space: &Space, n: usize) -> Vec<toml::Value> {
    let at = |t: f64| match space {
        Space::LogUniform(lo, hi) => (lo.ln() + t * (hi.ln() - lo.ln())).exp(),
        Space::Uniform(lo, hi) => lo + t * (hi - lo),
        Space::Values(_) => 0.0,
    };
    match space {
        Space::Values(v) => v.clone(),
        _ if n == 1 => vec![toml::Value::Float(round3(at(0.5)))],
        _ => (0..n)
            .map(|i| toml::Value::Float(round3(at(i as f64 / (n - 1) as f64))))
            .collect(),
    }
}

/// One random value of `space`.
fn draw(space: &Space, rng: &mut impl Rng) -> toml::Value {
    match space {
        Space::Values(v) => v[rng.random_range(0..v.len())].clone(),
        Space::LogUniform(lo, hi) => {
            toml::Value::Float(round3(rng.random_range(lo.ln()..=hi.ln()).exp()))
        }
        Space::Uniform(lo, hi) => toml::Value::Float(round3(rng.random_range(*lo..=*hi))),
    }
}

/// `tune.space`: a table of dotted keys, each a list or a `{ log_uniform | uniform = [low,
/// high] }` range.
fn read_space(
    doc: &Document,
    space: Option<&toml::Value>,
) -> Result<Vec<(String, Space)>, ConfigError> {
    let example = "e.g. space.\"optim.lr\" = { log_uniform = [1e-4, 1e-1] }";
    let Some(toml::Value::Table(space)) = space else {
        return Err(ConfigError::new(
            doc.locate(&["tune"]),
            "`tune.space` is missing: [tune] needs the keys to tune and their values".to_string(),
        )
        .with_fix(example));
    };
    if space.is_empty() {
        return Err(
            ConfigError::new(doc.locate(&["tune", "space"]), "`tune.space` is empty")
                .with_fix(example),
        );
    }
    let valid = valid_keys(None);
    let mut out = Vec::new();
    for (key, value) in space {
        let at = || doc.locate(&["tune", "space", key]);
        if !valid.contains(key) || matches!(key.as_str(), "train.seed" | "loss.name" | "data.fold")
        {
            let err = ConfigError::new(
                at(),
                format!("tune.space key `{key}` is not a key of the run configuration that can be tuned"),
            );
            return Err(match closest(key, &valid) {
                Some(near) if near != key => err.with_fix(format!("did you mean `{near}`?")),
                _ => err.with_fix("seeds are tune.seeds, losses and folds the grid's axes"),
            });
        }
        let range_of = |kind: &str, v: &toml::Value| -> Result<(f64, f64), ConfigError> {
            let bad = || {
                ConfigError::new(
                    at(),
                    format!("`{kind}` of tune.space `{key}` must be [low, high] with low < high{}, got {v}", if kind == "log_uniform" { " and low > 0" } else { "" }),
                )
                .with_fix(example)
            };
            let toml::Value::Array(ends) = v else {
                return Err(bad());
            };
            let number =
                |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            match ends.as_slice() {
                [lo, hi] => match (number(lo), number(hi)) {
                    (Some(lo), Some(hi))
                        if lo.is_finite()
                            && hi.is_finite()
                            && lo < hi
                            && (kind != "log_uniform" || lo > 0.0) =>
                    {
                        Ok((lo, hi))
                    }
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            }
        };
        let parsed = match value {
            toml::Value::Array(values) if !values.is_empty() => Space::Values(values.clone()),
            toml::Value::Table(t) if t.len() == 1 && t.contains_key("log_uniform") => {
                let (lo, hi) = range_of("log_uniform", &t["log_uniform"])?;
                Space::LogUniform(lo, hi)
            }
            toml::Value::Table(t) if t.len() == 1 && t.contains_key("uniform") => {
                let (lo, hi) = range_of("uniform", &t["uniform"])?;
                Space::Uniform(lo, hi)
            }
            other => {
                return Err(ConfigError::new(
                    at(),
                    format!("tune.space `{key}` must be a non-empty list of values or {{ log_uniform = [low, high] }} or {{ uniform = [low, high] }}, got {other}"),
                )
                .with_fix(example))
            }
        };
        out.push((key.clone(), parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Tune, ConfigError> {
        let doc =
            Document::parse(std::path::Path::new("sweep.toml"), text.to_string()).expect("toml");
        let table = doc.table["tune"].as_table().cloned().unwrap_or_default();
        Tune::read(&doc, &table)
    }

    #[test]
    fn a_log_range_on_the_grid_gives_trials_log_spaced_values_ends_included() {
        let t = read(
            "[tune]\nspace.\"optim.lr\" = { log_uniform = [1e-4, 1e-1] }\ntrials = 4\nscheduler = \"halving\"\nreduction = 2\n",
        )
        .expect("reads");
        let lrs: Vec<f64> = t
            .candidates()
            .iter()
            .map(|c| c[0].as_float().expect("float"))
            .collect();
        assert_eq!(lrs, [1e-4, 1e-3, 1e-2, 1e-1]);
        assert_eq!(
            t.scheduler,
            Scheduler::Halving {
                reduction: 2,
                min_epochs: 1
            }
        );
        assert_eq!(t.seeds, [1001, 1002, 1003]);
    }

    #[test]
    fn the_grid_takes_every_combination_and_random_draws_trials_reproducibly() {
        let grid =
            read("[tune]\nspace.\"optim.lr\" = [0.1, 0.01]\nspace.\"loss.gamma\" = [0, 1, 2]\n")
                .expect("reads");
        assert_eq!(grid.candidates().len(), 6);
        let text = "[tune]\nsampler = \"random\"\ntrials = 5\nspace.\"optim.lr\" = { log_uniform = [1e-4, 1e-1] }\n";
        let (a, b) = (read(text).expect("reads"), read(text).expect("reads"));
        assert_eq!(a.candidates(), b.candidates());
        assert!(!a.candidates().is_empty());
        for c in a.candidates() {
            let lr = c[0].as_float().expect("float");
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
        }
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let message = |text: &str| {
            let e = read(text).expect_err(text);
            format!(
                "{}: {} ({})",
                e.origin,
                e.message,
                e.fix.unwrap_or_default()
            )
        };
        let m = message("[tune]\nspace.\"optim.lrr\" = [0.1]\n");
        assert!(
            m.contains("optim.lrr") && m.contains("did you mean `optim.lr`"),
            "{m}"
        );
        let m = message("[tune]\nspace.\"optim.lr\" = { log_uniform = [0, 1] }\ntrials = 3\n");
        assert!(m.contains("low > 0") && m.contains("sweep.toml:2"), "{m}");
        let m = message("[tune]\nspace.\"optim.lr\" = { log_uniform = [1e-4, 1] }\n");
        assert!(m.contains("tune.trials") && m.contains("trials = 8"), "{m}");
        let m = message("[tune]\nspace.\"optim.lr\" = [0.1]\nreduction = 2\n");
        assert!(
            m.contains("scheduler = \\\"halving\\\"") || m.contains("scheduler = \"halving\""),
            "{m}"
        );
        let m = message("[tune]\nspace.\"optim.lr\" = [0.1]\nmetric = \"val_ece\"\n");
        assert!(m.contains("val_miou, val_loss"), "{m}");
        let m = message("[tune]\nspace.\"optim.lr\" = [0.1]\nseeds = [1, 1]\n");
        assert!(m.contains("distinct"), "{m}");
        let m = message("[tune]\nspace.\"train.seed\" = [1, 2]\n");
        assert!(m.contains("tune.seeds"), "{m}");
        let m = message("[tune]\nspace.\"optim.lr\" = [0.1]\nrungs = 3\n");
        assert!(m.contains("unknown key `tune.rungs`"), "{m}");
    }
}
