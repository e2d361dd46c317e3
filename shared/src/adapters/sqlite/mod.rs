//! The SQLite store: every port of [`Store`](crate::ports::Store) and of
//! [`ExecutionStores`](crate::ports::ExecutionStores) in one database file, used by `herald serve`
//! (the file lives in its data directory).
//!
//! Every port method is one atomic operation. One write connection, shared behind a mutex and
//! used by the writer thread: every write is queued for it, and it runs every operation waiting
//! in one transaction (`BEGIN IMMEDIATE`), each in a savepoint of its own (a failed one is
//! rolled back alone; the outcome counters the group's writes add are summed and added once
//! per counter before the commit, see `counts`), commits once and then answers each caller
//! (group commit: under load, one WAL append, one checkpoint share and one set of file locks
//! for many writes; a write alone still commits at once, and under load a group waits up to
//! `COMMIT_DELAY` to fill). A lookup of a few rows runs on the calling thread, on the write
//! connection when it is free; lookups that find it busy, and reads over many rows, run on
//! read connections of the database file (WAL lets them read while the writer writes).
//! Connections run in WAL mode with `synchronous=NORMAL`, a busy timeout, foreign keys on,
//! and checkpoint every [`WAL_AUTOCHECKPOINT_PAGES`] pages of log; a checkpointer thread
//! copies the log into the database file every `CHECKPOINT_INTERVAL` in between, so the
//! writer's checkpoint finds little left to copy (see `checkpoint_loop`). Statements are
//! prepared once per connection and cached.
//!
//! ## Schema (`PRAGMA user_version` = 5)
//!
//! Bodies are the serde JSON of the domain type; ids are stored in their text form (UUIDs sort
//! the same as text), so every page is ordered by key with plain `ORDER BY`.
//!
//! | table              | columns                               | key                          |
//! |--------------------|---------------------------------------|------------------------------|
//! | `records`          | `kind, key, revision, body`           | `(kind, key)`                |
//! | `campaigns`        | `id, revision, body`                  | `id`                         |
//! | `campaign_versions`| `campaign_id, version, body`          | `(campaign_id, version)`, FK → `campaigns` on delete cascade |
//! | `profiles`         | `id, revision, body`                  | `id`                         |
//! | `identities`       | `namespace, value, profile_id`        | `(namespace, value)`, index on `profile_id`, FK → `profiles` on delete cascade |
//! | `audience_members` | `audience_id, profile_id`             | `(audience_id, profile_id)`  |
//! | `suppressions`     | `channel, address, body`              | `(channel, address)`         |
//! | `requests`         | `seq, campaign_id, request_id, body_hash, execution_id, lease_until, expires_at, response` | `seq` (rowid, arrival order), unique `(campaign_id, request_id)` |
//! | `executions`       | `id, revision, body`                  | `id`                         |
//! | `messages`         | `seq, id, execution_id, outcome, provider_id, body` | `seq` (rowid, claim order), unique `id`, indexes on `(execution_id, seq)` and `provider_id` |
//! | `counters`         | `scope, name, value`                  | `(scope, name)`              |
//! | `caps`             | `key, count, expires_at`              | `key`                        |
//! | `paces`            | `campaign_id, next`                   | `campaign_id`                |
//! | `schedules`        | `id, status, execute_at, body`        | `id`, index on `(status, execute_at, id)` |
//! | `holds`            | `message_id, release_at, body`        | `message_id`, index on `(release_at, message_id)` |
//!
//! Instants in columns (`lease_until`, `expires_at`, `execute_at`, `release_at`) are integer
//! nanoseconds since the Unix epoch, clamped to the `i64` range (years 1677 to 2262) so SQL
//! compares them in order; the bodies keep the exact values. Counter scopes are
//! `execution:<id>` and `campaign:<id>:<version>`. Schema version 1 databases (admin side only)
//! are upgraded in place on open.
//!
//! Expired `requests` and `caps` rows are deleted by the tick (`expiry`, a window of rows at a
//! time), standing in for DynamoDB's TTL; until then reads treat them as absent.
//!
//! `records` holds channel configurations, rule sets and audiences (`kind` is
//! [`Record::KIND`](crate::ports::Record::KIND)). Conditions (a key must be free, a revision must
//! still match) are checked inside the writing transaction, never by a read before it.
//!
//! Page cursors are the last key returned (`channel:address` for suppressions, listed channel
//! by channel in `Channel` order: email, sms, push). A cursor that is not a key is read as a
//! position to start after (for suppressions, one naming no channel is past the end). An
//! execution's messages are listed in claim order, and their cursor is the last `seq` returned:
//! one that is not a number is refused.

mod acceptance;
mod campaigns;
mod caps;
mod counts;
mod executions;
mod expiry;
mod holds;
mod members;
mod messages;
mod paces;
mod profiles;
mod records;
mod schedules;
mod schema;
mod suppressions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, mpsc};
use std::time::{Duration, Instant};

use counts::Staged;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, ToSql, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{Conflict, Page, StoreError, StoreResult};

