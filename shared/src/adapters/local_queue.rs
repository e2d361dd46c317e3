//! The persisted job queue of `herald serve`: the local stand-in for the SQS dispatch queue.
//!
//! Jobs live in their own SQLite database file (usually `<data-dir>/queue.db`, separate from
//! the main store because `herald serve --store dynamodb` uses the queue too), so they survive
//! the process. Delivery is at least once, with SQS's visibility-timeout model:
//!
//! - [`LocalQueue::receive`] leases up to `max` visible jobs, oldest first (insertion order):
//!   each becomes invisible until `now + visibility` and its `attempts` grows by one;
//! - [`LocalQueue::ack`] deletes a finished job; a job never acknowledged (its worker failed,
//!   or the process died) becomes visible again when its lease runs out and is delivered again;
//! - [`LocalQueue::retry_later`] makes a job visible again at a chosen instant (back-off);
//! - a job already delivered `max_attempts` times ([`DEFAULT_MAX_ATTEMPTS`] unless
//!   [`LocalQueue::with_max_attempts`] says otherwise), or whose body is not a [`Job`], is moved
//!   to the dead-letter table instead of being leased again ([`LocalQueue::dead`] lists them).
//!   Like SQS's `maxReceiveCount`, every delivery counts, including those after `retry_later`.
//!
//! Time is always passed in; the queue never reads the clock.
//!
//! One connection behind an async mutex; every operation is one transaction on
//! `tokio::task::spawn_blocking`, and writes take the write lock up front (`BEGIN IMMEDIATE`),
//! so two receivers — in this process or another one on the same file — never lease the same
//! job. WAL mode, `synchronous=NORMAL`, a busy timeout. An operation waits for the connection
//! as a task and takes a blocking thread only once it holds it, so operations queued behind a
//! slow one do not each hold a thread (see `bench/findings.md`, B3, session 15).
//!
//! ## Schema (`PRAGMA user_version` = 1, `PRAGMA application_id` = [`APPLICATION_ID`])
//!
//! | table       | columns                                          | key                  |
//! |-------------|--------------------------------------------------|----------------------|
//! | `jobs`      | `id, body, visible_at, attempts, enqueued_at`    | `id` (AUTOINCREMENT) |
//! | `dead_jobs` | `id, body, attempts, reason, died_at`            | `id` (the job's id)  |
//!
//! `body` is the serde JSON of the [`Job`]. Instants (`visible_at`, `died_at`) are integer
//! nanoseconds since the Unix epoch, clamped to the `i64` range; a new job is visible from
//! the beginning of time (`i64::MIN`). `enqueued_at` is SQLite's wall-clock time, for people
//! reading the file only. Ids are never reused (AUTOINCREMENT), so a late `ack` of a job
//! already gone cannot hit a newer one. A receive reads `jobs` in id order, skipping the few
//! leased or delayed rows at its head, so no extra index is needed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::Mutex;

use crate::ports::{Job, Queue, StoreError, StoreResult};

/// How many deliveries a job gets before it is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// `PRAGMA application_id` of a queue database ("HRLQ"), so that opening another SQLite file
/// (the main store, say) as a queue fails instead of adding tables to it.
pub const APPLICATION_ID: i32 = 0x4852_4C51;

/// How long a write waits for another connection (another process on the same file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        body        TEXT    NOT NULL,
        visible_at  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        enqueued_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );

    CREATE TABLE dead_jobs (
        id       INTEGER PRIMARY KEY,
        body     TEXT    NOT NULL,
        attempts INTEGER NOT NULL,
        reason   TEXT    NOT NULL,
        died_at  INTEGER NOT NULL
    );
    ",
];

/// The schema version this build writes.
const VERSION: i64 = MIGRATIONS.len() as i64;

/// A job handed to a worker until its lease runs out.
#[derive(Clone, Debug, PartialEq)]
pub struct Leased {
    /// The job's id in the queue, for [`LocalQueue::ack`] and [`LocalQueue::retry_later`].
    pub id: i64,
    pub job: Job,
    /// How many times the job has been delivered, this delivery included (1 the first time).
    pub attempts: u32,
}

