//! The work queue of audience executions: planning steps and batches of recipients. In AWS it
//! is SQS (the dispatcher function consumes it); in `herald serve` a persisted local queue.
//!
//! Delivery is at least once: a job may run twice (a crash before its acknowledgement, a
//! redelivery), so every job is idempotent — planning resumes from the execution's stored
//! cursor, and a batch finds the message records it already wrote.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::domain::{AudienceBatch, ExecutionId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "job")]
pub enum Job {
    /// Page the next members of an audience execution into batches.
    Plan {
        // Jobs queued by builds before the field was camelCase stay readable.
        #[serde(alias = "execution_id")]
        execution_id: ExecutionId,
    },
    /// Run these members through the pipeline.
    Batch(AudienceBatch),
    /// POST one event to the feedback webhook (retried by the queue until it succeeds).
    Webhook(crate::domain::webhook::WebhookEvent),
}

/// Whether the queue hands a job out for the first time, as far as it knows (SQS's
/// `ApproximateReceiveCount`, the local queue's attempts). A batch handed out the first time
/// does not read its members' messages before it runs them (none can exist yet; should a
/// repeated planning step have queued a member twice, the claim finds the first record); one
/// handed out again reads them and skips the members it already did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobDelivery {
    First,
    Again,
}

impl JobDelivery {
    /// From the number of times the job was handed out, this time included; anything but 1
    /// (an unknown count too) is `Again`, which only costs a read.
    pub fn from_count(count: Option<u64>) -> Self {
        match count {
            Some(1) => JobDelivery::First,
            _ => JobDelivery::Again,
        }
    }
}

pub trait Queue: Clone + Send + Sync + 'static {
    /// Adds jobs to the queue (all or nothing is not required: each job stands alone).
    fn enqueue(&self, jobs: &[Job]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Adds jobs that are handed out no earlier than `at` (`now` being the caller's time). A
    /// queue may hand them out earlier than asked when it cannot wait that long (SQS delays a
    /// message at most 15 minutes), never before `now`.
    fn enqueue_at(
        &self,
        jobs: &[Job],
        now: Timestamp,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

#[cfg(test)]
mod tests {
    use super::JobDelivery;

    #[test]
    fn only_a_count_of_one_is_a_first_delivery() {
        assert_eq!(JobDelivery::from_count(Some(1)), JobDelivery::First);
        for other in [None, Some(0), Some(2), Some(7)] {
            assert_eq!(
                JobDelivery::from_count(other),
                JobDelivery::Again,
                "{other:?}"
            );
        }
    }
}
