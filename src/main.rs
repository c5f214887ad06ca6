//! The `lossbench` command: parses arguments and maps the outcome to an exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    match lossbench::cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(lossbench::exit::USAGE)
        }
    }
}
