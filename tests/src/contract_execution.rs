//! # The execution-side store contract suite
//!
//! The execution ports ([`herald_core::ports::execution`]) hold the trigger pipeline's
//! guarantees: a trigger accepted exactly once, at most one provider call per message id,
//! counters that never lose an increment, frequency caps that are never exceeded. Every store
//! (`MemoryStore`, `SqliteStore`, `DynamoStore`) must keep them the same way, so this module
//! holds them as generic async cases, `pub async fn <case>(store: &S)` with
//! `S: ExecutionStores`, each starting from an EMPTY store.
//! [`execution_contract_tests!`](crate::execution_contract_tests) turns them into one
//! `#[tokio::test]` per case for a given store.
//!
//! ## Using it from a test file
//!
//! ```text
//! // An async expression giving a fresh, empty store:
//! herald_tests::execution_contract_tests!(async { herald_core::adapters::memory::MemoryStore::new() });
//!
//! // With something that must outlive the store (a temporary directory, a table): an async
//! // expression giving `(store, guard)`; the guard is dropped after the case and the store.
//! herald_tests::execution_contract_tests!(with_guard: fresh_sqlite_store());
//! ```
//!
//! The expression is evaluated once per test, inside a
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` runtime (the concurrency cases
//! really run in parallel). Tests are named after their case (a sentence), so
//! `cargo test --test contract_execution_sqlite concurrent` selects cases by name.
//!
//! ## The contract, beyond what the ports' doc comments say
//!
//! - Time is the `now` argument only. Every boundary is inclusive on the "expired/due" side:
//!   a request record with `expires_at <= now` is gone, a lease with `lease_until <= now` is
//!   abandoned, a cap window with `expires_at <= now` is empty, a schedule with
//!   `execute_at <= now` and a hold with `release_at <= now` are due. The suite uses whole
//!   seconds; stores must keep instants to at least the millisecond.
//! - A mismatching `begin_request` writes nothing: the live record keeps its lease.
//! - Messages are listed in an order of the store's that stays the same between calls (claim
//!   order on SQLite and in memory, [`MessageId`] order on DynamoDB; the cases for each are in
//!   the last section); a cursor the listing did not issue is refused. Pages follow the
//!   admin suite's rules (at most `limit` items, `next` is `None` on the last page, also a full
//!   one). An execution without messages lists as one empty page.
//! - A message is found by its provider id once an update wrote that id, and finding it gives
//!   the message's latest record.
//! - Counter names are free text and may contain dots (`excluded.NoProfile`); one delta may
//!   name a counter twice (both amounts count) and an empty delta is a no-op.
//! - `increment_within` with several counters: when exactly one is full, its index is
//!   returned and no counter changes. With no counters it succeeds (`None`); `decrement` with
//!   none does nothing. A counter with limit 0 is always full. One call never names the same
//!   key twice (the suite never does).
//! - `due_schedules` and `due_held` order by instant; ties have no defined order (the suite
//!   uses distinct instants). Cancelling and triggering set `modified_at` to `now`; triggering
//!   records the execution id.
//! - Concurrent writers race on one key: exactly one claim, begin, trigger or release wins;
//!   caps are never exceeded; no counter increment is lost; no send slot is reserved twice.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use herald_core::domain::trigger::{Recipient, RecipientType};
use herald_core::domain::{
    AudienceId, CampaignId, Channel, CountDelta, CountScope, ExclusionReason, Execution,
    ExecutionId, ExecutionKind, ExecutionStatus, HeldMessage, MessageId, MessageRecord,
    OutcomeCounts, OutcomeKind, RecipientKey, RecipientWork, ScheduleId, ScheduleStatus,
    ScheduledExecution,
};
use herald_core::ports::{
    Begin, CapCounter, Claim, Conflict, Page, PageRequest, RequestKey, Reservation, StoreError,
    StoreResult, StoredResponse,
};

pub use herald_core::ports::ExecutionStores;

/// Generates one `#[tokio::test]` per execution contract case for a store; see the [module
/// documentation](crate::contract_execution).
///
/// - `execution_contract_tests!(make)`: `make` is an async expression producing a fresh, empty
///   store.
/// - `execution_contract_tests!(with_guard: make)`: `make` produces `(store, guard)`; `guard`
///   is dropped after the case and after the store.
#[macro_export]
macro_rules! execution_contract_tests {
    (with_guard: $make:expr $(,)?) => {
        $crate::__execution_contract_cases!(@cases with_guard, $make);
    };
    ($make:expr $(,)?) => {
        $crate::__execution_contract_cases!(@cases plain, $make);
    };
}