/// How long a write waits for another connection (another process on the same file) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;
/// Pages (4 KB) of write-ahead log after which a commit copies the log back into the database
/// file; SQLite's default is 1,000. A checkpoint reads every distinct page of the log, writes it
/// to the database and syncs both files, on the thread of the commit that triggered it; ten
/// times fewer of them write each often-changed page (counters, index pages) once instead of
/// ten times. On the audience fan-out benchmark (B3, about 7 log pages per message) 10,000
/// pages ran the fan-out about 1.5× faster than 1,000. The log file stays under about 40 MB.
/// Much larger logs slow every read down again (a page lookup scans the log's index).
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// How often the checkpointer thread copies the write-ahead log into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);
/// Write operations committed together at most (the writer takes every one waiting, up to this).
const GROUP_MAX: usize = 256;
/// How long a group waits, under load, for as many writes as the group before it held. Every
/// commit writes the pages all writes share (counters, the tables' last pages, index interior
/// pages) to the log again. In the audience fan-out benchmark (B3) groups held about 13 writes;
/// waiting up to 500 µs, they hold about 27, so the log is written half as often. Throughput
/// moved within this machine's noise, and unitary triggers (B2) kept their throughput and
/// latency (see `bench/findings.md`).
const COMMIT_DELAY: Duration = Duration::from_micros(500);
/// The size of group after which the next one waits ([`COMMIT_DELAY`]): the store is loaded.
const COMMIT_SIBLINGS: usize = 8;
/// Idle read connections kept open for reuse (more are opened while more reads run at once).
const IDLE_READERS: usize = 8;

/// The SQLite store. Cheap to clone: clones share one writer and one pool of readers.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    /// Read connections of a database file; `None` in memory, where reads go to the writer.
    readers: Option<Arc<Readers>>,
    path: Option<Arc<PathBuf>>,
    /// Where the next [`purge_expired`](crate::ports::ExpiryStore::purge_expired) starts.
    purge: Arc<Mutex<expiry::PurgeCursor>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path.as_deref())
            .finish_non_exhaustive()
    }
}

/// Opens (creating it and its directory when missing) a database file in WAL mode; shared by
/// the store and the local job queue.
pub(crate) fn open_wal(path: &Path) -> StoreResult<Connection> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
    }
    let conn = Connection::open(path).map_err(StoreError::backend)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(StoreError::backend)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, path = %path.display(), "SQLite refused WAL mode");
    }
    Ok(conn)
}

/// Another connection to the store's database file, configured as every other.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    configure(&mut conn)?;
    Ok(conn)
}

/// The settings of every connection of the store.
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating it and its directory when missing) the database file at `path` and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        Self::setup(
            open_wal(path)?,
            Some(Arc::new(readers)),
            Some(path.to_path_buf()),
        )
    }

    /// A private database that lives as long as the store (tests).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(StoreError::backend)?;
        Self::setup(conn, None, None)
    }

    /// The database file, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    fn setup(
        mut conn: Connection,
        readers: Option<Arc<Readers>>,
        path: Option<PathBuf>,
    ) -> StoreResult<Self> {
        configure(&mut conn).map_err(StoreError::backend)?;
        schema::migrate(&mut conn)?;
        // A file has a log to copy: a checkpointer runs until the writer (every clone of the
        // store) is gone, which drops its sender.
        let checkpoints = match &path {
            Some(path) => {
                let conn = connect(path).map_err(StoreError::backend)?;
                let (running, stop) = mpsc::channel::<()>();
                std::thread::Builder::new()
                    .name("herald-sqlite-checkpointer".into())
                    .spawn(move || checkpoint_loop(&conn, &stop))
                    .map_err(StoreError::backend)?;
                Some(running)
            }
            None => None,
        };
        Ok(Self {
            writer: Arc::new(Writer::start(conn, checkpoints)?),
            readers,
            path: path.map(Arc::new),
            purge: Arc::default(),
        })
    }

    /// Runs `f` as one atomic operation: its writes are all kept when it returns `Ok` and none
    /// when it returns an error or panics (a panic is an error).
    ///
    /// Every write ([`Access::Write`]) goes to the writer thread, which commits the operations
    /// of all callers waiting for it in one transaction (group commit), each inside a savepoint
    /// of its own, and answers each after that commit. (Writes used to run on the calling
    /// thread when the connection was free: that blocked an async worker for the commit and
    /// kept group commits small; B2 and B3 are faster this way, see docs/benchmarks.md.) A
    /// lookup ([`Access::Read`]) runs right here, in a transaction of its own, when the write
    /// connection is free: handing it to another thread costs more than the statement. A lookup
    /// that finds it busy runs on a read connection of the database file (WAL lets readers read
    /// while the writer writes; in memory there is none, and it waits for the writer); a
    /// [`Access::Scan`] runs on a read connection on the blocking pool.
    async fn run<R, F>(&self, access: Access, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R, Fail> + Send + 'static,
    {
        if let Access::Read = access
            && let Some(conn) = self.writer.try_connection()
        {
            return guarded(move || read_in(&conn, f));
        }
        match (&self.readers, access) {
            (Some(readers), Access::Read) => guarded(|| readers.read(f)),
            (Some(readers), Access::Scan) => {
                let readers = Arc::clone(readers);
                tokio::task::spawn_blocking(move || guarded(|| readers.read(f)))
                    .await
                    .map_err(StoreError::backend)?
            }
            _ => self.writer.submit(f).await,
        }
    }
}

/// Read connections of a database file, opened when needed and kept for reuse.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Runs `f` in a read transaction on an idle connection (a new one when none is idle).
    fn read<R>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, Fail>) -> Result<R, Fail> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        let out = read_in(&conn, f);
        // A connection whose read failed part-way is dropped rather than reused.
        if out.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        out
    }
}

