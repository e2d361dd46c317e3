//! The mechanics every port shares: SDK error mapping, the paging loop, conditional
//! transactions and batch writes.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as TxUpdate, WriteRequest,
};

use super::DynamoStore;
use super::cursor;
use super::keys::{Item, PK, REVISION, SK, get_s, n};
use crate::ports::{StoreError, StoreResult};

/// What went wrong talking to DynamoDB (the source of [`StoreError::Backend`]).
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("DynamoDB {operation} on table {table} failed")]
    Call {
        operation: &'static str,
        table: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("DynamoDB {operation} left {remaining} item(s) unprocessed after {attempts} attempts")]
    Unprocessed {
        operation: &'static str,
        remaining: usize,
        attempts: u32,
    },
    #[error("DynamoDB kept cancelling the transaction for conflicting transactions")]
    TransactionConflict,
    #[error("a DynamoDB request could not be built")]
    Build(#[from] BuildError),
    #[error("a value could not be encoded as a DynamoDB item")]
    Encode(#[source] serde_dynamo::Error),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unstorable(String),
    #[error("{0}: the item kept changing between attempts")]
    Contended(&'static str),
}

impl From<DynamoError> for StoreError {
    fn from(e: DynamoError) -> Self {
        StoreError::backend(e)
    }
}

/// Attempts of a batch read or write before unprocessed items are an error, and of a transaction
/// cancelled only because another transaction held an item.
const BATCH_ATTEMPTS: u32 = 8;
const TX_ATTEMPTS: u32 = 4;
/// Most writes in one BatchWriteItem, and in one TransactWriteItems.
pub(crate) const BATCH_SIZE: usize = 25;
/// Most keys in one BatchGetItem.
const BATCH_GET_SIZE: usize = 100;
pub(crate) const TX_SIZE: usize = 100;

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25u64 << attempt.min(6))
}

/// Sends `pending` with `call`, which returns what it got and what DynamoDB left unprocessed
/// (BatchWriteItem, BatchGetItem), then sends what was left, with backoff, until nothing is;
/// more than [`BATCH_ATTEMPTS`] calls is an error naming `operation`. Returns everything the
/// calls got.
async fn until_processed<T, O, F, Fut>(
    operation: &'static str,
    mut pending: Vec<T>,
    mut call: F,
) -> StoreResult<Vec<O>>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = StoreResult<(Vec<O>, Vec<T>)>>,
{
    let mut got = Vec::new();
    let mut attempt = 0;
    loop {
        let (items, left) = call(pending).await?;
        got.extend(items);
        if left.is_empty() {
            return Ok(got);
        }
        attempt += 1;
        if attempt >= BATCH_ATTEMPTS {
            return Err(DynamoError::Unprocessed {
                operation,
                remaining: left.len(),
                attempts: attempt,
            }
            .into());
        }
        tokio::time::sleep(backoff(attempt)).await;
        pending = left;
    }
}

/// How a transaction ended when it did not commit.
pub(crate) enum TxError {
    /// These items' conditions failed (indices into the request).
    Conditions(Vec<usize>),
    Store(StoreError),
}

/// An item of a transaction whose condition failed, with the item as it was when the write
/// asked for it (`ReturnValuesOnConditionCheckFailure = ALL_OLD`; `None` when it was absent).
pub(crate) struct FailedCondition {
    pub index: usize,
    pub old: Option<Item>,
}

/// [`TxError`] with the failed items' old values.
pub(crate) enum TxFailure {
    Conditions(Vec<FailedCondition>),
    Store(StoreError),
}

/// How a single conditional write ended.
pub(crate) enum Written {
    Done,
    /// The condition failed; the item as it was (`None` when there was none).
    Refused(Option<Item>),
}

/// An UpdateItem: key, update expression with its placeholders, optional condition.
pub(crate) struct Update {
    pub key: Item,
    pub expression: String,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, AttributeValue)>,
    pub condition: Option<Cond>,
}

impl Update {
    pub(crate) fn new(key: Item, expression: impl Into<String>) -> Self {
        Self {
            key,
            expression: expression.into(),
            names: vec![],
            values: vec![],
            condition: None,
        }
    }

