//! Outcome counters: one item per scope, `pk = counts#execution#{id}` or
//! `counts#campaign#{id}#v{version}`, `sk = _`, with one number attribute per counter name
//! (`sent`, `excluded.NoProfile`…). A delta is one UpdateItem `ADD`, so concurrent deltas
//! never lose a count; names go through `ExpressionAttributeNames` (a `.` in a name is then
//! part of the name, not a path).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::calls::{DynamoError, Update};
use super::keys::{EXPIRES_AT, EXPIRES_AT_NS, Item, KEY_ATTRIBUTES, WHOLE, counts_pk, key};
use crate::domain::OutcomeCounts;
use crate::domain::execution::{CountDelta, CountScope};
use crate::ports::{CountStore, StoreResult};

fn counts_key(scope: CountScope) -> Item {
    key(counts_pk(scope), WHOLE)
}

/// A counter name that cannot be an attribute of this item.
fn reserved(name: &str) -> bool {
    name.is_empty() || KEY_ATTRIBUTES.contains(&name) || name == EXPIRES_AT || name == EXPIRES_AT_NS
}

/// The delta summed per name (an update may name an attribute once), zeros dropped.
fn net(delta: &CountDelta) -> StoreResult<BTreeMap<&str, i64>> {
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for (name, n) in &delta.0 {
        if reserved(name) {
            return Err(
                DynamoError::Unstorable(format!("{name:?} cannot be a counter name")).into(),
            );
        }
        let slot = sums.entry(name.as_str()).or_default();
        *slot = slot.saturating_add(*n);
    }
    sums.retain(|_, n| *n != 0);
    Ok(sums)
}

impl CountStore for DynamoStore {
    async fn add_counts(&self, scope: CountScope, delta: &CountDelta) -> StoreResult<()> {
        let sums = net(delta)?;
        if sums.is_empty() {
            return Ok(());
        }
        let clauses: Vec<String> = (0..sums.len()).map(|i| format!("#c{i} :c{i}")).collect();
        let mut update = Update::new(counts_key(scope), format!("ADD {}", clauses.join(", ")));
        for (i, (name, n)) in sums.iter().enumerate() {
            update = update
                .name(&format!("#c{i}"), name)
                .value(&format!(":c{i}"), AttributeValue::N(n.to_string()));
        }
        self.update_if(update).await.map(|_| ())
    }

    async fn get_counts(&self, scope: CountScope) -> StoreResult<OutcomeCounts> {
        let Some(item) = self.get_raw(counts_key(scope)).await? else {
            return Ok(OutcomeCounts::default());
        };
        let counters = item.iter().filter_map(|(name, value)| match value {
            AttributeValue::N(n) if !reserved(name) => {
                n.parse::<i64>().ok().map(|n| (name.as_str(), n))
            }
            _ => None,
        });
        Ok(OutcomeCounts::from_counters(counters))
    }
}
