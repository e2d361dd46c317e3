//! The measured runs, each between two snapshots of the meter:
//!
//! - unitary: one `POST /im/executions/unitary` per message (one recipient, an existing
//!   profile), through `TriggerService::trigger_unitary`, one at a time as one Lambda
//!   invocation handles one request;
//! - audience: one `POST /im/executions/audience`, then every queued job (planning steps,
//!   batches) through the dispatcher function's own handler, in SQS batches of
//!   [`SQS_RECEIVE_BATCH`] as its event source mapping delivers them;
//! - feedback: one SES `Delivery` event per message through `TriggerService::record_feedback`
//!   (what the feedback function does with it).
//!
//! Lambda time is the wall time of each invocation in this process, rounded up to the
//! millisecond as Lambda bills it.

use std::time::{Duration, Instant};

use herald_core::domain::trigger::{AudienceRequest, UnitaryRequest};
use herald_core::domain::{
    AudienceId, CampaignId, Channel, ExecutionId, ExecutionKind, ExecutionStatus, MessageId,
    RecipientKey,
};
use herald_core::ports::{Clock, Job};
use herald_core::service::trigger::TriggerReply;
use herald_core::service::trigger::audience::PROFILE_NAMESPACE;
use herald_core::service::trigger::feedback::{FeedbackEvent, FeedbackKind, FeedbackOutcome};
use herald_dispatcher::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use super::meter::Ledger;
use super::world::{RunError, World, parse};
use crate::fixtures;

/// Messages per dispatcher invocation (`BatchSize` of its SQS event source in `template.yaml`).
pub const SQS_RECEIVE_BATCH: usize = 10;

/// What one measured run used.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Messages the run sent (or, for feedback, events it recorded).
    pub messages: u64,
    pub ledger: Ledger,
    /// SQS requests: `SendMessageBatch` per 10 jobs (64 KB chunks), and per dispatcher
    /// invocation one `ReceiveMessage` and one `DeleteMessageBatch`.
    pub sqs_requests: u64,
    pub lambda_invocations: u64,
    /// Billed Lambda milliseconds.
    pub lambda_ms: f64,
    pub api_requests: u64,
    pub sns_publishes: u64,
}

/// Lambda bills every invocation to the next millisecond.
fn billed_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).ceil()
}

fn execution_of(reply: &TriggerReply) -> Result<ExecutionId, RunError> {
    let body: Value = serde_json::from_str(&reply.body)
        .map_err(|e| RunError::Check(format!("the trigger answered {}: {e}", reply.body)))?;
    body.get("executionId")
        .and_then(Value::as_str)
        .and_then(|id| ExecutionId::parse(id).ok())
        .ok_or_else(|| {
            RunError::Check(format!(
                "the trigger answered no executionId: {}",
                reply.body
            ))
        })
}

fn accepted(reply: &TriggerReply) -> Result<(), RunError> {
    if reply.status == 202 && !reply.replayed {
        Ok(())
    } else {
        Err(RunError::Check(format!(
            "a trigger was answered {} (replayed: {}): {}",
            reply.status, reply.replayed, reply.body
        )))
    }
}

impl World {
    fn delivery_event(&self, message: &MessageId, address: &str) -> FeedbackEvent {
        FeedbackEvent {
            provider_message_id: format!("discard-{message}"),
            kind: FeedbackKind::Delivery,
            address: address.to_string(),
            occurred_at: self.clock.now(),
        }
    }

    fn emails_sent(&self) -> u64 {
        self.delivery.counts().email
    }

