//! The numbers behind the verdict, on plain slices: means and robust means, intervals whose
//! 95% covers 95% at small n (Student's t, checked by simulation in the tests), the paired
//! t-test and the exact sign-flip test, Holm's adjustment, a binomial interval for the
//! probability of improvement, and the seeds a paired comparison needs for a given power.
//! Distributions come from `statrs`; every random draw from a seeded [`ChaCha8Rng`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// Up to this many pairs the permutation test enumerates every sign flip.
pub const EXACT_FLIPS_UP_TO: usize = 16;
/// Random sign flips drawn above [`EXACT_FLIPS_UP_TO`] pairs.
pub const RANDOM_FLIPS: usize = 20_000;
const PERMUTATION_SEED: u64 = 0x1055_BE4C_0002;
/// Points of the quadrature over the χ² distribution in [`paired_t_power`].
const POWER_QUADRATURE: usize = 256;
/// The most seeds [`seeds_for_power`] looks at.
pub const MAX_SEEDS: usize = 10_000;

/// The arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The sample standard deviation (n − 1); `None` for fewer than 2 values.
pub fn sample_std(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values);
    let squares: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((squares / (values.len() - 1) as f64).sqrt())
}

/// The interquartile mean (rliable's IQM): the mean of the values left after dropping
/// ⌊n/4⌋ from each end of the sorted values (scipy's `trim_mean(x, 0.25)`); the plain mean
/// below 4 values.
pub fn interquartile_mean(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted.len() / 4;
    mean(&sorted[cut..sorted.len() - cut])
}

/// The smallest and largest of `values`.
pub fn min_max(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().reduce(f64::min).unwrap_or(f64::NAN);
    let high = values.iter().copied().reduce(f64::max).unwrap_or(f64::NAN);
    (low, high)
}

/// The `p` quantile of Student's t with `df` degrees of freedom (t_{0.975, 4} = 2.7764);
/// NaN unless 0 < p < 1 and df > 0.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) if p > 0.0 && p < 1.0 => t.inverse_cdf(p),
        _ => f64::NAN,
    }
}

/// The `level` (e.g. 0.95) Student t-interval of the mean: mean ± t_{(1+level)/2, n−1} ·
/// s/√n. Exact for normal data at any n ≥ 2; `None` for fewer than 2 values.
pub fn t_interval(values: &[f64], level: f64) -> Option<(f64, f64)> {
    let s = sample_std(values)?;
    let n = values.len() as f64;
    let half = t_quantile(0.5 + level / 2.0, n - 1.0) * s / n.sqrt();
    let m = mean(values);
    Some((m - half, m + half))
}

/// `interval` clipped to `range`, the values a metric can take ([`crate::metrics::range`];
/// `None` leaves it as it is), and whether clipping changed it. The true mean of values
/// inside a range is inside it, so the clipped interval covers the true mean exactly when
/// the interval did: clipping keeps its coverage, and no bound says something impossible.
pub fn clip_to(interval: (f64, f64), range: Option<(f64, f64)>) -> ((f64, f64), bool) {
    let Some((low, high)) = range else {
        return (interval, false);
    };
    let clipped = (interval.0.max(low), interval.1.min(high));
    (clipped, clipped != interval)
}

/// The `level` interval of the mean difference of the corrected resampled t-test (Nadeau &
/// Bengio 2003; Bouckaert & Frank 2004): the differences of cross-validation folds whose
/// training sets overlap are correlated, so the variance of their mean is taken as
/// (1/n + `ratio`)·s², `ratio` = n_test/n_train (1/(k − 1) for k folds), with n − 1 degrees
/// of freedom. `ratio` = 0 is the plain t-interval. `None` for fewer than 2 values.
pub fn corrected_t_interval(values: &[f64], ratio: f64, level: f64) -> Option<(f64, f64)> {
    let s = sample_std(values)?;
    let n = values.len() as f64;
    let half = t_quantile(0.5 + level / 2.0, n - 1.0) * s * (1.0 / n + ratio).sqrt();
    let m = mean(values);
    Some((m - half, m + half))
}

