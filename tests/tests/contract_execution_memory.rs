//! The execution-side store contract suite against the in-memory store.

use herald_core::adapters::memory::MemoryStore;

herald_tests::execution_contract_tests!(async { MemoryStore::new() });

#[tokio::test]
async fn a_refused_completion_writes_no_execution() {
    herald_tests::contract_execution::a_refused_completion_writes_no_execution(&MemoryStore::new())
        .await;
}

#[tokio::test]
async fn messages_are_listed_in_claim_order_and_later_claims_come_on_later_pages() {
    herald_tests::contract_execution::messages_are_listed_in_claim_order_and_later_claims_come_on_later_pages(
        &MemoryStore::new(),
    )
    .await;
}