    /// `n` unitary triggers of `campaign`, one recipient each (fixture profiles `0..n`, by
    /// email). Returns the run and the SES delivery event of each message.
    pub async fn run_unitary(
        &self,
        campaign: CampaignId,
        n: usize,
    ) -> Result<(Phase, Vec<FeedbackEvent>), RunError> {
        let before = self.meter.snapshot();
        let sent_before = self.emails_sent();
        let mut phase = Phase::default();
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let email = fixtures::email_of(i);
            let request: UnitaryRequest = parse(
                "unitary request",
                json!({
                    "requestId": format!("b4-unitary-{i}"),
                    "campaignId": campaign.to_string(),
                    "recipients": [{"type": "aep", "namespace": "email", "userId": email}],
                    "context": fixtures::order_context()
                }),
            )?;
            let started = Instant::now();
            let reply = self
                .trigger
                .trigger_unitary(request, ExecutionKind::Unitary)
                .await?;
            phase.lambda_ms += billed_ms(started.elapsed());
            accepted(&reply)?;
            let key = RecipientKey {
                namespace: "email".into(),
                user_id: email.clone(),
            };
            let message = MessageId::derive(execution_of(&reply)?, &key, Channel::Email);
            events.push(self.delivery_event(&message, &email));
        }
        phase.ledger = self.meter.snapshot().since(&before);
        let sent = self.emails_sent() - sent_before;
        if sent != n as u64 {
            return Err(RunError::Check(format!(
                "{sent} of {n} unitary triggers sent their email"
            )));
        }
        phase.messages = sent;
        phase.lambda_invocations = n as u64;
        phase.api_requests = n as u64;
        Ok((phase, events))
    }

    /// One audience execution of `campaign` to `audience` (fixture profiles `0..members`),
    /// run to the end through the dispatcher's handler. Returns the run and the SES delivery
    /// event of each message.
    pub async fn run_audience(
        &self,
        campaign: CampaignId,
        audience: AudienceId,
        members: usize,
        request_id: &str,
    ) -> Result<(Phase, Vec<FeedbackEvent>), RunError> {
        let before = self.meter.snapshot();
        let queue_before = self.queue.stats();
        let sent_before = self.emails_sent();
        let mut phase = Phase::default();
        let request: AudienceRequest = parse(
            "audience request",
            json!({
                "requestId": request_id,
                "campaignId": campaign.to_string(),
                "audience": {"id": audience.to_string()},
                "context": fixtures::promo_context()
            }),
        )?;
        let started = Instant::now();
        let reply = self.trigger.trigger_audience(request).await?;
        phase.lambda_ms += billed_ms(started.elapsed());
        accepted(&reply)?;
        let execution = execution_of(&reply)?;
        let (invocations, dispatch_ms) = self.dispatch_all().await?;
        phase.ledger = self.meter.snapshot().since(&before);

        let sent = self.emails_sent() - sent_before;
        let view = self.trigger.execution(&execution.to_string()).await?;
        if sent != members as u64
            || view.counts.sent != members as u64
            || view.status != ExecutionStatus::Succeeded
        {
            return Err(RunError::Check(format!(
                "the audience execution sent {sent} emails and counts {:?} ({:?}) for {members} members",
                view.counts, view.status
            )));
        }
        let queue = self.queue.stats();
        phase.messages = sent;
        phase.lambda_ms += dispatch_ms;
        phase.lambda_invocations = 1 + invocations;
        phase.api_requests = 1;
        phase.sqs_requests = queue.send_requests - queue_before.send_requests + 2 * invocations;
        let events = self.profiles[..members]
            .iter()
            .enumerate()
            .map(|(i, profile)| {
                // The pipeline keys a recipient by its lowercased namespace.
                let key = RecipientKey {
                    namespace: PROFILE_NAMESPACE.to_ascii_lowercase(),
                    user_id: profile.to_string(),
                };
                let message = MessageId::derive(execution, &key, Channel::Email);
                self.delivery_event(&message, &fixtures::email_of(i))
            })
            .collect();
        Ok((phase, events))
    }

    /// Runs every queued job through the dispatcher function's handler until the queue is
    /// empty; returns the invocations and their billed milliseconds.
    async fn dispatch_all(&self) -> Result<(u64, f64), RunError> {
        let mut invocations = 0u64;
        let mut ms = 0.0;
        loop {
            let jobs = self.queue.drain();
            if jobs.is_empty() {
                return Ok((invocations, ms));
            }
            for chunk in jobs.chunks(SQS_RECEIVE_BATCH) {
                let event = sqs_event(chunk, invocations)?;
                let started = Instant::now();
                let response = herald_dispatcher::handle(
                    &self.trigger,
                    LambdaEvent::new(event, Context::default()),
                )
                .await;
                ms += billed_ms(started.elapsed());
                invocations += 1;
                if !response.batch_item_failures.is_empty() {
                    return Err(RunError::Check(format!(
                        "the dispatcher failed {} of {} jobs",
                        response.batch_item_failures.len(),
                        chunk.len()
                    )));
                }
            }
        }
    }

    /// One SES `Delivery` event per message through the feedback use case. Each email also
    /// draws a `Send` event, which the feedback function ignores: it is counted as one more
    /// invocation billed its 1 ms minimum, and one more SNS publish.
    pub async fn run_feedback(&self, events: &[FeedbackEvent]) -> Result<Phase, RunError> {
        let before = self.meter.snapshot();
        let mut phase = Phase::default();
        for event in events {
            let started = Instant::now();
            let outcome = self.trigger.record_feedback(event).await?;
            phase.lambda_ms += billed_ms(started.elapsed()) + 1.0;
            if outcome != FeedbackOutcome::Recorded {
                return Err(RunError::Check(format!(
                    "a delivery event of {} was {outcome:?}",
                    event.provider_message_id
                )));
            }
        }
        phase.ledger = self.meter.snapshot().since(&before);
        let n = events.len() as u64;
        phase.messages = n;
        phase.lambda_invocations = 2 * n;
        phase.sns_publishes = 2 * n;
        Ok(phase)
    }
}

