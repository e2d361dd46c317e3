//! The persisted local queue of `herald serve`, on a database file in a fresh temporary
//! directory per test (WAL mode, reopening and concurrent connections run on a real file).

use std::collections::HashSet;
use std::path::PathBuf;

use herald_core::adapters::local_queue::{DEFAULT_MAX_ATTEMPTS, LocalQueue};
use herald_core::domain::{AudienceBatch, CampaignId, ExecutionId, ProfileId};
use herald_core::ports::{Job, Queue};
use herald_tests::threads::{named_runtime, threads_named};
use jiff::{SignedDuration, Timestamp};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_path() -> (PathBuf, TempDir) {
    let dir =
        TempDir(std::env::temp_dir().join(format!("herald-local-queue-{}", uuid::Uuid::new_v4())));
    let path = dir.0.join("data").join("queue.db");
    (path, dir)
}

fn open(path: &std::path::Path) -> LocalQueue {
    LocalQueue::open(path).unwrap_or_else(|e| panic!("opening {}: {e:?}", path.display()))
}

fn fresh_queue() -> (LocalQueue, TempDir) {
    let (path, dir) = fresh_path();
    (open(&path), dir)
}

fn t0() -> Timestamp {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn plan() -> Job {
    Job::Plan {
        execution_id: ExecutionId::new(),
    }
}

fn batch(sequence: u64) -> Job {
    Job::Batch(AudienceBatch {
        execution_id: ExecutionId::new(),
        campaign_id: CampaignId::new(),
        campaign_version: 1,
        sequence,
        members: vec![ProfileId::new(), ProfileId::new()],
    })
}

#[tokio::test]
async fn jobs_are_received_in_the_order_they_were_enqueued() {
    let (queue, _dir) = fresh_queue();
    let jobs: Vec<Job> = (0..5).map(batch).collect();
    queue.enqueue(&jobs[..2]).await.unwrap();
    queue.enqueue(&jobs[2..]).await.unwrap();

    let first = queue.receive(3, t0(), secs(30)).await.unwrap();
    let rest = queue.receive(10, t0(), secs(30)).await.unwrap();

    let received: Vec<Job> = first.iter().chain(&rest).map(|l| l.job.clone()).collect();
    assert_eq!(received, jobs);
    assert_eq!(first.len(), 3);
    assert!(first.iter().chain(&rest).all(|l| l.attempts == 1));
    let ids: Vec<i64> = first.iter().chain(&rest).map(|l| l.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
}

#[tokio::test]
async fn enqueued_jobs_are_visible_at_once_and_counted() {
    let (queue, _dir) = fresh_queue();
    assert_eq!(queue.len().await.unwrap(), 0);
    assert!(queue.is_empty().await.unwrap());

    queue.enqueue(&[plan(), batch(0)]).await.unwrap();
    assert_eq!(queue.len().await.unwrap(), 2);

    // Even at an instant long before the enqueue (time is the caller's, not the file's).
    let early: Timestamp = "1970-01-01T00:00:00Z".parse().unwrap();
    let leased = queue.receive(10, early, secs(30)).await.unwrap();
    assert_eq!(leased.len(), 2);
    // Leased jobs are still in the queue until acknowledged.
    assert_eq!(queue.len().await.unwrap(), 2);
}

#[tokio::test]
async fn a_job_queued_for_later_is_handed_out_from_its_instant_and_counted_meanwhile() {
    let (queue, _dir) = fresh_queue();
    let (later, now) = (batch(7), plan());
    queue
        .enqueue_at(std::slice::from_ref(&later), t0(), t0() + secs(30))
        .await
        .unwrap();
    queue.enqueue(std::slice::from_ref(&now)).await.unwrap();
    assert_eq!(queue.len().await.unwrap(), 2, "a delayed job is queued");

    let first = queue.receive(10, t0() + secs(29), secs(60)).await.unwrap();
    let first: Vec<Job> = first.into_iter().map(|l| l.job).collect();
    assert_eq!(first, vec![now], "only the job queued for now");
    let due = queue.receive(10, t0() + secs(30), secs(60)).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((&due[0].job, due[0].attempts), (&later, 1));
}

#[tokio::test]
async fn a_leased_job_is_invisible_until_its_lease_runs_out_then_delivered_again() {
    let (queue, _dir) = fresh_queue();
    let job = plan();
    queue.enqueue(std::slice::from_ref(&job)).await.unwrap();

    let first = queue.receive(10, t0(), secs(30)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);

    let during = queue.receive(10, t0() + secs(29), secs(30)).await.unwrap();
    assert!(during.is_empty(), "leased job delivered early: {during:?}");

    let after = queue.receive(10, t0() + secs(30), secs(30)).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, first[0].id);
    assert_eq!(after[0].job, job);
    assert_eq!(after[0].attempts, 2);
}

#[tokio::test]
async fn an_acknowledged_job_is_gone_for_good() {
    let (queue, _dir) = fresh_queue();
    queue.enqueue(&[plan(), plan()]).await.unwrap();
    let leased = queue.receive(1, t0(), secs(30)).await.unwrap();

    queue.ack(leased[0].id).await.unwrap();

    assert_eq!(queue.len().await.unwrap(), 1);
    let later = queue
        .receive(10, t0() + secs(3600), secs(30))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_ne!(later[0].id, leased[0].id);
    // Acknowledging twice is harmless.
    queue.ack(leased[0].id).await.unwrap();
    assert_eq!(queue.len().await.unwrap(), 1);
}

#[tokio::test]
async fn unacknowledged_jobs_survive_a_restart_and_are_delivered_after_their_lease() {
    let (path, _dir) = fresh_path();
    let (in_flight, waiting, done) = (batch(0), batch(1), batch(2));
    let done_id = {
        let queue = open(&path);
        queue
            .enqueue(&[in_flight.clone(), waiting.clone(), done.clone()])
            .await
            .unwrap();
        let leased = queue.receive(1, t0(), secs(60)).await.unwrap();
        assert_eq!(leased[0].job, in_flight);
        let leased_done = queue.receive(2, t0(), secs(60)).await.unwrap();
        assert_eq!(leased_done.len(), 2);
        // The process dies here: `in_flight` and `waiting` were never acknowledged.
        queue.ack(leased_done[1].id).await.unwrap();
        leased_done[1].id
    };

    let queue = open(&path);
    assert_eq!(queue.len().await.unwrap(), 2);
    let too_soon = queue.receive(10, t0() + secs(59), secs(60)).await.unwrap();
    assert!(
        too_soon.is_empty(),
        "delivered before the lease ran out: {too_soon:?}"
    );

    let resumed = queue.receive(10, t0() + secs(60), secs(60)).await.unwrap();
    let jobs: Vec<(Job, u32)> = resumed
        .iter()
        .map(|l| (l.job.clone(), l.attempts))
        .collect();
    assert_eq!(jobs, vec![(in_flight, 2), (waiting, 2)]);
    assert!(resumed.iter().all(|l| l.id != done_id));
}

#[tokio::test]
async fn a_job_retried_later_stays_hidden_until_the_given_instant() {
    let (queue, _dir) = fresh_queue();
    let (slow, next) = (batch(0), batch(1));
    queue.enqueue(&[slow.clone(), next.clone()]).await.unwrap();
    let leased = queue.receive(1, t0(), secs(30)).await.unwrap();

    queue
        .retry_later(leased[0].id, t0() + secs(300))
        .await
        .unwrap();

    // Its lease (30 s) is replaced by the later instant.
    let meanwhile = queue.receive(10, t0() + secs(31), secs(30)).await.unwrap();
    assert_eq!(meanwhile.len(), 1);
    assert_eq!(meanwhile[0].job, next);
    queue.ack(meanwhile[0].id).await.unwrap();
    assert!(
        queue
            .receive(10, t0() + secs(299), secs(30))
            .await
            .unwrap()
            .is_empty()
    );

    let retried = queue.receive(10, t0() + secs(300), secs(30)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].job, slow);
    assert_eq!(retried[0].attempts, 2);
}

