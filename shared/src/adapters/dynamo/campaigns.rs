//! Campaigns: the record at `pk = campaign#{id}, sk = _` (listed through `gsi1`,
//! `gsi1pk = campaign`), its versions in the same partition at `sk = v#{version:010}`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::DynamoStore;
use super::calls::{Cond, DynamoError, Query, TX_SIZE, TxError};
use super::codec::{decode, encode};
use super::cursor;
use super::keys::{
    CAMPAIGN_KIND, GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, REVISION, VERSION_PREFIX, WHOLE,
    campaign_pk, key, n, s, table_key, version_sk,
};
use crate::domain::{Campaign, CampaignId, CampaignVersion};
use crate::ports::{CampaignStore, Conflict, Page, PageRequest, StoreError, StoreResult};

fn campaign_item(campaign: &Campaign) -> StoreResult<Item> {
    let mut keys = key(campaign_pk(campaign.id), WHOLE);
    keys.insert(GSI1PK.into(), s(CAMPAIGN_KIND));
    keys.insert(GSI1SK.into(), s(campaign.id.to_string()));
    keys.insert(REVISION.into(), n(campaign.revision));
    encode(campaign, keys)
}

fn version_item(version: &CampaignVersion) -> StoreResult<Item> {
    encode(
        version,
        key(
            campaign_pk(version.campaign_id),
            version_sk(version.version),
        ),
    )
}

impl DynamoStore {
    /// Keys of every stored version of a campaign (a Query on its partition).
    async fn version_keys(&self, id: CampaignId) -> StoreResult<Vec<Item>> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
                .expression_attribute_values(":pk", s(campaign_pk(id)))
                .expression_attribute_values(":v", s(VERSION_PREFIX))
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk_error("Query", e))?;
            keys.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(keys),
            }
        }
    }
}

impl CampaignStore for DynamoStore {
    async fn insert_campaign(
        &self,
        campaign: &Campaign,
        version: &CampaignVersion,
    ) -> StoreResult<()> {
        let items = vec![
            self.tx_put(campaign_item(campaign)?, Some(Cond::absent()))?,
            self.tx_put(version_item(version)?, Some(Cond::absent()))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(Conflict::AlreadyExists)),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_campaign(&self, id: CampaignId) -> StoreResult<Option<Campaign>> {
        self.get_raw(key(campaign_pk(id), WHOLE))
            .await?
            .map(decode)
            .transpose()
    }

    async fn get_campaign_version(
        &self,
        id: CampaignId,
        version: u32,
    ) -> StoreResult<Option<CampaignVersion>> {
        self.get_raw(key(campaign_pk(id), version_sk(version)))
            .await?
            .map(decode)
            .transpose()
    }

    async fn list_campaigns(&self, page: &PageRequest) -> StoreResult<Page<Campaign>> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &GSI1_KEY, |k| k[GSI1PK] == CAMPAIGN_KIND))
            .transpose()?;
        let query = Query::new(Some(GSI1), "gsi1pk = :kind", [(":kind", s(CAMPAIGN_KIND))]);
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI1_KEY)
            .await?;
        Ok(Page {
            items: items.into_iter().map(decode).collect::<StoreResult<_>>()?,
            next,
        })
    }

    async fn update_campaign(
        &self,
        campaign: &Campaign,
        expected_revision: u64,
        versions: &[CampaignVersion],
    ) -> StoreResult<()> {
        // One put per version number (a transaction may not touch an item twice).
        let versions: BTreeMap<(CampaignId, u32), &CampaignVersion> = versions
            .iter()
            .map(|v| ((v.campaign_id, v.version), v))
            .collect();
        let mut items = vec![self.tx_put(
            campaign_item(campaign)?,
            Some(Cond::revision(expected_revision)),
        )?];
        for v in versions.values() {
            items.push(self.tx_put(version_item(v)?, None)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(Conflict::RevisionMismatch)),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn delete_campaign(&self, id: CampaignId, expected_revision: u64) -> StoreResult<()> {
        let versions = self.version_keys(id).await?;
        let (now, later) = versions.split_at(versions.len().min(TX_SIZE - 1));
        let mut items = vec![self.tx_delete(
            key(campaign_pk(id), WHOLE),
            Some(Cond::revision(expected_revision)),
        )?];
        for k in now {
            items.push(self.tx_delete(table_key(k), None)?);
        }
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Conditions(_)) => {
                return Err(StoreError::Conflict(Conflict::RevisionMismatch));
            }
            Err(TxError::Store(e)) => return Err(e),
        }
        // Beyond one transaction's reach: the record is gone, so these are unreachable
        // through the campaign; delete them in batches.
        let rest = later
            .iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(table_key(k)))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::from(DynamoError::from(e)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(rest).await
    }
}
