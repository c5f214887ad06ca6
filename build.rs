//! Embeds an rpath to libtorch so `lossbench` and its test executables run without
//! `LD_LIBRARY_PATH`. torch-sys (a direct dependency, `links = "tch"`) exports the folder
//! it linked against as `DEP_TCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