#[tokio::test]
async fn a_job_can_be_retried_at_once() {
    let (queue, _dir) = fresh_queue();
    queue.enqueue(&[plan()]).await.unwrap();
    let leased = queue.receive(1, t0(), secs(3600)).await.unwrap();

    queue.retry_later(leased[0].id, t0()).await.unwrap();

    let again = queue.receive(1, t0(), secs(3600)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_receivers_never_lease_the_same_job_and_together_get_them_all() {
    let (path, _dir) = fresh_path();
    // Two connections on one file (two processes, in effect), each shared by two tasks.
    let (a, b) = (open(&path), open(&path));
    let jobs: Vec<Job> = (0..200).map(batch).collect();
    for chunk in jobs.chunks(50) {
        a.enqueue(chunk).await.unwrap();
    }

    let mut tasks = Vec::new();
    for queue in [a.clone(), a, b.clone(), b] {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            // Bounded, so that a queue handing out the same jobs again fails instead of hanging.
            for _ in 0..200 {
                let leased = queue.receive(3, t0(), secs(3600)).await.unwrap();
                if leased.is_empty() {
                    break;
                }
                got.extend(leased);
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut all = Vec::new();
    let mut per_task = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        per_task.push(got.len());
        all.extend(got);
    }

    assert_eq!(all.len(), 200, "leases per task: {per_task:?}");
    let ids: HashSet<i64> = all.iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), 200, "a job was leased twice");
    assert!(all.iter().all(|l| l.attempts == 1));
    let received: HashSet<u64> = all
        .iter()
        .map(|l| match &l.job {
            Job::Batch(b) => b.sequence,
            other => panic!("unexpected job {other:?}"),
        })
        .collect();
    assert_eq!(received, (0..200).collect::<HashSet<u64>>());
}

#[tokio::test]
async fn a_job_delivered_too_often_is_moved_to_the_dead_letters() {
    let (queue, _dir) = fresh_queue();
    let queue = queue.with_max_attempts(3);
    let (doomed, fine) = (batch(0), batch(1));
    queue.enqueue(std::slice::from_ref(&doomed)).await.unwrap();

    let mut now = t0();
    for attempt in 1..=3 {
        let leased = queue.receive(1, now, secs(10)).await.unwrap();
        assert_eq!(leased.len(), 1, "attempt {attempt}");
        assert_eq!(leased[0].attempts, attempt);
        now += secs(10);
    }
    queue.enqueue(std::slice::from_ref(&fine)).await.unwrap();

    // The fourth delivery is refused; the slot goes to the next job.
    let leased = queue.receive(1, now, secs(10)).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].job, fine);

    let dead = queue.dead().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.as_ref(), Some(&doomed));
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].died_at, now);
    assert!(dead[0].reason.contains("3 attempts"), "{}", dead[0].reason);
    assert_eq!(queue.len().await.unwrap(), 1);
}

