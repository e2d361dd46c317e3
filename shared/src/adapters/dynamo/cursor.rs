//! Page cursors: the key of the last item of a page (the `ExclusiveStartKey` of the next
//! query), as hex-encoded JSON of its string attributes — opaque and URL-safe.
//!
//! A cursor is checked before use: it must name exactly the expected key attributes and belong
//! to the partition being read, so DynamoDB never sees a start key from elsewhere.

use std::collections::BTreeMap;

use super::keys::{Item, get_s, s};
use crate::ports::{StoreError, StoreResult};

/// The cursor after `item`, from its key attributes `names` (all strings in this table).
pub(crate) fn encode(item: &Item, names: &[&str]) -> Option<String> {
    let mut key = BTreeMap::new();
    for name in names {
        key.insert(*name, get_s(item, name)?);
    }
    let json = serde_json::to_string(&key).ok()?;
    Some(hex::encode(json))
}

/// The start key a cursor stands for. `belongs` checks its attribute values (for example that
/// the partition is the one being listed).
pub(crate) fn decode(
    text: &str,
    names: &[&str],
    belongs: impl Fn(&BTreeMap<String, String>) -> bool,
) -> StoreResult<Item> {
    let bytes = hex::decode(text).map_err(|_| StoreError::invalid_cursor(text))?;
    let key: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::invalid_cursor(text))?;
    let exact = key.len() == names.len() && names.iter().all(|n| key.contains_key(*n));
    if !exact || key.values().any(String::is_empty) || !belongs(&key) {
        return Err(StoreError::invalid_cursor(text));
    }
    Ok(key.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamo::keys::{GSI1_KEY, GSI1PK};

    fn item() -> Item {
        GSI1_KEY
            .iter()
            .map(|k| (k.to_string(), s(format!("{k}-value é"))))
            .collect()
    }

    #[test]
    fn a_cursor_round_trips_to_the_same_start_key() {
        let c = encode(&item(), &GSI1_KEY).unwrap();
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode(&c, &GSI1_KEY, |_| true).unwrap(), item());
    }

    #[test]
    fn garbage_or_foreign_cursors_are_refused() {
        for text in ["", "zz", "abc", "7b7d", "not a cursor at all"] {
            assert!(decode(text, &GSI1_KEY, |_| true).is_err(), "{text}");
        }
        let c = encode(&item(), &GSI1_KEY).unwrap();
        assert!(decode(&c, &["pk", "sk"], |_| true).is_err());
        assert!(decode(&c, &GSI1_KEY, |k| k[GSI1PK] == "other").is_err());
    }
}
