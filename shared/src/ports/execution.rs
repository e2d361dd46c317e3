//! Ports of the execution side: exactly-once acceptance, executions, messages, counters,
//! frequency caps, send pacing, schedules and held (quiet-hours) messages.
//!
//! As for the admin ports, every method is one atomic operation and every condition is part of
//! the write. Time is passed in (`now`), never read by a store; a store never relies on TTL
//! deletion, because expired items may linger for days (and forever on DynamoDB Local).

use std::future::Future;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Page, PageRequest, StoreResult};
use crate::domain::execution::{CountDelta, CountScope, HeldMessage, ScheduledExecution};
use crate::domain::{
    CampaignId, Execution, ExecutionId, MessageId, MessageRecord, OutcomeCounts, OutcomeKind,
    ScheduleId,
};

/// The idempotency key of a trigger: `(campaignId, requestId)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub campaign_id: CampaignId,
    pub request_id: String,
}

/// The first answer to a request, replayed byte for byte to its retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    /// The response body (JSON text).
    pub body: String,
}

/// What [`AcceptanceStore::begin_request`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// The caller owns the request now (new, expired, or an abandoned lease taken over), and
    /// runs it as this execution: the `new_execution` given for a new record, the stored one
    /// for a taken-over lease (so message ids, derived from it, stay the same and nothing is
    /// sent twice).
    Started { execution_id: ExecutionId },
    /// Another attempt with the same body is in flight until `lease_until`.
    InFlight { lease_until: Timestamp },
    /// The request completed; here is its response.
    Completed(StoredResponse),
    /// The key is live with a different body.
    Mismatch,
}

