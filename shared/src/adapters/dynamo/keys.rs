//! The key of every item. Partition keys are `{entity}#{id}`; an entity stored whole uses the
//! sort key `_`. See `docs/data-model.md`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::domain::execution::CountScope;
use crate::domain::{
    AudienceId, CampaignId, Channel, ExecutionId, Identity, MessageId, ProfileId, ScheduleId,
};
use crate::ports::RequestKey;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
/// The keys-only index of messages (see `docs/data-model.md`).
pub(crate) const GSI2: &str = "gsi2";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";
/// The attribute holding the stored revision (the domain values' own `revision` field).
pub(crate) const REVISION: &str = "revision";
/// Identity claims: the profile that holds the identity.
pub(crate) const PROFILE_ID: &str = "profileId";

/// The table's TTL attribute (epoch seconds); DynamoDB deletes the item some time after.
pub(crate) const EXPIRES_AT: &str = "expiresAt";
/// The exact expiry (epoch nanoseconds) that conditions compare with; `expiresAt` is only
/// its rounded-up copy for TTL.
pub(crate) const EXPIRES_AT_NS: &str = "expiresAtNs";

/// Sort key of an entity stored as one item.
pub(crate) const WHOLE: &str = "_";
/// Attributes that are keys, not part of the domain value.
pub(crate) const KEY_ATTRIBUTES: [&str; 6] = [PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK];
/// Key attributes of a base-table item (cursors of base-table queries).
pub(crate) const TABLE_KEY: [&str; 2] = [PK, SK];
/// Key attributes of a `gsi1` item (cursors of `gsi1` queries).
pub(crate) const GSI1_KEY: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];
/// Key attributes of a `gsi2` item (cursors of `gsi2` queries).
pub(crate) const GSI2_KEY: [&str; 4] = [PK, SK, GSI2PK, GSI2SK];

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

/// The idempotency record of a trigger. A request id too long for a key is keyed by its hash.
pub(crate) fn request_pk(key: &RequestKey) -> String {
    format!("request#{}#{}", key.campaign_id, long_key(&key.request_id))
}

pub(crate) fn execution_pk(id: ExecutionId) -> String {
    format!("execution#{id}")
}

pub(crate) fn message_pk(id: &MessageId) -> String {
    format!("message#{id}")
}

/// The `gsi2pk` under which an execution's messages are listed (by `gsi2sk = {messageId}`).
pub(crate) fn messages_gsi2pk(execution: ExecutionId) -> String {
    format!("messages#{execution}")
}

/// The pointer from a provider (SES/SNS) message id to Herald's message id.
pub(crate) fn provider_message_pk(provider_message_id: &str) -> String {
    format!("providerMessage#{}", long_key(provider_message_id))
}

pub(crate) fn counts_pk(scope: CountScope) -> String {
    match scope {
        CountScope::Execution(id) => format!("counts#execution#{id}"),
        CountScope::CampaignVersion(id, version) => format!("counts#campaign#{id}#v{version}"),
    }
}

pub(crate) fn cap_pk(counter_key: &str) -> String {
    format!("cap#{}", long_key(counter_key))
}

pub(crate) fn pace_pk(campaign: CampaignId) -> String {
    format!("pace#{campaign}")
}

pub(crate) fn schedule_pk(id: ScheduleId) -> String {
    format!("schedule#{id}")
}

pub(crate) fn hold_pk(id: &MessageId) -> String {
    format!("hold#{id}")
}

/// `gsi1pk` of schedules still `Scheduled` (a sparse index: the keys go when they fire or are
/// cancelled), by `gsi1sk = {sortable executeAt}#{scheduleId}`.
pub(crate) const SCHEDULES_DUE: &str = "schedule#due";
/// `gsi1pk` of held messages, by `gsi1sk = {sortable releaseAt}#{messageId}`.
pub(crate) const HOLDS_DUE: &str = "hold#due";

/// The `gsi1sk` of something due at `at`: fixed-width time, then the id as a tiebreak.
pub(crate) fn due_gsi1sk(at: jiff::Timestamp, id: &str) -> String {
    format!("{}#{id}", sortable_instant(at))
}

/// An exclusive upper bound on the `gsi1sk` of everything due at or before `now` (`$` sorts
/// right after the `#` that follows the time).
pub(crate) fn due_bound(now: jiff::Timestamp) -> String {
    format!("{}$", sortable_instant(now))
}

/// Nanoseconds since the earliest instant jiff represents, zero-padded to 21 digits, so text
/// order is time order for every timestamp (also before 1970).
pub(crate) fn sortable_instant(at: jiff::Timestamp) -> String {
    let since_min = at.as_nanosecond() - jiff::Timestamp::MIN.as_nanosecond();
    format!("{since_min:021}")
}

/// Orders channels in `gsi1sk` as [`Channel`]'s `Ord` does (email, sms, push).
fn channel_rank(channel: Channel) -> usize {
    Channel::ALL
        .iter()
        .position(|c| *c == channel)
        .unwrap_or(Channel::ALL.len())
}

/// Free text (an address, a request id) used verbatim in a key when it fits, else as
/// `#sha256#{hex}`.
fn long_key(text: &str) -> String {
    if text.len() <= MAX_ADDRESS_KEY_BYTES {
        text.to_string()
    } else {
        let digest = Sha256::digest(text.as_bytes());
        format!("#sha256#{}", hex::encode(digest))
    }
}

pub(crate) fn suppression_pk(channel: Channel, address: &str) -> String {
    format!("{SUPPRESSION_KIND}#{channel}#{}", long_key(address))
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
    fn due_keys_sort_in_time_order_and_the_bound_includes_now() {
        use jiff::Timestamp;
        let early = Timestamp::from_second(-1).unwrap();
        let epoch = Timestamp::UNIX_EPOCH;
        let later = Timestamp::from_nanosecond(1).unwrap();
        let far = Timestamp::MAX;
        let keys: Vec<String> = [early, epoch, later, far]
            .iter()
            .map(|t| due_gsi1sk(*t, "id"))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys.iter().all(|k| k.len() == keys[0].len()));
        assert!(due_gsi1sk(later, "zzz") < due_bound(later));
        assert!(due_gsi1sk(later, "zzz") >= due_bound(epoch));
        assert_eq!(sortable_instant(Timestamp::MIN), "0".repeat(21));
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
