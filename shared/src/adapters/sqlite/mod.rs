//! The SQLite store: every port of [`Store`](crate::ports::Store) and of
//! [`ExecutionStores`](crate::ports::ExecutionStores) in one database file, used by `herald serve`
//! (the file lives in its data directory).
//!
//! One connection behind a mutex; every port method runs as one transaction (writes take the
//! write lock up front with `BEGIN IMMEDIATE`). A lookup or a write of a few rows runs on the
//! calling thread when the connection is free, since handing it to another thread costs more
//! than the statement; one over many rows (a page, a count, a member list), or one that finds
//! the connection busy, runs on `tokio::task::spawn_blocking`. The connection runs in WAL mode
//! with `synchronous=NORMAL`, a busy timeout, foreign keys on, and checkpoints every
//! [`WAL_AUTOCHECKPOINT_PAGES`] pages of log. Statements are prepared once and cached.
//!
//! ## Schema (`PRAGMA user_version` = 2)
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
//! | `requests`         | `campaign_id, request_id, body_hash, execution_id, lease_until, expires_at, response` | `(campaign_id, request_id)` |
//! | `executions`       | `id, revision, body`                  | `id`                         |
//! | `messages`         | `id, execution_id, outcome, provider_id, body` | `id`, indexes on `(execution_id, id)` and `provider_id` |
//! | `counters`         | `scope, name, value`                  | `(scope, name)`              |
//! | `caps`             | `key, count, expires_at`              | `key`                        |
//! | `schedules`        | `id, status, execute_at, body`        | `id`, index on `(status, execute_at, id)` |
//! | `holds`            | `message_id, release_at, body`        | `message_id`, index on `(release_at, message_id)` |
//!
//! Instants in columns (`lease_until`, `expires_at`, `execute_at`, `release_at`) are integer
//! nanoseconds since the Unix epoch, clamped to the `i64` range (years 1677 to 2262) so SQL
//! compares them in order; the bodies keep the exact values. Counter scopes are
//! `execution:<id>` and `campaign:<id>:<version>`. Schema version 1 databases (admin side only)
//! are upgraded in place on open.
//!
//! `records` holds channel configurations, rule sets and audiences (`kind` is
//! [`Record::KIND`](crate::ports::Record::KIND)). Conditions (a key must be free, a revision must
//! still match) are checked inside the writing transaction, never by a read before it.
//!
//! Page cursors are the last key returned (`channel:address` for suppressions, listed channel
//! by channel in `Channel` order: email, sms, push). A cursor that is not a key is read as a
//! position to start after (for suppressions, one naming no channel is past the end).

mod acceptance;
mod campaigns;
mod caps;
mod counts;
mod executions;
mod holds;
mod members;
mod messages;
mod profiles;
mod records;
mod schedules;
mod schema;
mod suppressions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, ToSql, Transaction, TransactionBehavior};
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

/// The SQLite store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<Arc<PathBuf>>,
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

impl SqliteStore {
    /// Opens (creating it and its directory when missing) the database file at `path` and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::setup(open_wal(path)?, Some(path.to_path_buf()))
    }

    /// A private database that lives as long as the store (tests).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(StoreError::backend)?;
        Self::setup(conn, None)
    }

    /// The database file, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> StoreResult<Self> {
        let configure = |conn: &mut Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok(())
        };
        configure(&mut conn).map_err(StoreError::backend)?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.map(Arc::new),
        })
    }

    /// Runs `f` in one transaction; commits when it returns `Ok`, rolls back otherwise. A
    /// [`Access::Read`] or [`Access::Write`] runs right here when the connection is free; the
    /// others, and any that would wait for the lock, run on the blocking pool. A panic in `f` is
    /// an error either way.
    async fn run<R, F>(&self, access: Access, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<R, Fail> + Send + 'static,
    {
        if access.is_short() {
            let free = match self.conn.try_lock() {
                Ok(conn) => Some(conn),
                // A panic while the lock was held rolled its transaction back (the transaction
                // is dropped while unwinding), so the connection is still usable.
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut conn) = free {
                return guarded(move || transact(&mut conn, access, f));
            }
        }
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            guarded(move || {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                transact(&mut conn, access, f)
            })
        })
        .await
        .map_err(StoreError::backend)?
    }
}

