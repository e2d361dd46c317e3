//! # herald-bench
//!
//! Herald's benchmarks, run by `scripts/bench` (see `docs/benchmarks.md`). Each benchmark
//! prints its figures beside a ceiling measured in the same run; `scripts/bench` collects them
//! into `bench/results/latest.json`.
pub mod report;

pub mod capacity;
pub mod fixtures;
pub mod procfs;

/// A benchmark program's exit: success, or `<program>: <error>: <source>: …` on standard error
/// (the whole chain of causes) and a failure status.
pub fn exit_with<E: std::error::Error>(
    program: &str,
    result: Result<(), E>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {}", herald_core::logging::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