/// The two-sided p-value of the corrected resampled t-test of `differences` against 0 (see
/// [`corrected_t_interval`]); `ratio` = 0 is [`paired_t_p_value`].
pub fn corrected_t_p_value(differences: &[f64], ratio: f64) -> Option<f64> {
    let s = sample_std(differences)?;
    let m = mean(differences);
    if s == 0.0 {
        return Some(if m == 0.0 { 1.0 } else { 0.0 });
    }
    let n = differences.len() as f64;
    let t = m / (s * (1.0 / n + ratio).sqrt());
    let dist = StudentsT::new(0.0, 1.0, n - 1.0).ok()?;
    Some((2.0 * dist.cdf(-t.abs())).min(1.0))
}

/// The two-sided p-value of the paired t-test of `differences` against 0 (n − 1 degrees of
/// freedom); `None` for fewer than 2 differences. Differences that are all equal give 0
/// when they are not 0, and 1 when they are.
pub fn paired_t_p_value(differences: &[f64]) -> Option<f64> {
    let s = sample_std(differences)?;
    let m = mean(differences);
    if s == 0.0 {
        return Some(if m == 0.0 { 1.0 } else { 0.0 });
    }
    let n = differences.len() as f64;
    let t = m / (s / n.sqrt());
    let dist = StudentsT::new(0.0, 1.0, n - 1.0).ok()?;
    Some((2.0 * dist.cdf(-t.abs())).min(1.0))
}

/// How far a flipped sum may fall short of the observed one and still count as "at least as
/// extreme": rounding of the same sum in another order.
fn tie_tolerance(differences: &[f64]) -> f64 {
    1e-9 * differences.iter().map(|d| d.abs()).sum::<f64>()
}

