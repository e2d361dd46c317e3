//! The job worker of `herald serve`: leases jobs from the persisted local queue, runs them, and
//! acknowledges them. A job that fails is retried later with back-off; a job the process was
//! running when it died is leased again once its lease expires (jobs are idempotent).

use std::sync::Arc;
use std::time::Duration;

use herald_core::adapters::local_queue::LocalQueue;
use herald_core::http::problem::error_chain;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store, SystemClock};
use herald_core::service::trigger::TriggerService;

/// Jobs leased at once, how long a lease lasts, and how long to wait when the queue is empty.
const LEASE_MAX: usize = 8;
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);
const IDLE: Duration = Duration::from_millis(200);

pub async fn run<S, D, Q>(trigger: Arc<TriggerService<S, D, Q, SystemClock>>, queue: LocalQueue)
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
{
    // This process is the queue's only consumer: jobs leased by a process that died are
    // resumed now rather than when their lease runs out.
    match queue.recover_leases(SystemClock.now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "resuming jobs left by the previous run"),
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "could not recover the job queue's leases")
        }
    }
    loop {
        let leased = match queue.receive(LEASE_MAX, SystemClock.now(), LEASE).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "could not read the job queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if leased.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        for l in leased {
            match trigger.run_job(&l.job).await {
                Ok(()) => {
                    if let Err(e) = queue.ack(l.id).await {
                        tracing::warn!(error = %error_chain(&e), "could not acknowledge a job");
                    }
                }
                Err(e) => {
                    let wait =
                        jiff::SignedDuration::from_secs(2_i64.saturating_pow(l.attempts.min(8)));
                    let at = SystemClock
                        .now()
                        .saturating_add(wait)
                        .unwrap_or_else(|_| SystemClock.now());
                    tracing::warn!(error = %error_chain(&e), attempts = l.attempts, "job failed; retrying later");
                    if let Err(e) = queue.retry_later(l.id, at).await {
                        tracing::warn!(error = %error_chain(&e), "could not reschedule a job");
                    }
                }
            }
        }
    }
}
