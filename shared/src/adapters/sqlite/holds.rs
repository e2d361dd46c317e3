//! Held (quiet-hours) messages in the `holds` table, due along `holds_by_release_time`.

use jiff::Timestamp;
use rusqlite::params;

use super::{Access, SqliteStore, decode, encode, instant, int};
use crate::domain::MessageId;
use crate::domain::execution::HeldMessage;
use crate::ports::{HoldStore, StoreResult};

/// Holds released at or before an instant, earliest first.
pub(super) const DUE: &str = "SELECT body FROM holds
     WHERE release_at <= ?1 ORDER BY release_at, message_id LIMIT ?2";

impl HoldStore for SqliteStore {
    async fn hold(&self, message: &HeldMessage) -> StoreResult<()> {
        let id = message.message_id.as_str().to_string();
        let (release_at, body) = (instant(message.release_at), encode(message)?);
        self.run(Access::Write, move |tx| {
            tx.prepare_cached(
                "INSERT INTO holds (message_id, release_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (message_id) DO UPDATE SET
                     release_at = excluded.release_at, body = excluded.body",
            )?
            .execute(params![id, release_at, body])?;
            Ok(())
        })
        .await
    }

    async fn due_held(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<HeldMessage>> {
        let now = instant(now);
        let limit = int(u64::from(limit))?;
        let bodies = self
            .run(Access::Scan, move |tx| {
                let mut stmt = tx.prepare_cached(DUE)?;
                let rows = stmt
                    .query_map(params![now, limit], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(rows)
            })
            .await?;
        bodies.iter().map(|b| decode("held message", b)).collect()
    }

    async fn release(&self, id: &MessageId) -> StoreResult<bool> {
        let id = id.as_str().to_string();
        self.run(Access::Write, move |tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM holds WHERE message_id = ?1")?
                .execute([id])?;
            Ok(deleted > 0)
        })
        .await
    }
}
