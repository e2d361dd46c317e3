//! Records (channel configurations, rule sets, audiences): `pk = {KIND}#{key}`, `sk = _`,
//! listed through `gsi1` (`gsi1pk = KIND`, `gsi1sk = key`).

use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::calls::Query;
use super::codec::{decode, encode};
use super::cursor;
use super::keys::{GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, REVISION, WHOLE, key, n, record_pk, s};
use crate::ports::{Conflict, Page, PageRequest, Record, RecordStore, StoreError, StoreResult};

fn record_key<T: Record>(k: &str) -> Item {
    key(record_pk(T::KIND, k), WHOLE)
}

fn record_item<T: Record>(record: &T) -> StoreResult<Item> {
    let k = record.key();
    let mut keys = record_key::<T>(&k);
    keys.insert(GSI1PK.into(), s(T::KIND));
    keys.insert(GSI1SK.into(), s(k));
    keys.insert(REVISION.into(), n(record.revision()));
    encode(record, keys)
}

const REVISION_MATCHES: &str = "#rev = :expected";

impl RecordStore for DynamoStore {
    async fn insert_record<T: Record>(&self, record: &T) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(Conflict::AlreadyExists))
            }
            Err(e) => Err(self.sdk_error("PutItem", e)),
        }
    }

    async fn get_record<T: Record>(&self, key: &str) -> StoreResult<Option<T>> {
        self.get_raw(record_key::<T>(key))
            .await?
            .map(decode)
            .transpose()
    }

    async fn list_records<T: Record>(&self, page: &PageRequest) -> StoreResult<Page<T>> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &GSI1_KEY, |k| k[GSI1PK] == T::KIND))
            .transpose()?;
        let query = Query::new(Some(GSI1), "gsi1pk = :kind", [(":kind", s(T::KIND))]);
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI1_KEY)
            .await?;
        Ok(Page {
            items: items.into_iter().map(decode).collect::<StoreResult<_>>()?,
            next,
        })
    }

    async fn replace_record<T: Record>(
        &self,
        record: &T,
        expected_revision: u64,
    ) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression(REVISION_MATCHES)
            .expression_attribute_names("#rev", REVISION)
            .expression_attribute_values(":expected", n(expected_revision))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(Conflict::RevisionMismatch))
            }
            Err(e) => Err(self.sdk_error("PutItem", e)),
        }
    }

    async fn delete_record<T: Record>(&self, key: &str, expected_revision: u64) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(record_key::<T>(key)))
            .condition_expression(REVISION_MATCHES)
            .expression_attribute_names("#rev", REVISION)
            .expression_attribute_values(":expected", n(expected_revision))
            .return_values(ReturnValue::None)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(Conflict::RevisionMismatch))
            }
            Err(e) => Err(self.sdk_error("DeleteItem", e)),
        }
    }
}
