//! `herald`: wiring only; see the library for what each command does.

use clap::Parser;
use herald_cli::{Cli, Command};

/// mimalloc instead of the system allocator: a message's render, MIME build and records allocate
/// many short-lived strings, and with glibc's malloc that was about a third of its CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    herald_core::logging::init_local();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => herald_cli::serve::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {}", herald_core::http::problem::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
