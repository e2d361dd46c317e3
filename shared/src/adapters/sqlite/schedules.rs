//! Scheduled audience executions in the `schedules` table; `status` and `execute_at` are
//! columns for the due query (along `schedules_by_status_and_time`), the record is the body.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Access, Fail, SqliteStore, decode, encode, instant, int};
use crate::domain::{ExecutionId, ScheduleId, ScheduleStatus, ScheduledExecution};
use crate::ports::{Conflict, ScheduleStore, StoreResult};

/// Schedules still `Scheduled` at or before an instant, earliest first.
pub(super) const DUE: &str = "SELECT body FROM schedules
     WHERE status = 'Scheduled' AND execute_at <= ?1 ORDER BY execute_at, id LIMIT ?2";

fn status(s: ScheduleStatus) -> &'static str {
    match s {
        ScheduleStatus::Scheduled => "Scheduled",
        ScheduleStatus::Triggered => "Triggered",
        ScheduleStatus::Cancelled => "Cancelled",
    }
}

/// Moves a `Scheduled` schedule on with `change`; false when it is missing or not `Scheduled`.
fn transition(
    tx: &Connection,
    id: &str,
    change: impl FnOnce(&mut ScheduledExecution),
) -> Result<bool, Fail> {
    let body: Option<String> = tx
        .prepare_cached("SELECT body FROM schedules WHERE id = ?1 AND status = 'Scheduled'")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    let Some(body) = body else {
        return Ok(false);
    };
    let mut schedule: ScheduledExecution = decode("schedule", &body)?;
    change(&mut schedule);
    let body = encode(&schedule)?;
    tx.prepare_cached("UPDATE schedules SET status = ?2, body = ?3 WHERE id = ?1")?
        .execute(params![id, status(schedule.status), body])?;
    Ok(true)
}

impl ScheduleStore for SqliteStore {
    async fn insert_schedule(&self, schedule: &ScheduledExecution) -> StoreResult<()> {
        let (id, body) = (schedule.id.to_string(), encode(schedule)?);
        let (state, execute_at) = (status(schedule.status), instant(schedule.execute_at));
        self.run(Access::Write, move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO schedules (id, status, execute_at, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, state, execute_at, body])?;
            if inserted == 0 {
                return Err(Conflict::AlreadyExists.into());
            }
            Ok(())
        })
        .await
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<ScheduledExecution>> {
        let id = id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM schedules WHERE id = ?1")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("schedule", &b)).transpose()
    }

    async fn cancel_schedule(&self, id: ScheduleId, now: Timestamp) -> StoreResult<bool> {
        let id = id.to_string();
        self.run(Access::Write, move |tx| {
            transition(tx, &id, |s| {
                s.status = ScheduleStatus::Cancelled;
                s.modified_at = now;
            })
        })
        .await
    }

    async fn due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledExecution>> {
        let now = instant(now);
        let limit = int(u64::from(limit))?;
        let bodies = self
            .run(Access::Scan, move |tx| {
                let mut stmt = tx.prepare_cached(DUE)?;
                let rows = stmt
                    .query_map(params![now, limit], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(rows)
            })
            .await?;
        bodies.iter().map(|b| decode("schedule", b)).collect()
    }

    async fn mark_triggered(
        &self,
        id: ScheduleId,
        execution: ExecutionId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        self.run(Access::Write, move |tx| {
            transition(tx, &id, |s| {
                s.status = ScheduleStatus::Triggered;
                s.execution_id = Some(execution);
                s.modified_at = now;
            })
        })
        .await
    }
}
