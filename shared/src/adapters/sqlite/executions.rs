//! Executions in the `executions` table.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Access, Fail, SqliteStore, decode, encode, int};
use crate::domain::{Execution, ExecutionId};
use crate::ports::{Conflict, ExecutionStore, StoreResult};

/// An execution's row: `(id, revision, body)`, as written.
pub(super) type Row = (String, i64, String);

/// The row of `execution`.
pub(super) fn row(execution: &Execution) -> StoreResult<Row> {
    Ok((
        execution.id.to_string(),
        int(execution.revision)?,
        encode(execution)?,
    ))
}

/// Inserts an execution's row; `Conflict(AlreadyExists)` when its id is taken.
pub(super) fn insert_row(tx: &Connection, (id, revision, body): &Row) -> Result<(), Fail> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO executions (id, revision, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![id, revision, body])?;
    if inserted == 0 {
        return Err(Conflict::AlreadyExists.into());
    }
    Ok(())
}

impl ExecutionStore for SqliteStore {
    async fn insert_execution(&self, execution: &Execution) -> StoreResult<()> {
        let row = row(execution)?;
        self.run(Access::Write, move |tx| insert_row(tx, &row))
            .await
    }

    async fn get_execution(&self, id: ExecutionId) -> StoreResult<Option<Execution>> {
        let id = id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM executions WHERE id = ?1")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("execution", &b)).transpose()
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        expected_revision: u64,
    ) -> StoreResult<()> {
        let (id, body) = (execution.id.to_string(), encode(execution)?);
        let revision = int(execution.revision)?;
        let expected = int(expected_revision)?;
        self.run(Access::Write, move |tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE executions SET revision = ?2, body = ?3 WHERE id = ?1 AND revision = ?4",
                )?
                .execute(params![id, revision, body, expected])?;
            if updated == 0 {
                return Err(Conflict::RevisionMismatch.into());
            }
            Ok(())
        })
        .await
    }
}
