//! What libtorch offers this process: its CUDA backend, the GPUs it sees with their memory,
//! and the versions it was built with. Read by `doctor`, the size check and the scheduler;
//! knows nothing of sweeps or runs.
//!
//! libtorch registers its CUDA backend when `libtorch_cuda.so` is loaded, and it answers its
//! first CUDA question (a device count; `tch::manual_seed` asks one) once for the life of
//! the process: asked before the library is loaded, it says "no CUDA" for good. The binary
//! does not need the library (the linker's `--as-needed` drops it), since loading it costs
//! every CPU run a quarter of a second and 260 MB of memory; [`load_cuda`] loads it, with
//! its symbols global, from beside the `libtorch_cpu.so` this process runs, the first time
//! a device name asks for CUDA ([`resolve`]), which is before libtorch's first CUDA call.
//!
//! The GPUs' names, memory and compute capability come from the CUDA driver
//! (`libcuda.so.1`, loaded only when libtorch sees a GPU or to say why it sees none).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file of libtorch's CUDA backend.
pub const CUDA_LIBRARY: &str = "libtorch_cuda.so";

/// The CUDA version the libtorch lossbench was built against says it was built with
/// (`torch/version.py`), or `none` (a CPU build, or an unpacked libtorch).
pub const BUILT_CUDA: &str = env!("LOSSBENCH_LIBTORCH_CUDA");

/// What a device name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Cpu,
    /// `cuda` (`None`, the first GPU) or `cuda:N`.
    Cuda(Option<usize>),
    /// CUDA when libtorch sees a GPU, else the CPU.
    Auto,
}

impl Request {
    /// Parses `cpu`, `cuda`, `cuda:N`, `auto` (empty means `cpu`), whatever this machine has.
    pub fn parse(name: &str) -> Result<Request, String> {
        match name {
            "" | "cpu" => Ok(Request::Cpu),
            "cuda" => Ok(Request::Cuda(None)),
            "auto" => Ok(Request::Auto),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(index)) => Ok(Request::Cuda(Some(index))),
                _ => Err(format!(
                    "`{other}` is not a device; use cpu, cuda, cuda:N or auto"
                )),
            },
        }
    }

    /// Whether it may train on a GPU (and so needs libtorch's CUDA backend).
    pub fn wants_cuda(self) -> bool {
        self != Request::Cpu
    }
}

/// Resolves a device name against what libtorch sees, loading its CUDA backend first when
/// the name asks for CUDA; the error says why no GPU is usable.
pub fn resolve(name: &str) -> Result<tch::Device, String> {
    let request = Request::parse(name)?;
    if !request.wants_cuda() {
        return Ok(tch::Device::Cpu);
    }
    let gpus = gpu_count();
    match request {
        Request::Cpu => Ok(tch::Device::Cpu),
        Request::Auto if gpus == 0 => Ok(tch::Device::Cpu),
        Request::Auto => Ok(tch::Device::Cuda(0)),
        Request::Cuda(index) => {
            let index = index.unwrap_or(0);
            if index < gpus {
                Ok(tch::Device::Cuda(index))
            } else if gpus == 0 {
                Err(format!(
                    "device `{name}` was requested but libtorch sees no CUDA device on this \
                     machine: {}",
                    why_none()
                ))
            } else {
                Err(format!(
                    "device `{name}` was requested but libtorch sees only {gpus} CUDA device(s) \
                     (cuda:0 to cuda:{}); use one of them, or cuda to spread the runs over all",
                    gpus - 1
                ))
            }
        }
    }
}

/// The outcome of loading libtorch's CUDA backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Loaded from this file, and libtorch's CUDA hooks answer.
    Loaded(PathBuf),
    /// This libtorch has no CUDA library: none in this folder (empty when unknown).
    CpuOnly(PathBuf),
    /// The library is there but did not load, or libtorch had answered a CUDA question
    /// before it was loaded.
    Failed { path: PathBuf, error: String },
}

/// Loads libtorch's CUDA backend (once per process) and says how that went.
pub fn load_cuda() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(load)
}

fn load() -> Backend {
    let folder = libtorch_lib();
    let path = match &folder {
        Some(folder) if !folder.join(CUDA_LIBRARY).exists() => {
            return Backend::CpuOnly(folder.clone())
        }
        Some(folder) => folder.join(CUDA_LIBRARY),
        // libtorch_cpu.so was not found among the loaded objects: let the loader search
        // (the binary's RUNPATH, LD_LIBRARY_PATH).
        None => PathBuf::from(CUDA_LIBRARY),
    };
    if let Err(error) = dlopen(&path, libc::RTLD_NOW | libc::RTLD_GLOBAL) {
        return if folder.is_none() && error.contains("No such file") {
            Backend::CpuOnly(PathBuf::new())
        } else {
            Backend::Failed { path, error }
        };
    }
    // hasCUDART is true once the CUDA hooks are registered, GPU or not.
    if !tch::utils::has_cudart() {
        return Backend::Failed {
            path,
            error: "libtorch had answered a CUDA question before the library was loaded".into(),
        };
    }
    Backend::Loaded(path)
}

