//! Deleting expired acceptance records and cap counters, which DynamoDB's TTL does on its own
//! (see [`ExpiryStore`]).
//!
//! Neither table has an index on `expires_at` (one would cost every cap increment an index
//! write), so each call walks a window of `limit` rows in key order, `requests` by `seq`
//! (arrival order) and `caps` by `key`, and deletes the expired rows of that window. The next
//! call starts after it; after the last row the walk starts over. A window is found along the
//! primary key, so a call costs at most `limit` rows of each table whatever their size.

use jiff::Timestamp;
use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::{Access, SqliteStore, instant};
use crate::ports::{ExpiryStore, StoreResult};

/// Where the next purge starts in each table: after this `seq` and after this cap key.
#[derive(Clone, Debug, Default)]
pub(super) struct PurgeCursor {
    request_seq: i64,
    cap_key: String,
}

/// The last key of the window of `limit` rows after `from` (`sql` selects the key after `?1`
/// at offset `?2`), `None` when fewer are left: then the window runs to the end and the next
/// call starts over.
fn window_end<K: FromSql>(
    tx: &Connection,
    sql: &str,
    from: &dyn ToSql,
    limit: u32,
) -> rusqlite::Result<Option<K>> {
    tx.prepare_cached(sql)?
        .query_row(params![from, limit - 1], |row| row.get(0))
        .optional()
}

impl ExpiryStore for SqliteStore {
    async fn purge_expired(&self, now: Timestamp, limit: u32) -> StoreResult<u64> {
        if limit == 0 {
            return Ok(0);
        }
        let from = self
            .purge
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let now = instant(now);
        let (deleted, next) = self
            .run(Access::Write, move |tx| {
                let request_end: Option<i64> = window_end(
                    tx,
                    "SELECT seq FROM requests WHERE seq > ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
                    &from.request_seq,
                    limit,
                )?;
                let requests = tx
                    .prepare_cached(
                        "DELETE FROM requests WHERE seq > ?1 AND seq <= ?2 AND expires_at <= ?3",
                    )?
                    .execute(params![
                        from.request_seq,
                        request_end.unwrap_or(i64::MAX),
                        now
                    ])?;
                let cap_end: Option<String> = window_end(
                    tx,
                    "SELECT key FROM caps WHERE key > ?1 ORDER BY key LIMIT 1 OFFSET ?2",
                    &from.cap_key,
                    limit,
                )?;
                let caps = match &cap_end {
                    Some(end) => tx
                        .prepare_cached(
                            "DELETE FROM caps WHERE key > ?1 AND key <= ?2 AND expires_at <= ?3",
                        )?
                        .execute(params![from.cap_key, end, now])?,
                    None => tx
                        .prepare_cached("DELETE FROM caps WHERE key > ?1 AND expires_at <= ?2")?
                        .execute(params![from.cap_key, now])?,
                };
                let next = PurgeCursor {
                    request_seq: request_end.unwrap_or(0),
                    cap_key: cap_end.unwrap_or_default(),
                };
                Ok(((requests + caps) as u64, next))
            })
            .await?;
        *self
            .purge
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CampaignId, ExecutionId};
    use crate::ports::{AcceptanceStore, CapCounter, CapStore, RequestKey};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    /// The request ids and cap keys left, in table order.
    async fn left(store: &SqliteStore) -> (Vec<String>, Vec<String>) {
        store
            .run(Access::Write, |tx| {
                let column = |sql: &str| -> rusqlite::Result<Vec<String>> {
                    tx.prepare(sql)?.query_map([], |row| row.get(0))?.collect()
                };
                Ok((
                    column("SELECT request_id FROM requests ORDER BY seq")?,
                    column("SELECT key FROM caps ORDER BY key")?,
                ))
            })
            .await
            .unwrap()
    }

    /// Requests `r0..r5` and caps `c0..c5` in that order; the even ones expire at +100, the
    /// odd ones at +300.
    async fn store() -> SqliteStore {
        let store = SqliteStore::open_in_memory().unwrap();
        let campaign = CampaignId::new();
        for i in 0..6 {
            let expires = at(if i % 2 == 0 { 100 } else { 300 });
            let key = RequestKey {
                campaign_id: campaign,
                request_id: format!("r{i}"),
            };
            store
                .begin_request(&key, "h", ExecutionId::new(), at(0), at(30), expires)
                .await
                .unwrap();
            let cap = CapCounter {
                key: format!("c{i}"),
                limit: 5,
                expires_at: expires,
            };
            store.increment_within(&[cap], at(0)).await.unwrap();
        }
        store
    }

    fn names(prefix: &str, numbers: &[u8]) -> Vec<String> {
        numbers.iter().map(|n| format!("{prefix}{n}")).collect()
    }

    #[tokio::test]
    async fn each_purge_looks_at_the_next_window_and_the_walk_starts_over_after_the_end() {
        let store = store().await;
        // Windows of 4: rows 0-3 (two expired), then 4-5 (one), then the walk starts over.
        assert_eq!(store.purge_expired(at(200), 4).await.unwrap(), 4);
        assert_eq!(
            left(&store).await,
            (names("r", &[1, 3, 4, 5]), names("c", &[1, 3, 4, 5]))
        );
        assert_eq!(store.purge_expired(at(200), 4).await.unwrap(), 2);
        let odd = (names("r", &[1, 3, 5]), names("c", &[1, 3, 5]));
        assert_eq!(left(&store).await, odd);
        // Back at the start: nothing else has expired at +200, and the odd ones live.
        assert_eq!(store.purge_expired(at(200), 4).await.unwrap(), 0);
        assert_eq!(store.purge_expired(at(299), 100).await.unwrap(), 0);
        assert_eq!(left(&store).await, odd);
        // At +300 they expire: one window of 100 takes them all.
        assert_eq!(store.purge_expired(at(300), 100).await.unwrap(), 6);
        assert_eq!(left(&store).await, (vec![], vec![]));
        assert_eq!(store.purge_expired(at(300), 0).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_window_past_the_end_starts_over_and_deletes_what_expired_behind_it() {
        let store = store().await;
        // Walk past rows 0-3 while nothing has expired.
        assert_eq!(store.purge_expired(at(50), 4).await.unwrap(), 0);
        // The window is now rows 4-5 (r4/c4 expired at +100), then the walk starts over.
        assert_eq!(store.purge_expired(at(200), 4).await.unwrap(), 2);
        assert_eq!(
            left(&store).await,
            (names("r", &[0, 1, 2, 3, 5]), names("c", &[0, 1, 2, 3, 5]))
        );
        assert_eq!(store.purge_expired(at(200), 4).await.unwrap(), 4);
        assert_eq!(
            left(&store).await,
            (names("r", &[1, 3, 5]), names("c", &[1, 3, 5]))
        );
    }
}