pub trait AcceptanceStore: Send + Sync {
    /// In one conditional write:
    /// - no record for `key`, or a record with `expires_at <= now` → a new in-flight record
    ///   `{body_hash, execution_id: new_execution, lease_until, expires_at}` → `Started`;
    /// - a live record with another `body_hash` → `Mismatch` (nothing written);
    /// - same hash, completed → `Completed(response)`;
    /// - same hash, in flight, `lease_until > now` → `InFlight`;
    /// - same hash, in flight, lease expired (its owner died) → taken over with the new lease
    ///   → `Started` with the STORED execution id.
    fn begin_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        new_execution: ExecutionId,
        now: Timestamp,
        lease_until: Timestamp,
        expires_at: Timestamp,
    ) -> impl Future<Output = StoreResult<Begin>> + Send;
    /// Marks the in-flight record (same hash) completed with its response; the expiry stays.
    /// `Conflict(RevisionMismatch)` when there is no in-flight record with this hash (it was
    /// abandoned, or completed by an attempt that took the lease over).
    fn finish_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records a unitary execution and completes its request: inserts `execution` (as
    /// [`ExecutionStore::insert_execution`]), then marks the request completed (as
    /// [`AcceptanceStore::finish_request`]). One write instead of two waiting on each other.
    /// `Conflict` when the execution id is taken or the request is not in flight with this
    /// hash. SQLite and the in-memory store do both in one transaction and write nothing on a
    /// conflict; DynamoDB makes the two writes one after the other (a transaction would double
    /// their write units), so there the execution may be written when the finish is refused.
    /// Callers handle a conflict by doing the two steps one by one, which tolerates that.
    fn complete_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
        execution: &Execution,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes an in-flight record with this hash (its work failed before any side effect), so
    /// a retry starts over. Completed records are never deleted.
    fn abandon_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait ExecutionStore: Send + Sync {
    /// `Conflict(AlreadyExists)` when the id is taken.
    fn insert_execution(
        &self,
        execution: &Execution,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_execution(
        &self,
        id: ExecutionId,
    ) -> impl Future<Output = StoreResult<Option<Execution>>> + Send;
    /// Replaces the execution if its stored revision is `expected_revision`
    /// (`Conflict(RevisionMismatch)` otherwise). Counters are separate and untouched.
    fn update_execution(
        &self,
        execution: &Execution,
        expected_revision: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What [`MessageStore::claim_message`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The record was written: the caller owns this message.
    Claimed,
    /// A message with this id exists already (a retry or a redelivered batch): here it is.
    Exists(Box<MessageRecord>),
}

/// Messages and the counters they move.
///
/// A message write carries the counts it changes (`counts`, possibly empty), added to the
/// counters of the message's execution and campaign version ([`CountScope::of_message`]) when,
/// and only when, the record is written. SQLite and the in-memory store add them in the same
/// transaction, so a record and its counts are never apart; DynamoDB adds them with their own
/// updates right after the record's write (a transaction would double the write units of every
/// message), so there a crash in between loses them.
pub trait MessageStore: Send + Sync {
    /// Writes the record, with its counts, if no message with its id exists.
    fn claim_message(
        &self,
        message: &MessageRecord,
        counts: &CountDelta,
    ) -> impl Future<Output = StoreResult<Claim>> + Send;
    /// Replaces the record, with its counts, if its stored outcome is `expected`
    /// (`Conflict(RevisionMismatch)` otherwise, also when it does not exist; nothing is
    /// counted then). When the new record has a
    /// [`MessageRecord::feedback_id`] (a provider id, on a channel with per-message feedback),
    /// it becomes findable by it. The write of the record is atomic;
    /// the lookup by provider id may be written first and separately (DynamoDB), so
    /// [`MessageStore::find_message_by_provider_id`] returns a message only while its stored
    /// record carries that id.
    fn update_message(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
        counts: &CountDelta,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_message(
        &self,
        id: &MessageId,
    ) -> impl Future<Output = StoreResult<Option<MessageRecord>>> + Send;
    /// The records of those of `ids` that exist, in no particular order: what a batch of
    /// recipients looks up before it runs. One lookup per id unless the store reads them
    /// together (SQLite: one read transaction; in memory: one lock; DynamoDB: BatchGetItem).
    fn get_messages(
        &self,
        ids: &[MessageId],
    ) -> impl Future<Output = StoreResult<Vec<MessageRecord>>> + Send {
        async move {
            let mut found = Vec::new();
            for id in ids {
                found.extend(self.get_message(id).await?);
            }
            Ok(found)
        }
    }
    /// An execution's messages in message-id order.
    fn list_messages(
        &self,
        execution: ExecutionId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<MessageRecord>>> + Send;
    /// The message a provider message id belongs to, for feedback events: only messages of
    /// channels with per-message feedback (email) are found ([`MessageRecord::feedback_id`]).
    fn find_message_by_provider_id(
        &self,
        provider_message_id: &str,
    ) -> impl Future<Output = StoreResult<Option<MessageRecord>>> + Send;
}

pub trait CountStore: Send + Sync {
    /// Adds the delta to the scope's counters atomically (counters start at zero).
    fn add_counts(
        &self,
        scope: CountScope,
        delta: &CountDelta,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_counts(
        &self,
        scope: CountScope,
    ) -> impl Future<Output = StoreResult<OutcomeCounts>> + Send;
}

/// One frequency-cap counter: a fixed window (`key` names recipient, channel scope, period
/// and window start) that holds at most `limit` and ends at `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapCounter {
    pub key: String,
    pub limit: u32,
    pub expires_at: Timestamp,
}

pub trait CapStore: Send + Sync {
    /// In one atomic write, increments every counter by one if each stays within its limit.
    /// When one is full, nothing changes and its index in `counters` is returned. A counter
    /// whose `expires_at <= now` counts as zero (it is a new window).
    fn increment_within(
        &self,
        counters: &[CapCounter],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<usize>>> + Send;
    /// Takes one back from each counter (a claimed message that was not sent after all); never
    /// below zero.
    fn decrement(&self, counters: &[CapCounter]) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What [`PaceStore::reserve_sends`] gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The slots `start`, `start + interval`, … (`count` of them) are the caller's.
    Granted { start: Timestamp },
    /// The campaign's first free slot is `next`, later than the caller would start: nothing
    /// was reserved.
    Later { next: Timestamp },
}

/// A campaign's send slots at its `rateLimit`, shared by every process sending for it: each
/// reserves the slots it will send in, so that dispatchers running side by side send at the
/// rate together, not each at the rate. One small record per paced campaign.
pub trait PaceStore: Send + Sync {
    /// In one atomic write: the campaign's first free slot is its stored `next`, or `now` when
    /// none is stored or it has passed. When that slot is at most `latest_start`, the `count`
    /// slots from it, `interval` apart, are reserved (the stored `next` moves on to
    /// [`slots_end`]) → `Granted { start }`. Otherwise nothing changes → `Later { next }`.
    fn reserve_sends(
        &self,
        campaign: CampaignId,
        count: u32,
        interval: SignedDuration,
        now: Timestamp,
        latest_start: Timestamp,
    ) -> impl Future<Output = StoreResult<Reservation>> + Send;
}

/// The first slot after `count` slots from `start`, `interval` apart (saturating at the last
/// instant jiff represents): what [`PaceStore::reserve_sends`] stores as the next free slot.
pub fn slots_end(start: Timestamp, interval: SignedDuration, count: u32) -> Timestamp {
    let span = interval
        .checked_mul(i32::try_from(count).unwrap_or(i32::MAX))
        .unwrap_or(SignedDuration::MAX);
    start.saturating_add(span).unwrap_or(Timestamp::MAX)
}

/// Deletes what has expired: acceptance records ([`AcceptanceStore`]) and cap counters
/// ([`CapStore`]) whose `expires_at` has passed, which both already treat as absent.
/// DynamoDB's TTL deletes them on its own, so there this deletes nothing. SQLite and the
/// in-memory store have no TTL: without this they would keep every request id and every cap
/// window forever.
pub trait ExpiryStore: Send + Sync {
    /// Deletes at most `limit` expired records of each kind with `expires_at <= now`, and
    /// returns how many it deleted. A store that has to look for them looks at no more than
    /// `limit` records of each kind per call, continuing where the last call stopped and
    /// starting over after the last record: repeated calls reach every record, and no call
    /// costs more than `limit` rows however large the tables are.
    fn purge_expired(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

pub trait ScheduleStore: Send + Sync {
    /// `Conflict(AlreadyExists)` when the id is taken.
    fn insert_schedule(
        &self,
        schedule: &ScheduledExecution,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_schedule(
        &self,
        id: ScheduleId,
    ) -> impl Future<Output = StoreResult<Option<ScheduledExecution>>> + Send;
    /// `Scheduled` → `Cancelled`; returns false (and changes nothing) when it is not `Scheduled`.
    fn cancel_schedule(
        &self,
        id: ScheduleId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Schedules still `Scheduled` with `execute_at <= now`, earliest first, at most `limit`.
    fn due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ScheduledExecution>>> + Send;
    /// `Scheduled` → `Triggered` with the execution it started; false when it is no longer
    /// `Scheduled` (cancelled, or triggered by another tick).
    fn mark_triggered(
        &self,
        id: ScheduleId,
        execution: ExecutionId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

pub trait HoldStore: Send + Sync {
    /// Holds a message until its `release_at` (replacing a hold of the same message id).
    fn hold(&self, message: &HeldMessage) -> impl Future<Output = StoreResult<()>> + Send;
    /// Held messages with `release_at <= now`, earliest first, at most `limit`.
    fn due_held(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<HeldMessage>>> + Send;
    /// Removes a hold; false when it was gone already (another tick released it).
    fn release(&self, id: &MessageId) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Everything the execution side stores.
pub trait ExecutionStores:
    AcceptanceStore
    + ExecutionStore
    + MessageStore
    + CountStore
    + CapStore
    + PaceStore
    + ExpiryStore
    + ScheduleStore
    + HoldStore
    + Clone
    + 'static
{
}

impl<T> ExecutionStores for T where
    T: AcceptanceStore
        + ExecutionStore
        + MessageStore
        + CountStore
        + CapStore
        + PaceStore
        + ExpiryStore
        + ScheduleStore
        + HoldStore
        + Clone
        + 'static
{
}
