//! Send pacing in the `paces` table: each paced campaign's next free send slot. The slot is
//! read and moved on in one `BEGIN IMMEDIATE` transaction, so processes sharing the file never
//! reserve the same slot.

use jiff::{SignedDuration, Timestamp};
use rusqlite::{OptionalExtension, params};

use super::{Access, SqliteStore, from_instant, instant};
use crate::domain::CampaignId;
use crate::ports::{PaceStore, Reservation, StoreResult, slots_end};

impl PaceStore for SqliteStore {
    async fn reserve_sends(
        &self,
        campaign: CampaignId,
        count: u32,
        interval: SignedDuration,
        now: Timestamp,
        latest_start: Timestamp,
    ) -> StoreResult<Reservation> {
        let campaign = campaign.to_string();
        self.run(Access::Write, move |tx| {
            let stored: Option<i64> = tx
                .prepare_cached("SELECT next FROM paces WHERE campaign_id = ?1")?
                .query_row([&campaign], |row| row.get(0))
                .optional()?;
            let next = match stored.map(from_instant).transpose()? {
                Some(next) if next > now => next,
                _ => now,
            };
            if next > latest_start {
                return Ok(Reservation::Later { next });
            }
            tx.prepare_cached(
                "INSERT INTO paces (campaign_id, next) VALUES (?1, ?2)
                 ON CONFLICT (campaign_id) DO UPDATE SET next = excluded.next",
            )?
            .execute(params![campaign, instant(slots_end(next, interval, count))])?;
            Ok(Reservation::Granted { start: next })
        })
        .await
    }
}