#[tokio::test]
async fn dead_letters_survive_a_restart_and_the_default_threshold_is_ten() {
    let (path, _dir) = fresh_path();
    let job = plan();
    {
        let queue = open(&path);
        assert_eq!(queue.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        assert_eq!(DEFAULT_MAX_ATTEMPTS, 10);
        queue.enqueue(std::slice::from_ref(&job)).await.unwrap();
        let mut now = t0();
        for _ in 0..DEFAULT_MAX_ATTEMPTS {
            assert_eq!(queue.receive(1, now, secs(1)).await.unwrap().len(), 1);
            now += secs(1);
        }
        assert!(queue.receive(1, now, secs(1)).await.unwrap().is_empty());
    }

    let queue = open(&path);
    let dead = queue.dead().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.as_ref(), Some(&job));
    assert_eq!(dead[0].attempts, DEFAULT_MAX_ATTEMPTS);
    assert!(queue.is_empty().await.unwrap());
}

#[tokio::test]
async fn receiving_nothing_or_from_an_empty_queue_returns_no_jobs() {
    let (queue, _dir) = fresh_queue();
    assert!(queue.receive(10, t0(), secs(30)).await.unwrap().is_empty());
    queue.enqueue(&[plan()]).await.unwrap();
    queue.enqueue(&[]).await.unwrap();
    assert!(queue.receive(0, t0(), secs(30)).await.unwrap().is_empty());
    assert_eq!(queue.len().await.unwrap(), 1);
}

#[tokio::test]
async fn a_file_that_is_not_a_queue_is_refused() {
    let (path, _dir) = fresh_path();
    let store = herald_core::adapters::sqlite::SqliteStore::open(&path).unwrap();
    drop(store);

    let err = LocalQueue::open(&path).unwrap_err();
    assert!(err.to_string().contains("store failed"), "{err}");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("not a Herald queue")),
        "{source:?}"
    );
}

#[tokio::test]
async fn recovering_leases_makes_every_leased_job_visible_again_at_once() {
    let q = herald_core::adapters::local_queue::LocalQueue::open_in_memory().unwrap();
    let id = herald_core::domain::ExecutionId::new();
    herald_core::ports::Queue::enqueue(&q, &[herald_core::ports::Job::Plan { execution_id: id }])
        .await
        .unwrap();
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let leased = q
        .receive(10, now, jiff::SignedDuration::from_mins(5))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert!(
        q.receive(10, now, jiff::SignedDuration::from_mins(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(q.recover_leases(now).await.unwrap(), 1);
    let again = q
        .receive(10, now, jiff::SignedDuration::from_mins(5))
        .await
        .unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2));
}

#[test]
fn operations_waiting_behind_a_slow_one_do_not_each_hold_a_blocking_thread() {
    // Another connection (as another process would) holds the file's write lock, so the
    // queue's first operation waits out its busy timeout on a blocking thread; the others must
    // wait for the queue's connection as tasks, not each on a thread of its own.
    const NAME: &str = "herald-lq-wait";
    const WAITING: usize = 24;
    let (path, _dir) = fresh_path();
    let queue = open(&path);
    let other = rusqlite::Connection::open(&path).expect("a second connection");
    other
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("the write lock");
    let runtime = named_runtime(NAME);
    let receives: Vec<_> = (0..WAITING)
        .map(|_| {
            let queue = queue.clone();
            runtime.spawn(async move {
                queue
                    .receive(1, Timestamp::UNIX_EPOCH, SignedDuration::from_secs(30))
                    .await
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let threads = threads_named(NAME);
    other.execute_batch("COMMIT").expect("the lock released");
    for receive in receives {
        let leased = runtime.block_on(receive).expect("the task ran");
        assert!(leased.expect("the receive succeeds").is_empty());
    }
    // One worker and one blocking thread (a few to spare), against one per operation.
    assert!(
        threads <= 4,
        "{threads} runtime threads while {WAITING} operations waited"
    );
}
