//! Held messages (quiet hours, action `queue`) at `pk = hold#{messageId}, sk = _`, indexed
//! by release time on `gsi1` (`gsi1pk = hold#due`, `gsi1sk = {releaseAt}#{messageId}`). A
//! hold has no expiry: it stays until released, however late the release runs.

use jiff::Timestamp;

use super::DynamoStore;
use super::calls::Cond;
use super::codec::{decode, encode};
use super::keys::{GSI1PK, GSI1SK, HOLDS_DUE, Item, WHOLE, due_gsi1sk, hold_pk, key, s};
use crate::domain::MessageId;
use crate::domain::execution::HeldMessage;
use crate::ports::{HoldStore, StoreResult};

fn hold_key(id: &MessageId) -> Item {
    key(hold_pk(id), WHOLE)
}

fn hold_item(held: &HeldMessage) -> StoreResult<Item> {
    let mut keys = hold_key(&held.message_id);
    keys.insert(GSI1PK.into(), s(HOLDS_DUE));
    keys.insert(
        GSI1SK.into(),
        s(due_gsi1sk(held.release_at, held.message_id.as_str())),
    );
    encode(held, keys)
}

impl HoldStore for DynamoStore {
    async fn hold(&self, message: &HeldMessage) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(hold_item(message)?))
            .send()
            .await
            .map_err(|e| self.sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn due_held(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<HeldMessage>> {
        self.due(HOLDS_DUE, now, limit)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn release(&self, id: &MessageId) -> StoreResult<bool> {
        // Conditional, so that of concurrent releases exactly one succeeds. (An unconditional
        // DeleteItem with `ReturnValues = ALL_OLD` would do on DynamoDB, but DynamoDB Local
        // returns the old item to several concurrent deleters.)
        self.delete_if(hold_key(id), Cond::present()).await
    }
}
