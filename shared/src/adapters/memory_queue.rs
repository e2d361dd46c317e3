//! An in-memory [`Queue`] for fast service tests: jobs are collected in order and handed out by
//! [`MemoryQueue::drain`]; delayed ones are kept apart, with their instant, for
//! [`MemoryQueue::drain_delayed`]. Not persisted; `herald serve` uses the local SQLite queue
//! instead.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::ports::{Job, Queue, StoreResult};

#[derive(Clone, Debug, Default)]
pub struct MemoryQueue {
    jobs: Arc<Mutex<Vec<Job>>>,
    delayed: Arc<Mutex<Vec<(Job, Timestamp)>>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every queued job, oldest first.
    pub fn drain(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes every job queued for later, with the instant it was queued for, oldest first.
    pub fn drain_delayed(&self) -> Vec<(Job, Timestamp)> {
        std::mem::take(&mut *self.delayed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Jobs to hand out now (delayed ones are not counted).
    pub fn len(&self) -> usize {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Queue for MemoryQueue {
    async fn enqueue(&self, jobs: &[Job]) -> StoreResult<()> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(jobs);
        Ok(())
    }

    async fn enqueue_at(&self, jobs: &[Job], _now: Timestamp, at: Timestamp) -> StoreResult<()> {
        self.delayed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(jobs.iter().map(|job| (job.clone(), at)));
        Ok(())
    }
}
