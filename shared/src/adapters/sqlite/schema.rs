//! Schema migrations, tracked in `PRAGMA user_version`: migration `n` (1-based) brings a
//! database from version `n - 1` to `n`. Migrations are only ever appended.

use rusqlite::{Connection, TransactionBehavior};

use crate::ports::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE records (
        kind     TEXT    NOT NULL,
        key      TEXT    NOT NULL,
        revision INTEGER NOT NULL,
        body     TEXT    NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;

    CREATE TABLE campaigns (
        id       TEXT    NOT NULL PRIMARY KEY,
        revision INTEGER NOT NULL,
        body     TEXT    NOT NULL
    );

    CREATE TABLE campaign_versions (
        campaign_id TEXT    NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        body        TEXT    NOT NULL,
        PRIMARY KEY (campaign_id, version)
    ) WITHOUT ROWID;

    CREATE TABLE profiles (
        id       TEXT    NOT NULL PRIMARY KEY,
        revision INTEGER NOT NULL,
        body     TEXT    NOT NULL
    );

    CREATE TABLE identities (
        namespace  TEXT NOT NULL,
        value      TEXT NOT NULL,
        profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
        PRIMARY KEY (namespace, value)
    ) WITHOUT ROWID;
    CREATE INDEX identities_by_profile ON identities (profile_id);

    CREATE TABLE audience_members (
        audience_id TEXT NOT NULL,
        profile_id  TEXT NOT NULL,
        PRIMARY KEY (audience_id, profile_id)
    ) WITHOUT ROWID;

    CREATE TABLE suppressions (
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        body    TEXT NOT NULL,
        PRIMARY KEY (channel, address)
    ) WITHOUT ROWID;
    ",
    // 2: the execution side. Instants are nanoseconds since the Unix epoch.
    "
    CREATE TABLE requests (
        campaign_id  TEXT    NOT NULL,
        request_id   TEXT    NOT NULL,
        body_hash    TEXT    NOT NULL,
        execution_id TEXT    NOT NULL,
        lease_until  INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        response     TEXT,
        PRIMARY KEY (campaign_id, request_id)
    ) WITHOUT ROWID;

    CREATE TABLE executions (
        id       TEXT    NOT NULL PRIMARY KEY,
        revision INTEGER NOT NULL,
        body     TEXT    NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE messages (
        id           TEXT NOT NULL PRIMARY KEY,
        execution_id TEXT NOT NULL,
        outcome      TEXT NOT NULL,
        provider_id  TEXT,
        body         TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX messages_by_execution ON messages (execution_id, id);
    CREATE INDEX messages_by_provider_id ON messages (provider_id)
        WHERE provider_id IS NOT NULL;

    CREATE TABLE counters (
        scope TEXT    NOT NULL,
        name  TEXT    NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (scope, name)
    ) WITHOUT ROWID;

    CREATE TABLE caps (
        key        TEXT    NOT NULL PRIMARY KEY,
        count      INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE schedules (
        id         TEXT    NOT NULL PRIMARY KEY,
        status     TEXT    NOT NULL,
        execute_at INTEGER NOT NULL,
        body       TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX schedules_by_status_and_time ON schedules (status, execute_at, id);

    CREATE TABLE holds (
        message_id TEXT    NOT NULL PRIMARY KEY,
        release_at INTEGER NOT NULL,
        body       TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX holds_by_release_time ON holds (release_at, message_id);
    ",
    // 3: messages and requests in rowid tables, appended in write order. Keyed by a hash (the
    // message id) or a caller's random id (the request id) in WITHOUT ROWID tables, every write
    // landed its whole row on a random page of a big tree, splitting pages as it filled; now
    // only the small unique-index entries are random.
    "
    CREATE TABLE requests_by_arrival (
        seq          INTEGER PRIMARY KEY,
        campaign_id  TEXT    NOT NULL,
        request_id   TEXT    NOT NULL,
        body_hash    TEXT    NOT NULL,
        execution_id TEXT    NOT NULL,
        lease_until  INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        response     TEXT,
        UNIQUE (campaign_id, request_id)
    );
    INSERT INTO requests_by_arrival
        (campaign_id, request_id, body_hash, execution_id, lease_until, expires_at, response)
        SELECT campaign_id, request_id, body_hash, execution_id, lease_until, expires_at, response
        FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_by_arrival RENAME TO requests;

    CREATE TABLE messages_by_claim (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        execution_id TEXT NOT NULL,
        outcome      TEXT NOT NULL,
        provider_id  TEXT,
        body         TEXT NOT NULL
    );
    INSERT INTO messages_by_claim (id, execution_id, outcome, provider_id, body)
        SELECT id, execution_id, outcome, provider_id, body FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_by_claim RENAME TO messages;
    CREATE INDEX messages_by_execution ON messages (execution_id, id);
    CREATE INDEX messages_by_provider_id ON messages (provider_id)
        WHERE provider_id IS NOT NULL;
    ",
    // 4: an execution's messages listed in claim order. Indexed by `(execution_id, id)`, every
    // claim added its entry at a random place (the message id is a hash), dirtying a random
    // index page per message; `(execution_id, seq)` is appended to.
    "
    DROP INDEX messages_by_execution;
    CREATE INDEX messages_by_execution ON messages (execution_id, seq);
    ",
    // 5: each paced campaign's next free send slot (`rateLimit` shared by every process).
    "
    CREATE TABLE paces (
        campaign_id TEXT    NOT NULL PRIMARY KEY,
        next        INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
];

/// The schema version this build writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
#[error(
    "the database has schema version {found}, newer than this Herald understands ({VERSION}); \
     upgrade Herald"
)]
struct SchemaTooNew {
    found: i64,
}

/// Applies every migration the database has not seen yet, in one transaction. Running it again
/// (or from two processes at once) is harmless.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::backend)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::backend)?;
    if found > VERSION {
        return Err(StoreError::backend(SchemaTooNew { found }));
    }
    if found == VERSION {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let reaches = index as i64 + 1;
        if reaches > found {
            tx.execute_batch(sql).map_err(StoreError::backend)?;
            tracing::info!(schema_version = reaches, "migrated the SQLite store");
        }
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(StoreError::backend)?;
    tx.commit().map_err(StoreError::backend)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_version_1_database_is_upgraded_and_keeps_its_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO suppressions (channel, address, body) VALUES ('email', 'a@x.test', '{}')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM suppressions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        for table in [
            "requests",
            "executions",
            "messages",
            "counters",
            "caps",
            "paces",
            "schedules",
            "holds",
        ] {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{table} exists and is empty");
        }
    }

    #[test]
    fn a_version_2_database_keeps_its_messages_and_requests_in_the_rowid_tables() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        for (id, provider) in [("m-b", Some("p-1")), ("m-a", None)] {
            conn.execute(
                "INSERT INTO messages (id, execution_id, outcome, provider_id, body)
                 VALUES (?1, 'e-1', 'accepted', ?2, '{}')",
                rusqlite::params![id, provider],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO requests
                 (campaign_id, request_id, body_hash, execution_id, lease_until, expires_at)
             VALUES ('c-1', 'r-1', 'h', 'e-1', 1, 2)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let request: (String, i64) = conn
            .query_row(
                "SELECT execution_id, expires_at FROM requests
                 WHERE campaign_id = 'c-1' AND request_id = 'r-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(request, ("e-1".to_string(), 2));
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM messages WHERE execution_id = 'e-1' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, ["m-a", "m-b"]);
        let by_provider: String = conn
            .query_row(
                "SELECT id FROM messages WHERE provider_id = 'p-1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_provider, "m-b");
        // The id is still unique: a second claim of the same id inserts nothing.
        let inserted = conn
            .execute(
                "INSERT INTO messages (id, execution_id, outcome, body)
                 VALUES ('m-a', 'e-2', 'pending', '{}') ON CONFLICT (id) DO NOTHING",
                [],
            )
            .unwrap();
        assert_eq!(inserted, 0);
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "messages_by_execution",
                "messages_by_provider_id",
                "sqlite_autoindex_messages_1"
            ]
        );
        // Version 4: an execution's messages are indexed in claim order (the copy kept the
        // order the old table held them in: by id).
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_index_info('messages_by_execution') ORDER BY seqno")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns, ["execution_id", "seq"]);
        let user_version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(user_version, VERSION);
    }

    #[test]
    fn a_database_from_a_newer_herald_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            source.is_some_and(|s| s.contains("newer than this Herald")),
            "{err:?}"
        );
    }
}
