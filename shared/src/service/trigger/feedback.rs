//! Provider feedback: what happened to messages after the provider accepted them, and address
//! state the provider learned. The same code serves the local outbox's mailbox simulator and,
//! in AWS, the feedback function (SES events and SNS platform application events through SNS)
//! and the scheduler (SMS opt-outs).
//!
//! - **Deliveries, hard bounces, complaints** ([`TriggerService::record_feedback`]) move a sent
//!   message to `delivered` / `bounced` / `complained` with a conditional write on its current
//!   outcome, so a redelivered event finds the move done and is a [`FeedbackOutcome::Duplicate`].
//!   Hard bounces and complaints also suppress the address; a transactional campaign's message
//!   outcome is queued for the feedback webhook; the execution and campaign report count it.
//! - **Soft bounces** (`Transient` / `Undetermined`) leave the message `sent` and are counted
//!   (`softBounced`) once per message: the first event takes a one-slot marker through the
//!   cap store's atomic `increment_within` (`feedback#softBounce#<provider id>`, limit 1, kept
//!   [`FEEDBACK_DEDUPE_WINDOW`]), a redelivery finds it full. An outcome transition cannot
//!   serve here (the outcome does not change) and a read-then-write of the record would count
//!   twice under concurrent redeliveries.
//! - **Disabled push endpoints** ([`TriggerService::record_push_endpoint_event`]) suppress the
//!   token (`PushEndpointDisabled`), looking the endpoint up when the event does not say.
//! - **SMS opt-outs** ([`TriggerService::sync_sms_opt_outs`]): SNS publishes no event for a STOP
//!   reply, so the scheduler pages through SNS's opted-out list and suppresses each number not
//!   suppressed yet (`SmsOptOut`).
//!
//! An event for a provider message id Herald does not know (another sender on the same
//! configuration set, or a message whose record expired) changes nothing.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{TriggerError, TriggerService};
use crate::domain::ses_event::{PushEndpointChange, PushEndpointEvent, SesNotice, SesOutcome};
use crate::domain::suppression::normalize_address;
use crate::domain::{
    Channel, CountDelta, MessageRecord, OutcomeKind, Suppression, SuppressionReason,
};
use crate::logging::error_chain;
use crate::ports::sms_opt_out::{ProviderReadError, PushEndpointLookup, SmsOptOutSource};
use crate::ports::{CapCounter, Clock, Delivery, ExecutionStores, Queue, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FeedbackKind {
    Delivery,
    Bounce { permanent: bool },
    Complaint,
}

/// One provider event about a message Herald sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackEvent {
    pub provider_message_id: String,
    pub kind: FeedbackKind,
    /// The address the event is about (a bounce names the recipient that bounced).
    pub address: String,
    pub occurred_at: Timestamp,
}

impl From<&SesNotice> for FeedbackEvent {
    fn from(n: &SesNotice) -> Self {
        Self {
            provider_message_id: n.provider_message_id.clone(),
            kind: match n.outcome {
                SesOutcome::Delivered => FeedbackKind::Delivery,
                SesOutcome::Bounced { permanent } => FeedbackKind::Bounce { permanent },
                SesOutcome::Complained => FeedbackKind::Complaint,
            },
            address: n.address.clone(),
            occurred_at: n.occurred_at,
        }
    }
}

/// What an event changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// The message moved to a new outcome, or a soft bounce was counted.
    Recorded,
    /// The event was recorded before (a redelivered event).
    Duplicate,
    /// No message has this provider id (not ours, or already expired).
    UnknownMessage,
    /// Nothing to record: a soft bounce of a message that already bounced or drew a complaint.
    Ignored,
}

/// How long a soft bounce is remembered, to count a redelivered event once. SNS retries a
/// failed Lambda invocation for hours at most; SES publishes within minutes.
pub const FEEDBACK_DEDUPE_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);

/// The counter of soft bounces.
pub const SOFT_BOUNCED: &str = "softBounced";