/// A job moved out of the queue for good.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadJob {
    /// The id the job had in the queue.
    pub id: i64,
    /// The job, or `None` when its stored body is not a [`Job`] (then `body` says what it was).
    pub job: Option<Job>,
    /// The stored body as it was.
    pub body: String,
    /// Deliveries before it was moved.
    pub attempts: u32,
    /// Why it was moved: too many attempts, or a body that is not a job.
    pub reason: String,
    /// The `now` of the receive that moved it.
    pub died_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
enum QueueFileError {
    #[error(
        "the queue database has schema version {found}, newer than this Herald understands \
         ({VERSION}); upgrade Herald"
    )]
    SchemaTooNew { found: i64 },
    #[error("the file is not a Herald queue database (application_id {found:#x})")]
    NotAQueue { found: i32 },
}

/// The persisted local queue. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct LocalQueue {
    conn: Arc<Mutex<Connection>>,
    path: Option<Arc<PathBuf>>,
    max_attempts: u32,
}

impl fmt::Debug for LocalQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalQueue")
            .field("path", &self.path.as_deref())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl LocalQueue {
    /// Opens (creating it and its directory when missing) the queue database at `path` and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::setup(super::sqlite::open_wal(path)?, Some(path.to_path_buf()))
    }

    /// A private queue that lives as long as its clones (tests).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(StoreError::backend)?;
        Self::setup(conn, None)
    }

    /// The same queue with another dead-letter threshold: a job is delivered at most
    /// `max_attempts` times (at least once, whatever is given).
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How many deliveries a job gets before it is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The database file, `None` for an in-memory queue.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> StoreResult<Self> {
        let configure = |conn: &mut Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
        };
        configure(&mut conn).map_err(StoreError::backend)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.map(Arc::new),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    /// Leases up to `max` visible jobs (`visible_at <= now`), oldest first: each stays
    /// invisible until `now + visibility` (a negative `visibility` counts as zero) and its
    /// attempt count grows by one. A job already delivered `max_attempts` times, or whose body
    /// is not a job, is moved to the dead-letter table instead (with a warning) and the next
    /// one is taken. Returns fewer than `max` jobs when fewer are visible.
    pub async fn receive(
        &self,
        max: usize,
        now: Timestamp,
        visibility: SignedDuration,
    ) -> StoreResult<Vec<Leased>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max_attempts = self.max_attempts;
        self.run(Access::Write, move |tx| {
            lease(tx, max, now, visibility, max_attempts)
        })
        .await
    }

    /// Deletes a finished job. Acknowledging a job that is gone already is harmless.
    pub async fn ack(&self, id: i64) -> StoreResult<()> {
        self.run(Access::Write, move |tx| {
            let deleted = tx.execute("DELETE FROM jobs WHERE id = ?1", [id])?;
            if deleted == 0 {
                tracing::debug!(job_id = id, "acknowledged a job that is no longer queued");
            }
            Ok(())
        })
        .await
    }

    /// Makes a job visible again at `at` (its lease ends then, or it is delayed until then).
    /// Its attempt count is kept. Harmless for a job that is gone already.
    pub async fn retry_later(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        self.run(Access::Write, move |tx| {
            let updated = tx.execute(
                "UPDATE jobs SET visible_at = ?2 WHERE id = ?1",
                params![id, instant(at)],
            )?;
            if updated == 0 {
                tracing::debug!(job_id = id, "retry of a job that is no longer queued");
            }
            Ok(())
        })
        .await
    }

    /// Ends every lease at once: for the one consumer of the queue at its start (a restarted
    /// `herald serve`), whose previous process died holding leases. Delayed jobs become visible
    /// too. Returns how many jobs were made visible.
    pub async fn recover_leases(&self, now: Timestamp) -> StoreResult<u64> {
        self.run(Access::Write, move |tx| {
            let n = tx.execute(
                "UPDATE jobs SET visible_at = ?1 WHERE visible_at > ?1",
                params![instant(now)],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// Jobs in the queue, visible, leased or delayed (dead-lettered ones are not counted).
    pub async fn len(&self) -> StoreResult<u64> {
        self.run(Access::Read, |tx| {
            let n: i64 = tx.query_row("SELECT count(*) FROM jobs", [], |row| row.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// Whether no job is queued (visible, leased or delayed).
    pub async fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.len().await? == 0)
    }

    /// Every dead-lettered job, in id order.
    pub async fn dead(&self) -> StoreResult<Vec<DeadJob>> {
        self.run(Access::Read, |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, body, attempts, reason, died_at FROM dead_jobs ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(id, body, attempts, reason, died_at)| {
                    Ok(DeadJob {
                        id,
                        job: serde_json::from_str(&body).ok(),
                        body,
                        attempts: count(attempts),
                        reason,
                        died_at: from_instant(died_at)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Runs `f` in one transaction on the blocking pool; commits when it returns `Ok`, rolls
    /// back otherwise.
    async fn run<R, F>(&self, access: Access, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<R, Fail> + Send + 'static,
    {
        // Waits here, as a task, rather than on the blocking thread (see the module's notes).
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
        let outcome = tokio::task::spawn_blocking(move || -> Result<R, Fail> {
            // A panic while the lock was held rolled its transaction back (the transaction is
            // dropped while unwinding) and released the lock, so the connection is still usable.
            let behavior = match access {
                Access::Read => TransactionBehavior::Deferred,
                Access::Write => TransactionBehavior::Immediate,
            };
            let tx = conn.transaction_with_behavior(behavior)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(StoreError::backend)?;
        outcome.map_err(StoreError::from)
    }
}

impl Queue for LocalQueue {
    /// Adds the jobs in one transaction, in slice order; each is visible at once.
    async fn enqueue(&self, jobs: &[Job]) -> StoreResult<()> {
        self.insert(jobs, i64::MIN).await
    }

    /// Adds the jobs in one transaction, in slice order; each is visible from `at`.
    async fn enqueue_at(&self, jobs: &[Job], _now: Timestamp, at: Timestamp) -> StoreResult<()> {
        self.insert(jobs, instant(at)).await
    }
}

impl LocalQueue {
    async fn insert(&self, jobs: &[Job], visible_at: i64) -> StoreResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let bodies = jobs
            .iter()
            .map(|job| serde_json::to_string(job).map_err(StoreError::backend))
            .collect::<StoreResult<Vec<String>>>()?;
        self.run(Access::Write, move |tx| {
            let mut stmt =
                tx.prepare_cached("INSERT INTO jobs (body, visible_at) VALUES (?1, ?2)")?;
            for body in &bodies {
                stmt.execute(params![body, visible_at])?;
            }
            Ok(())
        })
        .await
    }
}

#[derive(Clone, Copy, Debug)]
enum Access {
    Read,
    Write,
}

/// What can go wrong inside a transaction.
#[derive(Debug)]
enum Fail {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Db(e) => StoreError::backend(e),
            Fail::Store(e) => e,
        }
    }
}

/// The body of [`LocalQueue::receive`], inside its write transaction.
fn lease(
    tx: &Transaction<'_>,
    max: usize,
    now: Timestamp,
    visibility: SignedDuration,
    max_attempts: u32,
) -> Result<Vec<Leased>, Fail> {
    let now_at = instant(now);
    let until = instant_after(now, visibility);
    let mut leased = Vec::with_capacity(max.min(256));
    loop {
        let want = max - leased.len();
        let fetch = i64::try_from(want).unwrap_or(i64::MAX);
        let candidates = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, body, attempts FROM jobs WHERE visible_at <= ?1 ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map(params![now_at, fetch], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
        };
        let exhausted = candidates.len() < want;
        let mut buried = 0usize;
        for (id, body, attempts) in candidates {
            let attempts = count(attempts);
            if attempts >= max_attempts {
                let reason = format!("gave up after {attempts} attempts");
                bury(tx, id, &body, attempts, &reason, now_at)?;
                buried += 1;
                continue;
            }
            let job = match serde_json::from_str::<Job>(&body) {
                Ok(job) => job,
                Err(e) => {
                    let reason = format!("the body is not a job: {e}");
                    bury(tx, id, &body, attempts, &reason, now_at)?;
                    buried += 1;
                    continue;
                }
            };
            tx.prepare_cached(
                "UPDATE jobs SET visible_at = ?2, attempts = attempts + 1 WHERE id = ?1",
            )?
            .execute(params![id, until])?;
            leased.push(Leased {
                id,
                job,
                attempts: attempts.saturating_add(1),
            });
        }
        // Dead-lettered rows left room for more; look again unless there was nothing more.
        if leased.len() >= max || exhausted || buried == 0 {
            return Ok(leased);
        }
    }
}

/// Moves a job to the dead-letter table.
fn bury(
    tx: &Transaction<'_>,
    id: i64,
    body: &str,
    attempts: u32,
    reason: &str,
    died_at: i64,
) -> Result<(), Fail> {
    tracing::warn!(
        job_id = id,
        attempts,
        reason,
        "moved a job to the dead-letter table"
    );
    tx.prepare_cached(
        "INSERT OR REPLACE INTO dead_jobs (id, body, attempts, reason, died_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, body, i64::from(attempts), reason, died_at])?;
    tx.prepare_cached("DELETE FROM jobs WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// An attempt count read from a column (never negative nor beyond `u32` in a file this module
/// wrote; anything else is clamped).
fn count(attempts: i64) -> u32 {
    u32::try_from(attempts.max(0)).unwrap_or(u32::MAX)
}

/// An instant as stored in a column: nanoseconds since the Unix epoch, clamped to `i64`.
fn instant(t: Timestamp) -> i64 {
    clamp(t.as_nanosecond())
}

/// `now + visibility` as stored in a column; a negative visibility counts as zero.
fn instant_after(now: Timestamp, visibility: SignedDuration) -> i64 {
    clamp(
        now.as_nanosecond()
            .saturating_add(visibility.as_nanos().max(0)),
    )
}

fn clamp(nanos: i128) -> i64 {
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn from_instant(nanos: i64) -> Result<Timestamp, Fail> {
    Timestamp::from_nanosecond(i128::from(nanos))
        .map_err(|e| Fail::Store(StoreError::Corrupt(format!("instant {nanos}: {e}"))))
}

/// Checks that the file is a queue database (or a new one) and applies every migration it has
/// not seen yet, in one transaction. Running it again (or from two processes) is harmless.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::backend)?;
    let application_id: i32 = tx
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(StoreError::backend)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::backend)?;
    let fresh = application_id == 0 && found == 0 && !has_tables(&tx)?;
    if application_id != APPLICATION_ID && !fresh {
        return Err(StoreError::backend(QueueFileError::NotAQueue {
            found: application_id,
        }));
    }
    if found > VERSION {
        return Err(StoreError::backend(QueueFileError::SchemaTooNew { found }));
    }
    if found == VERSION {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let reaches = index as i64 + 1;
        if reaches > found {
            tx.execute_batch(sql).map_err(StoreError::backend)?;
            tracing::info!(schema_version = reaches, "migrated the local queue");
        }
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(StoreError::backend)?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(StoreError::backend)?;
    tx.commit().map_err(StoreError::backend)
}

fn has_tables(tx: &Transaction<'_>) -> StoreResult<bool> {
    tx.query_row(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1",
        [],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(StoreError::backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExecutionId;

    fn plan() -> Job {
        Job::Plan {
            execution_id: ExecutionId::new(),
        }
    }

    fn insert_raw(queue: &LocalQueue, body: &str) {
        let conn = queue.conn.try_lock().unwrap();
        conn.execute(
            "INSERT INTO jobs (body, visible_at) VALUES (?1, ?2)",
            params![body, i64::MIN],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_job_is_dead_lettered_and_the_next_job_is_leased() {
        let queue = LocalQueue::open_in_memory().unwrap();
        insert_raw(&queue, "{\"job\":\"unheardOf\"}");
        insert_raw(&queue, "not json at all");
        let good = plan();
        queue.enqueue(std::slice::from_ref(&good)).await.unwrap();

        let leased = queue
            .receive(1, Timestamp::UNIX_EPOCH, SignedDuration::from_secs(30))
            .await
            .unwrap();

        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].job, good);
        let dead = queue.dead().await.unwrap();
        assert_eq!(dead.len(), 2);
        assert!(dead.iter().all(|d| d.job.is_none()));
        assert_eq!(dead[1].body, "not json at all");
        assert!(dead[1].reason.contains("not a job"), "{}", dead[1].reason);
        assert_eq!(queue.len().await.unwrap(), 1);
    }

    #[test]
    fn migrating_twice_changes_nothing_the_second_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
    }

    #[test]
    fn another_sqlite_database_is_refused_as_a_queue() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE records (key TEXT); PRAGMA user_version = 2;")
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