/// The two-sided paired permutation p-value of the mean of `differences` against 0 by sign
/// flips: exact over all 2^n flips for n ≤ [`EXACT_FLIPS_UP_TO`], else from
/// [`RANDOM_FLIPS`] seeded random flips (`(extreme + 1) / (flips + 1)`, never 0). `None`
/// for no differences.
pub fn sign_flip_p_value(differences: &[f64]) -> Option<f64> {
    let n = differences.len();
    if n == 0 {
        return None;
    }
    let observed = differences.iter().sum::<f64>().abs() - tie_tolerance(differences);
    let flipped_sum = |flip: &mut dyn FnMut(usize) -> bool| -> f64 {
        differences
            .iter()
            .enumerate()
            .map(|(i, &d)| if flip(i) { -d } else { d })
            .sum::<f64>()
            .abs()
    };
    if n <= EXACT_FLIPS_UP_TO {
        let total = 1u64 << n;
        let extreme = (0..total)
            .filter(|mask| flipped_sum(&mut |i| mask >> i & 1 == 1) >= observed)
            .count();
        return Some(extreme as f64 / total as f64);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(PERMUTATION_SEED);
    let extreme = (0..RANDOM_FLIPS)
        .filter(|_| flipped_sum(&mut |_| rng.random::<bool>()) >= observed)
        .count();
    Some((extreme + 1) as f64 / (RANDOM_FLIPS + 1) as f64)
}

/// The smallest p-value [`sign_flip_p_value`] can give with `n` pairs: 2 / 2^n when exact.
pub fn smallest_sign_flip_p_value(n: usize) -> f64 {
    if n <= EXACT_FLIPS_UP_TO {
        2.0 / (1u64 << n) as f64
    } else {
        1.0 / (RANDOM_FLIPS + 1) as f64
    }
}

/// Holm's step-down adjustment of `p_values` for testing them all at once: the i-th
/// smallest is multiplied by (m − i), made monotone, and capped at 1. In the input's order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The Wilson score interval at `level` for a proportion of `successes` out of `n` trials
/// (ties may count half): honest coverage at small n, unlike the normal approximation.
pub fn wilson_interval(successes: f64, n: usize, level: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = standard_normal().inverse_cdf(0.5 + level / 2.0);
    let n = n as f64;
    let p = successes / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// The power of the two-sided paired t-test at level `alpha` with `n` pairs when the true
/// mean difference is `effect` and the pairs' standard deviation `sd`: P(|T| > t_crit) for
/// T noncentral t with n − 1 degrees of freedom and noncentrality effect·√n/sd, computed as
/// the mean over [`POWER_QUADRATURE`] quantiles V of χ²_{n−1} of
/// Φ(λ − t_crit·√(V/ν)) + Φ(−λ − t_crit·√(V/ν)).
pub fn paired_t_power(effect: f64, sd: f64, n: usize, alpha: f64) -> f64 {
    corrected_t_power(effect, sd, n, 0.0, alpha)
}

/// [`paired_t_power`] of the corrected resampled t-test with `n` (seed, fold) pairs and
/// `ratio` = n_test/n_train: the noncentrality is effect / (sd·√(1/n + ratio)).
pub fn corrected_t_power(effect: f64, sd: f64, n: usize, ratio: f64, alpha: f64) -> f64 {
    if n < 2 || sd <= 0.0 {
        return f64::NAN;
    }
    let df = (n - 1) as f64;
    let (Ok(chi), normal) = (ChiSquared::new(df), standard_normal()) else {
        return f64::NAN;
    };
    let critical = t_quantile(1.0 - alpha / 2.0, df);
    let lambda = effect.abs() / (sd * (1.0 / n as f64 + ratio).sqrt());
    let total: f64 = (0..POWER_QUADRATURE)
        .map(|k| {
            let v = chi.inverse_cdf((k as f64 + 0.5) / POWER_QUADRATURE as f64);
            let scale = critical * (v / df).sqrt();
            normal.cdf(lambda - scale) + normal.cdf(-lambda - scale)
        })
        .sum();
    total / POWER_QUADRATURE as f64
}

/// The fewest pairs (seeds) at which the two-sided paired t-test at level `alpha` has at
/// least `power` to detect a true mean difference `effect` when the pairs' standard
/// deviation is `sd`; `None` when even [`MAX_SEEDS`] would not (or `effect` is 0).
pub fn seeds_for_power(effect: f64, sd: f64, alpha: f64, power: f64) -> Option<usize> {
    if effect == 0.0 || !effect.is_finite() || !sd.is_finite() || sd <= 0.0 {
        return None;
    }
    if paired_t_power(effect, sd, MAX_SEEDS, alpha) < power {
        return None;
    }
    // Power grows with n: bisect for the first n that reaches it.
    let (mut low, mut high) = (1, MAX_SEEDS);
    while high - low > 1 {
        let mid = (low + high) / 2;
        if paired_t_power(effect, sd, mid, alpha) >= power {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high.max(2))
}

/// The fewest seeds at which the corrected resampled t-test over `folds` folds (seeds ×
/// folds pairs, `ratio` 1/(folds − 1)) at level `alpha` has at least `power` for a true mean
/// difference `effect` when the pairs' standard deviation is `sd`; `None` when even
/// [`MAX_SEEDS`] seeds would not: the overlap of the folds' training sets keeps the variance
/// of the mean above sd²/(folds − 1) however many seeds run, so only more folds help.
pub fn seeds_for_power_over_folds(
    effect: f64,
    sd: f64,
    folds: usize,
    alpha: f64,
    power: f64,
) -> Option<usize> {
    if folds < 2 || effect == 0.0 || !effect.is_finite() || !sd.is_finite() || sd <= 0.0 {
        return None;
    }
    let ratio = 1.0 / (folds - 1) as f64;
    let power_at = |seeds: usize| corrected_t_power(effect, sd, seeds * folds, ratio, alpha);
    if power_at(MAX_SEEDS) < power {
        return None;
    }
    let (mut low, mut high) = (0, MAX_SEEDS);
    while high - low > 1 {
        let mid = (low + high) / 2;
        if power_at(mid) >= power {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

/// Resamples of [`stratified_bootstrap_t`].
pub const BOOTSTRAP_RESAMPLES: usize = 4_000;
const BOOTSTRAP_SEED: u64 = 0x1055_BE4C_0003;

/// The mean over strata of each stratum's mean (every stratum weighs the same, whatever its
/// size) and its standard error, √(Σ s²ₖ/nₖ)/K; `None` when a stratum has fewer than 2
/// values.
pub fn stratified_mean(strata: &[Vec<f64>]) -> Option<(f64, f64)> {
    if strata.is_empty() || strata.iter().any(|s| s.len() < 2) {
        return None;
    }
    let k = strata.len() as f64;
    let centre = strata.iter().map(|s| mean(s)).sum::<f64>() / k;
    let variance: f64 = strata
        .iter()
        .map(|s| sample_std(s).map_or(0.0, |sd| sd * sd / s.len() as f64))
        .sum();
    Some((centre, variance.sqrt() / k))
}

/// A `level` interval for the mean over strata of each stratum's mean, by the studentized
/// bootstrap stratified by stratum (bootstrap-t): every resample redraws each stratum from
/// itself with its own size, and the interval is the estimate minus the resampled
/// t-statistics' quantiles times its standard error. Needs 2 values in every stratum and some
/// spread; resamples without spread are redrawn into the count, not dropped. Seeded, so
/// the same strata give the same interval.
pub fn stratified_bootstrap_t(strata: &[Vec<f64>], level: f64) -> Option<(f64, f64)> {
    let (centre, se) = stratified_mean(strata)?;
    if se <= 0.0 || !se.is_finite() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut statistics = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut resample: Vec<Vec<f64>> = strata.iter().map(|s| vec![0.0; s.len()]).collect();
    while statistics.len() < BOOTSTRAP_RESAMPLES {
        for (out, stratum) in resample.iter_mut().zip(strata) {
            for v in out.iter_mut() {
                *v = stratum[rng.random_range(0..stratum.len())];
            }
        }
        let (m, s) = stratified_mean(&resample)?;
        if s > 0.0 {
            statistics.push((m - centre) / s);
        } else {
            // No spread in any stratum: the t-statistic is ±∞ (or 0/0 at the estimate);
            // count it at the matching end, so such draws widen the interval.
            statistics.push(match (m - centre).partial_cmp(&0.0) {
                Some(std::cmp::Ordering::Greater) => f64::INFINITY,
                Some(std::cmp::Ordering::Less) => f64::NEG_INFINITY,
                _ => 0.0,
            });
        }
    }
    statistics.sort_by(f64::total_cmp);
    let quantile = |p: f64| {
        let i = ((statistics.len() - 1) as f64 * p).round() as usize;
        statistics[i]
    };
    let tail = (1.0 - level) / 2.0;
    let (low_t, high_t) = (quantile(tail), quantile(1.0 - tail));
    Some((centre - high_t * se, centre - low_t * se))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// A standard normal draw (Box–Muller).
    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let u: f64 = 1.0 - rng.random::<f64>();
        let v: f64 = rng.random::<f64>();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A draw of Student's t with 3 degrees of freedom: heavy tails, mean 0.
    fn t3(rng: &mut ChaCha8Rng) -> f64 {
        let z = normal(rng);
        let chi: f64 = (0..3).map(|_| normal(rng).powi(2)).sum();
        z / (chi / 3.0).sqrt()
    }

    #[test]
    fn the_95_percent_t_interval_covers_the_true_mean_at_least_93_percent_of_draws() {
        let draws = 4000;
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let mut table = Vec::new();
        for (name, draw) in [
            ("normal", normal as fn(&mut ChaCha8Rng) -> f64),
            ("t(3)", t3),
        ] {
            for n in [2, 3, 5, 10] {
                let true_mean = 0.7;
                let covered = (0..draws)
                    .filter(|_| {
                        let sample: Vec<f64> =
                            (0..n).map(|_| true_mean + 4.0 * draw(&mut rng)).collect();
                        let (low, high) = t_interval(&sample, 0.95).expect("n >= 2");
                        low <= true_mean && true_mean <= high
                    })
                    .count();
                let coverage = covered as f64 / draws as f64;
                table.push(format!("{name:6} n = {n:2}: {:.1}%", 100.0 * coverage));
                assert!(
                    coverage >= 0.93,
                    "{name}, n = {n}: the 95% interval covered {coverage:.3}"
                );
            }
        }
        println!(
            "coverage of the 95% t-interval over {draws} draws each:\n{}",
            table.join("\n")
        );
    }

    /// A Gamma(`shape`, 1) draw (Marsaglia & Tsang 2000; shapes below 1 by boosting).
    fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let u: f64 = 1.0 - rng.random::<f64>();
            return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = normal(rng);
            let v = (1.0 + c * z).powi(3);
            let u: f64 = 1.0 - rng.random::<f64>();
            if v > 0.0 && u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Beta draw of mean `mean` and concentration `kappa` (α + β): a score in [0, 1]
    /// whose spread over seeds is √(mean(1 − mean)/(κ + 1)).
    fn beta(rng: &mut ChaCha8Rng, mean: f64, kappa: f64) -> f64 {
        let a = gamma(rng, mean * kappa);
        let b = gamma(rng, (1.0 - mean) * kappa);
        a / (a + b)
    }

    /// The coverage of the clipped 95% t-interval of `draws` samples of `n` values from
    /// `draw`, whose true mean is `mean`, in `range`; also how often it was clipped. Fails
    /// when an interval leaves the range.
    fn clipped_coverage(
        rng: &mut ChaCha8Rng,
        draw: &dyn Fn(&mut ChaCha8Rng) -> f64,
        (mean, range, n, draws): (f64, (f64, f64), usize, usize),
    ) -> (f64, f64) {
        let (mut covered, mut clipped) = (0, 0);
        for _ in 0..draws {
            let sample: Vec<f64> = (0..n).map(|_| draw(rng)).collect();
            let interval = t_interval(&sample, 0.95).expect("n >= 2");
            let ((low, high), was) = clip_to(interval, Some(range));
            assert!(
                range.0 <= low && high <= range.1,
                "[{low}, {high}] leaves {range:?}"
            );
            covered += usize::from(low <= mean && mean <= high);
            clipped += usize::from(was);
        }
        (covered as f64 / draws as f64, clipped as f64 / draws as f64)
    }

    /// A simulated metric: its name in the table, true mean, range, a draw of one seed's
    /// value, and the lowest coverage the clipped interval may have at any n.
    type Case = (
        String,
        f64,
        (f64, f64),
        Box<dyn Fn(&mut ChaCha8Rng) -> f64>,
        f64,
    );

    /// Scores in [0, 1] (Beta of concentration κ = α + β) at means 0.02, 0.5 and 0.98,
    /// narrow (κ = 500) and wide (κ = 50: at 0.02 the spread over seeds equals the distance
    /// to the bound, and the values are as skewed as an exponential's); a distance in
    /// [0, ∞) of mean 0.5 (Gamma, shape 2, and shape 0.5, its spread above its mean).
    fn cases_near_the_bounds() -> Vec<Case> {
        let mut cases: Vec<Case> = Vec::new();
        for kappa in [500.0_f64, 50.0] {
            for mean in [0.02_f64, 0.5, 0.98] {
                let sd = (mean * (1.0 - mean) / (kappa + 1.0)).sqrt();
                // Skewed values (a spread near the distance to the bound) undercover.
                let floor = if kappa < 100.0 && mean != 0.5 {
                    0.85
                } else {
                    0.93
                };
                cases.push((
                    format!("[0, 1], mean {mean:.2}, sd {sd:.3} (Beta, κ = {kappa})"),
                    mean,
                    (0.0, 1.0),
                    Box::new(move |rng: &mut ChaCha8Rng| beta(rng, mean, kappa)),
                    floor,
                ));
            }
        }
        for (shape, floor) in [(2.0_f64, 0.90), (0.5, 0.80)] {
            let mean = 0.5;
            cases.push((
                format!(
                    "[0, ∞), mean {mean:.2}, sd {:.3} (Gamma, shape {shape})",
                    mean / shape.sqrt()
                ),
                mean,
                (0.0, f64::INFINITY),
                Box::new(move |rng: &mut ChaCha8Rng| gamma(rng, shape) * mean / shape),
                floor,
            ));
        }
        cases
    }

    /// The table the README quotes: `cargo test --release --lib the_clipped_95 --
    /// --nocapture`.
    #[test]
    fn the_clipped_95_percent_interval_stays_in_range_and_its_coverage_is_as_stated() {
        let draws = 4000;
        let mut rng = ChaCha8Rng::seed_from_u64(37);
        let mut table = vec![
            "| range, true mean, spread over seeds | n = 2 | n = 3 | n = 5 | n = 10 |".to_string(),
            "|---|---|---|---|---|".to_string(),
        ];
        let mut short_of_95 = false;
        for (name, mean, range, draw, floor) in &cases_near_the_bounds() {
            let mut row = format!("| {name} |");
            for n in [2, 3, 5, 10] {
                let (coverage, clipped) =
                    clipped_coverage(&mut rng, draw.as_ref(), (*mean, *range, n, draws));
                row.push_str(&format!(
                    " {:.1}% ({:.0}% clipped) |",
                    100.0 * coverage,
                    100.0 * clipped
                ));
                assert!(
                    coverage >= *floor,
                    "{name}, n = {n}: covered {coverage:.3}, below {floor}"
                );
                short_of_95 |= coverage < 0.90;
            }
            table.push(row);
        }
        println!(
            "coverage of the clipped 95% t-interval over {draws} draws each:\n{}",
            table.join("\n")
        );
        // What the README says: skewed values near a bound undercover.
        assert!(
            short_of_95,
            "no case fell below 90%: the README's table is out of date"
        );
    }

    /// One simulated fold sweep: `seeds` × `folds` paired differences around `true_mean`
    /// whose folds share training data. As Nadeau & Bengio model it, every two of them
    /// are correlated by ρ = n_test/(n_test + n_train) = 1/folds: one draw common to the
    /// whole sweep (what the overlapping training sets share) plus one of each pair.
    fn fold_sweep(rng: &mut ChaCha8Rng, true_mean: f64, seeds: usize, folds: usize) -> Vec<f64> {
        let rho = 1.0 / folds as f64;
        let shared = rho.sqrt() * normal(rng);
        (0..seeds * folds)
            .map(|_| true_mean + 3.0 * (shared + (1.0 - rho).sqrt() * normal(rng)))
            .collect()
    }

    #[test]
    fn the_corrected_95_percent_interval_of_fold_sweeps_covers_at_least_93_percent() {
        let draws = 4000;
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let mut table = Vec::new();
        for (seeds, folds) in [(1, 5), (2, 5), (3, 3), (5, 10)] {
            let ratio = 1.0 / (folds - 1) as f64;
            let (mut corrected, mut naive, mut rejected) = (0, 0, 0);
            for _ in 0..draws {
                let d = fold_sweep(&mut rng, 0.4, seeds, folds);
                let (low, high) = corrected_t_interval(&d, ratio, 0.95).expect("n >= 2");
                corrected += usize::from(low <= 0.4 && 0.4 <= high);
                let (low, high) = t_interval(&d, 0.95).expect("n >= 2");
                naive += usize::from(low <= 0.4 && 0.4 <= high);
                let centred: Vec<f64> = d.iter().map(|x| x - 0.4).collect();
                let p = corrected_t_p_value(&centred, ratio).expect("p");
                rejected += usize::from(p < 0.05);
            }
            let share = |k: usize| k as f64 / draws as f64;
            table.push(format!(
                "{seeds} seed(s) x {folds} folds: corrected {:.1}%, uncorrected {:.1}%, corrected test rejects a true null {:.1}%",
                100.0 * share(corrected),
                100.0 * share(naive),
                100.0 * share(rejected)
            ));
            assert!(
                share(corrected) >= 0.93,
                "{seeds} x {folds}: the corrected interval covered {}",
                share(corrected)
            );
            assert!(
                share(rejected) <= 0.07,
                "{seeds} x {folds}: {}",
                share(rejected)
            );
            assert!(
                share(naive) < 0.93,
                "{seeds} x {folds}: the uncorrected interval covered {}, so this draw would not catch a missing correction",
                share(naive)
            );
        }
        println!(
            "coverage of the 95% intervals over {draws} simulated fold sweeps each:\n{}",
            table.join("\n")
        );
    }

    #[test]
    fn the_corrected_test_with_no_overlap_is_the_paired_t_test_and_seeds_cannot_beat_the_fold_floor(
    ) {
        let d = [0.1, 0.3, -0.05, 0.2, 0.15];
        assert_eq!(corrected_t_interval(&d, 0.0, 0.95), t_interval(&d, 0.95));
        assert_eq!(corrected_t_p_value(&d, 0.0), paired_t_p_value(&d));
        let (low, high) = corrected_t_interval(&d, 0.25, 0.95).expect("interval");
        let (plain_low, plain_high) = t_interval(&d, 0.95).expect("interval");
        let ratio = (high - low) / (plain_high - plain_low);
        assert!(
            (ratio - (1.0f64 + 5.0 * 0.25).sqrt()).abs() < 1e-12,
            "{ratio}"
        );
        // With 5 folds the variance of the mean never falls below sd²/4: an effect of a
        // tenth of sd is out of reach of any number of seeds, one of 2 sd is not.
        assert_eq!(seeds_for_power_over_folds(0.1, 1.0, 5, 0.05, 0.8), None);
        let seeds = seeds_for_power_over_folds(2.0, 1.0, 5, 0.05, 0.8).expect("reachable");
        assert!(seeds >= 1);
        assert!(corrected_t_power(2.0, 1.0, seeds * 5, 0.25, 0.05) >= 0.8);
        if seeds > 1 {
            assert!(corrected_t_power(2.0, 1.0, (seeds - 1) * 5, 0.25, 0.05) < 0.8);
        }
    }

    #[test]
    fn t_quantile_matches_the_table() {
        for (df, want) in [(1.0, 12.7062), (4.0, 2.7764), (9.0, 2.2622), (30.0, 2.0423)] {
            let got = t_quantile(0.975, df);
            assert!(close(got, want, 1e-4), "df {df}: {got} against {want}");
        }
        assert!(t_quantile(1.0, 3.0).is_nan());
    }

    #[test]
    fn a_consistent_deficit_over_two_seeds_has_a_wide_interval_and_a_small_p() {
        let d = [-0.1368, -0.1305];
        let (low, high) = t_interval(&d, 0.95).expect("interval");
        // mean −0.13365, s = 0.004455, half-width 12.706 · s / √2 = 0.0400.
        assert!(
            close(low, -0.17368, 1e-4) && close(high, -0.09362, 1e-4),
            "{low} {high}"
        );
        let p = paired_t_p_value(&d).expect("p");
        // t = −42.43 on 1 df: p = 0.0150.
        assert!(close(p, 0.0150, 2e-4), "{p}");
        assert_eq!(sign_flip_p_value(&d), Some(0.5));
    }

    #[test]
    fn paired_t_p_value_matches_a_textbook_case() {
        // Differences 1..5 shifted: mean 1, s = 1.5811, t = 1.4142 on 4 df, p = 0.2302.
        let p = paired_t_p_value(&[-1.0, 0.0, 1.0, 2.0, 3.0]).expect("p");
        assert!(close(p, 0.2302, 1e-4), "{p}");
        assert_eq!(paired_t_p_value(&[0.5]), None);
        assert_eq!(paired_t_p_value(&[0.5, 0.5]), Some(0.0));
    }

    #[test]
    fn sign_flip_p_value_is_exact_to_16_pairs_and_seeded_above() {
        assert_eq!(sign_flip_p_value(&[1.0; 5]), Some(2.0 / 32.0));
        assert_eq!(sign_flip_p_value(&[3.0, -1.0, 1.0]), Some(0.75));
        let many: Vec<f64> = (0..20).map(|i| 1.0 + (i % 3) as f64).collect();
        let p = sign_flip_p_value(&many).expect("p");
        assert_eq!(Some(p), sign_flip_p_value(&many));
        assert!(p < 1e-3 && p >= smallest_sign_flip_p_value(20), "{p}");
    }

    #[test]
    fn holm_multiplies_the_ranked_p_values_and_keeps_them_monotone() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.5]);
        let want = [0.04, 0.09, 0.09, 0.5];
        for (a, w) in adjusted.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adjusted:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert_eq!(holm(&[0.2, 0.6]), vec![0.4, 0.6]);
    }

    #[test]
    fn interquartile_mean_drops_a_quarter_from_each_end() {
        assert_eq!(interquartile_mean(&[1.0, 2.0, 3.0, 100.0]), 2.5);
        assert_eq!(interquartile_mean(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(
            interquartile_mean(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0]),
            3.5
        );
    }

    #[test]
    fn wilson_interval_matches_the_formula_and_stays_in_0_1() {
        let (low, high) = wilson_interval(2.0, 2, 0.95);
        // p = 1, n = 2: (1 + z²/4 ∓ z·√(z²/16)) / (1 + z²/2) → 0.3424 to 1.
        assert!(
            close(low, 0.3424, 1e-4) && close(high, 1.0, 1e-9),
            "{low} {high}"
        );
        let (low, high) = wilson_interval(5.0, 10, 0.95);
        assert!(
            close(low, 0.2366, 1e-4) && close(high, 0.7634, 1e-4),
            "{low} {high}"
        );
    }

    #[test]
    fn power_of_the_paired_t_test_matches_published_values() {
        // Effect size 1 (d = sd): power at n = 10 is 0.8031 (G*Power, two-sided, α = 0.05).
        let p = paired_t_power(1.0, 1.0, 10, 0.05);
        assert!(close(p, 0.8031, 3e-3), "{p}");
        // Effect size 0.5: n = 34 reaches 80% (0.8078), n = 33 does not (0.7963).
        assert_eq!(seeds_for_power(0.5, 1.0, 0.05, 0.8), Some(34));
        assert_eq!(seeds_for_power(1.0, 1.0, 0.05, 0.8), Some(10));
        assert_eq!(seeds_for_power(0.0, 1.0, 0.05, 0.8), None);
    }

    #[test]
    fn the_stratified_bootstrap_t_interval_covers_the_mean_over_strata_at_least_93_percent() {
        // Two datasets whose losses differ in mean and spread, as datasets do.
        let draws = 2000;
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let mut table = Vec::new();
        for (name, draw) in [
            ("normal", normal as fn(&mut ChaCha8Rng) -> f64),
            ("t(3)", t3),
        ] {
            for n in [3, 5, 10] {
                let strata_spec = [(0.02, 0.03), (-0.05, 0.08)];
                let truth = strata_spec.iter().map(|s| s.0).sum::<f64>() / 2.0;
                let covered = (0..draws)
                    .filter(|_| {
                        let strata: Vec<Vec<f64>> = strata_spec
                            .iter()
                            .map(|(m, sd)| (0..n).map(|_| m + sd * draw(&mut rng)).collect())
                            .collect();
                        let (low, high) = stratified_bootstrap_t(&strata, 0.95).expect("spread");
                        low <= truth && truth <= high
                    })
                    .count();
                let coverage = covered as f64 / draws as f64;
                table.push(format!(
                    "{name:6} n = {n:2} per stratum: {:.1}%",
                    100.0 * coverage
                ));
                assert!(
                    coverage >= 0.93,
                    "{name}, n = {n}: the 95% interval covered {coverage:.3}"
                );
            }
        }
        println!(
            "coverage of the 95% stratified bootstrap-t interval over {draws} draws each:\n{}",
            table.join("\n")
        );
    }

    #[test]
    fn stratified_mean_weighs_every_stratum_the_same() {
        let strata = vec![vec![1.0, 3.0], vec![10.0, 10.0, 10.0, 10.0]];
        let (centre, se) = stratified_mean(&strata).expect("two values each");
        assert!(close(centre, 6.0, 1e-12));
        // s² = 2 over n = 2 in the first stratum, none in the second: √1 / 2.
        assert!(close(se, 0.5, 1e-12));
        assert!(stratified_mean(&[vec![1.0]]).is_none());
        assert!(
            stratified_bootstrap_t(&[vec![2.0, 2.0]], 0.95).is_none(),
            "no spread"
        );
    }
}
