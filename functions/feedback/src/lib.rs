//! # herald-feedback
//!
//! The Lambda function subscribed to Herald's feedback SNS topics. Each SNS record's `Message`
//! is one of:
//!
//! - an **SES event** from the configuration set's SNS event destination (`eventType`), or an
//!   SES identity notification (`notificationType`): `Delivery` → the message is `delivered`;
//!   `Bounce` with `bounceType` `Permanent` → `bounced` and the address suppressed
//!   (`HardBounce`); `Transient` / `Undetermined` → counted once as `softBounced`;
//!   `Complaint` → `complained` and suppressed (`Complaint`); one event per bounced or
//!   complaining recipient. `Send`, `Reject`, `DeliveryDelay`, `Rendering Failure`, `Open`,
//!   `Click` change nothing (logged at debug). Messages are found by `mail.messageId`, the
//!   provider message id Herald stored when SES accepted the message.
//! - an **SNS platform application event** (`EndpointUpdated`, `EndpointDeleted`,
//!   `DeliveryFailure`) of a push platform application: a disabled endpoint's token is
//!   suppressed (`PushEndpointDisabled`), the endpoint looked up with `GetEndpointAttributes`
//!   when the event does not say.
//!
//! Exactly-once effects rest on the service ([`herald_core::service::trigger::feedback`]): an
//! outcome moves by a conditional write, so a redelivered event is a duplicate; soft bounces are
//! deduplicated by a marker. A record that cannot be understood (not JSON, not one of the shapes
//! above, missing the message id) is logged and skipped: it would fail the same way on every
//! retry. A store or provider failure fails the invocation, after the other records were
//! handled, so Lambda's retry of the SNS event records what is left (the rest are duplicates).
//!
//! SMS opt-outs do not arrive here (SNS publishes none): the scheduler calls
//! [`TriggerService::sync_sms_opt_outs`].
//!
//! `main.rs` is wiring only; [`Feedback`] is generic over the service's ports, so tests drive it
//! with real SNS event JSON on DynamoDB Local.

use std::sync::Arc;

pub use aws_lambda_events::sns::{SnsEvent, SnsMessage};
use herald_core::domain::ses_event::{self, ProviderNotification, SesInterpretation};
use herald_core::logging::error_chain;
use herald_core::ports::sms_opt_out::PushEndpointLookup;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store};
use herald_core::service::trigger::feedback::{
    FeedbackError, FeedbackEvent, FeedbackOutcome, PushEndpointOutcome,
};
use herald_core::service::trigger::{TriggerError, TriggerService};
use jiff::Timestamp;
use lambda_runtime::Diagnostic;
use serde::Serialize;

/// What one invocation did: its JSON response, and the fields of its log line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// SNS records in the event.
    pub records: usize,
    /// Message outcomes moved, soft bounces counted.
    pub recorded: usize,
    /// Events recorded before (redeliveries).
    pub duplicates: usize,
    /// Events about provider message ids Herald does not know.
    pub unknown_messages: usize,
    /// Events that change nothing (`Send`, `Open`, an enabled endpoint…).
    pub ignored: usize,
    /// Push tokens suppressed because their endpoint was disabled.
    pub tokens_suppressed: usize,
    /// Records that could not be understood (logged and skipped).
    pub skipped: usize,
}

/// A record could not be recorded because a store or the provider failed; the invocation
/// fails so the event is retried.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("recording SES feedback failed")]
    Record(#[source] TriggerError),
    #[error("handling a push endpoint event failed")]
    PushEndpoint(#[source] FeedbackError),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let kind = match &e {
            HandlerError::Record(_) => "Record",
            HandlerError::PushEndpoint(_) => "PushEndpoint",
        };
        Diagnostic {
            error_type: format!("Herald.Feedback.{kind}"),
            error_message: error_chain(&e),
        }
    }
}

/// The feedback handler: the trigger service (stores, webhook queue) and the provider's
/// endpoint lookup.
pub struct Feedback<S, D, Q, C, P> {
    trigger: Arc<TriggerService<S, D, Q, C>>,
    provider: P,
}

