//! Static audience members: one item per member at `pk = members#{audienceId}`,
//! `sk = {profileId}`, so a partition Query lists them in profile-id order.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, Select, WriteRequest};

use super::DynamoStore;
use super::calls::{DynamoError, Query};
use super::cursor;
use super::keys::{Item, PK, PROFILE_ID, SK, TABLE_KEY, get_s, key, members_pk, s};
use crate::domain::{AudienceId, ProfileId};
use crate::ports::{AudienceMemberStore, Page, PageRequest, StoreError, StoreResult};

fn member_key(audience: AudienceId, member: ProfileId) -> Item {
    key(members_pk(audience), member.to_string())
}

fn put_request(audience: AudienceId, member: ProfileId) -> StoreResult<WriteRequest> {
    let mut item = member_key(audience, member);
    item.insert(PROFILE_ID.into(), s(member.to_string()));
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(DynamoError::from)?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_request(key: Item) -> StoreResult<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(DynamoError::from)?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

impl AudienceMemberStore for DynamoStore {
    async fn add_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        // A batch may not name one item twice.
        let unique: BTreeSet<ProfileId> = members.iter().copied().collect();
        let requests = unique
            .into_iter()
            .map(|m| put_request(audience, m))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn remove_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        let unique: BTreeSet<ProfileId> = members.iter().copied().collect();
        let requests = unique
            .into_iter()
            .map(|m| delete_request(member_key(audience, m)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn list_members(
        &self,
        audience: AudienceId,
        page: &PageRequest,
    ) -> StoreResult<Page<ProfileId>> {
        let pk = members_pk(audience);
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &TABLE_KEY, |k| k[PK] == pk))
            .transpose()?;
        let query = Query::new(None, "pk = :pk", [(":pk", s(pk.clone()))]);
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &TABLE_KEY)
            .await?;
        let members = items
            .iter()
            .map(|item| {
                get_s(item, SK)
                    .and_then(|id| ProfileId::parse(id).ok())
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("a member of {pk} has no profile id"))
                    })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            items: members,
            next,
        })
    }

    async fn count_members(&self, audience: AudienceId) -> StoreResult<u64> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(members_pk(audience)))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk_error("Query", e))?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(total),
            }
        }
    }

    async fn clear_members(&self, audience: AudienceId) -> StoreResult<()> {
        // Page through the keys and delete each page; the next Query starts after the
        // deleted keys, so nothing is read twice.
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(members_pk(audience)))
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk_error("Query", e))?;
            let requests = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(delete_request)
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(requests).await?;
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(()),
            }
        }
    }
}