/// The list of execution contract cases, expanded by [`execution_contract_tests!`]. Every
/// `pub async fn` case of [`contract_execution`](crate::contract_execution) is listed here
/// exactly once, but for the last section's (cases only some stores keep).
#[doc(hidden)]
#[macro_export]
macro_rules! __execution_contract_cases {
    (@emit plain, $make:expr; $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::contract_execution::$case(&store).await;
            }
        )*
    };
    (@emit with_guard, $make:expr; $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, guard) = $make.await;
                $crate::contract_execution::$case(&store).await;
                ::std::mem::drop(store);
                ::std::mem::drop(guard);
            }
        )*
    };
    (@cases $mode:ident, $make:expr) => {
        $crate::__execution_contract_cases!(@emit $mode, $make;
            // acceptance
            a_new_request_is_started_as_the_execution_it_proposes
            a_retry_with_the_same_body_while_the_lease_is_live_is_in_flight
            a_finished_request_replays_its_exact_response
            a_different_body_is_a_mismatch_in_flight_and_after_completion
            an_expired_record_starts_over_whatever_its_state_or_body
            an_in_flight_request_whose_lease_expired_is_taken_over_with_its_execution
            an_abandoned_request_starts_over
            abandoning_never_deletes_a_completed_request_or_one_with_another_body
            the_same_request_id_for_two_campaigns_is_two_requests
            concurrent_identical_requests_start_exactly_once
            completing_a_request_writes_its_execution_and_replays_its_response
            completing_a_request_whose_execution_exists_conflicts_and_leaves_both_as_they_were
            completing_a_request_that_is_not_in_flight_conflicts_and_keeps_its_response
            // executions
            an_execution_is_inserted_and_read_back
            a_missing_execution_reads_as_none
            inserting_an_execution_twice_conflicts_and_keeps_the_first
            updating_an_execution_at_its_revision_stores_it_and_leaves_its_counts_alone
            a_stale_execution_update_conflicts_and_changes_nothing
            updating_a_missing_execution_conflicts_and_creates_nothing
            // messages
            a_claimed_message_is_stored
            messages_read_together_are_those_that_exist
            claiming_a_message_again_returns_the_first_record_unchanged
            updating_a_message_from_its_expected_outcome_replaces_it
            updating_a_message_from_a_stale_outcome_conflicts_and_changes_nothing
            updating_a_missing_message_conflicts_and_creates_nothing
            listing_messages_pages_one_execution_in_a_stable_order
            a_message_cursor_the_listing_did_not_issue_is_refused
            an_execution_without_messages_lists_one_empty_page
            a_message_is_found_by_the_provider_id_an_update_gave_it
            a_changed_provider_id_finds_the_message_and_the_old_or_a_refused_one_does_not
            only_an_email_is_found_by_its_provider_id
            concurrent_claims_of_one_message_let_exactly_one_win
            a_message_write_adds_its_counts_to_its_execution_and_campaign_version
            a_refused_message_write_counts_nothing
            // counts
            counts_of_an_unknown_scope_are_zero
            deltas_add_up_per_scope_including_negative_and_reason_counters
            a_delta_naming_one_counter_twice_adds_both_and_an_empty_delta_changes_nothing
            concurrent_increments_of_one_counter_are_all_counted
            // frequency caps
            incrementing_counters_succeeds_until_one_is_full
            a_full_counter_refuses_and_increments_none_of_the_others
            an_expired_window_counts_as_zero
            a_decrement_gives_back_one_to_every_counter
            incrementing_or_decrementing_no_counters_changes_nothing
            concurrent_increments_never_exceed_the_limit
            one_counter_alone_restarts_after_its_window_and_concurrent_increments_stay_within_it
            // send pacing
            a_campaigns_first_reservation_starts_now_and_each_next_one_where_the_last_ended
            a_reservation_after_the_reserved_slots_passed_starts_from_now
            a_first_free_slot_past_the_latest_start_reserves_nothing
            concurrent_reservations_take_consecutive_slots_that_never_overlap
            // expiry
            purging_deletes_at_most_the_expired_and_every_live_record_keeps_its_state
            // schedules
            a_schedule_is_inserted_and_read_back
            a_missing_schedule_reads_as_none_and_cannot_be_cancelled_or_triggered
            inserting_a_schedule_twice_conflicts_and_keeps_the_first
            due_schedules_are_the_scheduled_ones_up_to_now_earliest_first_within_the_limit
            cancelling_a_schedule_succeeds_once_and_it_is_never_due
            marking_a_schedule_triggered_succeeds_once_and_it_is_no_longer_due
            a_cancelled_schedule_cannot_be_triggered_nor_a_triggered_one_cancelled
            concurrent_triggers_of_one_schedule_let_exactly_one_win
            // holds
            held_messages_are_due_at_their_release_time_earliest_first_within_the_limit
            releasing_a_hold_succeeds_once_and_it_is_no_longer_due
            holding_a_message_again_replaces_its_hold
            releasing_a_message_never_held_returns_false
            concurrent_releases_of_one_hold_let_exactly_one_win
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Domain values
// ---------------------------------------------------------------------------------------------

/// A fixed instant plus `seconds`.
fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("a valid timestamp")
}

const DAY: i64 = 86_400;

fn request_key(request_id: &str) -> RequestKey {
    RequestKey {
        campaign_id: CampaignId::new(),
        request_id: request_id.to_string(),
    }
}

/// A response with characters a careless store would change (non-ASCII, escapes, trailing
/// whitespace), to check it is replayed byte for byte.
fn response(execution: &str) -> StoredResponse {
    StoredResponse {
        status: 202,
        body: format!(
            "{{\"executionId\":\"{execution}\",\"note\":\"Grüße \\\"quoted\\\" \\u00e9 ✓\",\
             \"createdBy\":\"ops\\\\batch\"}}\n  "
        ),
    }
}

fn execution(campaign: CampaignId) -> Execution {
    Execution {
        id: ExecutionId::new(),
        kind: ExecutionKind::Audience,
        campaign_id: campaign,
        campaign_version: 3,
        request_id: "req-7f3a".into(),
        audience_id: Some(AudienceId::new()),
        status: ExecutionStatus::InProgress,
        context: serde_json::json!({
            "order": {"total": 129.5, "items": ["book", "pen"]},
            "coupon": null,
            "firstOrder": true
        }),
        created_at: at(0),
        created_by: "api-client".into(),
        modified_at: at(0),
        plan_cursor: Some("0196c1e2-aaaa-7000-8000-000000000000".into()),
        revision: 1,
    }
}

/// The execution as the next write would store it.
fn next_execution(e: &Execution, status: ExecutionStatus) -> Execution {
    Execution {
        status,
        plan_cursor: None,
        modified_at: at(e.revision as i64 + 60),
        revision: e.revision + 1,
        ..e.clone()
    }
}

fn recipient_key(n: usize) -> RecipientKey {
    RecipientKey {
        namespace: "email".into(),
        user_id: format!("user{n}@example.com"),
    }
}

/// A claimed (pending) message for recipient `n` of an execution.
fn message(execution: ExecutionId, campaign: CampaignId, n: usize) -> MessageRecord {
    let recipient = recipient_key(n);
    MessageRecord {
        id: MessageId::derive(execution, &recipient, Channel::Email),
        execution_id: execution,
        campaign_id: campaign,
        campaign_version: 2,
        channel: Channel::Email,
        address: Some(recipient.user_id.clone()),
        recipient,
        outcome: OutcomeKind::Pending,
        reason: None,
        detail: None,
        provider_message_id: None,
        variant: Some("B".into()),
        locale: Some("fr".into()),
        rules_bypassed: false,
        release_at: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

/// The message after the provider accepted it.
fn sent(m: &MessageRecord, provider_id: &str) -> MessageRecord {
    MessageRecord {
        outcome: OutcomeKind::Sent,
        provider_message_id: Some(provider_id.to_string()),
        updated_at: at(10),
        ..m.clone()
    }
}

fn schedule(execute_at: i64) -> ScheduledExecution {
    let mut context = serde_json::Map::new();
    context.insert(
        "promo".into(),
        serde_json::json!({"code": "SPRING", "pct": 15}),
    );
    ScheduledExecution {
        id: ScheduleId::new(),
        campaign_id: CampaignId::new(),
        audience_id: Some(AudienceId::new()),
        request_id: Some(format!("scheduled-{execute_at}")),
        context,
        execute_at: at(execute_at),
        status: ScheduleStatus::Scheduled,
        execution_id: None,
        created_at: at(-DAY),
        modified_at: at(-DAY),
    }
}

fn held(n: usize, release_at: i64) -> HeldMessage {
    let execution_id = ExecutionId::new();
    let key = recipient_key(n);
    let mut request_context = serde_json::Map::new();
    request_context.insert(
        "resetLink".into(),
        serde_json::json!("https://x.test/r?t=1"),
    );
    let mut profile = serde_json::Map::new();
    profile.insert("firstName".into(), serde_json::json!("Ann"));
    HeldMessage {
        message_id: MessageId::derive(execution_id, &key, Channel::Sms),
        release_at: at(release_at),
        work: RecipientWork {
            execution_id,
            campaign_id: CampaignId::new(),
            campaign_version: 1,
            recipient: Recipient {
                recipient_type: RecipientType::Aep,
                user_id: key.user_id,
                namespace: key.namespace,
                channel_data: None,
                profile: Some(profile),
                context: None,
                merge_policy_name: None,
                merge_policy_schema: None,
            },
            profile_id: None,
            request_context: std::sync::Arc::new(request_context),
        },
    }
}

fn cap(key: &str, limit: u32, expires_at: i64) -> CapCounter {
    CapCounter {
        key: key.to_string(),
        limit,
        expires_at: at(expires_at),
    }
}

fn delta(items: &[(&str, i64)]) -> CountDelta {
    CountDelta(items.iter().map(|(n, v)| (n.to_string(), *v)).collect())
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

/// The conflict a write was refused with.
fn conflict<T: Debug>(result: StoreResult<T>, what: &str) -> Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

/// Reads a listing to its end with pages of `limit`, checking that no page is larger than the
/// limit and that `n` items take exactly `max(1, ceil(n / limit))` pages.
async fn read_all<T, F, Fut>(limit: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    let mut items = Vec::new();
    let mut request = PageRequest::first(limit);
    let mut pages = 0usize;
    loop {
        pages += 1;
        let page = ok(list(request.clone()).await, "listing a page");
        assert!(
            page.items.len() <= limit as usize,
            "page {pages} holds {} items, more than the limit {limit}",
            page.items.len()
        );
        items.extend(page.items);
        match page.next {
            Some(next) => {
                assert!(
                    pages <= items.len() / limit as usize + 1,
                    "page {pages} still points to another page after {} items",
                    items.len()
                );
                request = PageRequest {
                    cursor: Some(next),
                    limit,
                };
            }
            None => break,
        }
    }
    let expected_pages = items.len().div_ceil(limit as usize).max(1);
    assert_eq!(
        pages,
        expected_pages,
        "{} items in pages of {limit} took {pages} pages; the last page must have no `next`",
        items.len()
    );
    items
}

/// `begin_request` proposing `execution` for a new record.
async fn begin<S: ExecutionStores>(
    store: &S,
    key: &RequestKey,
    hash: &str,
    execution: ExecutionId,
    now: i64,
    lease_until: i64,
    expires_at: i64,
) -> Begin {
    ok(
        store
            .begin_request(
                key,
                hash,
                execution,
                at(now),
                at(lease_until),
                at(expires_at),
            )
            .await,
        "beginning a request",
    )
}

fn started(execution_id: ExecutionId) -> Begin {
    Begin::Started { execution_id }
}

fn in_flight(lease_until: i64) -> Begin {
    Begin::InFlight {
        lease_until: at(lease_until),
    }
}

/// `N` fresh execution ids.
fn executions<const N: usize>() -> [ExecutionId; N] {
    std::array::from_fn(|_| ExecutionId::new())
}

async fn finish<S: ExecutionStores>(
    store: &S,
    key: &RequestKey,
    hash: &str,
    response: &StoredResponse,
) {
    ok(
        store.finish_request(key, hash, response).await,
        "finishing a request",
    );
}

async fn stored_execution<S: ExecutionStores>(store: &S, id: ExecutionId) -> Option<Execution> {
    ok(store.get_execution(id).await, "reading an execution")
}

async fn stored_message<S: ExecutionStores>(store: &S, id: &MessageId) -> Option<MessageRecord> {
    ok(store.get_message(id).await, "reading a message")
}

async fn claim<S: ExecutionStores>(store: &S, m: &MessageRecord) -> Claim {
    ok(
        store.claim_message(m, &CountDelta::default()).await,
        "claiming a message",
    )
}

async fn counts<S: ExecutionStores>(store: &S, scope: CountScope) -> OutcomeCounts {
    ok(store.get_counts(scope).await, "reading counts")
}

async fn add<S: ExecutionStores>(store: &S, scope: CountScope, d: &CountDelta) {
    ok(store.add_counts(scope, d).await, "adding counts");
}

async fn increment<S: ExecutionStores>(
    store: &S,
    counters: &[CapCounter],
    now: i64,
) -> Option<usize> {
    ok(
        store.increment_within(counters, at(now)).await,
        "incrementing cap counters",
    )
}

/// Increments `counters` until it is refused; returns how many increments succeeded (at most
/// `bound`, which stops a store that never refuses) and the index it was refused with.
async fn fill<S: ExecutionStores>(
    store: &S,
    counters: &[CapCounter],
    now: i64,
    bound: usize,
) -> (usize, Option<usize>) {
    for done in 0..bound {
        if let Some(full) = increment(store, counters, now).await {
            return (done, Some(full));
        }
    }
    (bound, None)
}

async fn stored_schedule<S: ExecutionStores>(
    store: &S,
    id: ScheduleId,
) -> Option<ScheduledExecution> {
    ok(store.get_schedule(id).await, "reading a schedule")
}

async fn insert_schedule<S: ExecutionStores>(store: &S, s: &ScheduledExecution) {
    ok(store.insert_schedule(s).await, "inserting a schedule");
}

async fn due_schedules<S: ExecutionStores>(
    store: &S,
    now: i64,
    limit: u32,
) -> Vec<ScheduledExecution> {
    ok(
        store.due_schedules(at(now), limit).await,
        "reading due schedules",
    )
}

async fn hold<S: ExecutionStores>(store: &S, h: &HeldMessage) {
    ok(store.hold(h).await, "holding a message");
}

async fn due_held<S: ExecutionStores>(store: &S, now: i64, limit: u32) -> Vec<HeldMessage> {
    ok(store.due_held(at(now), limit).await, "reading due holds")
}

async fn release<S: ExecutionStores>(store: &S, id: &MessageId) -> bool {
    ok(store.release(id).await, "releasing a hold")
}

// ---------------------------------------------------------------------------------------------
// Acceptance
// ---------------------------------------------------------------------------------------------

pub async fn a_new_request_is_started_as_the_execution_it_proposes<S: ExecutionStores>(store: &S) {
    let key = request_key("req-1");
    let [e1] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
}

pub async fn a_retry_with_the_same_body_while_the_lease_is_live_is_in_flight<S: ExecutionStores>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    for now in [0, 1, 29] {
        assert_eq!(
            begin(store, &key, "h1", e2, now, now + 30, now + DAY).await,
            in_flight(30),
            "a retry at +{now}s sees the first attempt's lease, unchanged"
        );
    }
}

pub async fn a_finished_request_replays_its_exact_response<S: ExecutionStores>(store: &S) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    let first = response(&e1.to_string());
    finish(store, &key, "h1", &first).await;
    for now in [1, 60, DAY - 1] {
        assert_eq!(
            begin(store, &key, "h1", e2, now, now + 30, now + DAY).await,
            Begin::Completed(first.clone()),
            "a retry at +{now}s replays the first response byte for byte"
        );
    }
}

pub async fn a_different_body_is_a_mismatch_in_flight_and_after_completion<S: ExecutionStores>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2, e3] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    assert_eq!(
        begin(store, &key, "h2", e2, 1, 31, DAY).await,
        Begin::Mismatch
    );
    assert_eq!(
        begin(store, &key, "h1", e3, 2, 32, DAY).await,
        in_flight(30),
        "a mismatch writes nothing"
    );
    // The lease has run out but the record lives: another body is still a mismatch.
    assert_eq!(
        begin(store, &key, "h2", e2, 40, 70, DAY).await,
        Begin::Mismatch
    );
    assert_eq!(
        begin(store, &key, "h1", e3, 41, 71, DAY).await,
        started(e1),
        "the mismatch took neither the abandoned lease nor the execution"
    );
    let first = response(&e1.to_string());
    finish(store, &key, "h1", &first).await;
    assert_eq!(
        begin(store, &key, "h2", e2, 50, 80, DAY).await,
        Begin::Mismatch
    );
    assert_eq!(
        begin(store, &key, "h1", e3, 51, 81, DAY).await,
        Begin::Completed(first)
    );
}

