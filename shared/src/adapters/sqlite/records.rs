//! Records (channel configurations, rule sets, audiences) in the `records` table.

use rusqlite::{OptionalExtension, params};

use super::{Access, SqliteStore, after, decode, decode_page, encode, int, query_page};
use crate::ports::{Conflict, Page, PageRequest, Record, RecordStore, StoreResult};

impl RecordStore for SqliteStore {
    async fn insert_record<T: Record>(&self, record: &T) -> StoreResult<()> {
        let (kind, key, body) = (T::KIND, record.key(), encode(record)?);
        let revision = int(record.revision())?;
        self.run(Access::Write, move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO records (kind, key, revision, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, key) DO NOTHING",
                )?
                .execute(params![kind, key, revision, body])?;
            if inserted == 0 {
                return Err(Conflict::AlreadyExists.into());
            }
            Ok(())
        })
        .await
    }

    async fn get_record<T: Record>(&self, key: &str) -> StoreResult<Option<T>> {
        let (kind, key) = (T::KIND, key.to_string());
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM records WHERE kind = ?1 AND key = ?2")?
                    .query_row(params![kind, key], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode(T::KIND, &b)).transpose()
    }

    async fn list_records<T: Record>(&self, page: &PageRequest) -> StoreResult<Page<T>> {
        let kind = T::KIND;
        let limit = page.effective_limit();
        let (op, from) = after(page.cursor.as_deref());
        let rows = self
            .run(Access::Scan, move |tx| {
                let sql = format!(
                    "SELECT key, body FROM records WHERE kind = ?1 AND key {op} ?2
                     ORDER BY key LIMIT ?3"
                );
                query_page(tx, &sql, &[&kind, &from], limit)
            })
            .await?;
        decode_page(kind, rows)
    }

    async fn replace_record<T: Record>(
        &self,
        record: &T,
        expected_revision: u64,
    ) -> StoreResult<()> {
        let (kind, key, body) = (T::KIND, record.key(), encode(record)?);
        let revision = int(record.revision())?;
        let expected = int(expected_revision)?;
        self.run(Access::Write, move |tx| {
            let replaced = tx
                .prepare_cached(
                    "UPDATE records SET revision = ?3, body = ?4
                     WHERE kind = ?1 AND key = ?2 AND revision = ?5",
                )?
                .execute(params![kind, key, revision, body, expected])?;
            if replaced == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            Ok(())
        })
        .await
    }

    async fn delete_record<T: Record>(&self, key: &str, expected_revision: u64) -> StoreResult<()> {
        let (kind, key) = (T::KIND, key.to_string());
        let expected = int(expected_revision)?;
        self.run(Access::Write, move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM records WHERE kind = ?1 AND key = ?2 AND revision = ?3",
                )?
                .execute(params![kind, key, expected])?;
            if deleted == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            Ok(())
        })
        .await
    }
}
