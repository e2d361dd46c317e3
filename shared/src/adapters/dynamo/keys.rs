//! The key of every item. Partition keys are `{entity}#{id}`; an entity stored whole uses the
//! sort key `_`. See `docs/data-model.md`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::domain::{AudienceId, CampaignId, Channel, Identity, ProfileId};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
/// The attribute holding the stored revision (the domain values' own `revision` field).
pub(crate) const REVISION: &str = "revision";
/// Identity claims: the profile that holds the identity.
pub(crate) const PROFILE_ID: &str = "profileId";

/// Sort key of an entity stored as one item.
pub(crate) const WHOLE: &str = "_";
/// Attributes that are keys, not part of the domain value.
pub(crate) const KEY_ATTRIBUTES: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];
/// Key attributes of a base-table item (cursors of base-table queries).
pub(crate) const TABLE_KEY: [&str; 2] = [PK, SK];
/// Key attributes of a `gsi1` item (cursors of `gsi1` queries).
pub(crate) const GSI1_KEY: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];

pub(crate) const CAMPAIGN_KIND: &str = "campaign";
pub(crate) const PROFILE_KIND: &str = "profile";
pub(crate) const VERSION_PREFIX: &str = "v#";
pub(crate) const SUPPRESSION_KIND: &str = "suppression";

/// Longest address used verbatim in a key; longer ones (push tokens can be 4 KB, a partition
/// key at most 2 KB) are keyed by their SHA-256.
const MAX_ADDRESS_KEY_BYTES: usize = 1000;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

pub(crate) fn record_pk(kind: &str, key: &str) -> String {
    format!("{kind}#{key}")
}

pub(crate) fn campaign_pk(id: CampaignId) -> String {
    format!("{CAMPAIGN_KIND}#{id}")
}

pub(crate) fn version_sk(version: u32) -> String {
    format!("{VERSION_PREFIX}{version:010}")
}

pub(crate) fn profile_pk(id: ProfileId) -> String {
    format!("{PROFILE_KIND}#{id}")
}

pub(crate) fn identity_pk(identity: &Identity) -> String {
    format!("identity#{}#{}", identity.namespace, identity.value)
}

pub(crate) fn members_pk(audience: AudienceId) -> String {
    format!("members#{audience}")
}

/// Orders channels in `gsi1sk` as [`Channel`]'s `Ord` does (email, sms, push).
fn channel_rank(channel: Channel) -> usize {
    Channel::ALL
        .iter()
        .position(|c| *c == channel)
        .unwrap_or(Channel::ALL.len())
}

fn address_key(address: &str) -> String {
    if address.len() <= MAX_ADDRESS_KEY_BYTES {
        address.to_string()
    } else {
        let digest = Sha256::digest(address.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("#sha256#{hex}")
    }
}

pub(crate) fn suppression_pk(channel: Channel, address: &str) -> String {
    format!("{SUPPRESSION_KIND}#{channel}#{}", address_key(address))
}

/// The `gsi1sk` prefix of one channel's suppressions.
pub(crate) fn suppression_channel_prefix(channel: Channel) -> String {
    format!("{}#", channel_rank(channel))
}

/// `{channel rank}#{address}`; an over-long address is cut at a character boundary (sort keys
/// are at most 1 KB), which only blurs the order among addresses sharing 1000 bytes.
pub(crate) fn suppression_gsi1sk(channel: Channel, address: &str) -> String {
    let mut end = address.len().min(MAX_ADDRESS_KEY_BYTES);
    while !address.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", suppression_channel_prefix(channel), &address[..end])
}

/// Just the table key (`pk`, `sk`) of an item.
pub(crate) fn table_key(item: &Item) -> Item {
    TABLE_KEY
        .iter()
        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The string value of attribute `name`, if the item has one.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_number_as_text() {
        assert!(version_sk(9) < version_sk(10));
        assert_eq!(version_sk(1), "v#0000000001");
    }

    #[test]
    fn suppressions_of_each_channel_sort_in_channel_order() {
        let e = suppression_gsi1sk(Channel::Email, "zed@example.com");
        let s = suppression_gsi1sk(Channel::Sms, "+14155550000");
        let p = suppression_gsi1sk(Channel::Push, "aaaa");
        assert!(e < s && s < p, "{e} {s} {p}");
    }

    #[test]
    fn an_over_long_address_is_keyed_by_its_hash_and_fits_a_key() {
        let token = "é".repeat(3000);
        let pk = suppression_pk(Channel::Push, &token);
        assert!(pk.len() < 200, "{pk}");
        assert_ne!(pk, suppression_pk(Channel::Push, &"é".repeat(2999)));
        assert!(suppression_gsi1sk(Channel::Push, &token).len() <= 1024);
    }
}