pub async fn an_expired_record_starts_over_whatever_its_state_or_body<S: ExecutionStores>(
    store: &S,
) {
    let [e1, e2, e3, e4, e5, e6] = executions();
    // A completed record, expiring at +100.
    let done = request_key("req-done");
    assert_eq!(begin(store, &done, "h1", e1, 0, 30, 100).await, started(e1));
    finish(store, &done, "h1", &response("e-1")).await;
    assert_eq!(
        begin(store, &done, "h1", e2, 99, 129, 99 + DAY).await,
        Begin::Completed(response("e-1")),
        "one second before its expiry the record lives"
    );
    assert_eq!(
        begin(store, &done, "h1", e2, 100, 130, 100 + DAY).await,
        started(e2),
        "at its expiry the record is gone: a new execution starts"
    );
    assert_eq!(
        begin(store, &done, "h1", e3, 101, 131, 100 + DAY).await,
        in_flight(130),
        "the new record is in flight, not completed"
    );

    // An in-flight record, expiring at +100, retried with another body after its expiry.
    let flying = request_key("req-flying");
    assert_eq!(
        begin(store, &flying, "h1", e4, 0, 300, 100).await,
        started(e4)
    );
    assert_eq!(
        begin(store, &flying, "h2", e5, 150, 180, 150 + DAY).await,
        started(e5),
        "an expired record is gone even while its lease runs"
    );
    assert_eq!(
        begin(store, &flying, "h1", e6, 151, 181, 151 + DAY).await,
        Begin::Mismatch,
        "the new record has the new body"
    );
    assert_eq!(
        begin(store, &flying, "h2", e6, 152, 182, 152 + DAY).await,
        in_flight(180)
    );
    assert_eq!(
        begin(store, &flying, "h2", e6, 180, 210, 180 + DAY).await,
        started(e5),
        "the new record holds the new execution"
    );
}

pub async fn an_in_flight_request_whose_lease_expired_is_taken_over_with_its_execution<
    S: ExecutionStores,
>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2, e3, e4] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    assert_eq!(
        begin(store, &key, "h1", e2, 30, 60, 30 + DAY).await,
        started(e1),
        "at the end of its lease the first attempt is presumed dead; its execution resumes"
    );
    assert_eq!(
        begin(store, &key, "h1", e3, 31, 61, 31 + DAY).await,
        in_flight(60),
        "the takeover holds the new lease"
    );
    assert_eq!(
        begin(store, &key, "h1", e4, 60, 90, 60 + DAY).await,
        started(e1),
        "a second takeover still resumes the first execution"
    );
    let answer = response(&e1.to_string());
    finish(store, &key, "h1", &answer).await;
    assert_eq!(
        begin(store, &key, "h1", e4, 62, 92, 62 + DAY).await,
        Begin::Completed(answer)
    );
}

pub async fn an_abandoned_request_starts_over<S: ExecutionStores>(store: &S) {
    let key = request_key("req-1");
    let [e1, e2, e3] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    ok(
        store.abandon_request(&key, "h1").await,
        "abandoning a request",
    );
    assert_eq!(
        begin(store, &key, "h1", e2, 1, 31, DAY).await,
        started(e2),
        "a retry after the abandon starts over within the first lease, as a new execution"
    );
    ok(
        store.abandon_request(&key, "h1").await,
        "abandoning a request",
    );
    assert_eq!(
        begin(store, &key, "h2", e3, 2, 32, DAY).await,
        started(e3),
        "nothing is left of an abandoned request, not even its body hash"
    );
}

pub async fn abandoning_never_deletes_a_completed_request_or_one_with_another_body<
    S: ExecutionStores,
>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    ok(
        store.abandon_request(&key, "h2").await,
        "abandoning with another body",
    );
    assert_eq!(
        begin(store, &key, "h1", e2, 1, 31, DAY).await,
        in_flight(30),
        "an abandon with another body hash leaves the record"
    );
    let answer = response(&e1.to_string());
    finish(store, &key, "h1", &answer).await;
    ok(
        store.abandon_request(&key, "h1").await,
        "abandoning a completed request",
    );
    assert_eq!(
        begin(store, &key, "h1", e2, 2, 32, DAY).await,
        Begin::Completed(answer),
        "a completed request is never deleted"
    );
    let missing = request_key("req-never-begun");
    ok(
        store.abandon_request(&missing, "h1").await,
        "abandoning a request that was never begun",
    );
}

pub async fn the_same_request_id_for_two_campaigns_is_two_requests<S: ExecutionStores>(store: &S) {
    let first = request_key("shared-request-id");
    let second = RequestKey {
        campaign_id: CampaignId::new(),
        ..first.clone()
    };
    let [e1, e2, e3] = executions();
    assert_eq!(
        begin(store, &first, "h1", e1, 0, 30, DAY).await,
        started(e1)
    );
    assert_eq!(
        begin(store, &second, "h2", e2, 0, 30, DAY).await,
        started(e2)
    );
    finish(store, &first, "h1", &response("e-1")).await;
    assert_eq!(
        begin(store, &second, "h2", e3, 1, 31, DAY).await,
        in_flight(30)
    );
}

pub async fn concurrent_identical_requests_start_exactly_once<S: ExecutionStores>(store: &S) {
    const CALLERS: usize = 50;
    let key = request_key("req-stampede");
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (store, barrier, key) = (store.clone(), Arc::clone(&barrier), key.clone());
        let proposed = ExecutionId::new();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = store
                .begin_request(&key, "same-hash", proposed, at(0), at(30), at(DAY))
                .await;
            (proposed, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("a caller task panicked") {
            (proposed, Ok(Begin::Started { execution_id })) => {
                assert_eq!(execution_id, proposed, "the winner runs its own execution");
                winners.push(proposed);
            }
            (_, Ok(Begin::InFlight { lease_until })) => assert_eq!(lease_until, at(30)),
            (_, other) => panic!("a concurrent begin answered {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one caller owns the request");
    let [late] = executions();
    assert_eq!(
        begin(store, &key, "same-hash", late, 30, 60, DAY).await,
        started(winners[0]),
        "the stored record holds the winner's execution"
    );
}

/// A unitary execution of the campaign of `key`, for its request.
fn unitary_execution(key: &RequestKey, id: ExecutionId) -> Execution {
    Execution {
        id,
        kind: ExecutionKind::Unitary,
        campaign_id: key.campaign_id,
        request_id: key.request_id.clone(),
        audience_id: None,
        status: ExecutionStatus::Succeeded,
        context: serde_json::Value::Null,
        plan_cursor: None,
        ..execution(key.campaign_id)
    }
}

pub async fn completing_a_request_writes_its_execution_and_replays_its_response<
    S: ExecutionStores,
>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    let first = response(&e1.to_string());
    let e = unitary_execution(&key, e1);
    ok(
        store.complete_request(&key, "h1", &first, &e).await,
        "completing a request",
    );
    assert_eq!(stored_execution(store, e1).await, Some(e));
    assert_eq!(
        begin(store, &key, "h1", e2, 1, 31, DAY).await,
        Begin::Completed(first),
        "a retry replays the response byte for byte"
    );
}

pub async fn completing_a_request_whose_execution_exists_conflicts_and_leaves_both_as_they_were<
    S: ExecutionStores,
>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    assert_eq!(begin(store, &key, "h1", e1, 0, 30, DAY).await, started(e1));
    // An earlier attempt wrote the execution (InProgress, as an older Herald did).
    let earlier = Execution {
        status: ExecutionStatus::InProgress,
        ..unitary_execution(&key, e1)
    };
    ok(
        store.insert_execution(&earlier).await,
        "inserting an execution",
    );
    let late = Execution {
        modified_at: at(5),
        ..unitary_execution(&key, e1)
    };
    assert_eq!(
        conflict(
            store
                .complete_request(&key, "h1", &response(&e1.to_string()), &late)
                .await,
            "completing it"
        ),
        Conflict::AlreadyExists
    );
    assert_eq!(stored_execution(store, e1).await, Some(earlier));
    assert_eq!(
        begin(store, &key, "h1", e2, 1, 31, DAY).await,
        in_flight(30),
        "the request is still in flight: nothing was finished"
    );
}

/// Whether the execution is written when the finish is refused is up to the store (the port
/// says so); SQLite and the in-memory store write nothing, which their own tests check.
pub async fn completing_a_request_that_is_not_in_flight_conflicts_and_keeps_its_response<
    S: ExecutionStores,
