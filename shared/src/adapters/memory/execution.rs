//! The execution-side ports ([`ExecutionStores`](crate::ports::ExecutionStores)) on
//! [`MemoryStore`], with the semantics of the real stores (see `herald_tests::contract_execution`).
//!
//! - A request record is replaced when it expired (`expires_at <= now`, with the new execution
//!   id) or its lease ran out (`lease_until <= now`, keeping its execution id); finishing needs the in-flight record with the same body hash
//!   (`Conflict(RevisionMismatch)` otherwise); abandoning deletes only that record.
//! - Messages are kept by `(execution id, claim number)` so an execution's messages page in
//!   claim order, as on SQLite, with the last claim number as the cursor; indexes map message
//!   ids and provider message ids to them.
//! - A cap counter is `(count, expires_at)`; an expired or missing one counts as zero and is
//!   restarted at one with the caller's `expires_at`. A decrement never goes below zero.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use jiff::{SignedDuration, Timestamp};

use super::{MemoryStore, conflict, paginate};
use crate::domain::execution::{CountDelta, CountScope, HeldMessage, ScheduledExecution};
use crate::domain::{
    CampaignId, Execution, ExecutionId, MessageId, MessageRecord, OutcomeCounts, OutcomeKind,
    ScheduleId, ScheduleStatus,
};
use crate::ports::{
    AcceptanceStore, Begin, CapCounter, CapStore, Claim, Conflict, CountStore, ExecutionStore,
    ExpiryStore, HoldStore, MessageStore, PaceStore, Page, PageRequest, RequestKey, Reservation,
    ScheduleStore, StoreError, StoreResult, StoredResponse, slots_end,
};

/// Everything the execution side keeps, inside the store's one mutex.
#[derive(Debug, Default)]
pub(super) struct ExecutionState {
    /// `(campaign id, request id)` → the acceptance record.
    requests: HashMap<(String, String), RequestRecord>,
    executions: BTreeMap<ExecutionId, Execution>,
    /// `(execution id, claim number)` → the message.
    messages: BTreeMap<(ExecutionId, u64), MessageRecord>,
    /// Message id → its key in `messages`, to find a message by its id alone.
    message_keys: HashMap<MessageId, (ExecutionId, u64)>,
    /// Messages claimed so far (the last claim number).
    claimed: u64,
    /// Provider message id → message id.
    provider_ids: HashMap<String, MessageId>,
    counts: HashMap<CountScope, BTreeMap<String, i64>>,
    /// Cap key → `(count, expires_at)`.
    caps: HashMap<String, (u64, Timestamp)>,
    /// Each paced campaign's next free send slot.
    paces: HashMap<CampaignId, Timestamp>,
    schedules: BTreeMap<ScheduleId, ScheduledExecution>,
    holds: BTreeMap<MessageId, HeldMessage>,
}

#[derive(Debug)]
struct RequestRecord {
    body_hash: String,
    execution_id: ExecutionId,
    lease_until: Timestamp,
    expires_at: Timestamp,
    response: Option<StoredResponse>,
}

fn request_key(key: &RequestKey) -> (String, String) {
    (key.campaign_id.to_string(), key.request_id.clone())
}

impl ExecutionState {
    fn message(&self, id: &MessageId) -> Option<&MessageRecord> {
        self.messages.get(self.message_keys.get(id)?)
    }

