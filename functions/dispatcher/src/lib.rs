//! # herald-dispatcher
//!
//! The Lambda function on Herald's SQS dispatch queue. Every message is one [`Job`] as JSON:
//! a planning step of an audience execution (page the next members into batches), a batch of
//! members to run through the pipeline, or a feedback-webhook event to POST. The function runs
//! the jobs of a batch a few at a time ([`CONCURRENCY`]) through
//! [`TriggerService::run_job`], the same function `herald serve`'s local queue worker calls.
//!
//! The event source mapping reports partial batch failures (`ReportBatchItemFailures`): only
//! the messages listed in the [`SqsBatchResponse`] go back to the queue, the rest are deleted.
//! A message is listed when
//!
//! - its job failed (a throttled send still held, the webhook receiver down, a store error):
//!   SQS delivers it again after the visibility timeout;
//! - its body is not a job (poison): logged at error level and listed too, so it is not
//!   deleted unseen but moves to the dead-letter queue after the queue's `maxReceiveCount`.
//!
//! Jobs are idempotent (planning resumes from the execution's stored cursor, a batch finds the
//! message records it already claimed), so a redelivered batch never makes a second provider
//! call for a message.
//!
//! `main.rs` is wiring only. [`handle`] is the handler, generic over the service's ports, so
//! tests drive it with real SQS event JSON on DynamoDB Local and moto.

pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::stream::{self, StreamExt};
use herald_core::logging::error_chain;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Job, JobDelivery, Queue, Store};
use herald_core::service::trigger::TriggerService;
use lambda_runtime::LambdaEvent;

/// Jobs of one SQS batch that run at once.
pub const CONCURRENCY: usize = 4;

/// Why a message body is not a job.
#[derive(Debug, thiserror::Error)]
pub enum PoisonMessage {
    #[error("the message has no body")]
    NoBody,
    #[error("the body is not a Herald job")]
    NotAJob(#[source] serde_json::Error),
}

/// The job a message carries.
pub fn parse_job(message: &SqsMessage) -> Result<Job, PoisonMessage> {
    let body = message.body.as_deref().ok_or(PoisonMessage::NoBody)?;
    serde_json::from_str(body).map_err(PoisonMessage::NotAJob)
}

/// Runs every job of the batch and lists the messages SQS must deliver again.
pub async fn handle<S, D, Q, C>(
    trigger: &TriggerService<S, D, Q, C>,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let records = &event.payload.records;
    let failed: Vec<String> = stream::iter(records.iter().map(|r| run_message(trigger, r)))
        .buffered(CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    tracing::info!(
        messages = records.len(),
        failed = failed.len(),
        "dispatch batch done"
    );
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    response
}

/// Runs one message's job; returns its message id when SQS must deliver it again. A message
/// without an id (SQS always sets one) is reported with an empty id, which makes Lambda retry
/// the whole batch rather than lose it.
async fn run_message<S, D, Q, C>(
    trigger: &TriggerService<S, D, Q, C>,
    message: &SqsMessage,
) -> Option<String>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let message_id = message.message_id.clone().unwrap_or_default();
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str)
        .unwrap_or("");
    let job = match parse_job(message) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(
                message_id = %message_id,
                receive_count,
                error = %error_chain(&e),
                "poison message: reported failed so that it moves to the dead-letter queue"
            );
            return Some(message_id);
        }
    };
    let (kind, execution) = describe(&job);
    let delivery = JobDelivery::from_count(receive_count.parse().ok());
    match trigger.run_job(&job, delivery).await {
        Ok(()) => {
            tracing::debug!(message_id = %message_id, job = kind, execution = %execution, "job done");
            None
        }
        Err(e) => {
            tracing::warn!(
                message_id = %message_id,
                receive_count,
                job = kind,
                execution = %execution,
                code = e.code(),
                error = %error_chain(&e),
                "job failed; SQS delivers it again"
            );
            Some(message_id)
        }
    }
}

/// The job's kind and execution, for logs.
fn describe(job: &Job) -> (&'static str, String) {
    match job {
        Job::Plan { execution_id } => ("plan", execution_id.to_string()),
        Job::Batch(batch) => ("batch", batch.execution_id.to_string()),
        Job::Webhook(event) => ("webhook", event.execution_id.to_string()),
    }
}
