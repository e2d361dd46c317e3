//! # herald-tests
//!
//! Tests that span crates: the store contract suite ([`contract`], run against every store by
//! the `contract_*` test files), cross-function flows and emulator tests.

pub mod contract;
pub mod contract_execution;
pub mod dynamo_local;
pub mod moto;
pub mod runtime_api;
pub mod server;
pub mod threads;