/// A read transaction around `f`, begun and committed with prepared statements (a
/// `BEGIN`/`COMMIT` batch of SQL text is parsed on every call: 2.8% of the trigger workers'
/// time in B2's profile). Rolled back when `f` fails, when the commit does, or when `f` panics,
/// so the connection is left outside any transaction for its next user.
fn read_in<R>(conn: &Connection, f: impl FnOnce(&Tx<'_>) -> Result<R, Fail>) -> Result<R, Fail> {
    /// Ends a transaction still open when dropped.
    struct Open<'c>(&'c Connection);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            if !self.0.is_autocommit() {
                let _ = execute_cached(self.0, "ROLLBACK");
            }
        }
    }
    execute_cached(conn, "BEGIN")?;
    let _open = Open(conn);
    let out = f(&Tx::alone(conn))?;
    execute_cached(conn, "COMMIT")?;
    Ok(out)
}

/// Runs a statement without parameters, prepared once per connection.
fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `f`, turning a panic into an error (as `spawn_blocking` reports one).
fn guarded<R>(f: impl FnOnce() -> Result<R, Fail>) -> StoreResult<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(outcome) => outcome.map_err(StoreError::from),
        Err(_) => Err(panicked()),
    }
}

fn panicked() -> StoreError {
    StoreError::backend(std::io::Error::other("a SQLite store operation panicked"))
}

/// The transaction a port method's closure runs in (it derefs to its connection, inside the
/// transaction: a read's own, or the writer's group's), and where the counter
/// additions it makes go: in the writer's groups they are staged and added once per counter
/// when the group commits ([`Staged`]); elsewhere they are added at once.
pub(super) struct Tx<'t> {
    /// The connection, inside the transaction.
    tx: &'t Connection,
    counts: Option<&'t Staged>,
}

impl<'t> Tx<'t> {
    /// A transaction of its own, outside the writer's groups.
    fn alone(tx: &'t Connection) -> Self {
        Self { tx, counts: None }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.tx
    }
}

/// An operation sent to the writer: runs inside the group's transaction and returns whether it
/// failed (its savepoint is then rolled back) and how to answer its caller once the group's
/// commit is known.
type Op = Box<dyn FnOnce(&Tx<'_>) -> Ran + Send>;

struct Ran {
    failed: bool,
    answer: Answer,
}

/// Answers an operation's caller, given the group's commit (`Err(why)` when it did not commit).
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// The write connection, and the thread that commits queued operations on it in groups.
struct Writer {
    conn: Arc<Mutex<Connection>>,
    ops: mpsc::Sender<Op>,
    /// Write transactions begun (tests check that waiting writes share one).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    groups: Arc<AtomicU64>,
    /// Keeps the checkpointer (of a database file) running; dropped with the writer.
    _checkpoints: Option<mpsc::Sender<()>>,
}

impl Writer {
    fn start(conn: Connection, checkpoints: Option<mpsc::Sender<()>>) -> StoreResult<Self> {
        let conn = Arc::new(Mutex::new(conn));
        let (ops, inbox) = mpsc::channel::<Op>();
        let groups = Arc::new(AtomicU64::new(0));
        let (shared, counter) = (Arc::clone(&conn), Arc::clone(&groups));
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || write_loop(&shared, &inbox, &counter))
            .map_err(StoreError::backend)?;
        Ok(Self {
            conn,
            ops,
            groups,
            _checkpoints: checkpoints,
        })
    }

    /// The write connection, when nobody is using it.
    fn try_connection(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(conn) => Some(conn),
            // A panic while the lock was held rolled its transaction back (the transaction is
            // dropped while unwinding), so the connection is still usable.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Sends `f` to the writer and waits for its answer.
    async fn submit<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R, Fail> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<StoreResult<R>>();
        let op: Op = Box::new(move |tx| {
            let out = in_savepoint(tx, f);
            Ran {
                failed: out.is_err(),
                answer: Box::new(move |committed| {
                    let result = match (out, committed) {
                        (Err(e), _) => Err(e),
                        (Ok(_), Err(why)) => Err(StoreError::backend(std::io::Error::other(
                            format!("the write was not committed: {why}"),
                        ))),
                        (Ok(r), Ok(())) => Ok(r),
                    };
                    // The caller may have gone (its future was dropped): nothing to tell.
                    let _ = reply.send(result);
                }),
            }
        });
        self.ops
            .send(op)
            .map_err(|_| StoreError::backend(std::io::Error::other("the SQLite writer stopped")))?;
        answer.await.map_err(|_| {
            StoreError::backend(std::io::Error::other(
                "the SQLite writer dropped an operation",
            ))
        })?
    }
}

/// Runs `f` inside a savepoint of the group's transaction: released when it succeeds, rolled
/// back (its writes and its staged counts undone, the group's others kept) when it fails or
/// panics.
fn in_savepoint<R>(tx: &Tx<'_>, f: impl FnOnce(&Tx<'_>) -> Result<R, Fail>) -> StoreResult<R> {
    // Prepared once (a batch of SQL text is parsed on every call): two statements per write.
    execute_cached(tx, "SAVEPOINT op").map_err(StoreError::backend)?;
    let staged = tx.counts.map(Staged::mark);
    let out = guarded(|| f(tx));
    let end = if out.is_ok() {
        execute_cached(tx, "RELEASE op")
    } else {
        if let (Some(counts), Some(mark)) = (tx.counts, staged) {
            counts.undo_to(mark);
        }
        tx.execute_batch("ROLLBACK TO op; RELEASE op")
    };
    match end {
        Ok(()) => out,
        Err(e) => Err(out.err().unwrap_or_else(|| StoreError::backend(e))),
    }
}

