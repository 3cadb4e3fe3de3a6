//! The `pharos` command: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match pharos::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pharos: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
