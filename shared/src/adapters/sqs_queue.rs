//! The [`Queue`] on Amazon SQS: jobs are JSON message bodies sent with `SendMessageBatch`
//! (10 per call); a job for later is sent with `DelaySeconds` (at most SQS's 15 minutes). The dispatcher function consumes the queue; its redrive policy moves a job
//! that keeps failing to the dead-letter queue.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::Timestamp;

use crate::ports::{Job, Queue, StoreError, StoreResult};

/// The environment variable naming the queue URL.
pub const QUEUE_URL_ENV: &str = "HERALD_QUEUE_URL";
/// Entries per `SendMessageBatch` call (the SQS maximum).
const BATCH: usize = 10;
/// The longest delay SQS gives a message, in seconds.
const MAX_DELAY_SECONDS: i64 = 900;
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

    async fn send_chunk(&self, chunk: &[Job], delay_seconds: i32) -> StoreResult<()> {
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
                        .set_delay_seconds((delay_seconds > 0).then_some(delay_seconds))
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
            self.send_chunk(chunk, 0).await?;
        }
        Ok(())
    }

    /// Delays the jobs by `at - now`, rounded up to whole seconds and cut to 15 minutes.
    async fn enqueue_at(&self, jobs: &[Job], now: Timestamp, at: Timestamp) -> StoreResult<()> {
        let delay = delay_seconds(now, at);
        for chunk in jobs.chunks(BATCH) {
            self.send_chunk(chunk, delay).await?;
        }
        Ok(())
    }
}

/// SQS's `DelaySeconds` for a job due at `at`: whole seconds, rounded up, from 0 to 900.
fn delay_seconds(now: Timestamp, at: Timestamp) -> i32 {
    let wait = at.duration_since(now);
    let seconds = wait.as_secs() + i64::from(wait.subsec_nanos() > 0);
    // Within 0..=900, so it fits.
    seconds.clamp(0, MAX_DELAY_SECONDS) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_is_whole_seconds_rounded_up_within_what_sqs_allows() {
        let now: Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
        let after = |ms: i64| now + jiff::SignedDuration::from_millis(ms);
        assert_eq!(delay_seconds(now, now), 0);
        assert_eq!(
            delay_seconds(now, after(-5_000)),
            0,
            "a past instant is now"
        );
        assert_eq!(delay_seconds(now, after(1)), 1);
        assert_eq!(delay_seconds(now, after(2_000)), 2);
        assert_eq!(delay_seconds(now, after(2_001)), 3);
        assert_eq!(
            delay_seconds(now, after(3_600_000)),
            900,
            "at most 15 minutes"
        );
    }
}
