//! Provider feedback: deliveries, bounces and complaints move a sent message's outcome on and
//! feed the suppression list (hard bounces and complaints). The same code serves the local
//! outbox's mailbox simulator and, in AWS, SES events delivered through SNS.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{TriggerError, TriggerService};
use crate::domain::{Channel, CountDelta, OutcomeKind, Suppression, SuppressionReason};
use crate::ports::{Clock, Delivery, ExecutionStores, Queue, Store, StoreError};

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

/// What an event changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// The message moved to a new outcome.
    Recorded,
    /// The message already had this outcome (a redelivered event).
    Duplicate,
    /// No message has this provider id (not ours, or already expired).
    UnknownMessage,
    /// A soft bounce: the provider keeps trying; nothing changes.
    Ignored,
}

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    pub async fn record_feedback(
        &self,
        event: &FeedbackEvent,
    ) -> Result<FeedbackOutcome, TriggerError> {
        let (target, counter, suppress) = match event.kind {
            FeedbackKind::Delivery => (OutcomeKind::Delivered, "delivered", None),
            FeedbackKind::Bounce { permanent: true } => (
                OutcomeKind::Bounced,
                "bounced",
                Some(SuppressionReason::HardBounce),
            ),
            FeedbackKind::Bounce { permanent: false } => return Ok(FeedbackOutcome::Ignored),
            FeedbackKind::Complaint => (
                OutcomeKind::Complained,
                "complained",
                Some(SuppressionReason::Complaint),
            ),
        };
        if let Some(reason) = suppress
            && let Ok(address) =
                crate::domain::suppression::normalize_address(Channel::Email, &event.address)
        {
            self.store
                .put_suppression(&Suppression {
                    channel: Channel::Email,
                    address,
                    reason,
                    note: Some(format!(
                        "SES {counter} of message {}",
                        event.provider_message_id
                    )),
                    created_at: event.occurred_at,
                })
                .await?;
        }
        for _ in 0..3 {
            let Some(mut record) = self
                .store
                .find_message_by_provider_id(&event.provider_message_id)
                .await?
            else {
                return Ok(FeedbackOutcome::UnknownMessage);
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
            match self.store.update_message(&record, from).await {
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
                    self.count(
                        record.campaign_id,
                        record.campaign_version,
                        record.execution_id,
                        &CountDelta::one(counter),
                    )
                    .await?;
                    return Ok(FeedbackOutcome::Recorded);
                }
                // Another event moved it meanwhile: read again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(FeedbackOutcome::Duplicate)
    }
}
