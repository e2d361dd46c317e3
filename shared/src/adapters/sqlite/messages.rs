//! Messages in the `messages` table: the outcome and the feedback id (the provider message id
//! of an email, [`MessageRecord::feedback_id`]) are columns (for the conditional update and
//! the feedback lookup), the record is the body.

use rusqlite::{OptionalExtension, params};

use super::counts::Adding;
use super::{Access, SqliteStore, bodies_by_key, decode, decode_page, encode, query_page};
use crate::domain::execution::{CountDelta, CountScope};
use crate::domain::{ExecutionId, MessageId, MessageRecord, OutcomeKind};
use crate::ports::{Claim, Conflict, MessageStore, Page, PageRequest, StoreError, StoreResult};

/// An execution's messages after a cursor (a `seq`), in claim order (along
/// `messages_by_execution`).
pub(super) const LIST_BY_EXECUTION: &str = "SELECT CAST(seq AS TEXT), body FROM messages
     WHERE execution_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
/// The message a provider message id belongs to (along `messages_by_provider_id`).
pub(super) const FIND_BY_PROVIDER_ID: &str =
    "SELECT body FROM messages WHERE provider_id = ?1 AND provider_id IS NOT NULL LIMIT 1";

impl MessageStore for SqliteStore {
    async fn claim_message(
        &self,
        message: &MessageRecord,
        counts: &CountDelta,
    ) -> StoreResult<Claim> {
        let adding = Adding::new(&CountScope::of_message(message), counts);
        let id = message.id.as_str().to_string();
        let execution = message.execution_id.to_string();
        let outcome = message.outcome.as_str();
        let provider = message.feedback_id().map(str::to_string);
        let body = encode(message)?;
        let existing = self
            .run(Access::Write, move |tx| {
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO messages (id, execution_id, outcome, provider_id, body)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(params![id, execution, outcome, provider, body])?;
                if inserted > 0 {
                    adding.run(tx)?;
                    return Ok(None);
                }
                Ok(Some(
                    tx.prepare_cached("SELECT body FROM messages WHERE id = ?1")?
                        .query_row([id], |row| row.get::<_, String>(0))?,
                ))
            })
            .await?;
        match existing {
            None => Ok(Claim::Claimed),
            Some(body) => Ok(Claim::Exists(Box::new(decode("message", &body)?))),
        }
    }

    async fn update_message(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
        counts: &CountDelta,
    ) -> StoreResult<()> {
        let adding = Adding::new(&CountScope::of_message(message), counts);
        let id = message.id.as_str().to_string();
        let outcome = message.outcome.as_str();
        let provider = message.feedback_id().map(str::to_string);
        let body = encode(message)?;
        let expected = expected.as_str();
        self.run(Access::Write, move |tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE messages SET outcome = ?2, provider_id = ?3, body = ?4
                     WHERE id = ?1 AND outcome = ?5",
                )?
                .execute(params![id, outcome, provider, body, expected])?;
            if updated == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            adding.run(tx)
        })
        .await
    }

    async fn get_message(&self, id: &MessageId) -> StoreResult<Option<MessageRecord>> {
        let id = id.as_str().to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM messages WHERE id = ?1")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("message", &b)).transpose()
    }

    async fn get_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<MessageRecord>> {
        let keys = ids.iter().map(|id| id.as_str().to_string()).collect();
        let bodies = self
            .run(Access::Read, move |tx| {
                bodies_by_key(tx, "SELECT body FROM messages WHERE id = ?1", keys)
            })
            .await?;
        bodies.iter().map(|b| decode("message", b)).collect()
    }

    async fn list_messages(
        &self,
        execution: ExecutionId,
        page: &PageRequest,
    ) -> StoreResult<Page<MessageRecord>> {
        let execution = execution.to_string();
        let limit = page.effective_limit();
        // `seq > 0` is every message (rowids start at 1), so the first page uses the same
        // statement.
        let from: i64 = match page.cursor.as_deref() {
            None => 0,
            Some(c) => c
                .parse()
                .ok()
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| StoreError::invalid_cursor(c))?,
        };
        let rows = self
            .run(Access::Scan, move |tx| {
                query_page(tx, LIST_BY_EXECUTION, &[&execution, &from], limit)
            })
            .await?;
        decode_page("message", rows)
    }

    async fn find_message_by_provider_id(
        &self,
        provider_message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let provider = provider_message_id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached(FIND_BY_PROVIDER_ID)?
                    .query_row([provider], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("message", &b)).transpose()
    }
}
