//! DynamoDB's documented sizing rules, applied to items in DynamoDB JSON (`{"pk": {"S": "…"}}`,
//! the wire form every request and response body uses).
//!
//! - An item's size is the sum, over its attributes, of the UTF-8 length of the name plus the
//!   size of the value: a string its UTF-8 length, a binary its raw length, a number about one
//!   byte per two significant digits plus one, a boolean or null one byte, a list or map 3 bytes
//!   plus its elements (map keys counted like names) plus one byte per element, a set the sum of
//!   its elements.
//! - Writes: 1 write unit per started KB of the item (at least 1); a transactional write costs
//!   twice that; every global secondary index the item appears in is written separately.
//! - Reads: 1 read unit per started 4 KB read strongly consistently (at least 1), half for an
//!   eventually consistent read, twice for a transactional read; a Query sums the sizes of the
//!   items it returns before rounding.
//!
//! The benchmark uses these rules to cross-check what DynamoDB Local reports, and instead of a
//! report for any call Local does not report on.

use serde_json::{Map, Value};

/// Bytes one write unit covers.
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// Bytes one read unit covers.
pub const READ_UNIT_BYTES: u64 = 4096;

/// The size of an item in DynamoDB JSON.
pub fn item_bytes(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_bytes(value))
        .sum()
}

/// The size of one attribute value in DynamoDB JSON (`{"S": "abc"}` is 3 bytes). Anything that
/// is not a typed value counts as nothing.
pub fn value_bytes(value: &Value) -> u64 {
    let Some((kind, v)) = value.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), v) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => number_bytes(n),
        ("B", Value::String(b)) => base64_len(b),
        ("BOOL" | "NULL", _) => 1,
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_bytes(v) + 1)
                .sum::<u64>()
        }
        ("L", Value::Array(l)) => 3 + l.iter().map(|v| value_bytes(v) + 1).sum::<u64>(),
        ("SS", Value::Array(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        ("NS", Value::Array(l)) => l.iter().filter_map(Value::as_str).map(number_bytes).sum(),
        ("BS", Value::Array(l)) => l.iter().filter_map(Value::as_str).map(base64_len).sum(),
        _ => 0,
    }
}

/// About one byte per two significant digits, plus one (leading and trailing zeros trimmed).
pub fn number_bytes(n: &str) -> u64 {
    let mantissa = n.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.max(1).div_ceil(2) + 1
}

/// The decoded length of base64 text.
fn base64_len(b: &str) -> u64 {
    let padding = b.bytes().rev().take_while(|c| *c == b'=').count() as u64;
    (b.len() as u64 / 4 * 3).saturating_sub(padding)
}

/// Write units of one (non-transactional) write of an item of `bytes`.
pub fn write_units(bytes: u64) -> u64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1)
}

/// Read units of reading `bytes` in one GetItem or one Query page.
pub fn read_units(bytes: u64, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn strings_count_their_name_and_utf8_bytes() {
        let item = map(json!({"pk": {"S": "abc"}, "sk": {"S": "é"}}));
        assert_eq!(item_bytes(&item), 2 + 3 + 2 + 2);
    }

    #[test]
    fn numbers_cost_a_byte_per_two_significant_digits_plus_one() {
        assert_eq!(number_bytes("123.45"), 4);
        assert_eq!(number_bytes("1000"), 2);
        assert_eq!(number_bytes("-0.0071"), 2);
        assert_eq!(number_bytes("1772452800000000000"), 5);
        assert_eq!(number_bytes("0"), 2);
    }

    #[test]
    fn maps_and_lists_carry_three_bytes_and_one_per_element() {
        let v = json!({"M": {"a": {"S": "xy"}, "b": {"BOOL": true}}});
        assert_eq!(value_bytes(&v), 3 + (1 + 2 + 1) + (1 + 1 + 1));
        let l = json!({"L": [{"S": "xy"}, {"NULL": true}]});
        assert_eq!(value_bytes(&l), 3 + (2 + 1) + (1 + 1));
        assert_eq!(value_bytes(&json!({"M": {}})), 3);
    }

    #[test]
    fn binary_counts_decoded_bytes() {
        assert_eq!(value_bytes(&json!({"B": "aGVsbG8="})), 5);
    }

    #[test]
    fn a_write_unit_covers_a_started_kilobyte_and_a_read_unit_four() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
    }
}
