//! Messages at `pk = message#{messageId}, sk = _`, listed per execution through the keys-only
//! index `gsi2` (`gsi2pk = messages#{executionId}`, `gsi2sk = {messageId}`), then read with
//! BatchGetItem. Keys only, so that an outcome's write (whose keys never change) does not
//! rewrite an index entry: a message's claim writes its entry, its outcome and every feedback
//! move do not.
//!
//! A message with a feedback id ([`MessageRecord::feedback_id`]: an email's provider message
//! id) is findable by it through a pointer item at `pk = providerMessage#{providerMessageId},
//! sk = _` (`messageId`). SMS and push messages get none: no event ever looks them up, so a
//! pointer would be a write unit for nothing.
//!
//! The pointer is a plain PutItem written **before** the message write that gives the message
//! its provider id, not in a transaction with it (a transaction costs two write units per
//! item): a crash or a refused update in between leaves a pointer to a message that does not
//! carry that id, which [`MessageStore::find_message_by_provider_id`] does not return, while a
//! message carrying an id always has its pointer. Pointers are idempotent (same id, same
//! message). An update from an outcome after sending (`sent`, `delivered`…, the feedback
//! moves) first tries the message write alone under the condition that it already carries
//! the id (so its pointer exists); only when it carries another id or none is the pointer
//! put first and the write repeated.

use std::collections::HashMap;

use super::DynamoStore;
use super::calls::{Cond, Query, Written};
use super::codec::{decode, encode, encode_value};
use super::cursor;
use super::keys::{
    GSI2, GSI2_KEY, GSI2PK, GSI2SK, Item, PK, WHOLE, get_s, key, message_pk, messages_gsi2pk,
    provider_message_pk, s,
};
use crate::domain::execution::{CountDelta, CountScope};
use crate::domain::{ExecutionId, MessageId, MessageRecord, OutcomeKind};
use crate::ports::{
    Claim, Conflict, CountStore, MessageStore, Page, PageRequest, StoreError, StoreResult,
};

const MESSAGE_ID: &str = "messageId";
const OUTCOME: &str = "outcome";
const PROVIDER_MESSAGE_ID: &str = "providerMessageId";

fn message_key(id: &MessageId) -> Item {
    key(message_pk(id), WHOLE)
}

fn message_item(message: &MessageRecord) -> StoreResult<Item> {
    let mut keys = message_key(&message.id);
    keys.insert(GSI2PK.into(), s(messages_gsi2pk(message.execution_id)));
    keys.insert(GSI2SK.into(), s(message.id.as_str()));
    encode(message, keys)
}

fn pointer_item(provider_message_id: &str, message: &MessageId) -> Item {
    let mut item = key(provider_message_pk(provider_message_id), WHOLE);
    item.insert(MESSAGE_ID.into(), s(message.as_str()));
    item
}

fn outcome_is(expected: OutcomeKind) -> StoreResult<Cond> {
    Ok(Cond {
        expression: "#outcome = :expected",
        names: vec![("#outcome", OUTCOME)],
        values: vec![(":expected", encode_value(&expected)?)],
    })
}

/// The stored outcome is `expected` and the stored record already carries `provider_id`.
fn outcome_and_provider_id_are(expected: OutcomeKind, provider_id: &str) -> StoreResult<Cond> {
    Ok(Cond {
        expression: "#outcome = :expected AND #pid = :pid",
        names: vec![("#outcome", OUTCOME), ("#pid", PROVIDER_MESSAGE_ID)],
        values: vec![
            (":expected", encode_value(&expected)?),
            (":pid", s(provider_id)),
        ],
    })
}

/// Outcomes a message reaches only once a provider accepted it, with its provider id.
fn after_sending(outcome: OutcomeKind) -> bool {
    matches!(
        outcome,
        OutcomeKind::Sent | OutcomeKind::Delivered | OutcomeKind::Bounced | OutcomeKind::Complained
    )
}

fn mismatch() -> StoreError {
    StoreError::Conflict(Conflict::RevisionMismatch)
}

impl DynamoStore {
    /// The record's conditional write (see [`MessageStore::claim_message`]).
    async fn claim_record(&self, message: &MessageRecord) -> StoreResult<Claim> {
        let item = message_item(message)?;
        if let Some(provider_id) = message.feedback_id() {
            // Pointer first (see the module documentation): a refused claim leaves a pointer
            // to a message that does not carry this id, which finds nothing.
            self.put(pointer_item(provider_id, &message.id)).await?;
        }
        match self.put_if(item, Cond::absent()).await? {
            Written::Done => Ok(Claim::Claimed),
            Written::Refused(old) => self.existing(old, &message.id).await,
        }
    }

