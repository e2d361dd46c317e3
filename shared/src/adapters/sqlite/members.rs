//! Static audience members in the `audience_members` table.

use rusqlite::params;

use super::{Access, SqliteStore, after, query_page};
use crate::domain::{AudienceId, ProfileId};
use crate::ports::{AudienceMemberStore, Page, PageRequest, StoreError, StoreResult};

fn texts(ids: &[ProfileId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

impl AudienceMemberStore for SqliteStore {
    async fn add_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        let (audience, members) = (audience.to_string(), texts(members));
        self.run(Access::Write, move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audience_members (audience_id, profile_id) VALUES (?1, ?2)
                 ON CONFLICT (audience_id, profile_id) DO NOTHING",
            )?;
            for m in &members {
                stmt.execute(params![audience, m])?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        let (audience, members) = (audience.to_string(), texts(members));
        self.run(Access::Write, move |tx| {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM audience_members WHERE audience_id = ?1 AND profile_id = ?2",
            )?;
            for m in &members {
                stmt.execute(params![audience, m])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_members(
        &self,
        audience: AudienceId,
        page: &PageRequest,
    ) -> StoreResult<Page<ProfileId>> {
        let audience = audience.to_string();
        let limit = page.effective_limit();
        let (op, from) = after(page.cursor.as_deref());
        let (ids, next) = self
            .run(Access::Scan, move |tx| {
                let sql = format!(
                    "SELECT profile_id, profile_id FROM audience_members
                     WHERE audience_id = ?1 AND profile_id {op} ?2 ORDER BY profile_id LIMIT ?3"
                );
                query_page(tx, &sql, &[&audience, &from], limit)
            })
            .await?;
        let items = ids
            .iter()
            .map(|id| {
                ProfileId::parse(id)
                    .map_err(|e| StoreError::Corrupt(format!("audience member: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn count_members(&self, audience: AudienceId) -> StoreResult<u64> {
        let audience = audience.to_string();
        let count: i64 = self
            .run(Access::Scan, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT COUNT(*) FROM audience_members WHERE audience_id = ?1")?
                    .query_row([audience], |row| row.get(0))?)
            })
            .await?;
        u64::try_from(count).map_err(StoreError::backend)
    }

    async fn clear_members(&self, audience: AudienceId) -> StoreResult<()> {
        let audience = audience.to_string();
        self.run(Access::Write, move |tx| {
            tx.prepare_cached("DELETE FROM audience_members WHERE audience_id = ?1")?
                .execute([audience])?;
            Ok(())
        })
        .await
    }
}
