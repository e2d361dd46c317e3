//! Domain values as native DynamoDB attribute maps (serde_dynamo), plus the key attributes.
//!
//! Free-form JSON (profile attributes, rule values) is stored as native attributes too, so it
//! obeys DynamoDB's number rules: 38 significant digits, magnitudes 1e-130 to 1e126, and a
//! float with an integral value (`2.0`) reads back as the integer `2`.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::calls::DynamoError;
use super::keys::{Item, KEY_ATTRIBUTES, PK, get_s};
use crate::ports::{StoreError, StoreResult};

/// The item for `value`, with `keys` (pk, sk, and gsi1 keys when listed) added.
pub(crate) fn encode<T: Serialize>(value: &T, keys: Item) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|e| StoreError::backend(DynamoError::Encode(e)))?;
    item.extend(keys);
    Ok(item)
}

/// A partition key fit for an error message: ids are kept, addresses (suppressions, identity
/// claims) are not.
fn describe(pk: &str) -> String {
    match pk.split_once('#') {
        Some((entity @ ("suppression" | "identity"), _)) => format!("{entity}#…"),
        _ => pk.to_string(),
    }
}

/// The domain value stored in `item` (key attributes are dropped first).
pub(crate) fn decode<T: DeserializeOwned>(mut item: Item) -> StoreResult<T> {
    let pk = describe(get_s(&item, PK).unwrap_or("?"));
    for k in KEY_ATTRIBUTES {
        item.remove(k);
    }
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Corrupt(format!("item {pk}: {e}")))
}

/// One domain value as an attribute value, encoded exactly as inside [`encode`]'s items (for
/// update expressions that set a single attribute of a stored value).
pub(crate) fn encode_value<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
        .map_err(|e| StoreError::backend(DynamoError::Encode(e)))
}

/// An exact instant as a number: epoch nanoseconds (what conditions compare).
pub(crate) fn instant(at: Timestamp) -> AttributeValue {
    AttributeValue::N(at.as_nanosecond().to_string())
}

/// The instant stored by [`instant`] in attribute `name`, if the item has a valid one.
pub(crate) fn get_instant(item: &Item, name: &str) -> Option<Timestamp> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse::<i128>()
            .ok()
            .and_then(|ns| Timestamp::from_nanosecond(ns).ok()),
        _ => None,
    }
}

/// The TTL value for an item that stops mattering at `at`: epoch seconds, rounded up so TTL
/// never removes an item before its exact expiry.
pub(crate) fn ttl(at: Timestamp) -> AttributeValue {
    let seconds = at.as_second() + i64::from(at.subsec_nanosecond() > 0);
    AttributeValue::N(seconds.max(0).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_seconds_and_instants_round_trip() {
        let exact = Timestamp::from_second(100).unwrap();
        let late = Timestamp::from_nanosecond(100_000_000_001).unwrap();
        assert_eq!(ttl(exact), AttributeValue::N("100".into()));
        assert_eq!(ttl(late), AttributeValue::N("101".into()));
        let item: Item = [("at".to_string(), instant(late))].into();
        assert_eq!(get_instant(&item, "at"), Some(late));
        assert_eq!(get_instant(&item, "missing"), None);
    }
}
