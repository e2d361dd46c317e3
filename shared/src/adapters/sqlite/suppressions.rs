//! The suppression list in the `suppressions` table.

use rusqlite::{OptionalExtension, params};

use super::{Access, SqliteStore, cut, decode, decode_page, encode, query_rows};
use crate::domain::{Channel, Suppression};
use crate::ports::{Page, PageRequest, StoreResult, SuppressionStore};

/// Cursors are `channel:address`. A cursor naming no channel points past the end.
fn split_cursor(cursor: &str) -> Option<(Channel, String)> {
    let (channel, address) = cursor.split_once(':')?;
    Some((Channel::parse(channel)?, address.to_string()))
}

impl SuppressionStore for SqliteStore {
    async fn put_suppression(&self, suppression: &Suppression) -> StoreResult<bool> {
        let channel = suppression.channel.as_str();
        let (address, body) = (suppression.address.clone(), encode(suppression)?);
        self.run(Access::Write, move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO suppressions (channel, address, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (channel, address) DO NOTHING",
                )?
                .execute(params![channel, address, body])?;
            if inserted == 0 {
                tx.prepare_cached(
                    "UPDATE suppressions SET body = ?3 WHERE channel = ?1 AND address = ?2",
                )?
                .execute(params![channel, address, body])?;
            }
            Ok(inserted > 0)
        })
        .await
    }

    async fn get_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> StoreResult<Option<Suppression>> {
        let (channel, address) = (channel.as_str(), address.to_string());
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached(
                        "SELECT body FROM suppressions WHERE channel = ?1 AND address = ?2",
                    )?
                    .query_row(params![channel, address], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("suppression", &b)).transpose()
    }

    async fn delete_suppression(&self, channel: Channel, address: &str) -> StoreResult<bool> {
        let (channel, address) = (channel.as_str(), address.to_string());
        self.run(Access::Write, move |tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM suppressions WHERE channel = ?1 AND address = ?2")?
                .execute(params![channel, address])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn list_suppressions(
        &self,
        channel: Option<Channel>,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>> {
        let limit = page.effective_limit();
        let start = match page.cursor.as_deref() {
            None => None,
            Some(c) => match split_cursor(c) {
                Some(position) => Some(position),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    });
                }
            },
        };
        let channels: Vec<Channel> = match channel {
            Some(c) => vec![c],
            None => Channel::ALL.to_vec(),
        };
        // Channels in `Channel` order (email, sms, push), each read along the primary key.
        let rows = self
            .run(Access::Scan, move |tx| {
                let mut rows = Vec::new();
                for c in channels {
                    let (op, from) = match &start {
                        Some((sc, _)) if c < *sc => continue,
                        Some((sc, address)) if c == *sc => (">", address.clone()),
                        _ => (">=", String::new()),
                    };
                    let sql = format!(
                        "SELECT channel || ':' || address, body FROM suppressions
                         WHERE channel = ?1 AND address {op} ?2 ORDER BY address LIMIT ?3"
                    );
                    let wanted = limit + 1 - rows.len();
                    rows.extend(query_rows(tx, &sql, &[&c.as_str(), &from], wanted)?);
                    if rows.len() > limit {
                        break;
                    }
                }
                Ok(cut(rows, limit))
            })
            .await?;
        decode_page("suppression", rows)
    }
}
