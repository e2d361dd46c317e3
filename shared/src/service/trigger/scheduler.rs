//! The scheduler tick, shared by the `scheduler` Lambda (EventBridge, every minute) and the
//! local tick of `herald serve`: campaigns move into and out of their schedule window, due
//! scheduled executions fire, and held messages whose time has come are released. Every step is
//! a conditional write, so a tick delivered twice (or two ticks at once) does each thing once.
//! Last, expired acceptance records and cap counters are deleted where the store has no TTL
//! of its own (SQLite, in memory).

use serde::Serialize;

use super::{TriggerError, TriggerService};
use crate::ports::{Clock, Delivery, ExecutionStores, PageRequest, Queue, Store, StoreError};

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// Campaigns that went live or completed.
    pub campaigns_advanced: usize,
    pub schedules_fired: usize,
    pub messages_released: usize,
    /// Expired acceptance records and cap counters deleted
    /// ([`ExpiryStore::purge_expired`](crate::ports::ExpiryStore::purge_expired);
    /// always 0 on DynamoDB, whose TTL deletes them, so left out of the JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub expired_purged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Held messages released and schedules fired per tick (the rest wait for the next tick).
pub const TICK_BATCH: u32 = 500;

/// Acceptance records and cap counters a tick looks at, of each kind, for expired ones to
/// delete. At `herald serve`'s one tick a second that is 86 million records a day.
pub const PURGE_BATCH: u32 = 1000;

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    pub async fn tick(&self) -> Result<TickReport, TriggerError> {
        Ok(TickReport {
            campaigns_advanced: self.advance_campaigns().await?,
            schedules_fired: self.fire_due_schedules(TICK_BATCH).await?,
            messages_released: self.release_due(TICK_BATCH).await?,
            expired_purged: self
                .store
                .purge_expired(self.clock.now(), PURGE_BATCH)
                .await?,
        })
    }

    /// `scheduled` → `live` at the start, `live` → `completed` at the end (pages through the
    /// campaign list: a Query on the campaigns index, a few hundred items at most).
    pub async fn advance_campaigns(&self) -> Result<usize, TriggerError> {
        let now = self.clock.now();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        let mut advanced = 0;
        loop {
            let p = self.store.list_campaigns(&page).await?;
            for mut campaign in p.items {
                let Some(n) = campaign.live_version else {
                    continue;
                };
                let Some(live) = self.store.get_campaign_version(campaign.id, n).await? else {
                    continue;
                };
                let expected = campaign.revision;
                if campaign.advance(&live, now) {
                    match self.store.update_campaign(&campaign, expected, &[]).await {
                        Ok(()) => {
                            tracing::info!(campaign = %campaign.id, status = %campaign.status, "campaign advanced");
                            advanced += 1;
                        }
                        // Edited or advanced by someone else meanwhile: the next tick looks again.
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            match p.next {
                Some(next) => page.cursor = Some(next),
                None => return Ok(advanced),
            }
        }
    }
}