    fn add(&mut self, scope: CountScope, delta: &CountDelta) {
        let counters = self.counts.entry(scope).or_default();
        for (name, n) in &delta.0 {
            let slot = counters.entry(name.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
    }

    /// Adds a message's counts to its execution and campaign version.
    fn count(&mut self, message: &MessageRecord, delta: &CountDelta) {
        if !delta.is_empty() {
            for scope in CountScope::of_message(message) {
                self.add(scope, delta);
            }
        }
    }

    fn index_provider_id(&mut self, message: &MessageRecord) {
        if let Some(provider) = message.feedback_id() {
            self.provider_ids
                .insert(provider.to_string(), message.id.clone());
        }
    }
}

impl AcceptanceStore for MemoryStore {
    async fn begin_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        new_execution: ExecutionId,
        now: Timestamp,
        lease_until: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Begin> {
        let mut s = self.state();
        let requests = &mut s.exec.requests;
        let key = request_key(key);
        // The execution a new owner runs: a new one, or the stored one for a takeover.
        let execution_id = match requests.get(&key) {
            None => new_execution,
            Some(r) if r.expires_at <= now => new_execution,
            Some(r) if r.body_hash != body_hash => return Ok(Begin::Mismatch),
            Some(RequestRecord {
                response: Some(response),
                ..
            }) => return Ok(Begin::Completed(response.clone())),
            Some(r) if r.lease_until > now => {
                return Ok(Begin::InFlight {
                    lease_until: r.lease_until,
                });
            }
            Some(r) => r.execution_id,
        };
        requests.insert(
            key,
            RequestRecord {
                body_hash: body_hash.to_string(),
                execution_id,
                lease_until,
                expires_at,
                response: None,
            },
        );
        Ok(Begin::Started { execution_id })
    }

    async fn finish_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let mut s = self.state();
        match s.exec.requests.get_mut(&request_key(key)) {
            Some(r) if r.body_hash == body_hash && r.response.is_none() => {
                r.response = Some(response.clone());
                Ok(())
            }
            _ => Err(conflict(Conflict::RevisionMismatch)),
        }
    }

    async fn complete_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
        execution: &Execution,
    ) -> StoreResult<()> {
        let mut s = self.state();
        if s.exec.executions.contains_key(&execution.id) {
            return Err(conflict(Conflict::AlreadyExists));
        }
        match s.exec.requests.get_mut(&request_key(key)) {
            Some(r) if r.body_hash == body_hash && r.response.is_none() => {
                r.response = Some(response.clone());
            }
            _ => return Err(conflict(Conflict::RevisionMismatch)),
        }
        s.exec.executions.insert(execution.id, execution.clone());
        Ok(())
    }

    async fn abandon_request(&self, key: &RequestKey, body_hash: &str) -> StoreResult<()> {
        let mut s = self.state();
        let key = request_key(key);
        if s.exec
            .requests
            .get(&key)
            .is_some_and(|r| r.body_hash == body_hash && r.response.is_none())
        {
            s.exec.requests.remove(&key);
        }
        Ok(())
    }
}

impl ExecutionStore for MemoryStore {
    async fn insert_execution(&self, execution: &Execution) -> StoreResult<()> {
        let mut s = self.state();
        if s.exec.executions.contains_key(&execution.id) {
            return Err(conflict(Conflict::AlreadyExists));
        }
        s.exec.executions.insert(execution.id, execution.clone());
        Ok(())
    }

    async fn get_execution(&self, id: ExecutionId) -> StoreResult<Option<Execution>> {
        Ok(self.state().exec.executions.get(&id).cloned())
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        expected_revision: u64,
    ) -> StoreResult<()> {
        let mut s = self.state();
        match s.exec.executions.get_mut(&execution.id) {
            Some(stored) if stored.revision == expected_revision => {
                *stored = execution.clone();
                Ok(())
            }
            _ => Err(conflict(Conflict::RevisionMismatch)),
        }
    }
}

impl MessageStore for MemoryStore {
    async fn claim_message(
        &self,
        message: &MessageRecord,
        counts: &CountDelta,
    ) -> StoreResult<Claim> {
        let mut s = self.state();
        if let Some(existing) = s.exec.message(&message.id) {
            return Ok(Claim::Exists(Box::new(existing.clone())));
        }
        s.exec.claimed += 1;
        let key = (message.execution_id, s.exec.claimed);
        s.exec.message_keys.insert(message.id.clone(), key);
        s.exec.messages.insert(key, message.clone());
        s.exec.index_provider_id(message);
        s.exec.count(message, counts);
        Ok(Claim::Claimed)
    }

