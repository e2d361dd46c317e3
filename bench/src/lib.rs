//! # herald-bench
//!
//! Herald's benchmarks, run by `scripts/bench` (see `docs/benchmarks.md`). Each benchmark
//! prints its figures beside a ceiling measured in the same run; `scripts/bench` collects them
//! into `bench/results/latest.json`.
pub mod report;

pub mod capacity;
pub mod fixtures;
pub mod server;
