//! How many of a sweep's CUDA runs train on one GPU at a time: as many as fit in its free
//! memory beside each other (by the size estimate of the largest run, with CUDA's context
//! once, since the runs of one process share it), and never more than the jobs asked for.
//! The sweep's first line says how many and why.

use crate::config::size::{bytes, gpu_bytes, CUDA_CONTEXT};
use crate::config::RunConfig;
use crate::device::Request;

/// The GPUs the runs spread over, as the scheduler places them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spread {
    /// `cuda` or `auto`: worker `w` trains on GPU `w mod count`.
    Every,
    /// `cuda:N`: every run on the GPU it names.
    One,
}

/// The jobs `configs` may run at a time on this machine's GPUs, at most `jobs`, and the
/// line that says why; `(jobs, None)` when no run asks for a GPU or none is visible (the
/// device check then stops the sweep with the reason).
pub fn limit(configs: &[RunConfig], jobs: usize) -> (usize, Option<String>) {
    let cuda: Vec<(&RunConfig, Spread)> = configs
        .iter()
        .filter_map(|c| match Request::parse(&c.device) {
            Ok(Request::Cuda(Some(_))) => Some((c, Spread::One)),
            Ok(Request::Cuda(None) | Request::Auto) => Some((c, Spread::Every)),
            _ => None,
        })
        .collect();
    let count = if cuda.is_empty() {
        0
    } else {
        crate::device::gpu_count()
    };
    let free: Vec<u128> = (0..count).filter_map(crate::device::free_memory).collect();
    if cuda.is_empty() || free.is_empty() {
        return (jobs, None);
    }
    let need = cuda.iter().map(|(c, _)| gpu_bytes(c)).max().flatten();
    let spread = if cuda.iter().any(|(_, s)| *s == Spread::One) {
        Spread::One
    } else {
        Spread::Every
    };
    limit_with(need, &free, spread, jobs)
}

/// [`limit`] for runs that each need `need` bytes on GPUs with `free` bytes free.
fn limit_with(
    need: Option<u128>,
    free: &[u128],
    spread: Spread,
    jobs: usize,
) -> (usize, Option<String>) {
    let least = free.iter().copied().min().unwrap_or(0);
    let gpus = match spread {
        Spread::Every => free.len(),
        Spread::One => 1,
    };
    let per_gpu = match need {
        Some(need) if need > 0 => {
            usize::try_from(least.saturating_sub(CUDA_CONTEXT) / need).unwrap_or(usize::MAX)
        }
        _ => 0,
    }
    .max(1);
    let allowed = per_gpu.saturating_mul(gpus).min(jobs).max(1);
    let on = if gpus == 1 {
        "1 GPU".to_string()
    } else {
        format!("{gpus} GPUs")
    };
    let line = format!(
        "{} per GPU on {on}: a run needs about {} of the {} free (after CUDA's {}), room for {per_gpu}",
        allowed.div_ceil(gpus),
        bytes(need),
        bytes(Some(least)),
        bytes(Some(CUDA_CONTEXT)),
    );
    (allowed, Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u128 = 1 << 30;

    #[test]
    fn as_many_runs_share_a_gpu_as_fit_in_its_free_memory_and_no_more_than_asked() {
        // 80 GiB free, 0.5 GiB for CUDA, 9 GiB a run: 8 fit.
        let (jobs, line) = limit_with(Some(9 * GIB), &[80 * GIB], Spread::Every, 16);
        assert_eq!(jobs, 8);
        let line = line.expect("a line");
        assert!(line.starts_with("8 per GPU on 1 GPU"), "{line}");
        assert!(line.contains("9.0 GiB of the 80.0 GiB free"), "{line}");
        assert_eq!(
            limit_with(Some(9 * GIB), &[80 * GIB], Spread::Every, 4).0,
            4
        );
        // Two GPUs, the fuller one decides: 3 a GPU, 6 at a time.
        assert_eq!(
            limit_with(Some(10 * GIB), &[80 * GIB, 31 * GIB], Spread::Every, 16).0,
            6
        );
        // cuda:1 pins every run to one GPU.
        assert_eq!(
            limit_with(Some(10 * GIB), &[80 * GIB, 80 * GIB], Spread::One, 16).0,
            7
        );
        // A run larger than the GPU still gets one slot: its size check says why it fails.
        assert_eq!(
            limit_with(Some(100 * GIB), &[80 * GIB], Spread::Every, 16).0,
            1
        );
        assert_eq!(limit_with(None, &[80 * GIB], Spread::Every, 16).0, 1);
    }

    #[test]
    fn cpu_runs_are_not_limited() {
        let configs = vec![RunConfig::default(); 3];
        assert_eq!(limit(&configs, 2), (2, None));
    }
}
