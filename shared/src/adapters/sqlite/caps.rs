//! Frequency-cap counters in the `caps` table: `(key, count, expires_at)`. Every counter of a
//! call is checked, then every one incremented, in one `BEGIN IMMEDIATE` transaction, so a
//! refused call changes nothing and concurrent calls never exceed a limit.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Access, SqliteStore, instant};
use crate::ports::{CapCounter, CapStore, StoreResult};

impl CapStore for SqliteStore {
    async fn increment_within(
        &self,
        counters: &[CapCounter],
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        if counters.is_empty() {
            return Ok(None);
        }
        let counters: Vec<(String, i64, i64)> = counters
            .iter()
            .map(|c| (c.key.clone(), i64::from(c.limit), instant(c.expires_at)))
            .collect();
        let now = instant(now);
        self.run(Access::Write, move |tx| {
            {
                let mut read =
                    tx.prepare_cached("SELECT count FROM caps WHERE key = ?1 AND expires_at > ?2")?;
                for (index, (key, limit, _)) in counters.iter().enumerate() {
                    let current: i64 = read
                        .query_row(params![key, now], |row| row.get(0))
                        .optional()?
                        .unwrap_or(0);
                    if current >= *limit {
                        return Ok(Some(index));
                    }
                }
            }
            // An expired window restarts at one with the caller's end.
            let mut write = tx.prepare_cached(
                "INSERT INTO caps (key, count, expires_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN caps.expires_at <= ?3 THEN 1 ELSE caps.count + 1 END,
                     expires_at = CASE WHEN caps.expires_at <= ?3 THEN excluded.expires_at
                                       ELSE caps.expires_at END",
            )?;
            for (key, _, expires_at) in &counters {
                write.execute(params![key, expires_at, now])?;
            }
            Ok(None)
        })
        .await
    }

    async fn decrement(&self, counters: &[CapCounter]) -> StoreResult<()> {
        if counters.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = counters.iter().map(|c| c.key.clone()).collect();
        self.run(Access::Write, move |tx| {
            let mut stmt = tx
                .prepare_cached("UPDATE caps SET count = count - 1 WHERE key = ?1 AND count > 0")?;
            for key in &keys {
                stmt.execute([key])?;
            }
            Ok(())
        })
        .await
    }
}
