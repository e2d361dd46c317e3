//! Domain values as native DynamoDB attribute maps (serde_dynamo), plus the key attributes.
//!
//! Free-form JSON (profile attributes, rule values) is stored as native attributes too, so it
//! obeys DynamoDB's number rules: 38 significant digits, magnitudes 1e-130 to 1e126, and a
//! float with an integral value (`2.0`) reads back as the integer `2`.

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
