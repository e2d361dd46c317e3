//! Campaigns and their versions in the `campaigns` and `campaign_versions` tables.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Access, Fail, SqliteStore, after, decode, decode_page, encode, int, query_page};
use crate::domain::{Campaign, CampaignId, CampaignVersion};
use crate::ports::{CampaignStore, Conflict, Page, PageRequest, StoreResult};

/// A version ready to be written: `(campaign id, version, body)`.
type VersionRow = (String, i64, String);

fn version_rows(versions: &[CampaignVersion]) -> StoreResult<Vec<VersionRow>> {
    versions
        .iter()
        .map(|v| Ok((v.campaign_id.to_string(), i64::from(v.version), encode(v)?)))
        .collect()
}

fn put_versions(tx: &Connection, rows: &[VersionRow]) -> Result<(), Fail> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO campaign_versions (campaign_id, version, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (campaign_id, version) DO UPDATE SET body = excluded.body",
    )?;
    for (id, version, body) in rows {
        stmt.execute(params![id, version, body])?;
    }
    Ok(())
}

impl CampaignStore for SqliteStore {
    async fn insert_campaign(
        &self,
        campaign: &Campaign,
        version: &CampaignVersion,
    ) -> StoreResult<()> {
        let (id, body) = (campaign.id.to_string(), encode(campaign)?);
        let revision = int(campaign.revision)?;
        let versions = version_rows(std::slice::from_ref(version))?;
        self.run(Access::Write, move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO campaigns (id, revision, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, revision, body])?;
            if inserted == 0 {
                return Err(Conflict::AlreadyExists.into());
            }
            put_versions(tx, &versions)
        })
        .await
    }

    async fn get_campaign(&self, id: CampaignId) -> StoreResult<Option<Campaign>> {
        let id = id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM campaigns WHERE id = ?1")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("campaign", &b)).transpose()
    }

    async fn get_campaign_version(
        &self,
        id: CampaignId,
        version: u32,
    ) -> StoreResult<Option<CampaignVersion>> {
        let id = id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached(
                        "SELECT body FROM campaign_versions WHERE campaign_id = ?1 AND version = ?2",
                    )?
                    .query_row(params![id, version], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("campaign version", &b)).transpose()
    }

    async fn list_campaigns(&self, page: &PageRequest) -> StoreResult<Page<Campaign>> {
        let limit = page.effective_limit();
        let (op, from) = after(page.cursor.as_deref());
        let rows = self
            .run(Access::Scan, move |tx| {
                let sql =
                    format!("SELECT id, body FROM campaigns WHERE id {op} ?1 ORDER BY id LIMIT ?2");
                query_page(tx, &sql, &[&from], limit)
            })
            .await?;
        decode_page("campaign", rows)
    }

    async fn update_campaign(
        &self,
        campaign: &Campaign,
        expected_revision: u64,
        versions: &[CampaignVersion],
    ) -> StoreResult<()> {
        let (id, body) = (campaign.id.to_string(), encode(campaign)?);
        let revision = int(campaign.revision)?;
        let expected = int(expected_revision)?;
        let versions = version_rows(versions)?;
        self.run(Access::Write, move |tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE campaigns SET revision = ?2, body = ?3 WHERE id = ?1 AND revision = ?4",
                )?
                .execute(params![id, revision, body, expected])?;
            if updated == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            put_versions(tx, &versions)
        })
        .await
    }

    async fn delete_campaign(&self, id: CampaignId, expected_revision: u64) -> StoreResult<()> {
        let id = id.to_string();
        let expected = int(expected_revision)?;
        self.run(Access::Write, move |tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM campaigns WHERE id = ?1 AND revision = ?2")?
                .execute(params![id, expected])?;
            if deleted == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            // The foreign key cascades too; deleting explicitly keeps this independent of it.
            tx.prepare_cached("DELETE FROM campaign_versions WHERE campaign_id = ?1")?
                .execute([id])?;
            Ok(())
        })
        .await
    }
}