/// Whether `libtorch_cuda.so` is loaded in this process; asks libtorch nothing.
pub fn cuda_library_loaded() -> bool {
    loaded_objects()
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == CUDA_LIBRARY))
}

/// The folder of the `libtorch_cpu.so` this process runs.
pub fn libtorch_lib() -> Option<PathBuf> {
    loaded_objects()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "libtorch_cpu.so"))
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The paths of the shared objects loaded in this process.
fn loaded_objects() -> Vec<PathBuf> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid info whose name is a C string or null, and
        // `data` is the vector below, alive for the whole iteration.
        unsafe {
            let paths = &mut *(data as *mut Vec<PathBuf>);
            let name = (*info).dlpi_name;
            if !name.is_null() {
                let name = CStr::from_ptr(name).to_string_lossy();
                if !name.is_empty() {
                    paths.push(PathBuf::from(name.into_owned()));
                }
            }
        }
        0
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    // SAFETY: `each` only reads the info it is given and pushes onto `paths`.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut paths as *mut Vec<PathBuf> as *mut c_void) };
    paths
}

/// `dlopen(path, flags)`, or the loader's message.
fn dlopen(path: &Path, flags: c_int) -> Result<*mut c_void, String> {
    let name = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))?;
    // SAFETY: `name` is a C string; dlerror is read right after, on this thread.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), flags);
        if handle.is_null() {
            let error = libc::dlerror();
            return Err(if error.is_null() {
                format!("{} cannot be loaded", path.display())
            } else {
                CStr::from_ptr(error).to_string_lossy().into_owned()
            });
        }
        Ok(handle)
    }
}

/// How many GPUs libtorch sees, loading its CUDA backend first; 0 when it cannot.
pub fn gpu_count() -> usize {
    match load_cuda() {
        Backend::Loaded(_) => usize::try_from(tch::Cuda::device_count()).unwrap_or(0),
        _ => 0,
    }
}

/// How many GPUs a run asking for device `name` may use: [`gpu_count`] for a CUDA name,
/// 0 for a CPU one (without loading the CUDA backend).
pub fn gpus_for(name: &str) -> usize {
    match Request::parse(name) {
        Ok(request) if request.wants_cuda() => gpu_count(),
        _ => 0,
    }
}

/// Why libtorch sees no GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoGpu {
    /// The libtorch is a CPU build: no `libtorch_cuda.so` in this folder.
    CpuOnly(PathBuf),
    /// libtorch's CUDA backend did not load: the loader's message.
    NotLoaded(String),
    /// No CUDA driver: `libcuda.so.1` did not load (the loader's message).
    NoDriver(String),
    /// `CUDA_VISIBLE_DEVICES` hides every GPU: its value.
    Hidden(String),
    /// The driver loaded but found no usable GPU: what it said.
    Driver(String),
}

impl std::fmt::Display for NoGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoGpu::CpuOnly(folder) => write!(
                f,
                "CPU-only libtorch (no {CUDA_LIBRARY} in {}); build lossbench against a CUDA \
                 build of libtorch (`make libtorch` installs one)",
                folder.display()
            ),
            NoGpu::NotLoaded(error) => {
                write!(f, "libtorch's CUDA backend is not loaded: {error}")
            }
            NoGpu::NoDriver(error) => write!(
                f,
                "no NVIDIA driver (libcuda.so.1 cannot be loaded: {error}); install the \
                 driver, or run on a machine with a GPU"
            ),
            NoGpu::Hidden(value) if value.trim().is_empty() => write!(
                f,
                "CUDA_VISIBLE_DEVICES is set and empty, which hides every GPU; unset it or \
                 name the GPUs (CUDA_VISIBLE_DEVICES=0)"
            ),
            NoGpu::Hidden(value) => write!(
                f,
                "CUDA_VISIBLE_DEVICES={value} leaves no GPU visible; unset it or name GPUs \
                 the machine has (nvidia-smi -L lists them)"
            ),
            NoGpu::Driver(said) => write!(f, "{said}"),
        }
    }
}

