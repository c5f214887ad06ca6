//! `lossbench doctor`: what this machine offers lossbench, to read before a sweep and to
//! paste into a bug report: lossbench's and libtorch's versions, the CUDA and cuDNN
//! versions libtorch was built with, its CUDA backend, each GPU it sees (or why it sees
//! none), its threads and CPU libraries. `--json` prints the same for scripts.

use std::process::ExitCode;

use serde::Serialize;

use crate::device::{self, Backend};
use crate::provenance;

/// Everything doctor reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub lossbench: String,
    pub commit: String,
    pub libtorch: String,
    /// The folder of the `libtorch_cpu.so` this process runs.
    pub libtorch_lib: Option<String>,
    /// The CUDA and cuDNN versions libtorch was built with (`none`: a CPU build).
    pub cuda_built: String,
    pub cudnn_built: Option<String>,
    /// `loaded`, `cpu-only` or `failed`, and the file or the loader's message.
    pub cuda_backend: String,
    pub cuda_backend_detail: String,
    pub cuda_visible_devices: Option<String>,
    pub gpus: Vec<Gpu>,
    /// Why libtorch sees no GPU; `None` when it sees one.
    pub no_gpu: Option<String>,
    pub threads: i32,
    pub interop_threads: i32,
    pub mkl: bool,
    pub onednn: bool,
    pub openmp: bool,
}

/// One GPU as doctor reports it.
#[derive(Debug, Serialize)]
pub struct Gpu {
    pub device: String,
    pub name: String,
    pub total_bytes: Option<u128>,
    pub free_bytes: Option<u128>,
    pub compute_capability: Option<String>,
}

/// Gathers the report (loading libtorch's CUDA backend when there is one).
pub fn report() -> Report {
    let backend = device::load_cuda();
    let (state, detail) = match backend {
        Backend::Loaded(path) => ("loaded", path.display().to_string()),
        Backend::CpuOnly(folder) => (
            "cpu-only",
            format!("no {} in {}", device::CUDA_LIBRARY, folder.display()),
        ),
        Backend::Failed { path, error } => ("failed", format!("{}: {error}", path.display())),
    };
    let (gpus, no_gpu) = match device::gpus() {
        Ok(gpus) => (gpus.into_iter().map(gpu).collect(), None),
        Err(why) => (Vec::new(), Some(why.to_string())),
    };
    Report {
        lossbench: env!("CARGO_PKG_VERSION").to_string(),
        commit: provenance::COMMIT.to_string(),
        libtorch: env!("LOSSBENCH_LIBTORCH_VERSION").to_string(),
        libtorch_lib: device::libtorch_lib().map(|p| p.display().to_string()),
        cuda_built: device::built_cuda(),
        cudnn_built: device::built_cudnn(),
        cuda_backend: state.to_string(),
        cuda_backend_detail: detail,
        cuda_visible_devices: std::env::var("CUDA_VISIBLE_DEVICES").ok(),
        gpus,
        no_gpu,
        threads: tch::get_num_threads(),
        interop_threads: tch::get_num_interop_threads(),
        mkl: tch::utils::has_mkl(),
        onednn: tch::utils::has_mkldnn(),
        openmp: tch::utils::has_openmp(),
    }
}

fn gpu(g: device::Gpu) -> Gpu {
    Gpu {
        device: format!("cuda:{}", g.index),
        name: g.name,
        total_bytes: g.total,
        free_bytes: g.free,
        compute_capability: g
            .capability
            .map(|(major, minor)| format!("{major}.{minor}")),
    }
}

/// `lossbench doctor`: prints the report, as text or JSON; always status 0.
pub fn run(json: bool) -> anyhow::Result<ExitCode> {
    let report = report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as people read it.
pub fn text(r: &Report) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let memory =
        |b: Option<u128>| b.map_or("unknown".into(), |b| crate::config::size::bytes(Some(b)));
    let mut out = format!(
        "lossbench {} (commit {})\nlibtorch {} ({})\nbuilt with CUDA {}, cuDNN {}\n",
        r.lossbench,
        r.commit,
        r.libtorch,
        r.libtorch_lib.as_deref().unwrap_or("folder unknown"),
        r.cuda_built,
        r.cudnn_built.as_deref().unwrap_or("none"),
    );
    out += &format!(
        "CUDA backend: {} ({})\n",
        r.cuda_backend, r.cuda_backend_detail
    );
    if let Some(v) = &r.cuda_visible_devices {
        out += &format!("CUDA_VISIBLE_DEVICES={v:?}\n");
    }
    match &r.no_gpu {
        Some(why) => out += &format!("GPUs: none: {why}\n"),
        None => {
            out += &format!("GPUs: {}\n", r.gpus.len());
            for g in &r.gpus {
                out += &format!(
                    "  {}  {}, {} ({} free), compute capability {}\n",
                    g.device,
                    g.name,
                    memory(g.total_bytes),
                    memory(g.free_bytes),
                    g.compute_capability.as_deref().unwrap_or("unknown")
                );
            }
        }
    }
    out += &format!(
        "threads: {} intra-op, {} inter-op (train.threads sets a run's)\nMKL: {}, oneDNN: {}, OpenMP: {}\n",
        r.threads,
        r.interop_threads,
        yes(r.mkl),
        yes(r.onednn),
        yes(r.openmp)
    );
    out
}