    async fn update_message(
        &self,
        message: &MessageRecord,
        expected: OutcomeKind,
        counts: &CountDelta,
    ) -> StoreResult<()> {
        let mut s = self.state();
        let Some(key) = s.exec.message_keys.get(&message.id).copied() else {
            return Err(conflict(Conflict::RevisionMismatch));
        };
        match s.exec.messages.get_mut(&key) {
            Some(stored) if stored.outcome == expected => *stored = message.clone(),
            _ => return Err(conflict(Conflict::RevisionMismatch)),
        }
        s.exec.index_provider_id(message);
        s.exec.count(message, counts);
        Ok(())
    }

    async fn get_message(&self, id: &MessageId) -> StoreResult<Option<MessageRecord>> {
        Ok(self.state().exec.message(id).cloned())
    }

    async fn get_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<MessageRecord>> {
        let s = self.state();
        Ok(ids
            .iter()
            .filter_map(|id| s.exec.message(id).cloned())
            .collect())
    }

    async fn list_messages(
        &self,
        execution: ExecutionId,
        page: &PageRequest,
    ) -> StoreResult<Page<MessageRecord>> {
        let s = self.state();
        let after = match page.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::invalid_cursor(c))?,
        };
        let items = s.exec.messages.range((
            Bound::Excluded((execution, after)),
            Bound::Included((execution, u64::MAX)),
        ));
        paginate(
            items,
            page,
            |(_, claim)| claim.to_string(),
            |m| Ok(m.clone()),
        )
    }

    async fn find_message_by_provider_id(
        &self,
        provider_message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let s = self.state();
        Ok(s.exec
            .provider_ids
            .get(provider_message_id)
            .and_then(|id| s.exec.message(id))
            .filter(|m| m.provider_message_id.as_deref() == Some(provider_message_id))
            .cloned())
    }
}

impl CountStore for MemoryStore {
    async fn add_counts(&self, scope: CountScope, delta: &CountDelta) -> StoreResult<()> {
        if delta.is_empty() {
            return Ok(());
        }
        self.state().exec.add(scope, delta);
        Ok(())
    }

    async fn get_counts(&self, scope: CountScope) -> StoreResult<OutcomeCounts> {
        let s = self.state();
        Ok(s.exec
            .counts
            .get(&scope)
            .map(|c| OutcomeCounts::from_counters(c.iter().map(|(k, v)| (k.as_str(), *v))))
            .unwrap_or_default())
    }
}

impl CapStore for MemoryStore {
    async fn increment_within(
        &self,
        counters: &[CapCounter],
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        let mut s = self.state();
        let caps = &mut s.exec.caps;
        let current = |key: &str| match caps.get(key) {
            Some((n, expires_at)) if *expires_at > now => *n,
            _ => 0,
        };
        if let Some(full) = counters
            .iter()
            .position(|c| current(&c.key) >= u64::from(c.limit))
        {
            return Ok(Some(full));
        }
        for c in counters {
            let slot = caps.entry(c.key.clone()).or_insert((0, c.expires_at));
            if slot.1 <= now {
                *slot = (0, c.expires_at);
            }
            slot.0 += 1;
        }
        Ok(None)
    }

    async fn decrement(&self, counters: &[CapCounter]) -> StoreResult<()> {
        let mut s = self.state();
        for c in counters {
            if let Some((n, _)) = s.exec.caps.get_mut(&c.key) {
                *n = n.saturating_sub(1);
            }
        }
        Ok(())
    }
}