impl<S, D, Q, C, P> Feedback<S, D, Q, C, P>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
    P: PushEndpointLookup,
{
    pub fn new(trigger: Arc<TriggerService<S, D, Q, C>>, provider: P) -> Self {
        Self { trigger, provider }
    }

    /// Handles every record of an SNS event. Returns the first failure after trying them all.
    pub async fn handle(&self, event: SnsEvent) -> Result<Summary, HandlerError> {
        let mut summary = Summary {
            records: event.records.len(),
            ..Summary::default()
        };
        let mut failure = None;
        for record in &event.records {
            if let Err(e) = self.handle_message(&record.sns, &mut summary).await {
                tracing::error!(
                    sns_message_id = %record.sns.message_id,
                    error = %error_chain(&e),
                    "a feedback record failed; the event will be retried"
                );
                failure.get_or_insert(e);
            }
        }
        tracing::info!(
            records = summary.records,
            recorded = summary.recorded,
            duplicates = summary.duplicates,
            unknown_messages = summary.unknown_messages,
            ignored = summary.ignored,
            tokens_suppressed = summary.tokens_suppressed,
            skipped = summary.skipped,
            "feedback handled"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// Handles one SNS message, adding what it did to `summary`.
    pub async fn handle_message(
        &self,
        sns: &SnsMessage,
        summary: &mut Summary,
    ) -> Result<(), HandlerError> {
        let notification = match ses_event::parse(&sns.message) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(
                    sns_message_id = %sns.message_id,
                    topic = %sns.topic_arn,
                    error = %e,
                    "an SNS message that is not feedback Herald understands; skipped"
                );
                summary.skipped += 1;
                return Ok(());
            }
        };
        match notification {
            ProviderNotification::Ses(event) => {
                let received_at = Timestamp::from_millisecond(sns.timestamp.timestamp_millis())
                    .unwrap_or_else(|_| Timestamp::now());
                let notices = match event.interpret(received_at) {
                    Ok(SesInterpretation::Notices(notices)) => notices,
                    Ok(SesInterpretation::Ignored(kind)) => {
                        tracing::debug!(
                            sns_message_id = %sns.message_id,
                            event_type = %kind,
                            provider_message_id = event.message_id().unwrap_or_default(),
                            "an SES event without an outcome to record"
                        );
                        summary.ignored += 1;
                        return Ok(());
                    }
                    Err(e) => {
                        tracing::warn!(
                            sns_message_id = %sns.message_id,
                            error = %e,
                            "an SES event that cannot be recorded; skipped"
                        );
                        summary.skipped += 1;
                        return Ok(());
                    }
                };
                for notice in &notices {
                    let outcome = self
                        .trigger
                        .record_feedback(&FeedbackEvent::from(notice))
                        .await
                        .map_err(HandlerError::Record)?;
                    tracing::debug!(
                        event_type = %event.event_type,
                        provider_message_id = %notice.provider_message_id,
                        herald_message_id = event.tag("herald-message-id").unwrap_or_default(),
                        ?outcome,
                        "SES feedback"
                    );
                    match outcome {
                        FeedbackOutcome::Recorded => summary.recorded += 1,
                        FeedbackOutcome::Duplicate => summary.duplicates += 1,
                        FeedbackOutcome::UnknownMessage => summary.unknown_messages += 1,
                        FeedbackOutcome::Ignored => summary.ignored += 1,
                    }
                }
            }
            ProviderNotification::PushEndpoint(event) => {
                let outcome = self
                    .trigger
                    .record_push_endpoint_event(&event, &self.provider)
                    .await
                    .map_err(HandlerError::PushEndpoint)?;
                tracing::debug!(
                    event_type = %event.event_type,
                    endpoint = %event.endpoint_arn,
                    ?outcome,
                    "push endpoint event"
                );
                match outcome {
                    PushEndpointOutcome::Suppressed { .. } => summary.tokens_suppressed += 1,
                    PushEndpointOutcome::Irrelevant
                    | PushEndpointOutcome::StillEnabled
                    | PushEndpointOutcome::EndpointGone => summary.ignored += 1,
                }
            }
        }
        Ok(())
    }
}
