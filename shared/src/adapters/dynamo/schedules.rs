//! Scheduled audience executions at `pk = schedule#{id}, sk = _`. While a schedule is
//! `Scheduled` it also carries `gsi1pk = schedule#due`, `gsi1sk = {executeAt}#{id}` (time in
//! fixed-width nanoseconds, see `keys::sortable_instant`), a sparse index of pending schedules:
//! the conditional update that cancels or triggers a schedule removes those keys, so the
//! scheduler's Query reads only what is still pending.

use jiff::Timestamp;

use super::DynamoStore;
use super::calls::{Cond, Query, Update, Written};
use super::codec::{decode, encode, encode_value};
use super::keys::{
    GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, SCHEDULES_DUE, WHOLE, due_bound, due_gsi1sk, key, s,
    schedule_pk,
};
use crate::domain::execution::{ScheduleStatus, ScheduledExecution};
use crate::domain::{ExecutionId, ScheduleId};
use crate::ports::{Conflict, ScheduleStore, StoreError, StoreResult};

fn schedule_key(id: ScheduleId) -> Item {
    key(schedule_pk(id), WHOLE)
}

fn schedule_item(schedule: &ScheduledExecution) -> StoreResult<Item> {
    let mut keys = schedule_key(schedule.id);
    if schedule.status == ScheduleStatus::Scheduled {
        keys.insert(GSI1PK.into(), s(SCHEDULES_DUE));
        keys.insert(
            GSI1SK.into(),
            s(due_gsi1sk(schedule.execute_at, &schedule.id.to_string())),
        );
    }
    encode(schedule, keys)
}

impl DynamoStore {
    /// `Scheduled` → `to` (with `executionId` when given), dropping the index keys.
    async fn leave_scheduled(
        &self,
        id: ScheduleId,
        to: ScheduleStatus,
        execution: Option<ExecutionId>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let expression = if execution.is_some() {
            "SET #status = :to, #modified = :now, #execution = :execution REMOVE #gpk, #gsk"
        } else {
            "SET #status = :to, #modified = :now REMOVE #gpk, #gsk"
        };
        let mut update = Update::new(schedule_key(id), expression)
            .name("#modified", "modifiedAt")
            .name("#gpk", GSI1PK)
            .name("#gsk", GSI1SK)
            .value(":to", encode_value(&to)?)
            .value(":now", encode_value(&now)?)
            .when(Cond {
                expression: "#status = :scheduled",
                names: vec![("#status", "status")],
                values: vec![(":scheduled", encode_value(&ScheduleStatus::Scheduled)?)],
            });
        if let Some(e) = execution {
            update = update
                .name("#execution", "executionId")
                .value(":execution", encode_value(&e)?);
        }
        Ok(matches!(self.update_if(update).await?, Written::Done))
    }
}

impl ScheduleStore for DynamoStore {
    async fn insert_schedule(&self, schedule: &ScheduledExecution) -> StoreResult<()> {
        match self
            .put_if(schedule_item(schedule)?, Cond::absent())
            .await?
        {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(StoreError::Conflict(Conflict::AlreadyExists)),
        }
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<ScheduledExecution>> {
        self.get_raw(schedule_key(id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn cancel_schedule(&self, id: ScheduleId, now: Timestamp) -> StoreResult<bool> {
        self.leave_scheduled(id, ScheduleStatus::Cancelled, None, now)
            .await
    }

    async fn due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledExecution>> {
        let items = self.due(SCHEDULES_DUE, now, limit).await?;
        let schedules: Vec<ScheduledExecution> =
            items.into_iter().map(decode).collect::<StoreResult<_>>()?;
        // The index is eventually consistent: a schedule that just left `Scheduled` may
        // still be listed with its old status; the conditional trigger refuses it then.
        Ok(schedules
            .into_iter()
            .filter(|s| s.status == ScheduleStatus::Scheduled)
            .collect())
    }

    async fn mark_triggered(
        &self,
        id: ScheduleId,
        execution: ExecutionId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.leave_scheduled(id, ScheduleStatus::Triggered, Some(execution), now)
            .await
    }
}

impl DynamoStore {
    /// Up to `limit` items of the sparse due index `partition` with a time at or before
    /// `now`, earliest first (a Query on `gsi1`, paged until enough are read).
    pub(crate) async fn due(
        &self,
        partition: &'static str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Item>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = Query::new(
            Some(GSI1),
            "gsi1pk = :due AND gsi1sk < :bound",
            [(":due", s(partition)), (":bound", s(due_bound(now)))],
        );
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let (items, _) = self.query_page(&query, limit, None, &GSI1_KEY).await?;
        Ok(items)
    }
}