/// Why libtorch sees no GPU here (loads the CUDA backend and the driver to find out).
pub fn why_none() -> NoGpu {
    let path = match load_cuda() {
        Backend::CpuOnly(folder) => return NoGpu::CpuOnly(folder.clone()),
        Backend::Failed { path, error } => {
            return NoGpu::NotLoaded(format!("{}: {error}", path.display()))
        }
        Backend::Loaded(path) => path,
    };
    let driver = match driver() {
        Ok(driver) => driver,
        Err(error) => return NoGpu::NoDriver(error.clone()),
    };
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    // SAFETY: the driver's entry points, with pointers to locals.
    let (init, count, version) = unsafe {
        let init = (driver.init)(0);
        let (mut count, mut version) = (0, 0);
        let counted = if init == 0 {
            (driver.count)(&mut count)
        } else {
            init
        };
        (driver.version)(&mut version);
        (counted, count, version)
    };
    match visible {
        Some(value) if init != 0 || count == 0 => return NoGpu::Hidden(value),
        _ => {}
    }
    if init != 0 {
        return NoGpu::Driver(format!(
            "the NVIDIA driver finds no usable GPU ({})",
            driver.error_name(init)
        ));
    }
    NoGpu::Driver(format!(
        "the NVIDIA driver (CUDA {}) sees {count} GPU(s) but libtorch ({}, built with CUDA \
         {}) sees none; a driver older than libtorch's CUDA cannot run it: update the driver",
        cuda_version(i64::from(version)),
        path.display(),
        built_cuda()
    ))
}

/// One GPU as libtorch numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub index: usize,
    pub name: String,
    /// Bytes of memory, and bytes free now; `None` when the driver does not say.
    pub total: Option<u128>,
    pub free: Option<u128>,
    /// Compute capability (major, minor).
    pub capability: Option<(i32, i32)>,
}

/// Every GPU libtorch sees, or why it sees none.
pub fn gpus() -> Result<Vec<Gpu>, NoGpu> {
    let count = gpu_count();
    if count == 0 {
        return Err(why_none());
    }
    Ok((0..count).map(gpu).collect())
}

/// What the driver says of GPU `index` (fields it does not give stay empty).
fn gpu(index: usize) -> Gpu {
    let mut gpu = Gpu {
        index,
        name: "unknown".into(),
        total: None,
        free: None,
        capability: None,
    };
    let Ok(driver) = driver() else {
        return gpu;
    };
    let ordinal = index as c_int;
    // SAFETY: the driver's entry points, with pointers to locals of the types they write;
    // the primary context retained is pushed, popped and released in turn.
    unsafe {
        let mut device: c_int = 0;
        if (driver.init)(0) != 0 || (driver.get)(&mut device, ordinal) != 0 {
            return gpu;
        }
        let mut name = [0 as c_char; 256];
        if (driver.name)(name.as_mut_ptr(), name.len() as c_int, device) == 0 {
            gpu.name = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        }
        let mut total: usize = 0;
        if (driver.total)(&mut total, device) == 0 {
            gpu.total = Some(total as u128);
        }
        let (mut major, mut minor) = (0, 0);
        if (driver.attribute)(&mut major, 75, device) == 0
            && (driver.attribute)(&mut minor, 76, device) == 0
        {
            gpu.capability = Some((major, minor));
        }
        let mut context: *mut c_void = std::ptr::null_mut();
        if (driver.retain)(&mut context, device) == 0 {
            if (driver.push)(context) == 0 {
                let (mut free, mut all) = (0usize, 0usize);
                if (driver.memory)(&mut free, &mut all) == 0 {
                    gpu.free = Some(free as u128);
                }
                let mut popped: *mut c_void = std::ptr::null_mut();
                (driver.pop)(&mut popped);
            }
            (driver.release)(device);
        }
    }
    gpu
}

/// The free memory of GPU `index` when this process first asked (before any run allocated
/// on it): what the size check weighs a run against. `None` when it is not known.
pub fn free_memory(index: usize) -> Option<u128> {
    static FREE: OnceLock<Vec<Option<u128>>> = OnceLock::new();
    FREE.get_or_init(|| {
        gpus()
            .map(|all| all.iter().map(|g| g.free).collect())
            .unwrap_or_default()
    })
    .get(index)
    .copied()
    .flatten()
}

/// The CUDA version libtorch was built with, as `13.0`: libtorch's own answer once its
/// backend is loaded, else what the build read beside the library.
pub fn built_cuda() -> String {
    match load_cuda() {
        Backend::Loaded(_) => cuda_version(tch::utils::version_cudart()),
        _ => BUILT_CUDA.to_string(),
    }
}

