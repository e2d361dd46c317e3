//! Outcome counters in the `counters` table: one row per `(scope, counter name)`, added to
//! with an upsert.

use rusqlite::params;

use super::{Access, SqliteStore};
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

impl CountStore for SqliteStore {
    async fn add_counts(&self, scope: CountScope, delta: &CountDelta) -> StoreResult<()> {
        if delta.is_empty() {
            return Ok(());
        }
        let scope = scope_key(scope);
        let items = delta.0.clone();
        self.run(Access::Write, move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO counters (scope, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value",
            )?;
            for (name, n) in items.iter().filter(|(_, n)| *n != 0) {
                stmt.execute(params![scope, name, n])?;
            }
            Ok(())
        })
        .await
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
