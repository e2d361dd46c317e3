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