/// The cuDNN version libtorch was built with, as `9.20.0`; `None` without its CUDA backend.
pub fn built_cudnn() -> Option<String> {
    matches!(load_cuda(), Backend::Loaded(_)).then(|| {
        let v = tch::utils::version_cudnn();
        format!("{}.{}.{}", v / 10_000, v / 100 % 100, v % 100)
    })
}

/// A CUDA version number (`13000`) as people write it (`13.0`).
pub fn cuda_version(v: i64) -> String {
    format!("{}.{}", v / 1000, v % 1000 / 10)
}

/// libtorch's deterministic settings, as PyTorch's reproducibility notes list them:
/// `CUBLAS_WORKSPACE_CONFIG=:4096:8` (unless already set; cuBLAS reads it when its first
/// workspace is made), cuDNN deterministic and not benchmarking, and
/// `torch.use_deterministic_algorithms(True)`. For the whole process, once; libtorch's C
/// API has no call for two of them, so they are called by their C++ symbols in
/// `libtorch_cpu.so` (an `at::Context` method takes the context as its first argument in
/// the Itanium C++ ABI of Linux).
pub fn deterministic() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var_os(CUBLAS_WORKSPACE).is_none() {
            std::env::set_var(CUBLAS_WORKSPACE, ":4096:8");
        }
        let context = Context::find()?;
        tch::Cuda::cudnn_set_benchmark(false);
        // SAFETY: the symbols are at::globalContext() and the Context methods named, whose
        // C++ signatures the types of `Context` spell.
        unsafe {
            let this = (context.global)();
            (context.set_cudnn)(this, true);
            (context.set_algorithms)(this, true, false);
        }
        Ok(())
    })
    .clone()
}

/// The environment variable cuBLAS reads its workspace configuration from.
pub const CUBLAS_WORKSPACE: &str = "CUBLAS_WORKSPACE_CONFIG";

/// libtorch's deterministic settings now: (deterministic algorithms, cuDNN deterministic,
/// cuDNN benchmark); `None` when libtorch's symbols for them are missing.
pub fn deterministic_settings() -> Option<(bool, bool, bool)> {
    let context = Context::find().ok()?;
    // SAFETY: as in [`deterministic`]; the getters only read the context.
    unsafe {
        let this = (context.global)();
        Some((
            (context.algorithms)(this),
            (context.cudnn)(this),
            (context.benchmark)(this),
        ))
    }
}

/// `at::globalContext()` and the `at::Context` methods of the deterministic settings.
struct Context {
    global: unsafe extern "C" fn() -> *mut c_void,
    set_algorithms: unsafe extern "C" fn(*mut c_void, bool, bool),
    set_cudnn: unsafe extern "C" fn(*mut c_void, bool),
    algorithms: unsafe extern "C" fn(*mut c_void) -> bool,
    cudnn: unsafe extern "C" fn(*mut c_void) -> bool,
    benchmark: unsafe extern "C" fn(*mut c_void) -> bool,
}

impl Context {
    fn find() -> Result<Context, String> {
        let all = libc::RTLD_DEFAULT;
        // SAFETY: each mangled name is the function whose signature the field spells.
        unsafe {
            Ok(Context {
                global: symbol(all, "_ZN2at13globalContextEv")?,
                set_algorithms: symbol(all, "_ZN2at7Context26setDeterministicAlgorithmsEbb")?,
                set_cudnn: symbol(all, "_ZN2at7Context21setDeterministicCuDNNEb")?,
                algorithms: symbol(all, "_ZNK2at7Context23deterministicAlgorithmsEv")?,
                cudnn: symbol(all, "_ZNK2at7Context18deterministicCuDNNEv")?,
                benchmark: symbol(all, "_ZNK2at7Context14benchmarkCuDNNEv")?,
            })
        }
    }
}

/// The entry points of the CUDA driver lossbench calls.
struct Driver {
    init: unsafe extern "C" fn(c_uint) -> c_int,
    count: unsafe extern "C" fn(*mut c_int) -> c_int,
    version: unsafe extern "C" fn(*mut c_int) -> c_int,
    get: unsafe extern "C" fn(*mut c_int, c_int) -> c_int,
    name: unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int,
    total: unsafe extern "C" fn(*mut usize, c_int) -> c_int,
    attribute: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int,
    retain: unsafe extern "C" fn(*mut *mut c_void, c_int) -> c_int,
    push: unsafe extern "C" fn(*mut c_void) -> c_int,
    pop: unsafe extern "C" fn(*mut *mut c_void) -> c_int,
    release: unsafe extern "C" fn(c_int) -> c_int,
    memory: unsafe extern "C" fn(*mut usize, *mut usize) -> c_int,
    error: unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int,
}