>(
    store: &S,
) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    let unknown = unitary_execution(&key, e1);
    assert_eq!(
        conflict(
            store
                .complete_request(&key, "h1", &response("none"), &unknown)
                .await,
            "completing a request never begun"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(begin(store, &key, "h1", e2, 0, 30, DAY).await, started(e2));
    let first = response(&e2.to_string());
    finish(store, &key, "h1", &first).await;
    for hash in ["h1", "h2"] {
        let again = unitary_execution(&key, ExecutionId::new());
        assert_eq!(
            conflict(
                store
                    .complete_request(&key, hash, &response("second"), &again)
                    .await,
                "completing a completed request"
            ),
            Conflict::RevisionMismatch,
            "body hash {hash}"
        );
    }
    assert_eq!(
        begin(store, &key, "h1", e1, 2, 32, DAY).await,
        Begin::Completed(first),
        "the first response stays"
    );
}

// ---------------------------------------------------------------------------------------------
// Executions
// ---------------------------------------------------------------------------------------------

pub async fn an_execution_is_inserted_and_read_back<S: ExecutionStores>(store: &S) {
    let e = execution(CampaignId::new());
    ok(store.insert_execution(&e).await, "inserting an execution");
    assert_eq!(stored_execution(store, e.id).await, Some(e.clone()));
    let bare = Execution {
        id: ExecutionId::new(),
        kind: ExecutionKind::Unitary,
        audience_id: None,
        context: serde_json::Value::Null,
        plan_cursor: None,
        ..e
    };
    ok(
        store.insert_execution(&bare).await,
        "inserting an execution",
    );
    assert_eq!(stored_execution(store, bare.id).await, Some(bare));
}

pub async fn a_missing_execution_reads_as_none<S: ExecutionStores>(store: &S) {
    assert_eq!(stored_execution(store, ExecutionId::new()).await, None);
}

pub async fn inserting_an_execution_twice_conflicts_and_keeps_the_first<S: ExecutionStores>(
    store: &S,
) {
    let e = execution(CampaignId::new());
    ok(store.insert_execution(&e).await, "inserting an execution");
    let other = Execution {
        request_id: "another-request".into(),
        ..e.clone()
    };
    assert_eq!(
        conflict(store.insert_execution(&other).await, "inserting it again"),
        Conflict::AlreadyExists
    );
    assert_eq!(stored_execution(store, e.id).await, Some(e));
}

pub async fn updating_an_execution_at_its_revision_stores_it_and_leaves_its_counts_alone<
    S: ExecutionStores,
>(
    store: &S,
) {
    let e = execution(CampaignId::new());
    ok(store.insert_execution(&e).await, "inserting an execution");
    let scope = CountScope::Execution(e.id);
    add(store, scope, &delta(&[("targeted", 2), ("sent", 1)])).await;
    let next = next_execution(&e, ExecutionStatus::Succeeded);
    ok(
        store.update_execution(&next, e.revision).await,
        "updating an execution",
    );
    assert_eq!(stored_execution(store, e.id).await, Some(next.clone()));
    let again = next_execution(&next, ExecutionStatus::Failed);
    ok(
        store.update_execution(&again, next.revision).await,
        "updating it again",
    );
    assert_eq!(stored_execution(store, e.id).await, Some(again));
    let c = counts(store, scope).await;
    assert_eq!((c.targeted, c.sent), (2, 1), "counters are untouched");
}

pub async fn a_stale_execution_update_conflicts_and_changes_nothing<S: ExecutionStores>(store: &S) {
    let e = execution(CampaignId::new());
    ok(store.insert_execution(&e).await, "inserting an execution");
    let next = next_execution(&e, ExecutionStatus::Succeeded);
    ok(
        store.update_execution(&next, e.revision).await,
        "updating an execution",
    );
    let stale = next_execution(&e, ExecutionStatus::Failed);
    assert_eq!(
        conflict(
            store.update_execution(&stale, e.revision).await,
            "a stale update"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_execution(store, e.id).await, Some(next));
}

pub async fn updating_a_missing_execution_conflicts_and_creates_nothing<S: ExecutionStores>(
    store: &S,
) {
    let e = execution(CampaignId::new());
    assert_eq!(
        conflict(
            store.update_execution(&e, 0).await,
            "updating a missing execution"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_execution(store, e.id).await, None);
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

pub async fn a_claimed_message_is_stored<S: ExecutionStores>(store: &S) {
    let m = message(ExecutionId::new(), CampaignId::new(), 1);
    assert_eq!(claim(store, &m).await, Claim::Claimed);
    assert_eq!(stored_message(store, &m.id).await, Some(m.clone()));
    let queued = MessageRecord {
        id: MessageId::derive(m.execution_id, &recipient_key(2), Channel::Sms),
        channel: Channel::Sms,
        recipient: recipient_key(2),
        address: Some("+33612345678".into()),
        outcome: OutcomeKind::Queued,
        reason: Some(ExclusionReason::QuietHours.as_str().into()),
        detail: Some("quiet hours until 08:00 Europe/Paris".into()),
        variant: None,
        locale: None,
        rules_bypassed: true,
        release_at: Some(at(3600)),
        ..m.clone()
    };
    assert_eq!(claim(store, &queued).await, Claim::Claimed);
    assert_eq!(stored_message(store, &queued.id).await, Some(queued));
    let unknown = MessageId::derive(ExecutionId::new(), &recipient_key(1), Channel::Email);
    assert_eq!(stored_message(store, &unknown).await, None);
}

pub async fn messages_read_together_are_those_that_exist<S: ExecutionStores>(store: &S) {
    let execution = ExecutionId::new();
    let one = message(execution, CampaignId::new(), 1);
    let two = message(execution, one.campaign_id, 2);
    assert_eq!(claim(store, &one).await, Claim::Claimed);
    assert_eq!(claim(store, &two).await, Claim::Claimed);
    let sent = sent(&two, "ses-0002");
    ok(
        store
            .update_message(&sent, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "updating a message",
    );
    let unknown = MessageId::derive(execution, &recipient_key(3), Channel::Email);
    let mut read = ok(
        store
            .get_messages(&[unknown, sent.id.clone(), one.id.clone()])
            .await,
        "reading messages together",
    );
    read.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![one, sent];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(read, expected, "the latest records of the two that exist");
    assert_eq!(ok(store.get_messages(&[]).await, "reading no messages"), []);
}

pub async fn claiming_a_message_again_returns_the_first_record_unchanged<S: ExecutionStores>(
    store: &S,
) {
    let m = message(ExecutionId::new(), CampaignId::new(), 1);
    assert_eq!(claim(store, &m).await, Claim::Claimed);
    let retry = MessageRecord {
        outcome: OutcomeKind::Excluded,
        reason: Some(ExclusionReason::Suppressed.as_str().into()),
        updated_at: at(5),
        ..m.clone()
    };
    assert_eq!(
        claim(store, &retry).await,
        Claim::Exists(Box::new(m.clone()))
    );
    let sent = sent(&m, "ses-0001");
    ok(
        store
            .update_message(&sent, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "updating a message",
    );
    assert_eq!(
        claim(store, &m).await,
        Claim::Exists(Box::new(sent.clone())),
        "a claim finds the latest record"
    );
    assert_eq!(stored_message(store, &m.id).await, Some(sent));
}

pub async fn updating_a_message_from_its_expected_outcome_replaces_it<S: ExecutionStores>(
    store: &S,
) {
    let m = message(ExecutionId::new(), CampaignId::new(), 1);
    assert_eq!(claim(store, &m).await, Claim::Claimed);
    let sent = sent(&m, "ses-0001");
    ok(
        store
            .update_message(&sent, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "Pending -> Sent",
    );
    assert_eq!(stored_message(store, &m.id).await, Some(sent.clone()));
    let delivered = MessageRecord {
        outcome: OutcomeKind::Delivered,
        updated_at: at(20),
        ..sent
    };
    ok(
        store
            .update_message(&delivered, OutcomeKind::Sent, &CountDelta::default())
            .await,
        "Sent -> Delivered",
    );
    assert_eq!(stored_message(store, &m.id).await, Some(delivered));
}

pub async fn updating_a_message_from_a_stale_outcome_conflicts_and_changes_nothing<
    S: ExecutionStores,
>(
    store: &S,
) {
    let m = message(ExecutionId::new(), CampaignId::new(), 1);
    assert_eq!(claim(store, &m).await, Claim::Claimed);
    let sent = sent(&m, "ses-0001");
    ok(
        store
            .update_message(&sent, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "Pending -> Sent",
    );
    let failed = MessageRecord {
        outcome: OutcomeKind::Failed,
        reason: Some("MessageRejected".into()),
        detail: Some("Email address is not verified.".into()),
        provider_message_id: None,
        ..m.clone()
    };
    for stale in [
        OutcomeKind::Pending,
        OutcomeKind::Failed,
        OutcomeKind::Queued,
    ] {
        assert_eq!(
            conflict(
                store
                    .update_message(&failed, stale, &CountDelta::default())
                    .await,
                "an update from a stale outcome"
            ),
            Conflict::RevisionMismatch,
            "expecting {stale:?} while the message is Sent"
        );
    }
    assert_eq!(stored_message(store, &m.id).await, Some(sent));
}

pub async fn updating_a_missing_message_conflicts_and_creates_nothing<S: ExecutionStores>(
    store: &S,
) {
    let m = sent(
        &message(ExecutionId::new(), CampaignId::new(), 1),
        "ses-ghost",
    );
    assert_eq!(
        conflict(
            store
                .update_message(&m, OutcomeKind::Pending, &CountDelta::default())
                .await,
            "updating a missing message"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_message(store, &m.id).await, None);
    assert_eq!(
        ok(
            store.find_message_by_provider_id("ses-ghost").await,
            "finding by provider id"
        ),
        None,
        "a refused update makes nothing findable"
    );
}

/// Claims 11 messages of one execution and 4 of another, interleaved; returns both lists in
/// claim order.
async fn claim_two_executions<S: ExecutionStores>(
    store: &S,
) -> (
    ExecutionId,
    Vec<MessageRecord>,
    ExecutionId,
    Vec<MessageRecord>,
) {
    let campaign = CampaignId::new();
    let (mine, theirs) = (ExecutionId::new(), ExecutionId::new());
    let my_messages: Vec<MessageRecord> = (0..11).map(|n| message(mine, campaign, n)).collect();
    let others: Vec<MessageRecord> = (0..4).map(|n| message(theirs, campaign, n)).collect();
    for (i, m) in my_messages.iter().enumerate() {
        assert_eq!(claim(store, m).await, Claim::Claimed);
        if let Some(o) = others.get(i) {
            assert_eq!(claim(store, o).await, Claim::Claimed);
        }
    }
    (mine, my_messages, theirs, others)
}

async fn list_all<S: ExecutionStores>(
    store: &S,
    execution: ExecutionId,
    limit: u32,
) -> Vec<MessageRecord> {
    read_all(limit, |page| async move {
        store.list_messages(execution, &page).await
    })
    .await
}

fn by_id(mut messages: Vec<MessageRecord>) -> Vec<MessageRecord> {
    messages.sort_by(|a, b| a.id.cmp(&b.id));
    messages
}

/// The order is the store's (see the port); every store lists each message of the execution
/// once, in the same order whatever the page size, and an update keeps a message's place.
pub async fn listing_messages_pages_one_execution_in_a_stable_order<S: ExecutionStores>(store: &S) {
    let (mine, my_messages, theirs, others) = claim_two_executions(store).await;
    let first = list_all(store, mine, 50).await;
    assert_eq!(by_id(first.clone()), by_id(my_messages.clone()));
    for limit in [1, 3, 11] {
        assert_eq!(
            list_all(store, mine, limit).await,
            first,
            "pages of {limit}"
        );
    }
    let moved = MessageRecord {
        outcome: OutcomeKind::Sent,
        ..first[4].clone()
    };
    ok(
        store
            .update_message(&moved, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "updating a message",
    );
    let mut expected = first.clone();
    expected[4] = moved;
    assert_eq!(
        list_all(store, mine, 3).await,
        expected,
        "an update keeps its place"
    );
    assert_eq!(by_id(list_all(store, theirs, 2).await), by_id(others));
}

pub async fn a_message_cursor_the_listing_did_not_issue_is_refused<S: ExecutionStores>(store: &S) {
    let (mine, ..) = claim_two_executions(store).await;
    for cursor in ["not-a-cursor", "-1"] {
        let refused = store
            .list_messages(
                mine,
                &PageRequest {
                    cursor: Some(cursor.to_string()),
                    limit: 3,
                },
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::InvalidCursor(_))),
            "cursor {cursor:?}: {refused:?}"
        );
    }
}

pub async fn an_execution_without_messages_lists_one_empty_page<S: ExecutionStores>(store: &S) {
    let campaign = CampaignId::new();
    assert_eq!(
        claim(store, &message(ExecutionId::new(), campaign, 1)).await,
        Claim::Claimed
    );
    let page = ok(
        store
            .list_messages(ExecutionId::new(), &PageRequest::first(10))
            .await,
        "listing an execution without messages",
    );
    assert_eq!(page.items, Vec::new());
    assert_eq!(page.next, None);
}

pub async fn a_message_is_found_by_the_provider_id_an_update_gave_it<S: ExecutionStores>(
    store: &S,
) {
    let campaign = CampaignId::new();
    let execution = ExecutionId::new();
    let (m1, m2) = (
        message(execution, campaign, 1),
        message(execution, campaign, 2),
    );
    assert_eq!(claim(store, &m1).await, Claim::Claimed);
    assert_eq!(claim(store, &m2).await, Claim::Claimed);
    let find = |id: &'static str| async move {
        ok(
            store.find_message_by_provider_id(id).await,
            "finding a message by provider id",
        )
    };
    assert_eq!(find("ses-0001").await, None);
    let s1 = sent(&m1, "ses-0001");
    let s2 = sent(&m2, "ses-0002");
    ok(
        store
            .update_message(&s1, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "Pending -> Sent",
    );
    ok(
        store
            .update_message(&s2, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "Pending -> Sent",
    );
    assert_eq!(find("ses-0001").await, Some(s1.clone()));
    assert_eq!(find("ses-0002").await, Some(s2));
    assert_eq!(find("ses-0003").await, None);
    let bounced = MessageRecord {
        outcome: OutcomeKind::Bounced,
        reason: Some("Permanent/General".into()),
        updated_at: at(30),
        ..s1
    };
    ok(
        store
            .update_message(&bounced, OutcomeKind::Sent, &CountDelta::default())
            .await,
        "Sent -> Bounced",
    );
    assert_eq!(
        find("ses-0001").await,
        Some(bounced),
        "the latest record is found"
    );
}

/// Only email has per-message provider feedback (SES events); an SMS or push message keeps its
/// provider id in its record but is not findable by it.
pub async fn only_an_email_is_found_by_its_provider_id<S: ExecutionStores>(store: &S) {
    let campaign = CampaignId::new();
    let execution = ExecutionId::new();
    for (n, channel, provider_id) in [
        (1, Channel::Email, "only-email-ses"),
        (2, Channel::Sms, "only-email-sms"),
        (3, Channel::Push, "only-email-push"),
    ] {
        let mut m = message(execution, campaign, n);
        m.channel = channel;
        m.id = MessageId::derive(execution, &m.recipient, channel);
        assert_eq!(claim(store, &m).await, Claim::Claimed);
        let s = sent(&m, provider_id);
        ok(
            store
                .update_message(&s, OutcomeKind::Pending, &CountDelta::default())
                .await,
            "Pending -> Sent",
        );
        let found = ok(
            store.find_message_by_provider_id(provider_id).await,
            "finding a message by provider id",
        );
        let expected = (channel == Channel::Email).then_some(s.clone());
        assert_eq!(found, expected, "{channel} message by its provider id");
        let stored = ok(store.get_message(&s.id).await, "reading the message");
        assert_eq!(
            stored.and_then(|r| r.provider_message_id),
            Some(provider_id.to_string()),
            "the record keeps its provider id"
        );
    }
}

/// Adapters may make a message findable by a provider id before (or without) the message
/// write that gives it that id (DynamoDB writes a pointer first): finding by an id the
/// stored record does not carry must give nothing.
pub async fn a_changed_provider_id_finds_the_message_and_the_old_or_a_refused_one_does_not<
    S: ExecutionStores,
>(
    store: &S,
) {
    let m = message(ExecutionId::new(), CampaignId::new(), 1);
    let find = |id: &'static str| async move {
        ok(
            store.find_message_by_provider_id(id).await,
            "finding a message by provider id",
        )
    };
    assert_eq!(claim(store, &m).await, Claim::Claimed);
    let first = sent(&m, "ses-first");
    ok(
        store
            .update_message(&first, OutcomeKind::Pending, &CountDelta::default())
            .await,
        "Pending -> Sent",
    );
    // A refused update (stale outcome) with a new provider id makes that id find nothing.
    let stale = sent(&m, "ses-stale");
    assert_eq!(
        conflict(
            store
                .update_message(&stale, OutcomeKind::Pending, &CountDelta::default())
                .await,
            "an update from a stale outcome with a new provider id"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(find("ses-stale").await, None, "a refused update's id");
    assert_eq!(find("ses-first").await, Some(first.clone()));
    // A move from `sent` to `sent` with another provider id: the new id finds it, the old not.
    let second = MessageRecord {
        updated_at: at(20),
        ..sent(&m, "ses-second")
    };
    ok(
        store
            .update_message(&second, OutcomeKind::Sent, &CountDelta::default())
            .await,
        "Sent -> Sent with a new provider id",
    );
    assert_eq!(find("ses-second").await, Some(second.clone()));
    assert_eq!(
        find("ses-first").await,
        None,
        "the id the message no longer carries"
    );
    // A feedback move keeps the id: still found, with the latest record.
    let delivered = MessageRecord {
        outcome: OutcomeKind::Delivered,
        updated_at: at(30),
        ..second
    };
    ok(
        store
            .update_message(&delivered, OutcomeKind::Sent, &CountDelta::default())
            .await,
        "Sent -> Delivered",
    );
    assert_eq!(find("ses-second").await, Some(delivered.clone()));
    // A feedback move from a stale outcome changes nothing.
    let complained = MessageRecord {
        outcome: OutcomeKind::Complained,
        updated_at: at(40),
        ..delivered.clone()
    };
    assert_eq!(
        conflict(
            store
                .update_message(&complained, OutcomeKind::Sent, &CountDelta::default())
                .await,
            "a feedback move from a stale outcome"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_message(store, &m.id).await, Some(delivered));
}

pub async fn concurrent_claims_of_one_message_let_exactly_one_win<S: ExecutionStores>(store: &S) {
    const WORKERS: usize = 30;
    let base = message(ExecutionId::new(), CampaignId::new(), 1);
    let barrier = Arc::new(tokio::sync::Barrier::new(WORKERS));
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        // Each worker's record is told apart by its variant.
        let m = MessageRecord {
            variant: Some(format!("worker-{worker}")),
            ..base.clone()
        };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = store.claim_message(&m, &CountDelta::default()).await;
            (m, result)
        }));
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (m, result) = task.await.expect("a claiming task panicked");
        match result {
            Ok(Claim::Claimed) => winners.push(m),
            Ok(Claim::Exists(found)) => seen.push(*found),
            Err(e) => panic!("a concurrent claim failed: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let winner = &winners[0];
    assert!(
        seen.iter().all(|m| m == winner),
        "every loser sees the winner's record"
    );
    assert_eq!(stored_message(store, &base.id).await.as_ref(), Some(winner));
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

pub async fn a_message_write_adds_its_counts_to_its_execution_and_campaign_version<
    S: ExecutionStores,
>(
    store: &S,
) {
    let (execution, campaign) = (ExecutionId::new(), CampaignId::new());
    let scopes = [
        CountScope::Execution(execution),
        CountScope::CampaignVersion(campaign, 2),
    ];
    let m = message(execution, campaign, 1);
    assert_eq!(
        ok(
            store.claim_message(&m, &CountDelta::default()).await,
            "claiming without counts"
        ),
        Claim::Claimed
    );
    for scope in scopes {
        assert_eq!(counts(store, scope).await, OutcomeCounts::default());
    }
    let sent = sent(&m, "ses-counted");
    ok(
        store
            .update_message(
                &sent,
                OutcomeKind::Pending,
                &delta(&[("targeted", 1), ("sent", 1)]),
            )
            .await,
        "Pending -> Sent, counted",
    );
    let excluded = MessageRecord {
        outcome: OutcomeKind::Excluded,
        ..message(execution, campaign, 2)
    };
    assert_eq!(
        ok(
            store
                .claim_message(
                    &excluded,
                    &CountDelta::one("targeted")
                        .plus(CountDelta::excluded(ExclusionReason::Suppressed)),
                )
                .await,
            "claiming an exclusion, counted"
        ),
        Claim::Claimed
    );
    let expected = OutcomeCounts {
        targeted: 2,
        sent: 1,
        excluded: 1,
        excluded_by_reason: BTreeMap::from([("Suppressed".into(), 1)]),
        ..Default::default()
    };
    for scope in scopes {
        assert_eq!(counts(store, scope).await, expected, "{scope:?}");
    }
    assert_eq!(
        counts(store, CountScope::CampaignVersion(campaign, 1)).await,
        OutcomeCounts::default(),
        "another version of the campaign"
    );
}

pub async fn a_refused_message_write_counts_nothing<S: ExecutionStores>(store: &S) {
    let (execution, campaign) = (ExecutionId::new(), CampaignId::new());
    let m = message(execution, campaign, 1);
    let one = CountDelta::one("targeted");
    assert_eq!(
        ok(store.claim_message(&m, &one).await, "the first claim"),
        Claim::Claimed
    );
    assert!(matches!(
        ok(store.claim_message(&m, &one).await, "claiming again"),
        Claim::Exists(_)
    ));
    conflict(
        store
            .update_message(
                &sent(&m, "ses-refused"),
                OutcomeKind::Sent,
                &CountDelta::one("sent"),
            )
            .await,
        "an update from a stale outcome",
    );
    let missing = message(execution, campaign, 2);
    conflict(
        store
            .update_message(&missing, OutcomeKind::Pending, &CountDelta::one("sent"))
            .await,
        "an update of a missing message",
    );
    let expected = OutcomeCounts {
        targeted: 1,
        ..Default::default()
    };
    assert_eq!(
        counts(store, CountScope::Execution(execution)).await,
        expected
    );
    assert_eq!(
        counts(store, CountScope::CampaignVersion(campaign, 2)).await,
        expected
    );
}

pub async fn counts_of_an_unknown_scope_are_zero<S: ExecutionStores>(store: &S) {
    add(
        store,
        CountScope::Execution(ExecutionId::new()),
        &CountDelta::one("sent"),
    )
    .await;
    assert_eq!(
        counts(store, CountScope::Execution(ExecutionId::new())).await,
        OutcomeCounts::default()
    );
    assert_eq!(
        counts(store, CountScope::CampaignVersion(CampaignId::new(), 1)).await,
        OutcomeCounts::default()
    );
}

pub async fn deltas_add_up_per_scope_including_negative_and_reason_counters<S: ExecutionStores>(
    store: &S,
) {
    let (campaign, execution) = (CampaignId::new(), ExecutionId::new());
    let e = CountScope::Execution(execution);
    let v1 = CountScope::CampaignVersion(campaign, 1);
    let v2 = CountScope::CampaignVersion(campaign, 2);

    add(store, e, &delta(&[("targeted", 5), ("queued", 2)])).await;
    add(store, e, &CountDelta::one("sent")).await;
    add(store, e, &CountDelta::excluded(ExclusionReason::NoProfile)).await;
    add(store, e, &CountDelta::excluded(ExclusionReason::Suppressed)).await;
    add(store, e, &CountDelta::moved("queued", "sent")).await;
    add(store, v1, &delta(&[("targeted", 7), ("sent", 6)])).await;
    add(store, v1, &CountDelta::excluded(ExclusionReason::NoProfile)).await;
    add(store, v1, &delta(&[("delivered", 4), ("bounced", 1)])).await;
    add(store, v1, &delta(&[("delivered", -1), ("complained", 1)])).await;
    add(store, v2, &CountDelta::one("failed")).await;
    add(store, v2, &CountDelta::one("unknown")).await;

    let expected_e = OutcomeCounts {
        targeted: 5,
        sent: 2,
        excluded: 2,
        queued: 1,
        excluded_by_reason: BTreeMap::from([("NoProfile".into(), 1), ("Suppressed".into(), 1)]),
        ..Default::default()
    };
    let expected_v1 = OutcomeCounts {
        targeted: 7,
        sent: 6,
        excluded: 1,
        delivered: 3,
        bounced: 1,
        complained: 1,
        excluded_by_reason: BTreeMap::from([("NoProfile".into(), 1)]),
        ..Default::default()
    };
    let expected_v2 = OutcomeCounts {
        failed: 1,
        unknown: 1,
        ..Default::default()
    };
    assert_eq!(counts(store, e).await, expected_e);
    assert_eq!(counts(store, v1).await, expected_v1);
    assert_eq!(counts(store, v2).await, expected_v2);
    assert_eq!(
        counts(store, CountScope::CampaignVersion(CampaignId::new(), 1)).await,
        OutcomeCounts::default(),
        "another campaign's version 1 is another scope"
    );
}

pub async fn a_delta_naming_one_counter_twice_adds_both_and_an_empty_delta_changes_nothing<
    S: ExecutionStores,
>(
    store: &S,
) {
    let scope = CountScope::Execution(ExecutionId::new());
    let twice = CountDelta::one("sent")
        .plus(CountDelta::one("sent"))
        .plus(CountDelta::excluded(ExclusionReason::QuietHours))
        .plus(CountDelta::excluded(ExclusionReason::QuietHours))
        .plus(delta(&[("targeted", 0)]));
    add(store, scope, &twice).await;
    add(store, scope, &CountDelta::default()).await;
    let c = counts(store, scope).await;
    assert_eq!((c.sent, c.excluded, c.targeted), (2, 2, 0));
    assert_eq!(
        c.excluded_by_reason,
        BTreeMap::from([("QuietHours".into(), 2)])
    );
    let empty = CountScope::CampaignVersion(CampaignId::new(), 1);
    add(store, empty, &CountDelta::default()).await;
    assert_eq!(counts(store, empty).await, OutcomeCounts::default());
}

pub async fn concurrent_increments_of_one_counter_are_all_counted<S: ExecutionStores>(store: &S) {
    const WRITERS: usize = 100;
    let scope = CountScope::CampaignVersion(CampaignId::new(), 1);
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .add_counts(
                    scope,
                    &CountDelta::one("sent").plus(CountDelta::one("targeted")),
                )
                .await
        }));
    }
    for task in tasks {
        ok(task.await.expect("a writer task panicked"), "adding counts");
    }
    let c = counts(store, scope).await;
    assert_eq!((c.sent, c.targeted), (WRITERS as u64, WRITERS as u64));
}

// ---------------------------------------------------------------------------------------------
// Frequency caps
// ---------------------------------------------------------------------------------------------

pub async fn incrementing_counters_succeeds_until_one_is_full<S: ExecutionStores>(store: &S) {
    let day = cap("ann|all|day|2027-01-15", 3, DAY);
    let week = cap("ann|email|week|2027-01-11", 5, 7 * DAY);
    let counters = [day.clone(), week.clone()];
    assert_eq!(fill(store, &counters, 0, 10).await, (3, Some(0)));
    // The week counter holds 3 of 5.
    assert_eq!(fill(store, &[week], 1, 10).await, (2, Some(0)));
    // Another recipient's counters are their own.
    let bob = cap("bob|all|day|2027-01-15", 3, DAY);
    assert_eq!(increment(store, &[bob], 2).await, None);
}

pub async fn a_full_counter_refuses_and_increments_none_of_the_others<S: ExecutionStores>(
    store: &S,
) {
    let a = cap("ann|all|week|2027-01-11", 3, 7 * DAY);
    let b = cap("ann|email|day|2027-01-15", 1, DAY);
    let c = cap("ann|email|month|2027-01", 3, 30 * DAY);
    assert_eq!(
        increment(store, &[a.clone(), b.clone(), c.clone()], 0).await,
        None
    );
    for _ in 0..3 {
        assert_eq!(
            increment(store, &[a.clone(), b.clone(), c.clone()], 1).await,
            Some(1),
            "the second counter is full"
        );
    }
    // Had the refused calls counted, `a` and `c` would be full by now: each takes 2 more.
    assert_eq!(fill(store, &[a], 2, 10).await, (2, Some(0)));
    assert_eq!(fill(store, &[c], 2, 10).await, (2, Some(0)));
    assert_eq!(increment(store, &[b], 2).await, Some(0));

    // A counter with limit 0 is always full and blocks the others.
    let x = cap("bob|all|day|2027-01-15", 4, DAY);
    let zero = cap("bob|sms|day|2027-01-15", 0, DAY);
    assert_eq!(
        increment(store, &[x.clone(), zero.clone()], 3).await,
        Some(1)
    );
    assert_eq!(
        increment(store, &[zero.clone(), x.clone()], 3).await,
        Some(0)
    );
    assert_eq!(fill(store, &[x], 3, 10).await, (4, Some(0)));
}

/// Purges at `now`, `limit` at a time, until a call deletes nothing after at least `calls`
/// calls (enough for a store that walks its tables to get round them); each call must delete
/// at most `limit` of each kind. Returns the total deleted.
async fn purge<S: ExecutionStores>(store: &S, now: i64, limit: u32, calls: usize) -> u64 {
    let mut total = 0;
    for call in 0.. {
        let deleted = ok(
            store.purge_expired(at(now), limit).await,
            "purging expired records",
        );
        assert!(
            deleted <= 2 * u64::from(limit),
            "one call deleted {deleted}, more than {limit} of each kind"
        );
        total += deleted;
        if call >= calls && deleted == 0 {
            return total;
        }
        assert!(call < calls + 100, "the purge never ran out of records");
    }
    unreachable!()
}

pub async fn purging_deletes_at_most_the_expired_and_every_live_record_keeps_its_state<
    S: ExecutionStores,
>(
    store: &S,
) {
    let [e1, e2, e3, e4, e5] = executions();
    // Requests: one completed and one in flight that expire at +100, one completed and one in
    // flight that live until +300.
    let (old_done, old_flying) = (request_key("old-done"), request_key("old-flying"));
    let (done, flying) = (request_key("live-done"), request_key("live-flying"));
    assert_eq!(
        begin(store, &old_done, "h", e1, 0, 30, 100).await,
        started(e1)
    );
    finish(store, &old_done, "h", &response("e-1")).await;
    assert_eq!(
        begin(store, &old_flying, "h", e2, 0, 30, 100).await,
        started(e2)
    );
    assert_eq!(begin(store, &done, "h", e3, 0, 30, 300).await, started(e3));
    finish(store, &done, "h", &response("e-3")).await;
    assert_eq!(
        begin(store, &flying, "h", e4, 150, 250, 300).await,
        started(e4)
    );
    // Cap windows, each full: two end at +100, one at +300.
    let suffix = ExecutionId::new();
    let old_caps = [
        cap(&format!("ann|all|hour|{suffix}"), 2, 100),
        cap(&format!("bob|all|hour|{suffix}"), 1, 100),
    ];
    let live_cap = cap(&format!("ann|all|day|{suffix}"), 2, 300);
    assert_eq!(fill(store, &old_caps, 0, 10).await, (1, Some(1)));
    assert_eq!(
        fill(store, std::slice::from_ref(&live_cap), 0, 10).await,
        (2, Some(0))
    );

    assert_eq!(
        purge(store, 99, 1, 10).await,
        0,
        "nothing has expired one second before the first expiry"
    );
    let deleted = purge(store, 200, 1, 10).await;
    assert!(
        deleted == 0 || deleted == 4,
        "a store without TTL deletes the 4 expired records, one with TTL none: {deleted}"
    );

    // Every live record is as it was.
    assert_eq!(
        begin(store, &done, "h", e5, 200, 230, 200 + DAY).await,
        Begin::Completed(response("e-3"))
    );
    assert_eq!(
        begin(store, &flying, "h", e5, 200, 230, 200 + DAY).await,
        in_flight(250)
    );
    assert_eq!(
        begin(store, &done, "other body", e5, 200, 230, 200 + DAY).await,
        Begin::Mismatch
    );
    assert_eq!(
        increment(store, &[live_cap], 200).await,
        Some(0),
        "the live window is still full"
    );
    // The expired ones are gone, purged or not.
    assert_eq!(
        begin(store, &old_done, "h", e5, 200, 230, 200 + DAY).await,
        started(e5)
    );
    let next_windows = old_caps.map(|c| CapCounter {
        expires_at: at(400),
        ..c
    });
    assert_eq!(fill(store, &next_windows, 200, 10).await, (1, Some(1)));
}

pub async fn an_expired_window_counts_as_zero<S: ExecutionStores>(store: &S) {
    let window = cap("ann|all|hour|2027-01-15T10", 2, 100);
    let other = cap("ann|email|day|2027-01-15", 10, DAY);
    assert_eq!(
        fill(store, &[window.clone(), other.clone()], 0, 10).await,
        (2, Some(0))
    );
    assert_eq!(
        increment(store, &[window.clone(), other.clone()], 99).await,
        Some(0),
        "one second before its end the window is still full"
    );
    assert_eq!(
        increment(store, &[window.clone(), other.clone()], 100).await,
        None,
        "at its end the window counts as empty"
    );
    // `other` (not expired) counted 3 of 10.
    assert_eq!(fill(store, &[other], 101, 20).await, (7, Some(0)));
}

pub async fn a_decrement_gives_back_one_to_every_counter<S: ExecutionStores>(store: &S) {
    let a = cap("ann|all|day|2027-01-15", 2, DAY);
    let b = cap("ann|email|week|2027-01-11", 3, 7 * DAY);
    let both = [a.clone(), b.clone()];
    assert_eq!(fill(store, &both, 0, 10).await, (2, Some(0)));
    ok(store.decrement(&both).await, "decrementing");
    assert_eq!(increment(store, &both, 1).await, None);
    assert_eq!(increment(store, &both, 1).await, Some(0));
    // `b` holds 2 of 3 again after one decrement of `b` alone: it takes 2 more.
    ok(
        store.decrement(std::slice::from_ref(&b)).await,
        "decrementing",
    );
    assert_eq!(fill(store, &[b], 2, 10).await, (2, Some(0)));
}

pub async fn incrementing_or_decrementing_no_counters_changes_nothing<S: ExecutionStores>(
    store: &S,
) {
    assert_eq!(increment(store, &[], 0).await, None);
    ok(store.decrement(&[]).await, "decrementing no counters");
    let a = cap("ann|all|day|2027-01-15", 1, DAY);
    assert_eq!(fill(store, &[a], 0, 10).await, (1, Some(0)));
}

pub async fn concurrent_increments_never_exceed_the_limit<S: ExecutionStores>(store: &S) {
    const SENDERS: usize = 40;
    let tight = cap("ann|all|day|2027-01-15", 10, DAY);
    let loose = cap("ann|email|week|2027-01-11", 20, 7 * DAY);
    let barrier = Arc::new(tokio::sync::Barrier::new(SENDERS));
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        let counters = [tight.clone(), loose.clone()];
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.increment_within(&counters, at(0)).await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        match task.await.expect("a sender task panicked") {
            Ok(None) => succeeded += 1,
            Ok(Some(0)) => {}
            other => panic!("a concurrent increment answered {other:?}"),
        }
    }
    assert_eq!(succeeded, 10, "exactly the limit of increments succeed");
    assert_eq!(
        fill(store, &[loose], 1, 30).await,
        (10, Some(0)),
        "the other counter was incremented exactly by the successful calls"
    );
}

/// One counter per call is the common case (one frequency cap, the soft-bounce marker), and a
/// store may take it by another path than several counters (DynamoDB: an UpdateItem instead of
/// a transaction).
pub async fn one_counter_alone_restarts_after_its_window_and_concurrent_increments_stay_within_it<
    S: ExecutionStores,
>(
    store: &S,
) {
    const SENDERS: usize = 30;
    let hour = cap("ann|all|hour|2027-01-15T10", 7, 100);
    let barrier = Arc::new(tokio::sync::Barrier::new(SENDERS));
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (store, barrier, counter) = (store.clone(), Arc::clone(&barrier), hour.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.increment_within(&[counter], at(0)).await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        match task.await.expect("a sender task panicked") {
            Ok(None) => succeeded += 1,
            Ok(Some(0)) => {}
            other => panic!("a concurrent increment answered {other:?}"),
        }
    }
    assert_eq!(succeeded, 7, "exactly the limit of increments succeed");
    assert_eq!(
        increment(store, std::slice::from_ref(&hour), 99).await,
        Some(0),
        "one second before its end the window is still full"
    );
    // At its end the stored counter counts as empty: the same key taken again (with a later
    // end) starts over and takes its limit again.
    let again = cap("ann|all|hour|2027-01-15T10", 7, 200);
    assert_eq!(
        fill(store, std::slice::from_ref(&again), 100, 20).await,
        (7, Some(0)),
        "an expired counter restarts"
    );
    ok(
        store.decrement(std::slice::from_ref(&again)).await,
        "decrementing",
    );
    assert_eq!(fill(store, &[again], 101, 20).await, (1, Some(0)));
}

// ---------------------------------------------------------------------------------------------
// Send pacing
// ---------------------------------------------------------------------------------------------

fn millis(ms: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_millis(ms)
}

/// `at(seconds)` plus `ms` milliseconds.
fn at_ms(seconds: i64, ms: i64) -> jiff::Timestamp {
    at(seconds) + millis(ms)
}

async fn reserve<S: ExecutionStores>(
    store: &S,
    campaign: CampaignId,
    count: u32,
    interval_ms: i64,
    now: jiff::Timestamp,
    latest_start: jiff::Timestamp,
) -> Reservation {
    ok(
        store
            .reserve_sends(campaign, count, millis(interval_ms), now, latest_start)
            .await,
        "reserving send slots",
    )
}

pub async fn a_campaigns_first_reservation_starts_now_and_each_next_one_where_the_last_ended<
    S: ExecutionStores,
>(
    store: &S,
) {
    let (campaign, other) = (CampaignId::new(), CampaignId::new());
    let far = at(DAY);
    assert_eq!(
        reserve(store, campaign, 3, 20, at(0), far).await,
        Reservation::Granted { start: at(0) }
    );
    // 3 slots of 20 ms: the next free one is at 60 ms, ahead of now (10 ms).
    assert_eq!(
        reserve(store, campaign, 2, 20, at_ms(0, 10), far).await,
        Reservation::Granted {
            start: at_ms(0, 60)
        }
    );
    assert_eq!(
        reserve(store, campaign, 1, 20, at_ms(0, 10), far).await,
        Reservation::Granted {
            start: at_ms(0, 100)
        }
    );
    assert_eq!(
        reserve(store, other, 5, 20, at_ms(0, 10), far).await,
        Reservation::Granted {
            start: at_ms(0, 10)
        },
        "each campaign has its own slots"
    );
}

pub async fn a_reservation_after_the_reserved_slots_passed_starts_from_now<S: ExecutionStores>(
    store: &S,
) {
    let campaign = CampaignId::new();
    let far = at(DAY);
    reserve(store, campaign, 4, 500, at(0), far).await;
    // The slots ran to 2 s; a reservation at 2 s (the boundary) and one at 7 s start from now.
    assert_eq!(
        reserve(store, campaign, 2, 500, at(2), far).await,
        Reservation::Granted { start: at(2) }
    );
    assert_eq!(
        reserve(store, campaign, 2, 500, at(7), far).await,
        Reservation::Granted { start: at(7) }
    );
    assert_eq!(
        reserve(store, campaign, 1, 500, at(7), far).await,
        Reservation::Granted { start: at(8) }
    );
}

pub async fn a_first_free_slot_past_the_latest_start_reserves_nothing<S: ExecutionStores>(
    store: &S,
) {
    let campaign = CampaignId::new();
    reserve(store, campaign, 10, 1000, at(0), at(DAY)).await;
    // Free from 10 s on: a caller that would start by 5 s gets nothing, and nothing moves.
    assert_eq!(
        reserve(store, campaign, 3, 1000, at(1), at(5)).await,
        Reservation::Later { next: at(10) }
    );
    assert_eq!(
        reserve(store, campaign, 3, 1000, at(1), at(10)).await,
        Reservation::Granted { start: at(10) },
        "the boundary is included, and the refused call reserved nothing"
    );
    // With no slot ahead, the first free one is now: a latest start already past refuses.
    let idle = CampaignId::new();
    assert_eq!(
        reserve(store, idle, 1, 1000, at(5), at(4)).await,
        Reservation::Later { next: at(5) }
    );
    assert_eq!(
        reserve(store, idle, 1, 1000, at(5), at(5)).await,
        Reservation::Granted { start: at(5) }
    );
}

pub async fn concurrent_reservations_take_consecutive_slots_that_never_overlap<
    S: ExecutionStores,
>(
    store: &S,
) {
    const CALLERS: i64 = 12;
    const EACH: u32 = 3;
    let campaign = CampaignId::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS as usize));
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .reserve_sends(campaign, EACH, millis(10), at(0), at(DAY))
                .await
        }));
    }
    let mut starts = Vec::new();
    for task in tasks {
        match task.await.expect("a reserving task panicked") {
            Ok(Reservation::Granted { start }) => starts.push(start),
            other => panic!("a concurrent reservation answered {other:?}"),
        }
    }
    starts.sort();
    let expected: Vec<jiff::Timestamp> = (0..CALLERS).map(|k| at_ms(0, k * 30)).collect();
    assert_eq!(
        starts, expected,
        "every caller got 3 slots of its own, one after the other"
    );
    assert_eq!(
        reserve(store, campaign, 1, 10, at(0), at(DAY)).await,
        Reservation::Granted {
            start: at_ms(0, CALLERS * 30)
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------------

pub async fn a_schedule_is_inserted_and_read_back<S: ExecutionStores>(store: &S) {
    let s = schedule(600);
    insert_schedule(store, &s).await;
    assert_eq!(stored_schedule(store, s.id).await, Some(s.clone()));
    let bare = ScheduledExecution {
        id: ScheduleId::new(),
        audience_id: None,
        request_id: None,
        context: serde_json::Map::new(),
        ..s
    };
    insert_schedule(store, &bare).await;
    assert_eq!(stored_schedule(store, bare.id).await, Some(bare));
}

pub async fn a_missing_schedule_reads_as_none_and_cannot_be_cancelled_or_triggered<
    S: ExecutionStores,
>(
    store: &S,
) {
    let id = ScheduleId::new();
    assert_eq!(stored_schedule(store, id).await, None);
    assert!(!ok(
        store.cancel_schedule(id, at(0)).await,
        "cancelling a missing schedule"
    ));
    assert!(!ok(
        store.mark_triggered(id, ExecutionId::new(), at(0)).await,
        "triggering a missing schedule"
    ));
    assert_eq!(
        stored_schedule(store, id).await,
        None,
        "nothing was created"
    );
}

pub async fn inserting_a_schedule_twice_conflicts_and_keeps_the_first<S: ExecutionStores>(
    store: &S,
) {
    let s = schedule(600);
    insert_schedule(store, &s).await;
    let other = ScheduledExecution {
        execute_at: at(1200),
        ..s.clone()
    };
    assert_eq!(
        conflict(store.insert_schedule(&other).await, "inserting it again"),
        Conflict::AlreadyExists
    );
    assert_eq!(stored_schedule(store, s.id).await, Some(s));
}

pub async fn due_schedules_are_the_scheduled_ones_up_to_now_earliest_first_within_the_limit<
    S: ExecutionStores,
>(
    store: &S,
) {
    let s50 = schedule(50);
    let s10 = schedule(10);
    let s30 = schedule(30);
    let s100 = schedule(100);
    let cancelled = schedule(20);
    let triggered = schedule(40);
    for s in [&s50, &s10, &s30, &s100, &cancelled, &triggered] {
        insert_schedule(store, s).await;
    }
    assert!(ok(
        store.cancel_schedule(cancelled.id, at(0)).await,
        "cancelling"
    ));
    assert!(ok(
        store
            .mark_triggered(triggered.id, ExecutionId::new(), at(40))
            .await,
        "triggering"
    ));
    assert_eq!(due_schedules(store, 9, 10).await, Vec::new());
    assert_eq!(due_schedules(store, 10, 10).await, vec![s10.clone()]);
    assert_eq!(
        due_schedules(store, 50, 10).await,
        vec![s10.clone(), s30.clone(), s50.clone()],
        "due at or before now, earliest first, only still Scheduled"
    );
    assert_eq!(
        due_schedules(store, 50, 2).await,
        vec![s10.clone(), s30.clone()],
        "at most `limit`, the earliest"
    );
    assert_eq!(
        due_schedules(store, 1000, 10).await,
        vec![s10, s30, s50, s100]
    );
}

pub async fn cancelling_a_schedule_succeeds_once_and_it_is_never_due<S: ExecutionStores>(
    store: &S,
) {
    let s = schedule(100);
    insert_schedule(store, &s).await;
    assert!(ok(store.cancel_schedule(s.id, at(5)).await, "cancelling"));
    let expected = ScheduledExecution {
        status: ScheduleStatus::Cancelled,
        modified_at: at(5),
        ..s.clone()
    };
    assert_eq!(stored_schedule(store, s.id).await, Some(expected.clone()));
    assert!(!ok(
        store.cancel_schedule(s.id, at(6)).await,
        "cancelling again"
    ));
    assert_eq!(
        stored_schedule(store, s.id).await,
        Some(expected),
        "a refused cancel changes nothing"
    );
    assert_eq!(due_schedules(store, 100, 10).await, Vec::new());
    assert_eq!(due_schedules(store, 10 * DAY, 10).await, Vec::new());
}

pub async fn marking_a_schedule_triggered_succeeds_once_and_it_is_no_longer_due<
    S: ExecutionStores,
>(
    store: &S,
) {
    let s = schedule(100);
    insert_schedule(store, &s).await;
    let (first, second) = (ExecutionId::new(), ExecutionId::new());
    assert!(ok(
        store.mark_triggered(s.id, first, at(101)).await,
        "triggering"
    ));
    let expected = ScheduledExecution {
        status: ScheduleStatus::Triggered,
        execution_id: Some(first),
        modified_at: at(101),
        ..s.clone()
    };
    assert_eq!(stored_schedule(store, s.id).await, Some(expected.clone()));
    assert!(!ok(
        store.mark_triggered(s.id, second, at(102)).await,
        "triggering again"
    ));
    assert_eq!(
        stored_schedule(store, s.id).await,
        Some(expected),
        "the second trigger changes nothing"
    );
    assert_eq!(due_schedules(store, 200, 10).await, Vec::new());
}

pub async fn a_cancelled_schedule_cannot_be_triggered_nor_a_triggered_one_cancelled<
    S: ExecutionStores,
>(
    store: &S,
) {
    let cancelled = schedule(100);
    let triggered = schedule(100);
    insert_schedule(store, &cancelled).await;
    insert_schedule(store, &triggered).await;
    assert!(ok(
        store.cancel_schedule(cancelled.id, at(1)).await,
        "cancelling"
    ));
    assert!(!ok(
        store
            .mark_triggered(cancelled.id, ExecutionId::new(), at(100))
            .await,
        "triggering a cancelled schedule"
    ));
    assert_eq!(
        stored_schedule(store, cancelled.id)
            .await
            .map(|s| (s.status, s.execution_id)),
        Some((ScheduleStatus::Cancelled, None))
    );
    let execution = ExecutionId::new();
    assert!(ok(
        store.mark_triggered(triggered.id, execution, at(100)).await,
        "triggering"
    ));
    assert!(!ok(
        store.cancel_schedule(triggered.id, at(101)).await,
        "cancelling a triggered schedule"
    ));
    assert_eq!(
        stored_schedule(store, triggered.id)
            .await
            .map(|s| (s.status, s.execution_id)),
        Some((ScheduleStatus::Triggered, Some(execution)))
    );
}

pub async fn concurrent_triggers_of_one_schedule_let_exactly_one_win<S: ExecutionStores>(
    store: &S,
) {
    const TICKS: usize = 10;
    let s = schedule(0);
    insert_schedule(store, &s).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(TICKS));
    let mut tasks = Vec::new();
    for _ in 0..TICKS {
        let (store, barrier, id) = (store.clone(), Arc::clone(&barrier), s.id);
        let execution = ExecutionId::new();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (execution, store.mark_triggered(id, execution, at(1)).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (execution, result) = task.await.expect("a tick task panicked");
        if ok(result, "triggering concurrently") {
            winners.push(execution);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one tick triggers the schedule");
    assert_eq!(
        stored_schedule(store, s.id)
            .await
            .and_then(|s| s.execution_id),
        Some(winners[0])
    );
}

// ---------------------------------------------------------------------------------------------
// Holds
// ---------------------------------------------------------------------------------------------

pub async fn held_messages_are_due_at_their_release_time_earliest_first_within_the_limit<
    S: ExecutionStores,
>(
    store: &S,
) {
    let h300 = held(1, 300);
    let h100 = held(2, 100);
    let h200 = held(3, 200);
    let h900 = held(4, 900);
    for h in [&h300, &h100, &h200, &h900] {
        hold(store, h).await;
    }
    assert_eq!(due_held(store, 99, 10).await, Vec::new());
    assert_eq!(due_held(store, 100, 10).await, vec![h100.clone()]);
    assert_eq!(
        due_held(store, 300, 10).await,
        vec![h100.clone(), h200.clone(), h300.clone()]
    );
    assert_eq!(
        due_held(store, 300, 2).await,
        vec![h100.clone(), h200.clone()]
    );
    assert_eq!(
        due_held(store, 1000, 10).await,
        vec![h100, h200, h300, h900]
    );
}

pub async fn releasing_a_hold_succeeds_once_and_it_is_no_longer_due<S: ExecutionStores>(store: &S) {
    let (first, second) = (held(1, 100), held(2, 200));
    hold(store, &first).await;
    hold(store, &second).await;
    assert!(release(store, &first.message_id).await);
    assert!(
        !release(store, &first.message_id).await,
        "a second release finds nothing"
    );
    assert_eq!(due_held(store, 1000, 10).await, vec![second]);
}

pub async fn holding_a_message_again_replaces_its_hold<S: ExecutionStores>(store: &S) {
    let first = held(1, 100);
    let other = held(2, 200);
    hold(store, &first).await;
    hold(store, &other).await;
    let mut again = first.clone();
    again.release_at = at(300);
    std::sync::Arc::make_mut(&mut again.work.request_context)
        .insert("attempt".into(), serde_json::json!(2));
    hold(store, &again).await;
    assert_eq!(
        due_held(store, 150, 10).await,
        Vec::new(),
        "the old release time is gone"
    );
    assert_eq!(
        due_held(store, 1000, 10).await,
        vec![other, again.clone()],
        "one hold per message, with the new release time and work"
    );
    assert!(release(store, &again.message_id).await);
    assert!(!release(store, &again.message_id).await);
}

pub async fn releasing_a_message_never_held_returns_false<S: ExecutionStores>(store: &S) {
    hold(store, &held(1, 100)).await;
    assert!(!release(store, &held(2, 100).message_id).await);
    assert_eq!(due_held(store, 100, 10).await.len(), 1);
}

pub async fn concurrent_releases_of_one_hold_let_exactly_one_win<S: ExecutionStores>(store: &S) {
    const TICKS: usize = 10;
    let h = held(1, 100);
    hold(store, &h).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(TICKS));
    let mut tasks = Vec::new();
    for _ in 0..TICKS {
        let (store, barrier, id) = (store.clone(), Arc::clone(&barrier), h.message_id.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.release(&id).await
        }));
    }
    let mut released = 0;
    for task in tasks {
        if ok(
            task.await.expect("a tick task panicked"),
            "releasing concurrently",
        ) {
            released += 1;
        }
    }
    assert_eq!(released, 1, "exactly one tick releases the message");
    assert_eq!(due_held(store, 1000, 10).await, Vec::new());
}

// ---------------------------------------------------------------------------------------------
// Cases only some stores keep (each says which): not in `execution_contract_tests!`, which
// every store runs; those stores' test files call them.
// ---------------------------------------------------------------------------------------------

/// A completion refused by its finish (the request is not in flight with this hash) writes no
/// execution either: the two writes are one.
pub async fn a_refused_completion_writes_no_execution<S: ExecutionStores>(store: &S) {
    let key = request_key("req-1");
    let [e1, e2] = executions();
    let never_begun = unitary_execution(&key, e1);
    conflict(
        store
            .complete_request(&key, "h1", &response("none"), &never_begun)
            .await,
        "completing a request never begun",
    );
    assert_eq!(stored_execution(store, e1).await, None);
    assert_eq!(begin(store, &key, "h1", e2, 0, 30, DAY).await, started(e2));
    let other_body = unitary_execution(&key, e2);
    conflict(
        store
            .complete_request(&key, "h2", &response("other"), &other_body)
            .await,
        "completing it with another body",
    );
    assert_eq!(stored_execution(store, e2).await, None);
}

/// SQLite and the in-memory store list an execution's messages in claim order, so a client
/// paging through a running execution gets the messages claimed meanwhile on later pages.
pub async fn messages_are_listed_in_claim_order_and_later_claims_come_on_later_pages<
    S: ExecutionStores,
>(
    store: &S,
) {
    let (mine, my_messages, ..) = claim_two_executions(store).await;
    assert_eq!(list_all(store, mine, 4).await, my_messages);
    let page = ok(
        store.list_messages(mine, &PageRequest::first(10)).await,
        "listing a page",
    );
    assert_eq!(page.items, my_messages[..10]);
    let later = message(mine, my_messages[0].campaign_id, 99);
    assert_eq!(claim(store, &later).await, Claim::Claimed);
    let rest = ok(
        store
            .list_messages(
                mine,
                &PageRequest {
                    cursor: page.next,
                    limit: 10,
                },
            )
            .await,
        "listing after the cursor",
    );
    assert_eq!(rest.items, vec![my_messages[10].clone(), later]);
    assert_eq!(rest.next, None);
}

/// DynamoDB lists an execution's messages in message-id order (the sort key of its index).
pub async fn messages_are_listed_in_message_id_order<S: ExecutionStores>(store: &S) {
    let (mine, my_messages, ..) = claim_two_executions(store).await;
    for limit in [1, 4, 50] {
        assert_eq!(
            list_all(store, mine, limit).await,
            by_id(my_messages.clone()),
            "pages of {limit}"
        );
    }
}
