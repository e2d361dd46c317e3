//! The execution-side store contract suite against the SQLite store, on a database file in a
//! fresh temporary directory per test (so WAL mode and the concurrency cases run on a real
//! file, not just `:memory:`).

use std::path::PathBuf;

use herald_core::adapters::sqlite::SqliteStore;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "herald-contract-execution-{}",
        uuid::Uuid::new_v4()
    )));
    let path = dir.0.join("data").join("herald.db");
    let store =
        SqliteStore::open(&path).unwrap_or_else(|e| panic!("opening {}: {e:?}", path.display()));
    (store, dir)
}

herald_tests::execution_contract_tests!(with_guard: fresh_store());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_completion_writes_no_execution() {
    let (store, dir) = fresh_store().await;
    herald_tests::contract_execution::a_refused_completion_writes_no_execution(&store).await;
    drop(store);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_listed_in_claim_order_and_later_claims_come_on_later_pages() {
    let (store, dir) = fresh_store().await;
    herald_tests::contract_execution::messages_are_listed_in_claim_order_and_later_claims_come_on_later_pages(&store).await;
    drop(store);
    drop(dir);
}