/// Why a push endpoint event or an opt-out sync did not complete; it is retried (SNS redelivers
/// the event, the scheduler syncs again).
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("reading from the provider failed")]
    Provider(#[from] ProviderReadError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

/// What a push platform application event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEndpointOutcome {
    /// The token is suppressed (`new` when it was not before).
    Suppressed { new: bool },
    /// The event needs nothing (created or enabled endpoint, plain deletion).
    Irrelevant,
    /// The endpoint, looked up, is still enabled.
    StillEnabled,
    /// The endpoint is gone and the event did not name its token.
    EndpointGone,
}

/// What an SMS opt-out sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutSync {
    /// Pages read from the provider.
    pub pages: u32,
    /// Numbers listed.
    pub numbers: u64,
    /// Numbers newly suppressed.
    pub added: u64,
    /// Numbers that are not valid E.164 (logged and skipped).
    pub invalid: u64,
}

/// A guard against a provider that keeps answering with a next page: 10 000 pages of 100.
const MAX_OPT_OUT_PAGES: u32 = 10_000;

/// Re-reads of a message when another event moved it between the read and the write.
const TRANSITION_ATTEMPTS: u32 = 3;

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    /// Records one delivery, bounce or complaint of one message.
    pub async fn record_feedback(
        &self,
        event: &FeedbackEvent,
    ) -> Result<FeedbackOutcome, TriggerError> {
        let Some(record) = self
            .store
            .find_message_by_provider_id(&event.provider_message_id)
            .await?
        else {
            return Ok(FeedbackOutcome::UnknownMessage);
        };
        match event.kind {
            FeedbackKind::Bounce { permanent: false } => self.soft_bounce(event, record).await,
            _ => self.transition(event, record).await,
        }
    }

    /// Delivery, hard bounce or complaint: suppression first (so a retry after a failure
    /// still suppresses), then the conditional outcome move, then its webhook event and counts.
    async fn transition(
        &self,
        event: &FeedbackEvent,
        first_read: MessageRecord,
    ) -> Result<FeedbackOutcome, TriggerError> {
        let (target, counter, suppress) = match event.kind {
            FeedbackKind::Delivery => (OutcomeKind::Delivered, "delivered", None),
            FeedbackKind::Bounce { .. } => (
                OutcomeKind::Bounced,
                "bounced",
                Some(SuppressionReason::HardBounce),
            ),
            FeedbackKind::Complaint => (
                OutcomeKind::Complained,
                "complained",
                Some(SuppressionReason::Complaint),
            ),
        };
        if let Some(reason) = suppress {
            self.suppress_recipient(&first_read, event, reason, counter)
                .await?;
        }
        let mut read = Some(first_read);
        for _ in 0..TRANSITION_ATTEMPTS {
            let mut record = match read.take() {
                Some(r) => r,
                None => match self
                    .store
                    .find_message_by_provider_id(&event.provider_message_id)
                    .await?
                {
                    Some(r) => r,
                    None => return Ok(FeedbackOutcome::UnknownMessage),
                },
            };
            let from = record.outcome;
            let allowed = match target {
                OutcomeKind::Delivered => from == OutcomeKind::Sent,
                _ => matches!(from, OutcomeKind::Sent | OutcomeKind::Delivered),
            };
            if !allowed {
                return Ok(FeedbackOutcome::Duplicate);
            }
            record.outcome = target;
            record.reason = Some(counter.to_string());
            record.updated_at = self.clock.now();
            // A complaint after the delivery counts in both: the message was delivered, then
            // complained about.
            match self
                .store
                .update_message(&record, from, &CountDelta::one(counter))
                .await
            {
                Ok(()) => {
                    let transactional = self
                        .store
                        .get_campaign(record.campaign_id)
                        .await?
                        .is_some_and(|c| {
                            c.campaign_type == crate::domain::CampaignType::Transactional
                        });
                    if transactional {
                        let webhook = self.webhook().await?;
                        self.notify(webhook.as_ref(), &record).await;
                    }
                    return Ok(FeedbackOutcome::Recorded);
                }
                // Another event moved it meanwhile: read again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(FeedbackOutcome::Duplicate)
    }

    /// Suppresses the address a hard bounce or complaint names (the message's own address when
    /// the event's does not parse).
    async fn suppress_recipient(
        &self,
        record: &MessageRecord,
        event: &FeedbackEvent,
        reason: SuppressionReason,
        what: &str,
    ) -> Result<(), StoreError> {
        let channel = record.channel;
        let address = normalize_address(channel, &event.address).ok().or_else(|| {
            record
                .address
                .as_deref()
                .and_then(|a| normalize_address(channel, a).ok())
        });
        let Some(address) = address else {
            tracing::warn!(
                message = %record.id,
                provider_message_id = %event.provider_message_id,
                "a {what} names no address that can be suppressed"
            );
            return Ok(());
        };
        self.store
            .put_suppression(&Suppression {
                channel,
                address,
                reason,
                note: Some(format!(
                    "SES {what} of message {}",
                    event.provider_message_id
                )),
                created_at: event.occurred_at,
            })
            .await?;
        Ok(())
    }

    /// Counts a soft bounce once per message (see the module documentation).
    async fn soft_bounce(
        &self,
        event: &FeedbackEvent,
        mut record: MessageRecord,
    ) -> Result<FeedbackOutcome, TriggerError> {
        if !matches!(record.outcome, OutcomeKind::Sent | OutcomeKind::Delivered) {
            return Ok(FeedbackOutcome::Ignored);
        }
        let now = self.clock.now();
        let marker = CapCounter {
            key: format!("feedback#softBounce#{}", event.provider_message_id),
            limit: 1,
            expires_at: now.saturating_add(FEEDBACK_DEDUPE_WINDOW).unwrap_or(now),
        };
        if self
            .store
            .increment_within(std::slice::from_ref(&marker), now)
            .await?
            .is_some()
        {
            return Ok(FeedbackOutcome::Duplicate);
        }
        if let Err(e) = self
            .count(
                record.campaign_id,
                record.campaign_version,
                record.execution_id,
                &CountDelta::one(SOFT_BOUNCED),
            )
            .await
        {
            // Give the marker back, so the event's redelivery counts it.
            if let Err(undo) = self.store.decrement(std::slice::from_ref(&marker)).await {
                tracing::warn!(
                    message = %record.id,
                    error = %error_chain(&undo),
                    "could not release the soft-bounce marker; the bounce may go uncounted"
                );
            }
            return Err(e.into());
        }
        // The message stays `sent`; its reason tells readers it soft-bounced.
        if record.outcome == OutcomeKind::Sent {
            record.reason = Some(SOFT_BOUNCED.into());
            record.updated_at = now;
            match self
                .store
                .update_message(&record, OutcomeKind::Sent, &CountDelta::default())
                .await
            {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => tracing::warn!(
                    message = %record.id,
                    error = %error_chain(&e),
                    "soft bounce counted; the message's reason was not updated"
                ),
            }
        }
        Ok(FeedbackOutcome::Recorded)
    }

    /// Suppresses a push token (`PushEndpointDisabled`). Returns true when it is new; an
    /// empty or oversized token is logged and ignored.
    pub async fn suppress_push_token(
        &self,
        token: &str,
        note: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Ok(address) = normalize_address(Channel::Push, token) else {
            tracing::warn!("a disabled push endpoint names no usable token; nothing suppressed");
            return Ok(false);
        };
        self.store
            .put_suppression(&Suppression {
                channel: Channel::Push,
                address,
                reason: SuppressionReason::PushEndpointDisabled,
                note: Some(note.to_string()),
                created_at: at,
            })
            .await
    }

    /// Handles an SNS platform application event: a disabled endpoint's token is suppressed,
    /// looked up through `lookup` when the event does not carry it or does not say whether
    /// the endpoint is enabled.
    pub async fn record_push_endpoint_event<L: PushEndpointLookup>(
        &self,
        event: &PushEndpointEvent,
        lookup: &L,
    ) -> Result<PushEndpointOutcome, FeedbackError> {
        let token = match event.change() {
            PushEndpointChange::Irrelevant => return Ok(PushEndpointOutcome::Irrelevant),
            PushEndpointChange::Disabled { token: Some(token) } => token,
            PushEndpointChange::Disabled { token: None } => {
                match lookup.endpoint_state(&event.endpoint_arn).await? {
                    Some(state) => state.token,
                    None => return Ok(PushEndpointOutcome::EndpointGone),
                }
            }
            PushEndpointChange::LookUp => match lookup.endpoint_state(&event.endpoint_arn).await? {
                Some(state) if !state.enabled => state.token,
                Some(_) => return Ok(PushEndpointOutcome::StillEnabled),
                None => return Ok(PushEndpointOutcome::EndpointGone),
            },
        };
        let note = format!(
            "SNS {} of endpoint {}{}",
            event.event_type,
            event.endpoint_arn,
            event
                .failure_type
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        );
        let at = event.time.unwrap_or_else(|| self.clock.now());
        let new = self.suppress_push_token(&token, &note, at).await?;
        Ok(PushEndpointOutcome::Suppressed { new })
    }

    /// Pages through the provider's opted-out phone numbers and suppresses each one not
    /// suppressed yet (`SmsOptOut`); an existing suppression (any reason) is left as it is.
    /// Costs one read per listed number and one write per new one, so run it on a slower
    /// cadence than the minute tick (the scheduler runs it hourly). Numbers that opt back in
    /// stay suppressed until an operator removes the suppression.
    pub async fn sync_sms_opt_outs<O: SmsOptOutSource>(
        &self,
        source: &O,
    ) -> Result<OptOutSync, FeedbackError> {
        let mut report = OptOutSync::default();
        let mut next: Option<String> = None;
        loop {
            let page = source.opted_out_page(next.as_deref()).await?;
            report.pages += 1;
            let now = self.clock.now();
            for number in &page.numbers {
                report.numbers += 1;
                let Ok(address) = normalize_address(Channel::Sms, number) else {
                    report.invalid += 1;
                    tracing::debug!("an opted-out number is not valid E.164; skipped");
                    continue;
                };
                if self
                    .store
                    .get_suppression(Channel::Sms, &address)
                    .await?
                    .is_some()
                {
                    continue;
                }
                self.store
                    .put_suppression(&Suppression {
                        channel: Channel::Sms,
                        address,
                        reason: SuppressionReason::SmsOptOut,
                        note: Some("opted out of SMS (SNS opted-out phone numbers)".into()),
                        created_at: now,
                    })
                    .await?;
                report.added += 1;
            }
            match page.next {
                Some(token) if next.as_ref() != Some(&token) => next = Some(token),
                _ => break,
            }
            if report.pages >= MAX_OPT_OUT_PAGES {
                tracing::warn!(
                    pages = report.pages,
                    "the opted-out list did not end; the rest waits for the next sync"
                );
                break;
            }
        }
        tracing::info!(
            pages = report.pages,
            numbers = report.numbers,
            added = report.added,
            invalid = report.invalid,
            "SMS opt-outs synced"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_queue::MemoryQueue;
    use crate::domain::execution::CountScope;
    use crate::domain::ses_event::parse;
    use crate::domain::{CampaignId, ExecutionId, MessageId, RecipientKey};
    use crate::ports::sms_opt_out::{EndpointState, OptOutPage};
    use crate::ports::{
        Accepted, Claim, CountStore, EmailEnvelope, EmailSender, FixedClock, MessageStore,
        PushEnvelope, PushSender, SendError, SmsEnvelope, SmsSender, SuppressionStore,
        WebhookError, WebhookSender,
    };
    use crate::render::TemplateCache;
    use crate::service::trigger::TriggerConfig;

    /// Feedback sends nothing: every send is refused loudly.
    #[derive(Clone, Default)]
    struct NoDelivery;

    fn refused() -> Result<Accepted, SendError> {
        Err(SendError::Rejected {
            reason: "feedback tests send nothing".into(),
        })
    }

    impl EmailSender for NoDelivery {
        async fn send_email(&self, _: &EmailEnvelope) -> Result<Accepted, SendError> {
            refused()
        }
    }
    impl SmsSender for NoDelivery {
        async fn send_sms(&self, _: &SmsEnvelope) -> Result<Accepted, SendError> {
            refused()
        }
    }
    impl PushSender for NoDelivery {
        async fn send_push(&self, _: &PushEnvelope) -> Result<Accepted, SendError> {
            refused()
        }
    }
    impl WebhookSender for NoDelivery {
        async fn post(
            &self,
            _: &str,
            _: &str,
            _: &[(&'static str, String)],
        ) -> Result<(), WebhookError> {
            Ok(())
        }
    }

    type Service = TriggerService<MemoryStore, NoDelivery, MemoryQueue, Arc<FixedClock>>;

    const NOW: &str = "2026-11-27T10:00:00Z";

    fn service() -> (Service, MemoryStore) {
        let store = MemoryStore::new();
        let clock = Arc::new(FixedClock::new(NOW.parse().unwrap()));
        let service = TriggerService::new(
            store.clone(),
            NoDelivery,
            MemoryQueue::new(),
            clock,
            Arc::new(TemplateCache::new(1)),
            TriggerConfig::default(),
        );
        (service, store)
    }

    /// A message SES accepted as `provider_id`, addressed to `address`.
    async fn sent(store: &MemoryStore, provider_id: &str, address: &str) -> MessageRecord {
        let now: Timestamp = NOW.parse().unwrap();
        let execution = ExecutionId::new();
        let recipient = RecipientKey {
            namespace: "email".into(),
            user_id: address.into(),
        };
        let mut record = MessageRecord {
            id: MessageId::derive(execution, &recipient, Channel::Email),
            execution_id: execution,
            campaign_id: CampaignId::new(),
            campaign_version: 1,
            channel: Channel::Email,
            recipient,
            address: Some(address.into()),
            outcome: OutcomeKind::Pending,
            reason: None,
            detail: None,
            provider_message_id: None,
            variant: None,
            locale: None,
            rules_bypassed: false,
            release_at: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(
            store
                .claim_message(&record, &CountDelta::default())
                .await
                .unwrap(),
            Claim::Claimed
        );
        record.outcome = OutcomeKind::Sent;
        record.provider_message_id = Some(provider_id.into());
        store
            .update_message(&record, OutcomeKind::Pending, &CountDelta::default())
            .await
            .unwrap();
        record
    }

    fn event(provider_id: &str, kind: FeedbackKind, address: &str) -> FeedbackEvent {
        FeedbackEvent {
            provider_message_id: provider_id.into(),
            kind,
            address: address.into(),
            occurred_at: NOW.parse().unwrap(),
        }
    }

    async fn counts(store: &MemoryStore, m: &MessageRecord) -> crate::domain::OutcomeCounts {
        let e = store
            .get_counts(CountScope::Execution(m.execution_id))
            .await
            .unwrap();
        let v = store
            .get_counts(CountScope::CampaignVersion(
                m.campaign_id,
                m.campaign_version,
            ))
            .await
            .unwrap();
        assert_eq!(e, v, "the execution and its campaign version count alike");
        e
    }

    async fn outcome(store: &MemoryStore, m: &MessageRecord) -> MessageRecord {
        store.get_message(&m.id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn feedback_moves_a_sent_message_to_delivered_once() {
        let (svc, store) = service();
        let m = sent(&store, "ses-1", "ann@example.com").await;
        let delivery = event("ses-1", FeedbackKind::Delivery, "ann@example.com");
        assert_eq!(
            svc.record_feedback(&delivery).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        assert_eq!(
            svc.record_feedback(&delivery).await.unwrap(),
            FeedbackOutcome::Duplicate
        );
        assert_eq!(outcome(&store, &m).await.outcome, OutcomeKind::Delivered);
        assert_eq!(counts(&store, &m).await.delivered, 1);
    }

    #[tokio::test]
    async fn feedback_of_a_hard_bounce_suppresses_the_bounced_address() {
        let (svc, store) = service();
        let m = sent(&store, "ses-2", "Bob@Example.com").await;
        let bounce = event(
            "ses-2",
            FeedbackKind::Bounce { permanent: true },
            "Bob@Example.com",
        );
        assert_eq!(
            svc.record_feedback(&bounce).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        assert_eq!(
            svc.record_feedback(&bounce).await.unwrap(),
            FeedbackOutcome::Duplicate
        );
        assert_eq!(outcome(&store, &m).await.outcome, OutcomeKind::Bounced);
        let key = normalize_address(Channel::Email, "Bob@Example.com").unwrap();
        let s = store
            .get_suppression(Channel::Email, &key)
            .await
            .unwrap()
            .expect("suppressed");
        assert_eq!(s.reason, SuppressionReason::HardBounce);
        assert_eq!(counts(&store, &m).await.bounced, 1);
    }

    #[tokio::test]
    async fn feedback_falls_back_to_the_message_address_when_the_event_names_an_unusable_one() {
        let (svc, store) = service();
        sent(&store, "ses-3", "cat@example.com").await;
        let complaint = event("ses-3", FeedbackKind::Complaint, "not an address");
        assert_eq!(
            svc.record_feedback(&complaint).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        let s = store
            .get_suppression(Channel::Email, "cat@example.com")
            .await
            .unwrap()
            .expect("suppressed");
        assert_eq!(s.reason, SuppressionReason::Complaint);
    }

    #[tokio::test]
    async fn feedback_counts_a_soft_bounce_once_and_leaves_the_message_sent() {
        let (svc, store) = service();
        let m = sent(&store, "ses-4", "dan@example.com").await;
        let soft = event(
            "ses-4",
            FeedbackKind::Bounce { permanent: false },
            "dan@example.com",
        );
        assert_eq!(
            svc.record_feedback(&soft).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        assert_eq!(
            svc.record_feedback(&soft).await.unwrap(),
            FeedbackOutcome::Duplicate
        );
        let after = outcome(&store, &m).await;
        assert_eq!(after.outcome, OutcomeKind::Sent);
        assert_eq!(after.reason.as_deref(), Some(SOFT_BOUNCED));
        assert_eq!(counts(&store, &m).await.soft_bounced, 1);
        assert!(
            store
                .get_suppression(Channel::Email, "dan@example.com")
                .await
                .unwrap()
                .is_none(),
            "a soft bounce suppresses nothing"
        );
        // The message can still be delivered afterwards.
        let delivery = event("ses-4", FeedbackKind::Delivery, "dan@example.com");
        assert_eq!(
            svc.record_feedback(&delivery).await.unwrap(),
            FeedbackOutcome::Recorded
        );
    }

    #[tokio::test]
    async fn feedback_ignores_a_soft_bounce_of_a_message_that_already_bounced() {
        let (svc, store) = service();
        let m = sent(&store, "ses-5", "eve@example.com").await;
        svc.record_feedback(&event(
            "ses-5",
            FeedbackKind::Bounce { permanent: true },
            "eve@example.com",
        ))
        .await
        .unwrap();
        let soft = event(
            "ses-5",
            FeedbackKind::Bounce { permanent: false },
            "eve@example.com",
        );
        assert_eq!(
            svc.record_feedback(&soft).await.unwrap(),
            FeedbackOutcome::Ignored
        );
        assert_eq!(counts(&store, &m).await.soft_bounced, 0);
    }

    #[tokio::test]
    async fn feedback_about_an_unknown_message_changes_nothing() {
        let (svc, store) = service();
        for kind in [
            FeedbackKind::Delivery,
            FeedbackKind::Bounce { permanent: true },
            FeedbackKind::Bounce { permanent: false },
            FeedbackKind::Complaint,
        ] {
            assert_eq!(
                svc.record_feedback(&event("not-ours", kind, "fay@example.com"))
                    .await
                    .unwrap(),
                FeedbackOutcome::UnknownMessage
            );
        }
        assert!(
            store
                .get_suppression(Channel::Email, "fay@example.com")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn feedback_of_a_complaint_after_the_delivery_counts_both() {
        let (svc, store) = service();
        let m = sent(&store, "ses-6", "gus@example.com").await;
        for kind in [FeedbackKind::Delivery, FeedbackKind::Complaint] {
            assert_eq!(
                svc.record_feedback(&event("ses-6", kind, "gus@example.com"))
                    .await
                    .unwrap(),
                FeedbackOutcome::Recorded
            );
        }
        // A late delivery event (SNS does not keep order) cannot undo the complaint.
        assert_eq!(
            svc.record_feedback(&event("ses-6", FeedbackKind::Delivery, "gus@example.com"))
                .await
                .unwrap(),
            FeedbackOutcome::Duplicate
        );
        assert_eq!(outcome(&store, &m).await.outcome, OutcomeKind::Complained);
        let c = counts(&store, &m).await;
        assert_eq!((c.delivered, c.complained), (1, 1));
    }

    /// Endpoint states by ARN; counts lookups.
    #[derive(Default)]
    struct FakeEndpoints {
        states: Vec<(String, EndpointState)>,
        lookups: Mutex<u32>,
    }

    impl PushEndpointLookup for FakeEndpoints {
        async fn endpoint_state(
            &self,
            arn: &str,
        ) -> Result<Option<EndpointState>, ProviderReadError> {
            *self.lookups.lock().unwrap() += 1;
            Ok(self
                .states
                .iter()
                .find(|(a, _)| a == arn)
                .map(|(_, s)| s.clone()))
        }
    }

    fn push_event(json: &str) -> PushEndpointEvent {
        match parse(json).unwrap() {
            crate::domain::ses_event::ProviderNotification::PushEndpoint(e) => e,
            other => panic!("not a push event: {other:?}"),
        }
    }

    async fn push_suppression(store: &MemoryStore, token: &str) -> Option<Suppression> {
        store.get_suppression(Channel::Push, token).await.unwrap()
    }

    #[tokio::test]
    async fn feedback_suppresses_the_token_of_a_disabled_endpoint_named_in_the_event() {
        let (svc, store) = service();
        let endpoints = FakeEndpoints::default();
        let e = push_event(
            r#"{"EndpointArn": "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/herald/1",
                "EventType": "EndpointUpdated", "Attributes": {"Enabled": "false", "Token": "apns-1"}}"#,
        );
        assert_eq!(
            svc.record_push_endpoint_event(&e, &endpoints)
                .await
                .unwrap(),
            PushEndpointOutcome::Suppressed { new: true }
        );
        assert_eq!(*endpoints.lookups.lock().unwrap(), 0, "nothing to look up");
        let s = push_suppression(&store, "apns-1")
            .await
            .expect("suppressed");
        assert_eq!(s.reason, SuppressionReason::PushEndpointDisabled);
        assert!(s.note.unwrap().contains("EndpointUpdated"));
    }

    #[tokio::test]
    async fn feedback_looks_an_endpoint_up_when_the_event_does_not_say_it_is_disabled() {
        let (svc, store) = service();
        let state = |token: &str, enabled| EndpointState {
            token: token.into(),
            enabled,
        };
        let endpoints = FakeEndpoints {
            states: vec![
                ("arn:disabled".into(), state("fcm-off", false)),
                ("arn:enabled".into(), state("fcm-on", true)),
            ],
            ..Default::default()
        };
        let updated = |arn: &str| {
            push_event(&format!(
                r#"{{"EndpointArn": "{arn}", "EventType": "EndpointUpdated"}}"#
            ))
        };
        let cases = [
            (
                updated("arn:disabled"),
                PushEndpointOutcome::Suppressed { new: true },
            ),
            (updated("arn:enabled"), PushEndpointOutcome::StillEnabled),
            (updated("arn:gone"), PushEndpointOutcome::EndpointGone),
            (
                push_event(
                    r#"{"EndpointArn": "arn:disabled", "EventType": "DeliveryFailure", "FailureType": "EndpointDisabled"}"#,
                ),
                PushEndpointOutcome::Suppressed { new: false },
            ),
            (
                push_event(r#"{"EndpointArn": "arn:enabled", "EventType": "EndpointCreated"}"#),
                PushEndpointOutcome::Irrelevant,
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(
                svc.record_push_endpoint_event(&e, &endpoints)
                    .await
                    .unwrap(),
                expected,
                "{e:?}"
            );
        }
        assert!(push_suppression(&store, "fcm-off").await.is_some());
        assert!(push_suppression(&store, "fcm-on").await.is_none());
        assert_eq!(*endpoints.lookups.lock().unwrap(), 4);
    }

    /// Pages of opted-out numbers, handed out by token; remembers the tokens asked for.
    struct FakeOptOuts {
        pages: Vec<OptOutPage>,
        asked: Mutex<VecDeque<Option<String>>>,
    }

    impl SmsOptOutSource for FakeOptOuts {
        async fn opted_out_page(
            &self,
            next: Option<&str>,
        ) -> Result<OptOutPage, ProviderReadError> {
            self.asked
                .lock()
                .unwrap()
                .push_back(next.map(str::to_string));
            let index = match next {
                None => 0,
                Some(t) => t
                    .strip_prefix("page-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or(ProviderReadError::Throttled {
                        operation: "fake ListPhoneNumbersOptedOut",
                    })?,
            };
            Ok(self.pages[index].clone())
        }
    }

    fn page(numbers: &[&str], next: Option<&str>) -> OptOutPage {
        OptOutPage {
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            next: next.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn feedback_sync_pages_through_sms_opt_outs_and_keeps_existing_suppressions() {
        let (svc, store) = service();
        store
            .put_suppression(&Suppression {
                channel: Channel::Sms,
                address: "+14155550101".into(),
                reason: SuppressionReason::Manual,
                note: None,
                created_at: NOW.parse().unwrap(),
            })
            .await
            .unwrap();
        let source = FakeOptOuts {
            pages: vec![
                page(&["+14155550100", "+14155550101"], Some("page-1")),
                page(&["not a number"], Some("page-2")),
                page(&["+442071838750"], None),
            ],
            asked: Mutex::default(),
        };
        let report = svc.sync_sms_opt_outs(&source).await.unwrap();
        assert_eq!(
            report,
            OptOutSync {
                pages: 3,
                numbers: 4,
                added: 2,
                invalid: 1,
            }
        );
        assert_eq!(
            source
                .asked
                .lock()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            vec![None, Some("page-1".into()), Some("page-2".into())]
        );
        let reason = |n: &str| {
            let store = store.clone();
            let n = n.to_string();
            async move {
                store
                    .get_suppression(Channel::Sms, &n)
                    .await
                    .unwrap()
                    .map(|s| s.reason)
            }
        };
        assert_eq!(
            reason("+14155550100").await,
            Some(SuppressionReason::SmsOptOut)
        );
        assert_eq!(
            reason("+442071838750").await,
            Some(SuppressionReason::SmsOptOut)
        );
        assert_eq!(
            reason("+14155550101").await,
            Some(SuppressionReason::Manual),
            "an existing suppression is kept as it is"
        );
        // A second sync finds nothing new.
        assert_eq!(svc.sync_sms_opt_outs(&source).await.unwrap().added, 0);
    }

    #[tokio::test]
    async fn feedback_sync_stops_on_a_repeated_page_token_and_reports_provider_failures() {
        let (svc, _) = service();
        let looping = FakeOptOuts {
            pages: vec![
                page(&["+14155550100"], Some("page-1")),
                page(&["+14155550102"], Some("page-1")),
            ],
            asked: Mutex::default(),
        };
        assert_eq!(svc.sync_sms_opt_outs(&looping).await.unwrap().pages, 2);
        let failing = FakeOptOuts {
            pages: vec![page(&["+14155550100"], Some("garbage"))],
            asked: Mutex::default(),
        };
        assert!(matches!(
            svc.sync_sms_opt_outs(&failing).await,
            Err(FeedbackError::Provider(ProviderReadError::Throttled { .. }))
        ));
    }
}