/// The SQS event Lambda hands the dispatcher for these jobs.
fn sqs_event(jobs: &[Job], invocation: u64) -> Result<SqsEvent, RunError> {
    let records = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let body = serde_json::to_string(job).map_err(|source| RunError::Fixture {
                what: "job",
                source,
            })?;
            Ok(json!({
                "messageId": format!("b4-{invocation}-{i}"),
                "receiptHandle": format!("b4-receipt-{invocation}-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:herald-dispatch",
                "awsRegion": "us-east-1"
            }))
        })
        .collect::<Result<Vec<Value>, RunError>>()?;
    parse("SQS event", json!({ "Records": records }))
}

#[cfg(test)]
mod tests {
    use herald_tests::dynamo_local;

    use super::*;

    /// A new unitary execution has no messages yet, so a trigger looks none up before it
    /// claims its message: that read could only find nothing. (A resumed attempt does look;
    /// the service's tests cover it.)
    #[tokio::test]
    async fn a_new_unitary_trigger_reads_no_message_before_it_claims_one() {
        let world = World::new(&dynamo_local::endpoint(), 2).await.unwrap();
        let campaign = world.transactional_email().await.unwrap();
        let (phase, _) = world.run_unitary(campaign, 2).await.unwrap();
        let calls: Vec<&String> = phase.ledger.calls.keys().collect();
        assert!(
            !calls
                .iter()
                .any(|c| c.contains("GetItem") && c.ends_with(" message")),
            "{calls:?}"
        );
        assert_eq!(phase.ledger.calls["PutItem message"].calls, 4, "{calls:?}");
        world.drop_table().await.unwrap();
    }

    /// An audience batch the dispatcher gets for the first time (`ApproximateReceiveCount`
    /// 1) reads its members' profiles but not their messages: none can exist yet.
    #[tokio::test]
    async fn a_first_delivered_batch_reads_profiles_but_no_messages() {
        let world = World::new(&dynamo_local::endpoint(), 3).await.unwrap();
        let campaign = world.marketing_email(false).await.unwrap();
        let audience = world.audience(3).await.unwrap();
        let (phase, _) = world
            .run_audience(campaign, audience, 3, "b4-first-delivery")
            .await
            .unwrap();
        let calls: Vec<&String> = phase.ledger.calls.keys().collect();
        assert!(
            calls
                .iter()
                .any(|c| c.contains("GetItem") && c.ends_with(" profile")),
            "{calls:?}"
        );
        assert!(
            !calls
                .iter()
                .any(|c| c.contains("GetItem") && c.ends_with(" message")),
            "{calls:?}"
        );
        world.drop_table().await.unwrap();
    }
}
