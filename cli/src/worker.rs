//! The job worker of `herald serve`: leases jobs from the persisted local queue, runs them, and
//! acknowledges them, `--jobs` at a time ([`crate::args::DEFAULT_JOBS`] unless set). A job that
//! fails is retried later with back-off; a job the process was running when it died is leased
//! again once its lease expires (jobs are idempotent).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use herald_core::adapters::local_queue::{Leased, LocalQueue};
use herald_core::http::problem::error_chain;
use herald_core::ports::{
    Clock, Delivery, ExecutionStores, Job, JobDelivery, Queue, Store, SystemClock,
};
use herald_core::service::trigger::TriggerService;

/// How long a lease lasts, and how long to wait when the queue is empty.
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);
const IDLE: Duration = Duration::from_millis(200);

pub async fn run<S, D, Q>(
    trigger: Arc<TriggerService<S, D, Q, SystemClock>>,
    queue: LocalQueue,
    at_once: usize,
) where
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
    let run = move |job: Job, delivery: JobDelivery| {
        let trigger = Arc::clone(&trigger);
        async move { trigger.run_job(&job, delivery).await }
    };
    serve_jobs(queue, at_once, run).await
}

/// Leases jobs and runs up to `at_once` of them at a time, each as a task of its own (so they
/// use every core and a slow job does not hold the others up), telling each whether it is
/// handed out for the first time (its first lease); a job that ends well is
/// acknowledged, one that fails is retried later with back-off, one whose task panicked is
/// leased again when its lease runs out. Never returns.
pub(crate) async fn serve_jobs<F, Fut, E>(queue: LocalQueue, at_once: usize, run: F)
where
    F: Fn(Job, JobDelivery) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let at_once = at_once.max(1);
    let mut running = JoinSet::new();
    loop {
        while let Some(ended) = running.try_join_next() {
            log_panic(ended);
        }
        let free = at_once - running.len();
        if free > 0 {
            match queue.receive(free, SystemClock.now(), LEASE).await {
                Ok(leased) => {
                    for Leased { id, job, attempts } in leased {
                        let work = run(job, JobDelivery::from_count(Some(attempts.into())));
                        let queue = queue.clone();
                        running
                            .spawn(async move { settle(&queue, id, attempts, work.await).await });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "could not read the job queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        // Until a job ends or, while a slot is free, until it is time to look for new jobs.
        // (With no job running, `join_next` gives `None` and only the sleep is left.)
        tokio::select! {
            Some(ended) = running.join_next() => log_panic(ended),
            () = tokio::time::sleep(IDLE), if running.len() < at_once => {}
        }
    }
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        tracing::error!(error = %e, "a job's task failed; the job runs again when its lease ends");
    }
}

/// Acknowledges a job that ran, or schedules a failed one's retry with back-off.
async fn settle<E: std::error::Error>(
    queue: &LocalQueue,
    id: i64,
    attempts: u32,
    result: Result<(), E>,
) {
    match result {
        Ok(()) => {
            if let Err(e) = queue.ack(id).await {
                tracing::warn!(error = %error_chain(&e), "could not acknowledge a job");
            }
        }
        Err(e) => {
            let wait = jiff::SignedDuration::from_secs(2_i64.saturating_pow(attempts.min(8)));
            let at = SystemClock
                .now()
                .saturating_add(wait)
                .unwrap_or_else(|_| SystemClock.now());
            tracing::warn!(error = %error_chain(&e), attempts, "job failed; retrying later");
            if let Err(e) = queue.retry_later(id, at).await {
                tracing::warn!(error = %error_chain(&e), "could not reschedule a job");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use herald_core::domain::ExecutionId;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("this job fails")]
    struct Fails;

    /// How many jobs ran, how many at most at once, and which ran.
    #[derive(Default)]
    struct Seen {
        now: AtomicUsize,
        peak: AtomicUsize,
        ran: Mutex<Vec<ExecutionId>>,
    }

    fn plan(id: ExecutionId) -> Job {
        Job::Plan { execution_id: id }
    }

    /// A queue holding a plan job for each of `n` new executions, and their ids.
    async fn queue_of(n: usize) -> (LocalQueue, Vec<ExecutionId>) {
        let queue = LocalQueue::open_in_memory().unwrap();
        let ids: Vec<ExecutionId> = (0..n).map(|_| ExecutionId::new()).collect();
        queue
            .enqueue(&ids.iter().copied().map(plan).collect::<Vec<_>>())
            .await
            .unwrap();
        (queue, ids)
    }

    /// Waits until `done` says so; fails with `what` after 20 s.
    async fn eventually<F, Fut>(what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done().await {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_several_at_once_and_each_ends_acknowledged_or_retried() {
        let (queue, ids) = queue_of(40).await;
        let failing = ids[7];
        let seen = Arc::new(Seen::default());
        let run = {
            let seen = Arc::clone(&seen);
            move |job: Job, delivery: JobDelivery| {
                let seen = Arc::clone(&seen);
                async move {
                    let Job::Plan { execution_id } = job else {
                        panic!("only plan jobs were queued")
                    };
                    assert_eq!(delivery, JobDelivery::First, "each job's first lease");
                    let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    seen.now.fetch_sub(1, Ordering::SeqCst);
                    seen.ran.lock().unwrap().push(execution_id);
                    if execution_id == failing {
                        Err(Fails)
                    } else {
                        Ok(())
                    }
                }
            }
        };
        let serving = tokio::spawn(serve_jobs(queue.clone(), 16, run));
        eventually("the jobs did not all run", || async {
            seen.ran.lock().unwrap().len() == ids.len() && queue.len().await.unwrap() == 1
        })
        .await;
        serving.abort();
        assert_eq!(seen.peak.load(Ordering::SeqCst), 16, "jobs at once");
        let mut ran = seen.ran.lock().unwrap().clone();
        ran.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(ran, expected, "every job ran once");
        // The failed job stays queued for its retry (in 2 s), the others were acknowledged.
        assert_eq!(queue.len().await.unwrap(), 1);
        let again = queue
            .receive(
                10,
                SystemClock
                    .now()
                    .saturating_add(jiff::SignedDuration::from_secs(3))
                    .unwrap(),
                LEASE,
            )
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].job, plan(failing));
        assert_eq!(again[0].attempts, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_panics_stays_leased_and_the_others_go_on() {
        let (queue, ids) = queue_of(5).await;
        let panicking = ids[2];
        let done = Arc::new(AtomicUsize::new(0));
        let run = {
            let done = Arc::clone(&done);
            move |job: Job, _: JobDelivery| {
                let done = Arc::clone(&done);
                async move {
                    let Job::Plan { execution_id } = job else {
                        panic!("only plan jobs were queued")
                    };
                    assert_ne!(execution_id, panicking, "this job panics");
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok::<(), Fails>(())
                }
            }
        };
        let serving = tokio::spawn(serve_jobs(queue.clone(), 2, run));
        eventually("the other jobs did not all run", || async {
            done.load(Ordering::SeqCst) == 4 && queue.len().await.unwrap() == 1
        })
        .await;
        // The worker is still serving: a new job runs.
        queue.enqueue(&[plan(ExecutionId::new())]).await.unwrap();
        eventually("the worker stopped", || async {
            done.load(Ordering::SeqCst) == 5
        })
        .await;
        serving.abort();
        // The panicking job was neither acknowledged nor rescheduled: it is leased until its
        // lease ends, then delivered again.
        assert_eq!(queue.len().await.unwrap(), 1);
        let now = SystemClock.now();
        assert!(queue.receive(10, now, LEASE).await.unwrap().is_empty());
        let later = now.saturating_add(LEASE).unwrap();
        let again = queue.receive(10, later, LEASE).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].job, plan(panicking));
    }
}
