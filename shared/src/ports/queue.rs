//! The work queue of audience executions: planning steps and batches of recipients. In AWS it
//! is SQS (the dispatcher function consumes it); in `herald serve` a persisted local queue.
//!
//! Delivery is at least once: a job may run twice (a crash before its acknowledgement, a
//! redelivery), so every job is idempotent — planning resumes from the execution's stored
//! cursor, and a batch finds the message records it already wrote.

use std::future::Future;

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

pub trait Queue: Clone + Send + Sync + 'static {
    /// Adds jobs to the queue (all or nothing is not required: each job stands alone).
    fn enqueue(&self, jobs: &[Job]) -> impl Future<Output = StoreResult<()>> + Send;
}
