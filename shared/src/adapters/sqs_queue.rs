//! The [`Queue`] on Amazon SQS: jobs are JSON message bodies sent with `SendMessageBatch`
//! (10 per call). The dispatcher function consumes the queue; its redrive policy moves a job
//! that keeps failing to the dead-letter queue.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::ports::{Job, Queue, StoreError, StoreResult};

/// The environment variable naming the queue URL.
pub const QUEUE_URL_ENV: &str = "HERALD_QUEUE_URL";
/// Entries per `SendMessageBatch` call (the SQS maximum).
const BATCH: usize = 10;
/// Attempts for entries SQS reports as failed with a retryable (sender fault = false) error.
const ATTEMPTS: usize = 4;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} failed: {detail}")]
pub struct SqsError {
    operation: &'static str,
    detail: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// A queue on the URL in `HERALD_QUEUE_URL`, with a client from the AWS configuration.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Result<Self, SqsError> {
        let url = std::env::var(QUEUE_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .ok_or(SqsError {
                operation: "configuration",
                detail: format!("{QUEUE_URL_ENV} is not set"),
            })?;
        Ok(Self::new(Client::new(conf), url))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_chunk(&self, chunk: &[Job]) -> StoreResult<()> {
        let mut pending: Vec<(String, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, job)| serde_json::to_string(job).map(|body| (i.to_string(), body)))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for attempt in 0..ATTEMPTS {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::backend)?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    StoreError::backend(SqsError {
                        operation: "SendMessageBatch",
                        detail: DisplayErrorContext(&e).to_string(),
                    })
                })?;
            let failed = out.failed();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                return Err(StoreError::backend(SqsError {
                    operation: "SendMessageBatch",
                    detail: format!("{}: {}", f.code(), f.message().unwrap_or("")),
                }));
            }
            let again: std::collections::HashSet<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| again.contains(id.as_str()));
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
        }
        Err(StoreError::backend(SqsError {
            operation: "SendMessageBatch",
            detail: format!(
                "{} jobs still failing after {ATTEMPTS} attempts",
                pending.len()
            ),
        }))
    }
}

impl Queue for SqsQueue {
    async fn enqueue(&self, jobs: &[Job]) -> StoreResult<()> {
        for chunk in jobs.chunks(BATCH) {
            self.send_chunk(chunk).await?;
        }
        Ok(())
    }
}
