//! Send pacing at `pk = pace#{campaignId}, sk = _`: the campaign's next free send slot
//! `nextNs` (epoch nanoseconds) and a TTL `expiresAt` a day after the last slot it could hold.
//!
//! `reserve_sends` is one conditional UpdateItem. A campaign sending at its rate has its next
//! slot ahead of `now`, so the first attempt moves it on, `SET nextNs = nextNs + :span` under
//! `nextNs > :now AND nextNs <= :latest`, and reads the slot it started from
//! (`ReturnValues = UPDATED_OLD`). When the condition fails, the old item
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`) tells the other cases apart: no slot
//! ahead (absent, or passed) → the next attempt starts over from `now`, `SET nextNs = :end`
//! under `attribute_not_exists(pk) OR nextNs <= :now`; a slot past `:latest` → `Later`,
//! nothing written. An update expression cannot take the larger of two values, hence the two
//! forms.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};

use super::DynamoStore;
use super::calls::{Cond, DynamoError, Update, Written};
use super::codec::{get_instant, instant, ttl};
use super::keys::{EXPIRES_AT, WHOLE, key, pace_pk};
use crate::domain::CampaignId;
use crate::ports::{PaceStore, Reservation, StoreError, StoreResult, slots_end};

const NEXT: &str = "nextNs";
/// Attempts of one reservation while other processes move the slot between attempts.
const RESERVE_ATTEMPTS: u32 = 6;
/// How long a pace record outlives the last slot it could hold.
const KEEP: SignedDuration = SignedDuration::from_hours(24);

#[derive(Clone, Copy)]
enum Mode {
    /// The stored slot is ahead of `now`: reserve from it.
    Advance,
    /// No slot is stored, or it has passed: reserve from `now`.
    Restart,
}

impl PaceStore for DynamoStore {
    async fn reserve_sends(
        &self,
        campaign: CampaignId,
        count: u32,
        interval: SignedDuration,
        now: Timestamp,
        latest_start: Timestamp,
    ) -> StoreResult<Reservation> {
        let span = i128::from(count) * interval.as_nanos();
        let expires = slots_end(latest_start.max(now), interval, count)
            .saturating_add(KEEP)
            .unwrap_or(Timestamp::MAX);
        let mut mode = Mode::Advance;
        for _ in 0..RESERVE_ATTEMPTS {
            let (expression, condition, granted_from_old) = match mode {
                Mode::Advance => (
                    "SET #next = #next + :span, #ttl = :ttl",
                    "#next > :now AND #next <= :latest",
                    true,
                ),
                Mode::Restart => (
                    "SET #next = :end, #ttl = :ttl",
                    "attribute_not_exists(pk) OR #next <= :now",
                    false,
                ),
            };
            let mut update = Update::new(key(pace_pk(campaign), WHOLE), expression)
                .when(Cond {
                    expression: condition,
                    names: vec![],
                    values: vec![],
                })
                .name("#next", NEXT)
                .name("#ttl", EXPIRES_AT)
                .value(":now", instant(now))
                .value(":ttl", ttl(expires));
            update = match mode {
                Mode::Advance => update
                    .value(":span", AttributeValue::N(span.to_string()))
                    .value(":latest", instant(latest_start)),
                Mode::Restart => update.value(":end", instant(slots_end(now, interval, count))),
            };
            let old = match self.update_returning_old(update).await? {
                (Written::Done, old) if granted_from_old => {
                    let start = get_instant(&old, NEXT).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "pace record of campaign {campaign} has no valid {NEXT}"
                        ))
                    })?;
                    return Ok(Reservation::Granted { start });
                }
                (Written::Done, _) => return Ok(Reservation::Granted { start: now }),
                (Written::Refused(old), _) => old,
            };
            let ahead = old
                .as_ref()
                .and_then(|o| get_instant(o, NEXT))
                .filter(|next| *next > now);
            mode = match ahead {
                Some(next) if next > latest_start => return Ok(Reservation::Later { next }),
                Some(_) => Mode::Advance,
                None if now > latest_start => return Ok(Reservation::Later { next: now }),
                None => Mode::Restart,
            };
        }
        Err(DynamoError::Contended("reserve_sends").into())
    }
}
