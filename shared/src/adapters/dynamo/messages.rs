//! Messages at `pk = message#{messageId}, sk = _`, listed per execution through `gsi1`
//! (`gsi1pk = messages#{executionId}`, `gsi1sk = {messageId}`). A message with a provider
//! message id is findable by it through a pointer item at
//! `pk = providerMessage#{providerMessageId}, sk = _` (`messageId`).
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

use super::DynamoStore;
use super::calls::{Cond, Query, Written};
use super::codec::{decode, encode, encode_value};
use super::cursor;
use super::keys::{
    GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, WHOLE, get_s, key, message_pk, messages_gsi1pk,
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
    keys.insert(GSI1PK.into(), s(messages_gsi1pk(message.execution_id)));
    keys.insert(GSI1SK.into(), s(message.id.as_str()));
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
        if let Some(provider_id) = &message.provider_message_id {
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
        let Some(provider_id) = &message.provider_message_id else {
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

    async fn list_messages(
        &self,
        execution: ExecutionId,
        page: &PageRequest,
    ) -> StoreResult<Page<MessageRecord>> {
        let partition = messages_gsi1pk(execution);
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &GSI1_KEY, |k| k[GSI1PK] == partition))
            .transpose()?;
        let query = Query::new(Some(GSI1), "gsi1pk = :p", [(":p", s(partition.clone()))]);
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI1_KEY)
            .await?;
        Ok(Page {
            items: items.into_iter().map(decode).collect::<StoreResult<_>>()?,
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
            .filter(|m| m.provider_message_id.as_deref() == Some(provider_message_id)))
    }
}