    /// The record's conditional write (see [`MessageStore::update_message`]).
    async fn update_record(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
    ) -> StoreResult<()> {
        let item = message_item(message)?;
        let Some(provider_id) = message.feedback_id() else {
            return match self.put_if(item, outcome_is(expected)?).await? {
                Written::Done => Ok(()),
                Written::Refused(_) => Err(mismatch()),
            };
        };
        if after_sending(expected) {
            // Most likely the stored record carries this id already (a feedback move), so its
            // pointer exists: write the message alone, on that condition.
            match self
                .put_if(
                    item.clone(),
                    outcome_and_provider_id_are(expected, provider_id)?,
                )
                .await?
            {
                Written::Done => return Ok(()),
                Written::Refused(old) => {
                    let old = match old {
                        Some(old) => Some(old),
                        None => self.get_raw(message_key(&message.id)).await?,
                    };
                    let expected_value = encode_value(&expected)?;
                    if old.as_ref().and_then(|o| o.get(OUTCOME)) != Some(&expected_value) {
                        return Err(mismatch());
                    }
                    // At the expected outcome with another provider id (or none): the pointer
                    // is written below.
                }
            }
        }
        self.put(pointer_item(provider_id, &message.id)).await?;
        match self.put_if(item, outcome_is(expected)?).await? {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(mismatch()),
        }
    }

    /// Adds a written message's counts, after its record (see [`MessageStore`]).
    async fn count_message(&self, message: &MessageRecord, counts: &CountDelta) -> StoreResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        for scope in CountScope::of_message(message) {
            self.add_counts(scope, counts).await?;
        }
        Ok(())
    }

    /// The message `item` names, for a claim that found one.
    async fn existing(&self, old: Option<Item>, id: &MessageId) -> StoreResult<Claim> {
        let old = match old {
            Some(old) => Some(old),
            None => self.get_raw(message_key(id)).await?,
        };
        match old {
            Some(item) => Ok(Claim::Exists(Box::new(decode(item)?))),
            None => Err(StoreError::Corrupt(format!(
                "message {id}: a claim was refused but no message is stored"
            ))),
        }
    }
}

impl MessageStore for DynamoStore {
    async fn claim_message(
        &self,
        message: &MessageRecord,
        counts: &CountDelta,
    ) -> StoreResult<Claim> {
        let claim = self.claim_record(message).await?;
        if claim == Claim::Claimed {
            self.count_message(message, counts).await?;
        }
        Ok(claim)
    }

    async fn update_message(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
        counts: &CountDelta,
    ) -> StoreResult<()> {
        self.update_record(message, expected).await?;
        self.count_message(message, counts).await
    }

    async fn get_message(&self, id: &MessageId) -> StoreResult<Option<MessageRecord>> {
        self.get_raw(message_key(id)).await?.map(decode).transpose()
    }

    async fn get_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<MessageRecord>> {
        let keys = ids.iter().map(message_key).collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn list_messages(
        &self,
        execution: ExecutionId,
        page: &PageRequest,
    ) -> StoreResult<Page<MessageRecord>> {
        let partition = messages_gsi2pk(execution);
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &GSI2_KEY, |k| k[GSI2PK] == partition))
            .transpose()?;
        let query = Query::new(Some(GSI2), "gsi2pk = :p", [(":p", s(partition.clone()))]);
        let (entries, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI2_KEY)
            .await?;
        // The index holds keys only: read the items, then put them back in the index's order.
        // A message gone in between (its TTL expired) is left out; the cursor, taken from the
        // index, still continues after it.
        let order: Vec<String> = entries
            .iter()
            .filter_map(|e| get_s(e, PK).map(str::to_string))
            .collect();
        let keys = order.iter().map(|pk| key(pk.clone(), WHOLE)).collect();
        let mut items: HashMap<String, Item> = self
            .batch_get(keys)
            .await?
            .into_iter()
            .filter_map(|item| Some((get_s(&item, PK)?.to_string(), item)))
            .collect();
        Ok(Page {
            items: order
                .iter()
                .filter_map(|pk| items.remove(pk))
                .map(decode)
                .collect::<StoreResult<_>>()?,
            next,
        })
    }

    async fn find_message_by_provider_id(
        &self,
        provider_message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let Some(pointer) = self
            .get_raw(key(provider_message_pk(provider_message_id), WHOLE))
            .await?
        else {
            return Ok(None);
        };
        let id = get_s(&pointer, MESSAGE_ID)
            .and_then(MessageId::parse)
            .ok_or_else(|| {
                StoreError::Corrupt("a provider message pointer names no message id".into())
            })?;
        // A pointer left behind by a later change of provider id names a message that no
        // longer carries this id.
        Ok(self
            .get_message(&id)
            .await?
            .filter(|m| m.feedback_id() == Some(provider_message_id)))
    }
}
