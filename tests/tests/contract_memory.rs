//! The store contract suite against the in-memory store.

use herald_core::adapters::memory::MemoryStore;

herald_tests::contract_tests!(async { MemoryStore::new() });
