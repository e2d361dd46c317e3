//! Suppressions at `pk = suppression#{channel}#{address}, sk = _`, listed through `gsi1`
//! (`gsi1pk = suppression`, `gsi1sk = {channel rank}#{address}`, so one channel is a
//! `begins_with` and all channels come in `(channel, address)` order).

use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::calls::Query;
use super::codec::{decode, encode};
use super::cursor;
use super::keys::{
    GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, SUPPRESSION_KIND, WHOLE, key, s,
    suppression_channel_prefix, suppression_gsi1sk, suppression_pk,
};
use crate::domain::{Channel, Suppression};
use crate::ports::{Page, PageRequest, StoreResult, SuppressionStore};

fn suppression_key(channel: Channel, address: &str) -> Item {
    key(suppression_pk(channel, address), WHOLE)
}

impl SuppressionStore for DynamoStore {
    async fn put_suppression(&self, suppression: &Suppression) -> StoreResult<bool> {
        let mut keys = suppression_key(suppression.channel, &suppression.address);
        keys.insert(GSI1PK.into(), s(SUPPRESSION_KIND));
        keys.insert(
            GSI1SK.into(),
            s(suppression_gsi1sk(
                suppression.channel,
                &suppression.address,
            )),
        );
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(suppression, keys)?))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.sdk_error("PutItem", e))?;
        Ok(out.attributes.is_none_or(|a| a.is_empty()))
    }

    async fn get_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> StoreResult<Option<Suppression>> {
        self.get_raw(suppression_key(channel, address))
            .await?
            .map(decode)
            .transpose()
    }

    async fn delete_suppression(&self, channel: Channel, address: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(suppression_key(channel, address)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.sdk_error("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list_suppressions(
        &self,
        channel: Option<Channel>,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>> {
        let prefix = channel.map(suppression_channel_prefix);
        let start = page
            .cursor
            .as_deref()
            .map(|c| {
                cursor::decode(c, &GSI1_KEY, |k| {
                    k[GSI1PK] == SUPPRESSION_KIND
                        && prefix.as_deref().is_none_or(|p| k[GSI1SK].starts_with(p))
                })
            })
            .transpose()?;
        let query = match &prefix {
            None => Query::new(
                Some(GSI1),
                "gsi1pk = :kind",
                [(":kind", s(SUPPRESSION_KIND))],
            ),
            Some(p) => Query::new(
                Some(GSI1),
                "gsi1pk = :kind AND begins_with(gsi1sk, :channel)",
                [(":kind", s(SUPPRESSION_KIND)), (":channel", s(p.clone()))],
            ),
        };
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI1_KEY)
            .await?;
        Ok(Page {
            items: items.into_iter().map(decode).collect::<StoreResult<_>>()?,
            next,
        })
    }
}