    pub(crate) fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.push((placeholder.into(), attribute.into()));
        self
    }

    pub(crate) fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.push((placeholder.into(), value));
        self
    }

    pub(crate) fn when(mut self, condition: Cond) -> Self {
        self.condition = Some(condition);
        self
    }

    fn all_names(&self) -> Option<HashMap<String, String>> {
        let mut names: HashMap<String, String> = self.names.iter().cloned().collect();
        if let Some(c) = &self.condition {
            names.extend(c.names.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        (!names.is_empty()).then_some(names)
    }

    fn all_values(&self) -> Option<HashMap<String, AttributeValue>> {
        let mut values: HashMap<String, AttributeValue> = self.values.iter().cloned().collect();
        if let Some(c) = &self.condition {
            values.extend(c.values.iter().map(|(k, v)| (k.to_string(), v.clone())));
        }
        (!values.is_empty()).then_some(values)
    }
}

/// One page of raw items as DynamoDB returned it.
pub(crate) struct Fetched {
    pub items: Vec<Item>,
    pub last_key: Option<Item>,
}

/// A Query: an index (`None` for the table), a key condition and its values.
pub(crate) struct Query {
    pub index: Option<&'static str>,
    pub key_condition: &'static str,
    pub values: HashMap<String, AttributeValue>,
}

impl Query {
    pub(crate) fn new(
        index: Option<&'static str>,
        key_condition: &'static str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        Self {
            index,
            key_condition,
            values: values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// A condition expression with its placeholders.
pub(crate) struct Cond {
    pub expression: &'static str,
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl Cond {
    /// The item does not exist yet.
    pub(crate) fn absent() -> Self {
        Self {
            expression: "attribute_not_exists(pk)",
            names: vec![],
            values: vec![],
        }
    }

    /// The item exists.
    pub(crate) fn present() -> Self {
        Self {
            expression: "attribute_exists(pk)",
            names: vec![],
            values: vec![],
        }
    }

    /// The item exists with this revision.
    pub(crate) fn revision(expected: u64) -> Self {
        Self {
            expression: "#rev = :expected",
            names: vec![("#rev", REVISION)],
            values: vec![(":expected", n(expected))],
        }
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| {
            self.names
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| {
            self.values
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        })
    }
}

impl DynamoStore {
    /// Maps an SDK failure to `StoreError::Backend`, logging its whole chain once.
    pub(crate) fn sdk_error(
        &self,
        operation: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        tracing::warn!(
            operation,
            table = %self.table,
            error = %DisplayErrorContext(&e),
            "DynamoDB call failed"
        );
        StoreError::backend(DynamoError::Call {
            operation,
            table: self.table.clone(),
            source: Box::new(e),
        })
    }

    /// Reads one page of `limit` items. `fetch(start, n)` runs one Query from `start`
    /// asking for up to `n` items; it is called until the page is full (plus one item, to know
    /// whether another page follows) or the listing ends, since DynamoDB may return fewer items
    /// than asked with a `LastEvaluatedKey`. The cursor is the key (`key_names`) of the page's
    /// last item.
    pub(crate) async fn collect_page<F, Fut>(
        &self,
        limit: usize,
        start: Option<Item>,
        key_names: &[&str],
        mut fetch: F,
    ) -> StoreResult<(Vec<Item>, Option<String>)>
    where
        F: FnMut(Option<Item>, i32) -> Fut + Send,
        Fut: Future<Output = StoreResult<Fetched>> + Send,
    {
        let mut items: Vec<Item> = Vec::new();
        let mut start = start;
        loop {
            let want = i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX);
            let fetched = fetch(start.take(), want).await?;
            items.extend(fetched.items);
            if items.len() > limit {
                items.truncate(limit);
                let next = match items.last() {
                    Some(last) => Some(cursor::encode(last, key_names).ok_or_else(|| {
                        StoreError::Corrupt("a listed item lacks its key attributes".into())
                    })?),
                    None => None,
                };
                return Ok((items, next));
            }
            match fetched.last_key {
                Some(k) => start = Some(k),
                None => return Ok((items, None)),
            }
        }
    }

    /// Runs a transaction; a cancellation for failed conditions reports which items failed,
    /// one only for conflicting transactions is retried.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        match self.transact_detailed(items).await {
            Ok(()) => Ok(()),
            Err(TxFailure::Conditions(failed)) => Err(TxError::Conditions(
                failed.into_iter().map(|f| f.index).collect(),
            )),
            Err(TxFailure::Store(e)) => Err(TxError::Store(e)),
        }
    }

    /// [`transact`](Self::transact), also returning the old item of each failed condition
    /// (for items built to return it, like [`tx_update`](Self::tx_update)).
    pub(crate) async fn transact_detailed(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TxFailure> {
        if items.len() > TX_SIZE {
            return Err(TxFailure::Store(
                DynamoError::TooLarge(format!(
                    "one atomic write may touch at most {TX_SIZE} items, not {}",
                    items.len()
                ))
                .into(),
            ));
        }
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                e.as_service_error()
            {
                let reasons = c.cancellation_reasons();
                let failed: Vec<FailedCondition> = reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(index, r)| FailedCondition {
                        index,
                        old: r.item().filter(|i| !i.is_empty()).cloned(),
                    })
                    .collect();
                if !failed.is_empty() {
                    return Err(TxFailure::Conditions(failed));
                }
                if reasons
                    .iter()
                    .any(|r| r.code() == Some("TransactionConflict"))
                {
                    attempt += 1;
                    if attempt >= TX_ATTEMPTS {
                        return Err(TxFailure::Store(DynamoError::TransactionConflict.into()));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
            }
            return Err(TxFailure::Store(self.sdk_error("TransactWriteItems", e)));
        }
    }

    /// Writes `requests` with BatchWriteItem, 25 at a time, retrying unprocessed items with
    /// backoff. Not atomic; every request must be idempotent.
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> StoreResult<()> {
        for chunk in requests.chunks(BATCH_SIZE) {
            until_processed("BatchWriteItem", chunk.to_vec(), |pending| async move {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), pending)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error("BatchWriteItem", e))?;
                let left = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                Ok((Vec::<()>::new(), left))
            })
            .await?;
        }
        Ok(())
    }

    /// The items stored under `keys` (strongly consistent, like [`Self::get_raw`]), in no
    /// particular order; keys with no item are left out, a key given twice is read once.
    /// BatchGetItem (which refuses repeated keys), 100 keys at a time, retrying unprocessed
    /// keys with backoff.
    pub(crate) async fn batch_get(&self, mut keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut seen = HashSet::with_capacity(keys.len());
        keys.retain(|k| {
            seen.insert((
                get_s(k, PK).map(str::to_string),
                get_s(k, SK).map(str::to_string),
            ))
        });
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_SIZE) {
            let got = until_processed("BatchGetItem", chunk.to_vec(), |pending| async move {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(DynamoError::Build)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table.clone(), request)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error("BatchGetItem", e))?;
                let items = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                let left = out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                Ok((items, left))
            })
            .await?;
            found.extend(got);
        }
        Ok(found)
    }

    /// One page of a Query. Base-table queries read consistently; index reads are eventually
    /// consistent (the only kind a GSI offers).
    pub(crate) async fn query_page(
        &self,
        query: &Query,
        limit: usize,
        start: Option<Item>,
        key_names: &[&str],
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        self.collect_page(limit, start, key_names, |start, want| {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_string))
                .key_condition_expression(query.key_condition)
                .set_expression_attribute_values(Some(query.values.clone()))
                .set_exclusive_start_key(start)
                .limit(want)
                .consistent_read(query.index.is_none());
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| self.sdk_error("Query", e))?;
                Ok(Fetched {
                    items: out.items.unwrap_or_default(),
                    last_key: out.last_evaluated_key,
                })
            }
        })
        .await
    }

    /// A Put in a transaction, conditional when `cond` is given.
    pub(crate) fn tx_put(&self, item: Item, cond: Option<Cond>) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(cond.as_ref().map(|c| c.expression.to_string()))
            .set_expression_attribute_names(cond.as_ref().and_then(Cond::names))
            .set_expression_attribute_values(cond.as_ref().and_then(Cond::values))
            .build()
            .map_err(DynamoError::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An Update in a transaction; when its condition fails it returns the old item.
    pub(crate) fn tx_update(&self, update: Update) -> StoreResult<TransactWriteItem> {
        let built = TxUpdate::builder()
            .table_name(&self.table)
            .set_key(Some(update.key.clone()))
            .update_expression(update.expression.clone())
            .set_condition_expression(update.condition.as_ref().map(|c| c.expression.to_string()))
            .set_expression_attribute_names(update.all_names())
            .set_expression_attribute_values(update.all_values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(DynamoError::from)?;
        Ok(TransactWriteItem::builder().update(built).build())
    }

    /// PutItem without a condition (creates or replaces the item).
    pub(crate) async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.sdk_error("PutItem", e))?;
        Ok(())
    }

    /// PutItem under a condition; a failed condition returns the old item.
    pub(crate) async fn put_if(&self, item: Item, cond: Cond) -> StoreResult<Written> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(cond.expression)
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Done),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => Ok(Written::Refused(
                    c.item().filter(|i| !i.is_empty()).cloned(),
                )),
                _ => Err(self.sdk_error("PutItem", e)),
            },
        }
    }

    /// UpdateItem (conditional when the update has a condition); a failed condition returns
    /// the old item.
    pub(crate) async fn update_if(&self, update: Update) -> StoreResult<Written> {
        Ok(self.update_with(update, ReturnValue::None).await?.0)
    }

    /// [`Self::update_if`], also giving, when the update was made, the item's attributes as
    /// they were before it (`ReturnValues = UPDATED_OLD`: those the update changed; empty when
    /// it was created).
    pub(crate) async fn update_returning_old(
        &self,
        update: Update,
    ) -> StoreResult<(Written, Item)> {
        self.update_with(update, ReturnValue::UpdatedOld).await
    }

    async fn update_with(
        &self,
        update: Update,
        returns: ReturnValue,
    ) -> StoreResult<(Written, Item)> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key.clone()))
            .update_expression(update.expression.clone())
            .set_condition_expression(update.condition.as_ref().map(|c| c.expression.to_string()))
            .set_expression_attribute_names(update.all_names())
            .set_expression_attribute_values(update.all_values())
            .return_values(returns)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok((Written::Done, out.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok((
                    Written::Refused(c.item().filter(|i| !i.is_empty()).cloned()),
                    Item::new(),
                )),
                _ => Err(self.sdk_error("UpdateItem", e)),
            },
        }
    }

    /// DeleteItem under a condition; false when the condition failed.
    pub(crate) async fn delete_if(&self, key: Item, cond: Cond) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(cond.expression)
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(self.sdk_error("DeleteItem", e)),
            },
        }
    }

    /// A Delete in a transaction, conditional when `cond` is given.
    pub(crate) fn tx_delete(
        &self,
        key: Item,
        cond: Option<Cond>,
    ) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression(cond.as_ref().map(|c| c.expression.to_string()))
            .set_expression_attribute_names(cond.as_ref().and_then(Cond::names))
            .set_expression_attribute_values(cond.as_ref().and_then(Cond::values))
            .build()
            .map_err(DynamoError::from)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// GetItem with a strongly consistent read.
    pub(crate) async fn get_raw(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error("GetItem", e))?;
        Ok(out.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn what_a_batch_call_leaves_is_sent_again_until_nothing_is() {
        let mut sent = Vec::new();
        let got = until_processed("BatchGetItem", vec![1, 2, 3, 4], |pending: Vec<u32>| {
            sent.push(pending.clone());
            // Each call processes the first of what it is given and leaves the rest.
            let (first, rest) = pending.split_at(1);
            let (first, rest) = (first.to_vec(), rest.to_vec());
            async move { Ok((first, rest)) }
        })
        .await
        .unwrap();
        assert_eq!(got, [1, 2, 3, 4]);
        assert_eq!(sent, [vec![1, 2, 3, 4], vec![2, 3, 4], vec![3, 4], vec![4]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_call_that_keeps_leaving_items_fails_after_its_attempts() {
        let mut calls = 0;
        let err = until_processed("BatchWriteItem", vec![1, 2], |pending: Vec<u32>| {
            calls += 1;
            async move { Ok((Vec::<()>::new(), pending)) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, BATCH_ATTEMPTS);
        let mut chain = vec![err.to_string()];
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            chain.push(e.to_string());
            source = e.source();
        }
        assert!(
            chain
                .iter()
                .any(|t| t == "DynamoDB BatchWriteItem left 2 item(s) unprocessed after 8 attempts"),
            "{chain:?}"
        );
    }
}
