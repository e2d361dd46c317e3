//! Frequency-cap counters at `pk = cap#{counterKey}, sk = _`: the count `n`, the exact window
//! end `expiresAtNs` and its TTL copy `expiresAt`. The caller's key names the window (its
//! start is part of it), so windows never share an item; an expired item left behind (TTL
//! lags) still counts as zero.
//!
//! `increment_within` is one TransactWriteItems with one conditional Update per counter (one
//! counter: a plain conditional UpdateItem, which is as atomic and bills half the units):
//! `ADD n :amount` when the item is absent or live with room (`n <= limit - amount`). When a
//! condition fails, the old items (`ReturnValuesOnConditionCheckFailure = ALL_OLD`) tell a
//! full counter (answered with its index) from an expired one, which the next attempt resets
//! with `SET n = :amount` under the condition that it is still expired. An update expression
//! cannot choose between adding and resetting, hence the second attempt; it only happens when
//! an expired item is still in the table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;

use super::DynamoStore;
use super::calls::{Cond, DynamoError, FailedCondition, TxFailure, Update, Written};
use super::codec::{get_instant, instant, ttl};
use super::keys::{EXPIRES_AT, EXPIRES_AT_NS, Item, WHOLE, cap_pk, key};
use crate::ports::{CapCounter, CapStore, StoreResult};

const COUNT: &str = "n";
/// Attempts of one increment while counters expire or change between attempts.
const INCREMENT_ATTEMPTS: u32 = 4;

/// Absent, or live with room for the amount.
const ADD_WITHIN: &str = "attribute_not_exists(pk) OR (#exp > :now AND #n <= :max)";
/// Still expired (a concurrent reset makes this fail, and the next attempt adds instead).
const STILL_EXPIRED: &str = "#exp <= :now";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Reset,
}

/// The counters of one call, one per key (a transaction may touch an item once): a key given
/// twice is incremented by two.
struct Slot<'a> {
    counter: &'a CapCounter,
    /// Index of the key's first occurrence in the call.
    index: usize,
    amount: u32,
    limit: u32,
    mode: Mode,
}

fn cap_key(counter_key: &str) -> Item {
    key(cap_pk(counter_key), WHOLE)
}

fn slots(counters: &[CapCounter]) -> Vec<Slot<'_>> {
    let mut by_key: BTreeMap<&str, Slot<'_>> = BTreeMap::new();
    for (index, counter) in counters.iter().enumerate() {
        by_key
            .entry(counter.key.as_str())
            .and_modify(|s| {
                s.amount += 1;
                s.limit = s.limit.min(counter.limit);
            })
            .or_insert(Slot {
                counter,
                index,
                amount: 1,
                limit: counter.limit,
                mode: Mode::Add,
            });
    }
    let mut slots: Vec<Slot<'_>> = by_key.into_values().collect();
    slots.sort_by_key(|s| s.index);
    slots
}

fn count_of(item: &Item) -> u64 {
    match item.get(COUNT) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().map_or(0, |n| n.max(0).unsigned_abs()),
        _ => 0,
    }
}

impl DynamoStore {
    fn cap_update(&self, slot: &Slot<'_>, now: Timestamp) -> StoreResult<Update> {
        let amount = AttributeValue::N(slot.amount.to_string());
        let update = match slot.mode {
            Mode::Add => Update::new(
                cap_key(&slot.counter.key),
                "ADD #n :amount SET #exp = :until, #ttl = :ttl",
            )
            .when(Cond {
                expression: ADD_WITHIN,
                names: vec![],
                values: vec![(
                    ":max",
                    AttributeValue::N((slot.limit - slot.amount).to_string()),
                )],
            }),
            Mode::Reset => Update::new(
                cap_key(&slot.counter.key),
                "SET #n = :amount, #exp = :until, #ttl = :ttl",
            )
            .when(Cond {
                expression: STILL_EXPIRED,
                names: vec![],
                values: vec![],
            }),
        };
        Ok(update
            .name("#n", COUNT)
            .name("#exp", EXPIRES_AT_NS)
            .name("#ttl", EXPIRES_AT)
            .value(":amount", amount)
            .value(":until", instant(slot.counter.expires_at))
            .value(":ttl", ttl(slot.counter.expires_at))
            .value(":now", instant(now)))
    }
}

impl CapStore for DynamoStore {
    async fn increment_within(
        &self,
        counters: &[CapCounter],
        now: Timestamp,
    ) -> StoreResult<Option<usize>> {
        let mut slots = slots(counters);
        // A counter that cannot take the amount even when empty is full whatever is stored.
        if let Some(s) = slots.iter().find(|s| s.amount > s.limit) {
            return Ok(Some(s.index));
        }
        if slots.is_empty() {
            return Ok(None);
        }
        for _ in 0..INCREMENT_ATTEMPTS {
            let failed = if let [slot] = slots.as_slice() {
                // One counter: a plain conditional UpdateItem is as atomic as a transaction
                // and bills half the write units.
                match self.update_if(self.cap_update(slot, now)?).await? {
                    Written::Done => return Ok(None),
                    Written::Refused(old) => vec![FailedCondition { index: 0, old }],
                }
            } else {
                let items = slots
                    .iter()
                    .map(|s| self.tx_update(self.cap_update(s, now)?))
                    .collect::<StoreResult<Vec<_>>>()?;
                match self.transact_detailed(items).await {
                    Ok(()) => return Ok(None),
                    Err(TxFailure::Store(e)) => return Err(e),
                    Err(TxFailure::Conditions(failed)) => failed,
                }
            };
            let mut full: Option<usize> = None;
            for f in failed {
                let Some(slot) = slots.get_mut(f.index) else {
                    continue;
                };
                let old = match f.old {
                    Some(old) => Some(old),
                    None => self.get_raw(cap_key(&slot.counter.key)).await?,
                };
                let Some(old) = old else {
                    slot.mode = Mode::Add;
                    continue;
                };
                let live = get_instant(&old, EXPIRES_AT_NS).is_some_and(|end| end > now);
                if !live {
                    slot.mode = Mode::Reset;
                } else if count_of(&old) + u64::from(slot.amount) > u64::from(slot.limit) {
                    full = Some(full.map_or(slot.index, |i| i.min(slot.index)));
                } else {
                    slot.mode = Mode::Add;
                }
            }
            if full.is_some() {
                return Ok(full);
            }
        }
        Err(DynamoError::Contended("increment_within").into())
    }

    async fn decrement(&self, counters: &[CapCounter]) -> StoreResult<()> {
        for slot in slots(counters) {
            let amount = AttributeValue::N(slot.amount.to_string());
            let update = Update::new(cap_key(&slot.counter.key), "ADD #n :minus")
                .name("#n", COUNT)
                .value(":minus", AttributeValue::N(format!("-{}", slot.amount)))
                .value(":amount", amount)
                .when(Cond {
                    expression: "#n >= :amount",
                    names: vec![],
                    values: vec![],
                });
            // A counter that is gone or already at zero has nothing to give back: a refused
            // condition is fine.
            self.update_if(update).await?;
        }
        Ok(())
    }
}
