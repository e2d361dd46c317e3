//! Messages at `pk = message#{messageId}, sk = _`, listed per execution through `gsi1`
//! (`gsi1pk = messages#{executionId}`, `gsi1sk = {messageId}`). A message with a provider
//! message id is findable by it through a pointer item at
//! `pk = providerMessage#{providerMessageId}, sk = _` (`messageId`), written in the same
//! transaction as the message.

use super::DynamoStore;
use super::calls::{Cond, FailedCondition, Query, TxFailure, Written};
use super::codec::{decode, encode, encode_value};
use super::cursor;
use super::keys::{
    GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, WHOLE, get_s, key, message_pk, messages_gsi1pk,
    provider_message_pk, s,
};
use crate::domain::{ExecutionId, MessageId, MessageRecord, OutcomeKind};
use crate::ports::{Claim, Conflict, MessageStore, Page, PageRequest, StoreError, StoreResult};

const MESSAGE_ID: &str = "messageId";
const OUTCOME: &str = "outcome";

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

impl DynamoStore {
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
    async fn claim_message(&self, message: &MessageRecord) -> StoreResult<Claim> {
        let item = message_item(message)?;
        let Some(provider_id) = &message.provider_message_id else {
            return match self.put_if(item, Cond::absent()).await? {
                Written::Done => Ok(Claim::Claimed),
                Written::Refused(old) => self.existing(old, &message.id).await,
            };
        };
        let items = vec![
            self.tx_put_returning(item, Cond::absent())?,
            self.tx_put(pointer_item(provider_id, &message.id), None)?,
        ];
        match self.transact_detailed(items).await {
            Ok(()) => Ok(Claim::Claimed),
            Err(TxFailure::Conditions(failed)) => {
                let old = failed.into_iter().find_map(|f| f.old);
                self.existing(old, &message.id).await
            }
            Err(TxFailure::Store(e)) => Err(e),
        }
    }

    async fn update_message(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
    ) -> StoreResult<()> {
        let item = message_item(message)?;
        let refused = match &message.provider_message_id {
            None => matches!(
                self.put_if(item, outcome_is(expected)?).await?,
                Written::Refused(_)
            ),
            Some(provider_id) => {
                let items = vec![
                    self.tx_put(item, Some(outcome_is(expected)?))?,
                    self.tx_put(pointer_item(provider_id, &message.id), None)?,
                ];
                match self.transact_detailed(items).await {
                    Ok(()) => false,
                    Err(TxFailure::Conditions(failed)) => failed
                        .iter()
                        .any(|FailedCondition { index, .. }| *index == 0),
                    Err(TxFailure::Store(e)) => return Err(e),
                }
            }
        };
        if refused {
            return Err(StoreError::Conflict(Conflict::RevisionMismatch));
        }
        Ok(())
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