/// The writer's loop: waits for an operation, takes the others of its group ([`gather`]), runs
/// them in one `BEGIN IMMEDIATE` transaction, commits, then answers each. Ends when every sender
/// (every clone of the store) is gone.
fn write_loop(conn: &Mutex<Connection>, inbox: &mpsc::Receiver<Op>, groups: &AtomicU64) {
    let mut previous = 0;
    while let Ok(first) = inbox.recv() {
        let batch = gather(inbox, first, previous, COMMIT_DELAY);
        previous = batch.len();
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        groups.fetch_add(1, Ordering::Relaxed);
        let mut answers = Vec::with_capacity(batch.len());
        let committed = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => {
                let counts = Staged::default();
                let group = Tx {
                    tx: &tx,
                    counts: Some(&counts),
                };
                for op in batch {
                    let ran = op(&group);
                    answers.push(ran.answer);
                    // An error that ended the whole transaction (SQLite rolls back on a full
                    // disk, an I/O error, running out of memory) undid the others too.
                    if ran.failed && tx.is_autocommit() {
                        break;
                    }
                }
                if tx.is_autocommit() {
                    Err("the transaction was rolled back by an error".to_string())
                } else if let Err(e) = counts.flush(&tx) {
                    // Dropping the transaction rolls the whole group back.
                    Err(format!(
                        "the group's counts could not be added: {}",
                        StoreError::from(e)
                    ))
                } else {
                    tx.commit().map_err(|e| e.to_string())
                }
            }
            Err(e) => {
                // The operations are dropped unrun: each caller gets an error.
                tracing::error!(error = %e, operations = batch.len(), "SQLite could not begin a write transaction");
                continue;
            }
        };
        for answer in answers {
            answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// The operations of the next group: `first`, then every one already waiting, up to
/// [`GROUP_MAX`]. Under load, when the `previous` group held at least [`COMMIT_SIBLINGS`], it
/// first waits up to `delay` for as many as that group held (PostgreSQL's `commit_delay` and
/// `commit_siblings`), so that groups grow with the load instead of being cut short by the
/// writer's own pace; a write of a quiet store never waits.
fn gather<T>(inbox: &mpsc::Receiver<T>, first: T, previous: usize, delay: Duration) -> Vec<T> {
    let mut group = vec![first];
    if previous >= COMMIT_SIBLINGS {
        let deadline = Instant::now() + delay;
        while group.len() < previous.min(GROUP_MAX) {
            match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
    }
    while group.len() < GROUP_MAX {
        match inbox.try_recv() {
            Ok(op) => group.push(op),
            Err(_) => break,
        }
    }
    group
}

/// Copies committed pages from the write-ahead log into the database file, every
/// [`CHECKPOINT_INTERVAL`], on a connection and thread of its own, until the store is gone.
///
/// A passive checkpoint never blocks the writer or a reader. Without this thread every copy
/// ran on the writer's commit that crossed [`WAL_AUTOCHECKPOINT_PAGES`], and every write waited
/// behind it: measured during B2, 6 checkpoints a second of 31 ms each, a fifth of the writer's
/// time, which was the p90/p99 tail. The writer's automatic checkpoint stays: the log starts
/// over only after a checkpoint with no commit in between, which only the writer's own can be,
/// so it is what bounds the log's size; it now finds almost everything copied already.
fn checkpoint_loop(conn: &Connection, stop: &mpsc::Receiver<()>) {
    // Nothing is ever sent: the wait ends by timing out, or when the store is gone.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_INTERVAL) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the writer's own will copy the log");
        }
    }
}

/// What a port method does to the database, which decides where it runs.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// A lookup of a few rows by key.
    Read,
    /// A write (of a few rows by key, or of many: audience members).
    Write,
    /// A read of up to a page of rows, or of a whole index range (a count).
    Scan,
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

impl From<Conflict> for Fail {
    fn from(c: Conflict) -> Self {
        Fail::Store(StoreError::Conflict(c))
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

/// SQLite integers are signed; revisions and versions beyond `i64::MAX` are refused.
fn int(value: u64) -> Result<i64, Fail> {
    i64::try_from(value).map_err(|e| Fail::Store(StoreError::backend(e)))
}

/// An instant as stored in a column: nanoseconds since the Unix epoch, clamped to the `i64`
/// range so that comparisons in SQL stay in order.
fn instant(t: Timestamp) -> i64 {
    let nanos = t.as_nanosecond();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn from_instant(nanos: i64) -> StoreResult<Timestamp> {
    Timestamp::from_nanosecond(i128::from(nanos))
        .map_err(|e| StoreError::Corrupt(format!("instant {nanos}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

fn decode<T: DeserializeOwned>(what: &str, body: &str) -> StoreResult<T> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The comparison and bound for "keys after the cursor": `key > cursor`, or `key >= ''` (every
/// key) on the first page.
fn after(cursor: Option<&str>) -> (&'static str, String) {
    match cursor {
        Some(c) => (">", c.to_string()),
        None => (">=", String::new()),
    }
}

/// Rows read with `LIMIT limit + 1`, as `(cursor, body)`; cut to `limit`, with the cursor of
/// the last kept row when there was one more.
fn cut(mut rows: Vec<(String, String)>, limit: usize) -> (Vec<String>, Option<String>) {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(cursor, _)| cursor.clone())
    } else {
        None
    };
    (rows.into_iter().map(|(_, body)| body).collect(), next)
}

/// Runs a query whose columns are `(cursor, body)` and whose last parameter is the row limit
/// (appended here as `fetch`).
fn query_rows(
    tx: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    fetch: usize,
) -> Result<Vec<(String, String)>, Fail> {
    let fetch = int(fetch as u64)?;
    let mut all: Vec<&dyn ToSql> = params.to_vec();
    all.push(&fetch);
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt
        .query_map(all.as_slice(), |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    Ok(rows)
}

/// One page from a [`query_rows`] query: reads `limit + 1` rows to learn whether another page
/// follows.
fn query_page(
    tx: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    limit: usize,
) -> Result<(Vec<String>, Option<String>), Fail> {
    Ok(cut(query_rows(tx, sql, params, limit + 1)?, limit))
}

/// The bodies `sql` (one key parameter, at most one row) finds for each of `keys`, in one
/// transaction: what a batch looks up before it runs, read together rather than one
/// transaction (and, under writes, one cold page cache) per key.
fn bodies_by_key(tx: &Connection, sql: &str, keys: Vec<String>) -> Result<Vec<String>, Fail> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut bodies = Vec::with_capacity(keys.len());
    for key in keys {
        bodies.extend(
            stmt.query_row([key], |row| row.get::<_, String>(0))
                .optional()?,
        );
    }
    Ok(bodies)
}

/// Decodes the bodies of one page.
fn decode_page<T: DeserializeOwned>(
    what: &str,
    (bodies, next): (Vec<String>, Option<String>),
) -> StoreResult<Page<T>> {
    let items = bodies
        .iter()
        .map(|b| decode(what, b))
        .collect::<StoreResult<Vec<T>>>()?;
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PageRequest;

    impl SqliteStore {
        /// Runs `f` on the writer's connection, inside a write (tests).
        async fn on_writer<R: Send + 'static>(
            &self,
            f: impl FnOnce(&Connection) -> R + Send + 'static,
        ) -> R {
            self.run(Access::Write, move |tx| Ok(f(tx))).await.unwrap()
        }
    }

    /// An inbox holding `waiting` operations (numbered from 1), and its sender.
    fn inbox(waiting: usize) -> (mpsc::Sender<usize>, mpsc::Receiver<usize>) {
        let (tx, rx) = mpsc::channel();
        for n in 1..=waiting {
            tx.send(n).unwrap();
        }
        (tx, rx)
    }

    #[test]
    fn a_group_takes_what_is_waiting_and_no_more_than_its_maximum() {
        let (_tx, rx) = inbox(GROUP_MAX + 10);
        let group = gather(&rx, 0, 0, Duration::from_secs(60));
        assert_eq!(group.len(), GROUP_MAX);
        assert_eq!(group[..3], [0, 1, 2]);
        // The rest waits for the next group, in order.
        let next = gather(&rx, 999, 0, Duration::from_secs(60));
        assert_eq!(
            next,
            [999]
                .into_iter()
                .chain(GROUP_MAX..=GROUP_MAX + 10)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_write_of_a_quiet_store_does_not_wait_for_others() {
        let (tx, rx) = inbox(2);
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(99).unwrap();
        });
        // The group before held fewer than COMMIT_SIBLINGS: nothing is waited for, even with a
        // minute allowed.
        let group = gather(&rx, 0, COMMIT_SIBLINGS - 1, Duration::from_secs(60));
        assert_eq!(group, [0, 1, 2]);
        late.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(99));
    }

    #[test]
    fn under_load_a_group_waits_for_as_many_as_the_group_before_it_and_no_longer() {
        let previous = COMMIT_SIBLINGS + 2;
        let (tx, rx) = inbox(2);
        let late = std::thread::spawn(move || {
            for n in 3..=previous + 5 {
                std::thread::sleep(Duration::from_millis(2));
                if tx.send(n).is_err() {
                    break;
                }
            }
        });
        // A minute allowed, yet the group is complete as soon as `previous` have arrived.
        let started = Instant::now();
        let group = gather(&rx, 0, previous, Duration::from_secs(60));
        assert!(group.len() >= previous, "{group:?}");
        assert_eq!(group[..previous], (0..previous).collect::<Vec<_>>()[..]);
        assert!(started.elapsed() < Duration::from_secs(30));
        late.join().unwrap();
    }

    #[test]
    fn under_load_a_group_waits_no_longer_than_the_delay() {
        let (_tx, rx) = inbox(1);
        // Nothing else comes: the group goes with what it has once the delay is over.
        let group = gather(&rx, 0, GROUP_MAX, Duration::from_millis(20));
        assert_eq!(group, [0, 1]);
    }

    #[test]
    fn a_page_of_more_rows_than_the_limit_is_cut_and_points_at_its_last_row() {
        let rows = (1..=4)
            .map(|i| (format!("k{i}"), format!("b{i}")))
            .collect();
        let (bodies, next) = cut(rows, 3);
        assert_eq!(bodies, ["b1", "b2", "b3"]);
        assert_eq!(next.as_deref(), Some("k3"));
    }

    #[test]
    fn a_page_within_the_limit_has_no_next_cursor() {
        let rows = vec![("k1".to_string(), "b1".to_string())];
        assert_eq!(cut(rows, 1), (vec!["b1".to_string()], None));
    }

    #[test]
    fn a_zero_limit_means_the_default_and_large_limits_are_capped() {
        assert_eq!(PageRequest::first(0).effective_limit(), 50);
        assert_eq!(PageRequest::first(7).effective_limit(), 7);
        assert_eq!(PageRequest::first(u32::MAX).effective_limit(), 1000);
    }

    #[tokio::test]
    async fn reopening_a_database_file_keeps_its_data_and_schema_version() {
        use crate::domain::Channel;
        use crate::ports::SuppressionStore;

        let dir = std::env::temp_dir().join(format!("herald-sqlite-{}", uuid::Uuid::new_v4()));
        let path = dir.join("nested").join("herald.db");
        let s = manual_suppression(crate::domain::Channel::Email, "ann@example.com");
        {
            let store = SqliteStore::open(&path).unwrap();
            assert!(store.put_suppression(&s).await.unwrap());
        }
        let store = SqliteStore::open(&path).unwrap();
        let got = store
            .get_suppression(Channel::Email, "ann@example.com")
            .await
            .unwrap();
        assert_eq!(got, Some(s));
        let version: i64 = store
            .on_writer(|conn| {
                conn.pragma_query_value(None, "user_version", |r| r.get(0))
                    .unwrap()
            })
            .await;
        assert_eq!(version, schema::VERSION);
        let mode: String = store
            .on_writer(|conn| {
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .unwrap()
            })
            .await;
        assert_eq!(mode, "wal");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_execution_side_queries_run_along_their_indexes_without_sorting() {
        let store = SqliteStore::open_in_memory().unwrap();
        for (sql, index) in [
            (messages::LIST_BY_EXECUTION, "messages_by_execution"),
            (messages::FIND_BY_PROVIDER_ID, "messages_by_provider_id"),
            (schedules::DUE, "schedules_by_status_and_time"),
            (holds::DUE, "holds_by_release_time"),
        ] {
            let plan = store
                .on_writer(move |conn| {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                    let mut rows = stmt.raw_query();
                    let mut details = Vec::new();
                    while let Some(row) = rows.next().unwrap() {
                        details.push(row.get::<_, String>(3).unwrap());
                    }
                    details.join("; ")
                })
                .await;
            assert!(plan.contains(index), "{sql}\n=> {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\n=> {plan}");
        }
    }

    #[tokio::test]
    async fn committed_writes_reach_the_database_file_without_the_writers_checkpoint() {
        use crate::domain::{Channel, Suppression, SuppressionReason};
        use crate::ports::SuppressionStore;

        let (db, store) = TempDb::new();
        // A few pages of log: far below the writer's automatic checkpoint.
        for i in 0..20 {
            let suppression = Suppression {
                channel: Channel::Email,
                address: format!("user{i}@example.com"),
                reason: SuppressionReason::Manual,
                note: None,
                created_at: jiff::Timestamp::UNIX_EPOCH,
            };
            store.put_suppression(&suppression).await.unwrap();
        }
        // The database file alone (copied without its log) holds them once the checkpointer
        // has run.
        let file = db.0.join("herald.db");
        let copy = db.0.join("copy.db");
        let mut in_file = 0;
        for _ in 0..100 {
            tokio::time::sleep(CHECKPOINT_INTERVAL).await;
            std::fs::copy(&file, &copy).unwrap();
            // Before the first checkpoint the file does not even hold the schema.
            in_file = Connection::open(&copy)
                .unwrap()
                .query_row("SELECT count(*) FROM suppressions", [], |r| r.get(0))
                .unwrap_or(0);
            if in_file == 20 {
                break;
            }
        }
        assert_eq!(in_file, 20, "the checkpointer copied the log into the file");
        drop(store);
    }

    #[tokio::test]
    async fn finding_profiles_by_identity_prepares_its_statement_once() {
        use crate::domain::{Identity, Profile};
        use crate::ports::ProfileStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let people = ["ann", "bob", "cy"];
        for name in people {
            let profile: Profile = serde_json::from_value(serde_json::json!({
                "id": crate::domain::ProfileId::new(),
                "identities": {"email": format!("{name}@example.com")},
                "revision": 1,
                "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
            }))
            .unwrap();
            store
                .save_profile(&profile, None, &profile.identity_list(), &[])
                .await
                .unwrap();
        }
        for name in people.iter().chain(&["nobody"]) {
            let identity = Identity::parse("email", &format!("{name}@example.com")).unwrap();
            let found = store.find_profile(&identity).await.unwrap();
            assert_eq!(found.is_some(), *name != "nobody", "{name}");
        }
        // Each lookup ran on the (free) write connection, with its cached statement.
        let (runs, reprepared) = store
            .on_writer(|conn| {
                let stmt = conn.prepare_cached(profiles::FIND_BY_IDENTITY).unwrap();
                (
                    stmt.get_status(rusqlite::StatementStatus::Run),
                    stmt.get_status(rusqlite::StatementStatus::RePrepare),
                )
            })
            .await;
        assert_eq!(runs, 4, "every lookup ran the cached statement");
        assert_eq!(reprepared, 0, "a new binding must not re-prepare it");
    }

    #[tokio::test]
    async fn a_panic_inside_an_operation_is_an_error_and_the_store_keeps_working() {
        use crate::ports::SuppressionStore;

        let store = SqliteStore::open_in_memory().unwrap();
        for access in [Access::Write, Access::Scan] {
            let err = store
                .run(access, |_tx| -> Result<(), Fail> { panic!("boom") })
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        }
        let got = store
            .get_suppression(crate::domain::Channel::Email, "ann@example.com")
            .await
            .unwrap();
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn reads_begin_and_commit_with_prepared_statements_and_a_failed_one_ends_its_transaction()
    {
        use crate::ports::SuppressionStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let read = |how: &'static str| {
            store.run(Access::Read, move |tx| -> Result<i64, Fail> {
                let n = tx.query_row("SELECT count(*) FROM suppressions", [], |r| r.get(0))?;
                match how {
                    "fails" => Err(Fail::Db(rusqlite::Error::QueryReturnedNoRows)),
                    "panics" => panic!("boom"),
                    _ => Ok(n),
                }
            })
        };
        assert_eq!(read("reads").await.unwrap(), 0);
        assert!(read("fails").await.is_err());
        assert!(read("panics").await.is_err());
        // Neither left a transaction open on the (write) connection: writes still commit.
        let s = manual_suppression(crate::domain::Channel::Email, "ann@example.com");
        assert!(store.put_suppression(&s).await.unwrap());
        assert_eq!(read("reads").await.unwrap(), 1);
        let conn = store.writer.try_connection().expect("the writer is idle");
        let runs = |sql| {
            conn.prepare_cached(sql)
                .unwrap()
                .get_status(rusqlite::StatementStatus::Run)
        };
        let (begun, committed) = (runs("BEGIN"), runs("COMMIT"));
        assert!(conn.is_autocommit(), "no transaction is left open");
        assert_eq!(begun, 4, "every read began with the prepared statement");
        assert_eq!(
            committed, 2,
            "the two reads that succeeded committed with it"
        );
    }

    /// A suppression added by hand at the epoch.
    fn manual_suppression(
        channel: crate::domain::Channel,
        address: &str,
    ) -> crate::domain::Suppression {
        crate::domain::Suppression {
            channel,
            address: address.into(),
            reason: crate::domain::SuppressionReason::Manual,
            note: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Rows of the `counters` table in `scope` (the tests' marker rows).
    async fn counter_rows(store: &SqliteStore, scope: &'static str) -> i64 {
        store
            .on_writer(move |conn| {
                conn.query_row(
                    "SELECT count(*) FROM counters WHERE scope = ?1",
                    [scope],
                    |r| r.get(0),
                )
                .unwrap()
            })
            .await
    }

    /// A database file in a directory of its own, removed with the guard.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new() -> (Self, SqliteStore) {
            let dir = std::env::temp_dir().join(format!("herald-sqlite-{}", uuid::Uuid::new_v4()));
            let store = SqliteStore::open(&dir.join("herald.db")).unwrap();
            (Self(dir), store)
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Occupies the writer thread, and with it the write connection, for `hold` (an operation
    /// that sleeps inside the group's transaction); returns once the writer runs it.
    async fn busy_writer(store: &SqliteStore, hold: Duration) -> tokio::task::JoinHandle<()> {
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let store = store.clone();
        let handle = tokio::spawn(async move {
            store
                .writer
                .submit(move |_tx| {
                    let _ = started_tx.send(());
                    std::thread::sleep(hold);
                    Ok(())
                })
                .await
                .unwrap();
        });
        started.await.unwrap();
        handle
    }

    #[tokio::test]
    async fn writes_waiting_for_the_writer_commit_together_and_a_failed_one_is_undone_alone() {
        use crate::domain::{Channel, Suppression, SuppressionReason};
        use crate::ports::SuppressionStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let suppression = |i: usize| Suppression {
            channel: Channel::Email,
            address: format!("user{i}@example.com"),
            reason: SuppressionReason::Manual,
            note: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let busy = busy_writer(&store, Duration::from_millis(200)).await;
        let before = store.writer.groups.load(Ordering::Relaxed);
        let writes = (0..20).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.put_suppression(&suppression(i)).await })
        });
        // One more that writes a row, then fails: its row must not be kept.
        let failing = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run(Access::Write, |tx| -> Result<(), Fail> {
                        tx.execute(
                            "INSERT INTO counters (scope, name, value) VALUES ('t', 'n', 1)",
                            [],
                        )?;
                        Err(Conflict::AlreadyExists.into())
                    })
                    .await
            })
        };
        let writes: Vec<_> = writes.collect();
        busy.await.unwrap();
        for w in writes {
            assert!(w.await.unwrap().unwrap(), "every write is new and kept");
        }
        assert!(matches!(
            failing.await.unwrap(),
            Err(StoreError::Conflict(Conflict::AlreadyExists))
        ));
        let groups = store.writer.groups.load(Ordering::Relaxed) - before;
        assert!(
            groups <= 3,
            "21 writes queued behind a busy writer took {groups} transactions"
        );
        for i in 0..20 {
            let got = store
                .get_suppression(Channel::Email, &format!("user{i}@example.com"))
                .await
                .unwrap();
            assert_eq!(got, Some(suppression(i)));
        }
        let kept = counter_rows(&store, "t").await;
        assert_eq!(kept, 0, "the failed operation's row was rolled back");
    }

    #[tokio::test]
    async fn a_group_adds_each_counter_once_with_the_sum_of_its_kept_writes() {
        use super::counts::Adding;
        use crate::domain::ExecutionId;
        use crate::domain::execution::{CountDelta, CountScope};
        use crate::ports::CountStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let scope = CountScope::Execution(ExecutionId::new());
        let delta = CountDelta(vec![("targeted".into(), 1), ("sent".into(), 2)]);
        let before_changes = store.on_writer(|conn| conn.total_changes()).await;
        let busy = busy_writer(&store, Duration::from_millis(200)).await;
        let before = store.writer.groups.load(Ordering::Relaxed);
        let writes: Vec<_> = (0..20)
            .map(|_| {
                let (store, delta) = (store.clone(), delta.clone());
                tokio::spawn(async move { store.add_counts(scope, &delta).await })
            })
            .collect();
        // Writes that stage counts, then fail or panic: theirs must not be added.
        let undone: Vec<_> = [false, true]
            .into_iter()
            .map(|panics| {
                let store = store.clone();
                let adding = Adding::new(&[scope], &CountDelta::one("sent"));
                tokio::spawn(async move {
                    store
                        .run(Access::Write, move |tx| -> Result<(), Fail> {
                            adding.run(tx)?;
                            if panics {
                                panic!("boom");
                            }
                            Err(Conflict::AlreadyExists.into())
                        })
                        .await
                })
            })
            .collect();
        busy.await.unwrap();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        for u in undone {
            assert!(u.await.unwrap().is_err());
        }
        let groups = store.writer.groups.load(Ordering::Relaxed) - before;
        let counts = store.get_counts(scope).await.unwrap();
        assert_eq!(
            (counts.targeted, counts.sent),
            (20, 40),
            "every kept write counted once, the undone ones not at all"
        );
        // The busy writer's group and the `changes` reads add none; each group of count
        // writes upserts the two counters once.
        let upserts = store.on_writer(|conn| conn.total_changes()).await - before_changes;
        assert!(
            upserts <= 2 * groups,
            "{upserts} rows changed for 20 writes in {groups} groups: not one upsert per counter per group"
        );
        assert!(groups <= 3, "22 queued writes took {groups} groups");
    }

    #[tokio::test]
    async fn a_panicking_write_is_an_error_and_the_others_of_its_group_are_kept() {
        use crate::domain::Channel;
        use crate::ports::SuppressionStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let s = manual_suppression(crate::domain::Channel::Sms, "+33612345678");
        let busy = busy_writer(&store, Duration::from_millis(100)).await;
        let panicking = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run(Access::Write, |tx| -> Result<(), Fail> {
                        tx.execute(
                            "INSERT INTO counters (scope, name, value) VALUES ('p', 'n', 1)",
                            [],
                        )?;
                        panic!("boom")
                    })
                    .await
            })
        };
        let kept = {
            let store = store.clone();
            let s = s.clone();
            tokio::spawn(async move { store.put_suppression(&s).await })
        };
        busy.await.unwrap();
        assert!(matches!(
            panicking.await.unwrap(),
            Err(StoreError::Backend(_))
        ));
        assert!(kept.await.unwrap().unwrap());
        assert_eq!(
            store
                .get_suppression(Channel::Sms, "+33612345678")
                .await
                .unwrap(),
            Some(s)
        );
        let rows = counter_rows(&store, "p").await;
        assert_eq!(rows, 0);
    }

    #[tokio::test]
    async fn a_database_file_is_read_while_the_writer_is_busy() {
        use crate::domain::Channel;
        use crate::ports::SuppressionStore;
        use std::time::Instant;

        let (_dir, store) = TempDb::new();
        let s = manual_suppression(crate::domain::Channel::Email, "ann@example.com");
        assert!(store.put_suppression(&s).await.unwrap());
        let busy = busy_writer(&store, Duration::from_millis(300)).await;
        let found = store
            .get_suppression(Channel::Email, "ann@example.com")
            .await
            .unwrap();
        let read_done = Instant::now();
        busy.await.unwrap();
        let write_done = Instant::now();
        assert_eq!(found, Some(s));
        assert!(read_done < write_done, "the read waited for the writer");
        // A page read (on the blocking pool) is not held up either.
        let busy = busy_writer(&store, Duration::from_millis(300)).await;
        let page = store
            .list_suppressions(None, &PageRequest::first(10))
            .await
            .unwrap();
        assert!(!busy.is_finished(), "the page read waited for the writer");
        busy.await.unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[tokio::test]
    async fn a_write_waiting_for_the_writer_does_not_block_the_runtime() {
        use crate::ports::SuppressionStore;
        use std::time::Instant;

        let store = SqliteStore::open_in_memory().unwrap();
        let busy = busy_writer(&store, Duration::from_millis(300)).await;
        // A current-thread runtime: had the write blocked its thread, the timer could not
        // finish before it.
        let (written, timer_done) = tokio::join!(
            async {
                let s = manual_suppression(crate::domain::Channel::Email, "bob@example.com");
                let written = store.put_suppression(&s).await;
                (written, Instant::now())
            },
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Instant::now()
            }
        );
        busy.await.unwrap();
        assert!(written.0.unwrap());
        assert!(timer_done < written.1, "the timer waited for the write");
    }

    #[tokio::test]
    async fn the_connection_checkpoints_its_log_every_ten_thousand_pages() {
        let store = SqliteStore::open_in_memory().unwrap();
        let pages: i64 = store
            .on_writer(|conn| {
                conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
                    .unwrap()
            })
            .await;
        assert_eq!(pages, i64::from(WAL_AUTOCHECKPOINT_PAGES));
    }

    #[test]
    fn instants_keep_nanoseconds_and_far_ones_are_clamped_in_order() {
        let t = jiff::Timestamp::from_nanosecond(1_800_000_000_123_456_789).unwrap();
        assert_eq!(from_instant(instant(t)).unwrap(), t);
        assert_eq!(instant(jiff::Timestamp::MAX), i64::MAX);
        assert_eq!(instant(jiff::Timestamp::MIN), i64::MIN);
        assert!(instant(t) < instant(jiff::Timestamp::MAX));
    }

    #[tokio::test]
    async fn an_undecodable_body_is_reported_as_corrupt() {
        use crate::domain::CampaignId;
        use crate::ports::CampaignStore;

        let store = SqliteStore::open_in_memory().unwrap();
        let id = CampaignId::new();
        store
            .on_writer(move |conn| {
                conn.execute(
                    "INSERT INTO campaigns (id, revision, body) VALUES (?1, 1, '{not json')",
                    [id.to_string()],
                )
                .unwrap()
            })
            .await;
        let err = store.get_campaign(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}
