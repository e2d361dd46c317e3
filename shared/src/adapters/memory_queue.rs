//! An in-memory [`Queue`] for fast service tests: jobs are collected in order and handed out by
//! [`MemoryQueue::drain`]. Not persisted; `herald serve` uses the local SQLite queue instead.

use std::sync::{Arc, Mutex};

use crate::ports::{Job, Queue, StoreResult};

#[derive(Clone, Debug, Default)]
pub struct MemoryQueue {
    jobs: Arc<Mutex<Vec<Job>>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every queued job, oldest first.
    pub fn drain(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|p| p.into_inner()))
    }

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
}
