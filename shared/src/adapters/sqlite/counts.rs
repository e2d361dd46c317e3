//! Outcome counters in the `counters` table: one row per `(scope, counter name)`, added to
//! with an upsert.

use rusqlite::{Transaction, params};

use super::{Access, Fail, SqliteStore};
use crate::domain::OutcomeCounts;
use crate::domain::execution::{CountDelta, CountScope};
use crate::ports::{CountStore, StoreResult};

/// `execution:<id>` or `campaign:<id>:<version>`.
fn scope_key(scope: CountScope) -> String {
    match scope {
        CountScope::Execution(id) => format!("execution:{id}"),
        CountScope::CampaignVersion(id, version) => format!("campaign:{id}:{version}"),
    }
}

/// Counts to add inside another write: the delta and the keys of the scopes it goes to.
pub(super) struct Adding {
    scopes: Vec<String>,
    items: Vec<(String, i64)>,
}

impl Adding {
    pub(super) fn new(scopes: &[CountScope], delta: &CountDelta) -> Self {
        let items: Vec<(String, i64)> = delta.0.iter().filter(|(_, n)| *n != 0).cloned().collect();
        let scopes = if items.is_empty() {
            Vec::new()
        } else {
            scopes.iter().copied().map(scope_key).collect()
        };
        Self { scopes, items }
    }

    /// Adds them in the transaction `tx`.
    pub(super) fn run(&self, tx: &Transaction<'_>) -> Result<(), Fail> {
        if self.items.is_empty() {
            return Ok(());
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO counters (scope, name, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value",
        )?;
        for scope in &self.scopes {
            for (name, n) in &self.items {
                stmt.execute(params![scope, name, n])?;
            }
        }
        Ok(())
    }
}

impl CountStore for SqliteStore {
    async fn add_counts(&self, scope: CountScope, delta: &CountDelta) -> StoreResult<()> {
        let adding = Adding::new(&[scope], delta);
        if adding.items.is_empty() {
            return Ok(());
        }
        self.run(Access::Write, move |tx| adding.run(tx)).await
    }

    async fn get_counts(&self, scope: CountScope) -> StoreResult<OutcomeCounts> {
        let scope = scope_key(scope);
        let rows = self
            .run(Access::Read, move |tx| {
                let mut stmt =
                    tx.prepare_cached("SELECT name, value FROM counters WHERE scope = ?1")?;
                let rows = stmt
                    .query_map([scope], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(OutcomeCounts::from_counters(
            rows.iter().map(|(name, n)| (name.as_str(), *n)),
        ))
    }
}