impl PaceStore for MemoryStore {
    async fn reserve_sends(
        &self,
        campaign: CampaignId,
        count: u32,
        interval: SignedDuration,
        now: Timestamp,
        latest_start: Timestamp,
    ) -> StoreResult<Reservation> {
        let mut s = self.state();
        let next = match s.exec.paces.get(&campaign) {
            Some(next) if *next > now => *next,
            _ => now,
        };
        if next > latest_start {
            return Ok(Reservation::Later { next });
        }
        s.exec
            .paces
            .insert(campaign, slots_end(next, interval, count));
        Ok(Reservation::Granted { start: next })
    }
}

/// The first `limit` keys of `map` whose expiry has passed.
fn expired_keys<K: Clone, V>(
    map: &HashMap<K, V>,
    limit: u32,
    expired: impl Fn(&V) -> bool,
) -> Vec<K> {
    map.iter()
        .filter(|(_, v)| expired(v))
        .map(|(k, _)| k.clone())
        .take(limit as usize)
        .collect()
}

impl ExpiryStore for MemoryStore {
    /// Looks through every record (this store is small); deletes at most `limit` of each kind.
    async fn purge_expired(&self, now: Timestamp, limit: u32) -> StoreResult<u64> {
        let mut s = self.state();
        let exec = &mut s.exec;
        let requests = expired_keys(&exec.requests, limit, |r| r.expires_at <= now);
        let caps = expired_keys(&exec.caps, limit, |(_, expires_at)| *expires_at <= now);
        for key in &requests {
            exec.requests.remove(key);
        }
        for key in &caps {
            exec.caps.remove(key);
        }
        Ok((requests.len() + caps.len()) as u64)
    }
}

impl ScheduleStore for MemoryStore {
    async fn insert_schedule(&self, schedule: &ScheduledExecution) -> StoreResult<()> {
        let mut s = self.state();
        if s.exec.schedules.contains_key(&schedule.id) {
            return Err(conflict(Conflict::AlreadyExists));
        }
        s.exec.schedules.insert(schedule.id, schedule.clone());
        Ok(())
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<ScheduledExecution>> {
        Ok(self.state().exec.schedules.get(&id).cloned())
    }

    async fn cancel_schedule(&self, id: ScheduleId, now: Timestamp) -> StoreResult<bool> {
        let mut s = self.state();
        match s.exec.schedules.get_mut(&id) {
            Some(stored) if stored.status == ScheduleStatus::Scheduled => {
                stored.status = ScheduleStatus::Cancelled;
                stored.modified_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledExecution>> {
        let s = self.state();
        let mut due: Vec<&ScheduledExecution> = s
            .exec
            .schedules
            .values()
            .filter(|x| x.status == ScheduleStatus::Scheduled && x.execute_at <= now)
            .collect();
        due.sort_by_key(|x| (x.execute_at, x.id));
        Ok(due.into_iter().take(limit as usize).cloned().collect())
    }

    async fn mark_triggered(
        &self,
        id: ScheduleId,
        execution: ExecutionId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut s = self.state();
        match s.exec.schedules.get_mut(&id) {
            Some(stored) if stored.status == ScheduleStatus::Scheduled => {
                stored.status = ScheduleStatus::Triggered;
                stored.execution_id = Some(execution);
                stored.modified_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl HoldStore for MemoryStore {
    async fn hold(&self, message: &HeldMessage) -> StoreResult<()> {
        self.state()
            .exec
            .holds
            .insert(message.message_id.clone(), message.clone());
        Ok(())
    }

    async fn due_held(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<HeldMessage>> {
        let s = self.state();
        let mut due: Vec<&HeldMessage> = s
            .exec
            .holds
            .values()
            .filter(|h| h.release_at <= now)
            .collect();
        due.sort_by(|a, b| (a.release_at, &a.message_id).cmp(&(b.release_at, &b.message_id)));
        Ok(due.into_iter().take(limit as usize).cloned().collect())
    }

    async fn release(&self, id: &MessageId) -> StoreResult<bool> {
        Ok(self.state().exec.holds.remove(id).is_some())
    }
}
