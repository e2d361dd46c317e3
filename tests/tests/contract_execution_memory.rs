//! The execution-side store contract suite against the in-memory store.

use herald_core::adapters::memory::MemoryStore;

herald_tests::execution_contract_tests!(async { MemoryStore::new() });
