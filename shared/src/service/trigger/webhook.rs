//! The feedback webhook of transactional campaigns: every outcome of their messages is queued
//! as an event and POSTed, signed, by the job worker; a failed POST is retried by the queue
//! with back-off (and lands in its dead letters after too many attempts). Deliveries and failed
//! attempts are counted on the execution and in the campaign report.

use super::{TriggerError, TriggerService};
use crate::domain::webhook::{FEEDBACK_WEBHOOK, Webhook, WebhookEvent, signature};
use crate::domain::{CountDelta, MessageRecord, OutcomeKind};
use crate::ports::{Clock, Delivery, ExecutionStores, Job, Queue, Store, StoreError};

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    /// The deployment's feedback webhook, when configured and enabled.
    pub(crate) async fn webhook(&self) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .store
            .get_record::<Webhook>(FEEDBACK_WEBHOOK)
            .await?
            .filter(|w| w.spec.enabled))
    }

    /// Queues the event of a message's new outcome for the webhook. A failure to queue is
    /// logged (the message itself is recorded already) rather than failing the trigger.
    pub(crate) async fn notify(&self, webhook: Option<&Webhook>, record: &MessageRecord) {
        if webhook.is_none() || record.outcome == OutcomeKind::Pending {
            return;
        }
        if let Err(e) = self
            .queue
            .enqueue(&[Job::Webhook(WebhookEvent::of(record))])
            .await
        {
            tracing::error!(
                message = %record.id,
                error = %crate::logging::error_chain(&e),
                "could not queue the feedback webhook event"
            );
        }
    }

    /// POSTs one event (a queue job). An error makes the queue retry it later.
    pub(crate) async fn deliver_webhook(&self, event: &WebhookEvent) -> Result<(), TriggerError> {
        let Some(webhook) = self.webhook().await? else {
            tracing::info!(event = %event.event_id, "feedback webhook removed or disabled; event dropped");
            return Ok(());
        };
        let body = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let headers = [
            (
                "x-herald-signature",
                signature(&webhook.spec.secret, self.clock.now(), &body),
            ),
            ("x-herald-event-id", event.event_id.clone()),
        ];
        let result = self.delivery.post(&webhook.spec.url, &body, &headers).await;
        let counter = if result.is_ok() {
            "webhookDelivered"
        } else {
            "webhookFailures"
        };
        self.count(
            event.campaign_id,
            event.campaign_version,
            event.execution_id,
            &CountDelta::one(counter),
        )
        .await?;
        result.map_err(TriggerError::from)
    }
}