/// One transaction of `access`'s kind around `f`.
fn transact<R>(
    conn: &mut Connection,
    access: Access,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, Fail>,
) -> Result<R, Fail> {
    let behavior = match access {
        Access::Read | Access::Scan => TransactionBehavior::Deferred,
        Access::Write | Access::Bulk => TransactionBehavior::Immediate,
    };
    let tx = conn.transaction_with_behavior(behavior)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Runs `f`, turning a panic into an error (as `spawn_blocking` reports one).
fn guarded<R>(f: impl FnOnce() -> Result<R, Fail>) -> StoreResult<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(outcome) => outcome.map_err(StoreError::from),
        Err(_) => Err(StoreError::backend(std::io::Error::other(
            "a SQLite store operation panicked",
        ))),
    }
}

/// What a port method does to the database, which decides its transaction and its thread.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// A lookup of a few rows by key.
    Read,
    /// A write of a few rows by key.
    Write,
    /// A read of up to a page of rows, or of a whole index range (a count).
    Scan,
    /// A write of many rows (audience members).
    Bulk,
}

impl Access {
    /// Whether it is short enough to run on the calling thread when the connection is free.
    fn is_short(self) -> bool {
        matches!(self, Access::Read | Access::Write)
    }
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
    tx: &Transaction<'_>,
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
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&dyn ToSql],
    limit: usize,
) -> Result<(Vec<String>, Option<String>), Fail> {
    Ok(cut(query_rows(tx, sql, params, limit + 1)?, limit))
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
        use crate::domain::{Channel, Suppression, SuppressionReason};
        use crate::ports::SuppressionStore;

        let dir = std::env::temp_dir().join(format!("herald-sqlite-{}", uuid::Uuid::new_v4()));
        let path = dir.join("nested").join("herald.db");
        let s = Suppression {
            channel: Channel::Email,
            address: "ann@example.com".into(),
            reason: SuppressionReason::Manual,
            note: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        };
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
        let version: i64 = {
            let conn = store.conn.lock().unwrap();
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(version, schema::VERSION);
        let mode: String = {
            let conn = store.conn.lock().unwrap();
            conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(mode, "wal");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_execution_side_queries_run_along_their_indexes_without_sorting() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.conn.lock().unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let mut rows = stmt.raw_query();
            let mut details = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                details.push(row.get::<_, String>(3).unwrap());
            }
            details.join("; ")
        };
        for (sql, index) in [
            (messages::LIST_BY_EXECUTION, "messages_by_execution"),
            (messages::FIND_BY_PROVIDER_ID, "messages_by_provider_id"),
            (schedules::DUE, "schedules_by_status_and_time"),
            (holds::DUE, "holds_by_release_time"),
        ] {
            let plan = plan(sql);
            assert!(plan.contains(index), "{sql}\n=> {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\n=> {plan}");
        }
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
    async fn a_lookup_that_finds_the_connection_busy_waits_without_blocking_the_runtime() {
        use crate::ports::SuppressionStore;
        use std::time::{Duration, Instant};

        let store = SqliteStore::open_in_memory().unwrap();
        let conn = Arc::clone(&store.conn);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _guard = conn.lock().unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        locked_rx.recv().unwrap();
        // This test runs on a current-thread runtime: had the lookup blocked its thread on the
        // lock, the timer could not finish before it.
        let (found, timer_done) = tokio::join!(
            async {
                let found = store
                    .get_suppression(crate::domain::Channel::Email, "ann@example.com")
                    .await;
                (found, Instant::now())
            },
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Instant::now()
            }
        );
        holder.join().unwrap();
        assert_eq!(found.0.unwrap(), None);
        assert!(timer_done < found.1, "the timer waited for the lookup");
    }

    #[test]
    fn the_connection_checkpoints_its_log_every_ten_thousand_pages() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.conn.lock().unwrap();
        let pages: i64 = conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap();
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
        {
            let conn = store.conn.lock().unwrap();
            conn.execute(
                "INSERT INTO campaigns (id, revision, body) VALUES (?1, 1, '{not json')",
                [id.to_string()],
            )
            .unwrap();
        }
        let err = store.get_campaign(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}