impl Driver {
    /// `CUDA_ERROR_NO_DEVICE` for 100.
    fn error_name(&self, code: c_int) -> String {
        let mut name: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a pointer to a static C string, or fails.
        unsafe {
            if (self.error)(code, &mut name) == 0 && !name.is_null() {
                return CStr::from_ptr(name).to_string_lossy().into_owned();
            }
        }
        format!("CUDA error {code}")
    }
}

/// The CUDA driver, loaded once; the loader's message when there is none.
fn driver() -> Result<&'static Driver, &'static String> {
    static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            let handle = dlopen(Path::new("libcuda.so.1"), libc::RTLD_NOW | libc::RTLD_LOCAL)?;
            // SAFETY: each symbol is the driver API function of that name, whose C
            // signature the field's type spells.
            unsafe {
                Ok(Driver {
                    init: symbol(handle, "cuInit")?,
                    count: symbol(handle, "cuDeviceGetCount")?,
                    version: symbol(handle, "cuDriverGetVersion")?,
                    get: symbol(handle, "cuDeviceGet")?,
                    name: symbol(handle, "cuDeviceGetName")?,
                    total: symbol(handle, "cuDeviceTotalMem_v2")?,
                    attribute: symbol(handle, "cuDeviceGetAttribute")?,
                    retain: symbol(handle, "cuDevicePrimaryCtxRetain")?,
                    push: symbol(handle, "cuCtxPushCurrent_v2")?,
                    pop: symbol(handle, "cuCtxPopCurrent_v2")?,
                    release: symbol(handle, "cuDevicePrimaryCtxRelease_v2")?,
                    memory: symbol(handle, "cuMemGetInfo_v2")?,
                    error: symbol(handle, "cuGetErrorName")?,
                })
            }
        })
        .as_ref()
}

/// The function `name` of a loaded library, as the function pointer type `F`.
///
/// # Safety
/// `F` must be a function pointer type matching the symbol's C signature.
unsafe fn symbol<F: Copy>(handle: *mut c_void, name: &str) -> Result<F, String> {
    let c_name = CString::new(name).map_err(|_| format!("{name} holds a NUL byte"))?;
    // SAFETY: the caller guarantees F; a non-null symbol is a function's address.
    unsafe {
        let address = libc::dlsym(handle, c_name.as_ptr());
        if address.is_null() {
            return Err(format!("{name} is missing from the loaded libraries"));
        }
        Ok(std::mem::transmute_copy::<*mut c_void, F>(&address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_whatever_the_machine_has() {
        assert_eq!(Request::parse(""), Ok(Request::Cpu));
        assert_eq!(Request::parse("cuda"), Ok(Request::Cuda(None)));
        assert_eq!(Request::parse("cuda:3"), Ok(Request::Cuda(Some(3))));
        assert_eq!(Request::parse("auto"), Ok(Request::Auto));
        let err = Request::parse("gpu").expect_err("not a device");
        assert!(err.contains("use cpu, cuda, cuda:N or auto"), "{err}");
        assert!(Request::parse("cuda:-1").is_err());
        assert!(!Request::Cpu.wants_cuda() && Request::Auto.wants_cuda());
        // A CPU name is resolved without touching libtorch's CUDA backend.
        assert_eq!(resolve("cpu"), Ok(tch::Device::Cpu));
    }

    #[test]
    fn versions_read_as_nvidia_writes_them() {
        assert_eq!(cuda_version(13000), "13.0");
        assert_eq!(cuda_version(12080), "12.8");
    }

    #[test]
    fn the_reasons_name_their_fix() {
        let hidden = NoGpu::Hidden(String::new()).to_string();
        assert!(
            hidden.contains("CUDA_VISIBLE_DEVICES is set and empty"),
            "{hidden}"
        );
        let cpu = NoGpu::CpuOnly(PathBuf::from("/opt/libtorch/lib")).to_string();
        assert!(cpu.starts_with("CPU-only libtorch (no libtorch_cuda.so in /opt/libtorch/lib)"));
        let driver = NoGpu::NoDriver("libcuda.so.1: cannot open".into()).to_string();
        assert!(driver.starts_with("no NVIDIA driver"), "{driver}");
    }

    #[test]
    fn this_process_runs_a_libtorch_found_on_disk() {
        let lib = libtorch_lib().expect("libtorch_cpu.so is loaded");
        assert!(lib.join("libtorch_cpu.so").exists(), "{}", lib.display());
    }
}
