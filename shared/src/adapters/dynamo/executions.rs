//! Executions at `pk = execution#{id}, sk = _`, replaced whole under a revision condition.
//! Their counters are separate items (`counts`), so a replace never touches them.

use super::DynamoStore;
use super::calls::{Cond, Written};
use super::codec::{decode, encode};
use super::keys::{Item, WHOLE, execution_pk, key};
use crate::domain::{Execution, ExecutionId};
use crate::ports::{Conflict, ExecutionStore, StoreError, StoreResult};

fn execution_key(id: ExecutionId) -> Item {
    key(execution_pk(id), WHOLE)
}

/// The execution's own `revision` field is the attribute conditions compare.
fn execution_item(execution: &Execution) -> StoreResult<Item> {
    encode(execution, execution_key(execution.id))
}

impl ExecutionStore for DynamoStore {
    async fn insert_execution(&self, execution: &Execution) -> StoreResult<()> {
        match self
            .put_if(execution_item(execution)?, Cond::absent())
            .await?
        {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(StoreError::Conflict(Conflict::AlreadyExists)),
        }
    }

    async fn get_execution(&self, id: ExecutionId) -> StoreResult<Option<Execution>> {
        self.get_raw(execution_key(id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        expected_revision: u64,
    ) -> StoreResult<()> {
        match self
            .put_if(
                execution_item(execution)?,
                Cond::revision(expected_revision),
            )
            .await?
        {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(StoreError::Conflict(Conflict::RevisionMismatch)),
        }
    }
}
