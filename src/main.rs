//! The `pharos` command: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
    match pharos::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pharos: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// glibc's malloc raises its mmap threshold each time a large block is
/// freed (up to 32 MiB), after which the arenas of a zone being built come
/// from the heap and stay there when the zone is replaced: a secondary of a
/// 1M-record zone held 106 MiB after its second transfer instead of 77, and
/// peaked at 175 MiB instead of 153 while building it. A fixed threshold
/// keeps large arenas in their own mappings, returned when freed.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tunable; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
