//! DynamoDB adapter tests on DynamoDB Local: the table made from `template.yaml`, the item layout
//! `docs/data-model.md` documents, cursors, batching and conflict mapping. The behaviour every
//! store shares is in `contract_dynamodb.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, TimeToLiveStatus,
};
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::domain::{
    Audience, AudienceId, Campaign, CampaignId, CampaignVersion, Channel, CountDelta, CountScope,
    ExecutionId, HeldMessage, Identity, MessageId, MessageRecord, OutcomeKind, Profile, ProfileId,
    RecipientKey, ScheduleId, ScheduledExecution, Suppression,
};
use herald_core::ports::{
    AcceptanceStore, AudienceMemberStore, Begin, CampaignStore, CapCounter, CapStore, Claim,
    Conflict, CountStore, HoldStore, MessageStore, PageRequest, ProfileStore, RecordStore,
    RequestKey, ScheduleStore, StoreError, SuppressionStore,
};
use herald_tests::dynamo_local;
use jiff::Timestamp;
use serde_json::json;

const AT: &str = "2026-01-01T00:00:00Z";

fn campaign(id: CampaignId, revision: u64, latest: u32) -> Campaign {
    serde_json::from_value(json!({
        "id": id, "name": "Welcome", "type": "marketing", "channel": "email", "status": "draft",
        "draftVersion": latest, "latestVersion": latest, "revision": revision,
        "createdAt": AT, "updatedAt": AT
    }))
    .unwrap()
}

fn version(id: CampaignId, version: u32) -> CampaignVersion {
    serde_json::from_value(json!({
        "campaignId": id, "version": version, "createdAt": AT, "updatedAt": AT,
        "spec": {
            "name": "Welcome", "type": "marketing", "channel": "email",
            "content": {
                "email": {"subject": "Hi {{profile.firstName}}", "html": "<p>Hi</p>"},
                "locales": {"fr": {"email": {"subject": "Salut", "html": "<p>Salut</p>"}}},
                "variants": [{"name": "B", "weight": 30, "email": {"subject": "Hey", "html": "<p>Hey</p>"}}]
            },
            "schedule": {"startAt": AT}
        }
    }))
    .unwrap()
}

fn profile(email: &str, attributes: serde_json::Value) -> Profile {
    serde_json::from_value(json!({
        "id": ProfileId::new(), "identities": {"email": email}, "attributes": attributes,
        "revision": 1, "createdAt": AT, "updatedAt": AT
    }))
    .unwrap()
}

fn suppression(channel: Channel, address: &str) -> Suppression {
    serde_json::from_value(json!({
        "channel": channel, "address": address, "reason": "hardBounce", "createdAt": AT
    }))
    .unwrap()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

async fn raw_get(
    store: &DynamoStore,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", s(pk))
        .key("sk", s(sk))
        .send()
        .await
        .unwrap()
        .item
}

async fn partition(store: &DynamoStore, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
    store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(pk))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn a_table_made_from_the_template_has_its_keys_indexes_ttl_and_billing_mode() {
    let client = dynamo_local::client().await;
    let name = dynamo_local::fresh_table(&client).await;
    let table = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [("pk", KeyType::Hash), ("sk", KeyType::Range)]);
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let mut indexes: Vec<(&str, Vec<&str>, Option<&ProjectionType>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            (
                g.index_name().unwrap_or_default(),
                g.key_schema().iter().map(|k| k.attribute_name()).collect(),
                g.projection().and_then(|p| p.projection_type()),
            )
        })
        .collect();
    indexes.sort_by_key(|(name, _, _)| *name);
    assert_eq!(
        indexes,
        [
            ("gsi1", vec!["gsi1pk", "gsi1sk"], Some(&ProjectionType::All)),
            (
                "gsi2",
                vec!["gsi2pk", "gsi2sk"],
                Some(&ProjectionType::KeysOnly)
            ),
        ]
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn a_campaign_and_its_versions_share_one_partition() {
    let store = dynamo_local::fresh_store().await;
    let id = CampaignId::new();
    store
        .insert_campaign(&campaign(id, 1, 1), &version(id, 1))
        .await
        .unwrap();
    store
        .update_campaign(&campaign(id, 2, 2), 1, &[version(id, 2)])
        .await
        .unwrap();

    let pk = format!("campaign#{id}");
    let record = raw_get(&store, &pk, "_")
        .await
        .expect("the campaign record");
    assert_eq!(record["gsi1pk"], s("campaign"));
    assert_eq!(record["gsi1sk"], s(&id.to_string()));
    assert_eq!(record["revision"], AttributeValue::N("2".into()));
    assert!(raw_get(&store, &pk, "v#0000000002").await.is_some());
    let sks: Vec<AttributeValue> = partition(&store, &pk)
        .await
        .into_iter()
        .map(|i| i["sk"].clone())
        .collect();
    assert_eq!(sks, [s("_"), s("v#0000000001"), s("v#0000000002")]);
    // Flattened and tagged content survives the trip through native attribute maps.
    assert_eq!(
        store.get_campaign_version(id, 1).await.unwrap(),
        Some(version(id, 1))
    );
}

#[tokio::test]
async fn deleting_a_campaign_empties_its_partition() {
    let store = dynamo_local::fresh_store().await;
    let id = CampaignId::new();
    store
        .insert_campaign(&campaign(id, 1, 1), &version(id, 1))
        .await
        .unwrap();
    // More versions than one transaction can delete: the rest go in batches.
    let more: Vec<CampaignVersion> = (2..=99).map(|v| version(id, v)).collect();
    store
        .update_campaign(&campaign(id, 2, 99), 1, &more)
        .await
        .unwrap();
    let more: Vec<CampaignVersion> = (100..=130).map(|v| version(id, v)).collect();
    store
        .update_campaign(&campaign(id, 3, 130), 2, &more)
        .await
        .unwrap();
    assert_eq!(
        partition(&store, &format!("campaign#{id}")).await.len(),
        131
    );
    let stale = store.delete_campaign(id, 2).await.unwrap_err();
    assert!(
        matches!(stale, StoreError::Conflict(Conflict::RevisionMismatch)),
        "{stale:?}"
    );
    store.delete_campaign(id, 3).await.unwrap();
    assert!(
        partition(&store, &format!("campaign#{id}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_cursor_resumes_exactly_after_the_last_item_and_the_last_page_has_none() {
    let store = dynamo_local::fresh_store().await;
    let mut ids: Vec<CampaignId> = (0..7).map(|_| CampaignId::new()).collect();
    for id in &ids {
        store
            .insert_campaign(&campaign(*id, 1, 1), &version(*id, 1))
            .await
            .unwrap();
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let got = store.list_campaigns(&page).await.unwrap();
        sizes.push(got.items.len());
        seen.extend(got.items.iter().map(|c| c.id));
        match got.next {
            Some(next) => {
                assert!(
                    next.bytes().all(|b| b.is_ascii_hexdigit()),
                    "URL-safe: {next}"
                );
                page.cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, ids);

    // Exactly one full page: no cursor to an empty page.
    let all = store.list_campaigns(&PageRequest::first(7)).await.unwrap();
    assert_eq!(all.items.len(), 7);
    assert_eq!(all.next, None);
}

#[tokio::test]
async fn a_garbage_or_foreign_cursor_is_refused_with_a_clear_error() {
    let store = dynamo_local::fresh_store().await;
    let audience = AudienceId::new();
    let members: Vec<ProfileId> = (0..3).map(|_| ProfileId::new()).collect();
    store.add_members(audience, &members).await.unwrap();
    let members_cursor = store
        .list_members(audience, &PageRequest::first(1))
        .await
        .unwrap()
        .next
        .unwrap();

    for cursor in ["garbage", "7b7d", members_cursor.as_str()] {
        let page = PageRequest {
            cursor: Some(cursor.to_string()),
            limit: 10,
        };
        let err = store.list_campaigns(&page).await.unwrap_err();
        assert!(
            err.to_string().contains("cursor") || format!("{err:?}").contains("cursor"),
            "{err:?}"
        );
    }
    // Nor may one audience's cursor read another's members.
    let page = PageRequest {
        cursor: Some(members_cursor),
        limit: 10,
    };
    assert!(store.list_members(AudienceId::new(), &page).await.is_err());
}

#[tokio::test]
async fn identity_claims_are_items_naming_their_profile_and_a_taken_one_is_named() {
    let store = dynamo_local::fresh_store().await;
    let ann = profile("ann@example.com", json!({}));
    let email = Identity::parse("email", "ann@example.com").unwrap();
    store
        .save_profile(&ann, None, std::slice::from_ref(&email), &[])
        .await
        .unwrap();
    let claim = raw_get(&store, "identity#email#ann@example.com", "_")
        .await
        .expect("the claim item");
    assert_eq!(claim["profileId"], s(&ann.id.to_string()));
    assert!(
        raw_get(&store, &format!("profile#{}", ann.id), "_")
            .await
            .is_some()
    );

    let bob = profile("bob@example.com", json!({}));
    let phone = Identity::parse("phone", "+14155552671").unwrap();
    let err = store
        .save_profile(&bob, None, &[phone.clone(), email.clone()], &[])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict(Conflict::IdentityTaken(i)) => assert_eq!(i, email),
        other => panic!("expected IdentityTaken, got {other:?}"),
    }
    // Nothing of the refused write was kept.
    assert!(store.get_profile(bob.id).await.unwrap().is_none());
    assert!(store.find_profile(&phone).await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_profile_removes_its_claims() {
    let store = dynamo_local::fresh_store().await;
    let ann = profile("ann@example.com", json!({}));
    let email = Identity::parse("email", "ann@example.com").unwrap();
    store
        .save_profile(&ann, None, std::slice::from_ref(&email), &[])
        .await
        .unwrap();
    assert!(store.delete_profile(ann.id).await.unwrap());
    assert!(
        raw_get(&store, "identity#email#ann@example.com", "_")
            .await
            .is_none()
    );
    assert!(!store.delete_profile(ann.id).await.unwrap());
}

#[tokio::test]
async fn profiles_list_through_the_index_in_id_order_past_other_items() {
    let store = dynamo_local::fresh_store().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = profile(&format!("p{i}@example.com"), json!({"n": i}));
        store.save_profile(&p, None, &[], &[]).await.unwrap();
        ids.push(p.id);
        store
            .put_suppression(&suppression(Channel::Email, &format!("x{i}@example.com")))
            .await
            .unwrap();
    }
    let item = raw_get(&store, &format!("profile#{}", ids[0]), "_")
        .await
        .unwrap();
    assert_eq!(item["gsi1pk"], s("profile"));
    assert_eq!(item["gsi1sk"], s(&ids[0].to_string()));
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = store.list_profiles(&page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.iter().map(|p| p.id));
        match got.next {
            Some(n) => page.cursor = Some(n),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn json_attributes_keep_their_values_as_native_attributes() {
    let store = dynamo_local::fresh_store().await;
    let attributes = json!({
        "firstName": "Ann", "score": 4.5, "visits": 12, "vip": true, "nothing": null,
        "address": {"city": "Lyon", "zip": "69001"}, "tags": ["a", 1, false], "empty": ""
    });
    let p = profile("ann@example.com", attributes.clone());
    store.save_profile(&p, None, &[], &[]).await.unwrap();
    let back = store.get_profile(p.id).await.unwrap().unwrap();
    assert_eq!(serde_json::Value::Object(back.attributes), attributes);
    let item = raw_get(&store, &format!("profile#{}", p.id), "_")
        .await
        .unwrap();
    assert!(
        matches!(item["attributes"], AttributeValue::M(_)),
        "{:?}",
        item["attributes"]
    );
}

#[tokio::test]
async fn a_rule_audience_record_round_trips_and_lists_through_the_index() {
    let store = dynamo_local::fresh_store().await;
    let audience: Audience = serde_json::from_value(json!({
        "id": AudienceId::new(), "name": "VIPs", "kind": "rule",
        "rule": {"match": "any", "conditions": [{"attribute": "score", "op": "gte", "value": 4.5}]},
        "revision": 1, "createdAt": AT, "updatedAt": AT
    }))
    .unwrap();
    store.insert_record(&audience).await.unwrap();
    let key = audience.id.to_string();
    let item = raw_get(&store, &format!("audience#{key}"), "_")
        .await
        .unwrap();
    assert_eq!(item["gsi1pk"], s("audience"));
    assert_eq!(item["gsi1sk"], s(&key));
    let listed = store
        .list_records::<Audience>(&PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, [audience]);
}

#[tokio::test]
async fn members_are_written_in_batches_and_counted_across_pages() {
    let store = dynamo_local::fresh_store().await;
    let audience = AudienceId::new();
    let mut members: Vec<ProfileId> = (0..60).map(|_| ProfileId::new()).collect();
    let mut with_duplicates = members.clone();
    with_duplicates.extend_from_slice(&members[..10]);
    store.add_members(audience, &with_duplicates).await.unwrap();
    assert_eq!(store.count_members(audience).await.unwrap(), 60);

    members.sort();
    let first = store
        .list_members(audience, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(first.items, members[..50]);
    let item = raw_get(
        &store,
        &format!("members#{audience}"),
        &members[0].to_string(),
    )
    .await;
    assert!(
        item.is_some(),
        "one item per member in the audience's partition"
    );

    store
        .remove_members(audience, &members[..30])
        .await
        .unwrap();
    assert_eq!(store.count_members(audience).await.unwrap(), 30);
    store.clear_members(audience).await.unwrap();
    assert_eq!(store.count_members(audience).await.unwrap(), 0);
}

#[tokio::test]
async fn suppressions_list_in_channel_then_address_order_and_filter_by_channel() {
    let store = dynamo_local::fresh_store().await;
    for (c, a) in [
        (Channel::Push, "token-b"),
        (Channel::Sms, "+14155550002"),
        (Channel::Email, "zed@example.com"),
        (Channel::Email, "amy@example.com"),
        (Channel::Sms, "+14155550001"),
    ] {
        assert!(store.put_suppression(&suppression(c, a)).await.unwrap());
    }
    assert!(
        !store
            .put_suppression(&suppression(Channel::Email, "amy@example.com"))
            .await
            .unwrap()
    );
    let all = store
        .list_suppressions(None, &PageRequest::first(10))
        .await
        .unwrap();
    let order: Vec<(Channel, &str)> = all
        .items
        .iter()
        .map(|s| (s.channel, s.address.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (Channel::Email, "amy@example.com"),
            (Channel::Email, "zed@example.com"),
            (Channel::Sms, "+14155550001"),
            (Channel::Sms, "+14155550002"),
            (Channel::Push, "token-b"),
        ]
    );
    let sms = store
        .list_suppressions(Some(Channel::Sms), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(sms.items[0].address, "+14155550001");
    let rest = store
        .list_suppressions(
            Some(Channel::Sms),
            &PageRequest {
                cursor: sms.next,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].address, "+14155550002");
    assert_eq!(rest.next, None);
}

#[tokio::test]
async fn a_push_token_longer_than_a_key_can_hold_is_still_suppressed() {
    let store = dynamo_local::fresh_store().await;
    let token = "t".repeat(4000);
    assert!(
        store
            .put_suppression(&suppression(Channel::Push, &token))
            .await
            .unwrap()
    );
    let got = store.get_suppression(Channel::Push, &token).await.unwrap();
    assert_eq!(got.map(|s| s.address), Some(token.clone()));
    assert!(
        store
            .get_suppression(Channel::Push, &token[..3999])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .delete_suppression(Channel::Push, &token)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_suppression(Channel::Push, &token)
            .await
            .unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Execution side
// ---------------------------------------------------------------------------------------------

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn raw_put(store: &DynamoStore, item: HashMap<String, AttributeValue>) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn message(execution: ExecutionId, user: &str) -> MessageRecord {
    let recipient = RecipientKey {
        namespace: "email".into(),
        user_id: user.into(),
    };
    serde_json::from_value(json!({
        "id": MessageId::derive(execution, &recipient, Channel::Email),
        "executionId": execution, "campaignId": CampaignId::new(), "campaignVersion": 1,
        "channel": "email", "recipient": recipient, "address": user, "outcome": "pending",
        "createdAt": AT, "updatedAt": AT
    }))
    .unwrap()
}

fn sent(m: &MessageRecord, provider_id: &str) -> MessageRecord {
    MessageRecord {
        outcome: OutcomeKind::Sent,
        provider_message_id: Some(provider_id.into()),
        ..m.clone()
    }
}

#[tokio::test]
async fn a_listing_page_and_a_batch_read_of_more_than_100_messages_keep_every_one() {
    // BatchGetItem reads 100 keys at a time and returns them in any order, and refuses a key
    // given twice.
    let store = dynamo_local::fresh_store().await;
    let execution = ExecutionId::new();
    let mut ids = Vec::new();
    for i in 0..230 {
        let m = message(execution, &format!("u{i}@example.com"));
        store
            .claim_message(&m, &CountDelta::default())
            .await
            .unwrap();
        ids.push(m.id);
    }
    let page = store
        .list_messages(execution, &PageRequest::first(1000))
        .await
        .unwrap();
    assert_eq!(page.next, None);
    let listed: Vec<MessageId> = page.items.into_iter().map(|m| m.id).collect();
    let mut in_order = ids.clone();
    in_order.sort();
    assert_eq!(listed, in_order, "every message, in message-id order");

    let mut asked = ids.clone();
    asked.push(ids[7].clone());
    asked.push(MessageId::derive(
        execution,
        &RecipientKey {
            namespace: "email".into(),
            user_id: "nobody@example.com".into(),
        },
        Channel::Email,
    ));
    let mut read: Vec<MessageId> = store
        .get_messages(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    read.sort();
    assert_eq!(
        read, in_order,
        "each stored one once, the missing one left out"
    );
}

#[tokio::test]
async fn profiles_read_together_past_100_with_a_repeated_id_are_each_read_once() {
    let store = dynamo_local::fresh_store().await;
    let mut ids = Vec::new();
    for i in 0..130 {
        let p = profile(&format!("batch{i}@example.com"), json!({"n": i}));
        store.save_profile(&p, None, &[], &[]).await.unwrap();
        ids.push(p.id);
    }
    let mut asked = ids.clone();
    asked.push(ids[0]);
    asked.push(ProfileId::new());
    let mut read: Vec<ProfileId> = store
        .get_profiles(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    read.sort();
    ids.sort();
    assert_eq!(read, ids);
}

#[tokio::test]
async fn an_expired_acceptance_record_left_in_the_table_is_replaced_by_the_conditional_write() {
    let store = dynamo_local::fresh_store().await;
    let key = RequestKey {
        campaign_id: CampaignId::new(),
        request_id: "req-1".into(),
    };
    let pk = format!("request#{}#req-1", key.campaign_id);
    // A completed record with another body that expired an hour ago: TTL has not deleted it
    // (DynamoDB Local never does), so only the condition can tell it is gone.
    let old = ExecutionId::new();
    raw_put(
        &store,
        HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("sk".to_string(), s("_")),
            ("bodyHash".to_string(), s("old-body")),
            ("state".to_string(), s("completed")),
            ("executionId".to_string(), s(&old.to_string())),
            ("responseStatus".to_string(), n(202)),
            ("responseBody".to_string(), s("{}")),
            (
                "leaseUntilNs".to_string(),
                n(ts("2027-01-01T00:00:30Z").as_nanosecond()),
            ),
            (
                "expiresAtNs".to_string(),
                n(ts("2027-01-02T00:00:00Z").as_nanosecond()),
            ),
            (
                "expiresAt".to_string(),
                n(ts("2027-01-02T00:00:00Z").as_second()),
            ),
        ]),
    )
    .await;

    let now = ts("2027-01-02T01:00:00Z");
    let expires_at = ts("2027-01-03T01:00:00.25Z");
    let new = ExecutionId::new();
    let begun = store
        .begin_request(
            &key,
            "new-body",
            new,
            now,
            ts("2027-01-02T01:00:30Z"),
            expires_at,
        )
        .await
        .unwrap();
    assert_eq!(begun, Begin::Started { execution_id: new });
    let item = raw_get(&store, &pk, "_").await.expect("the new record");
    assert_eq!(item["state"], s("inFlight"));
    assert_eq!(item["bodyHash"], s("new-body"));
    assert_eq!(item["executionId"], s(&new.to_string()));
    assert!(
        !item.contains_key("responseBody"),
        "nothing of the old record is left"
    );
    assert_eq!(item["expiresAtNs"], n(expires_at.as_nanosecond()));
    // TTL holds whole epoch seconds, rounded up so it never deletes a live record.
    assert_eq!(item["expiresAt"], n(expires_at.as_second() + 1));
}

#[tokio::test]
async fn a_request_id_too_long_for_a_key_is_keyed_by_its_hash() {
    let store = dynamo_local::fresh_store().await;
    let long = RequestKey {
        campaign_id: CampaignId::new(),
        request_id: "r".repeat(3000),
    };
    let shorter = RequestKey {
        request_id: "r".repeat(2999),
        ..long.clone()
    };
    let (now, lease, expiry) = (
        AT.parse().unwrap(),
        ts("2026-01-01T00:00:30Z"),
        ts("2026-01-02T00:00:00Z"),
    );
    let first = ExecutionId::new();
    assert_eq!(
        store
            .begin_request(&long, "h", first, now, lease, expiry)
            .await
            .unwrap(),
        Begin::Started {
            execution_id: first
        }
    );
    let other = ExecutionId::new();
    assert_eq!(
        store
            .begin_request(&shorter, "h", other, now, lease, expiry)
            .await
            .unwrap(),
        Begin::Started {
            execution_id: other
        },
        "a different long id is a different request"
    );
    assert_eq!(
        store
            .begin_request(&long, "h", ExecutionId::new(), now, lease, expiry)
            .await
            .unwrap(),
        Begin::InFlight { lease_until: lease }
    );
}

#[tokio::test]
async fn messages_are_indexed_under_their_execution_and_a_provider_id_gets_a_pointer_item() {
    let store = dynamo_local::fresh_store().await;
    let execution = ExecutionId::new();
    let m = message(execution, "ann@example.com");
    assert_eq!(
        store
            .claim_message(&m, &CountDelta::default())
            .await
            .unwrap(),
        Claim::Claimed
    );
    let pk = format!("message#{}", m.id);
    let item = raw_get(&store, &pk, "_").await.expect("the message item");
    assert_eq!(item["gsi2pk"], s(&format!("messages#{execution}")));
    assert_eq!(item["gsi2sk"], s(m.id.as_str()));
    assert!(
        !item.contains_key("gsi1pk"),
        "messages are not in the index that projects every attribute"
    );
    assert_eq!(item["outcome"], s("pending"));

    let first = sent(&m, "0100018c-ses-1");
    store
        .update_message(&first, OutcomeKind::Pending, &CountDelta::default())
        .await
        .unwrap();
    let pointer = raw_get(&store, "providerMessage#0100018c-ses-1", "_")
        .await
        .expect("the pointer, written before the update");
    assert_eq!(pointer["messageId"], s(m.id.as_str()));
    assert_eq!(
        store
            .find_message_by_provider_id("0100018c-ses-1")
            .await
            .unwrap(),
        Some(first.clone())
    );

    // A refused update may leave its pointer (written first, not in a transaction with the
    // message), but that pointer finds nothing: the message does not carry its id.
    let stale = sent(&m, "never-written");
    let err = store
        .update_message(&stale, OutcomeKind::Pending, &CountDelta::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::RevisionMismatch)),
        "{err:?}"
    );
    let left = raw_get(&store, "providerMessage#never-written", "_")
        .await
        .expect("the pointer of the refused update");
    assert_eq!(left["messageId"], s(m.id.as_str()));
    assert_eq!(
        store
            .find_message_by_provider_id("never-written")
            .await
            .unwrap(),
        None
    );

    // A later provider id leaves the old pointer behind, but it no longer finds the message.
    let second = sent(&m, "0100018c-ses-2");
    store
        .update_message(&second, OutcomeKind::Sent, &CountDelta::default())
        .await
        .unwrap();
    assert!(
        raw_get(&store, "providerMessage#0100018c-ses-1", "_")
            .await
            .is_some()
    );
    assert_eq!(
        store
            .find_message_by_provider_id("0100018c-ses-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_message_by_provider_id("0100018c-ses-2")
            .await
            .unwrap(),
        Some(second)
    );
}

#[tokio::test]
async fn counters_are_one_item_per_scope_with_one_number_per_name() {
    let store = dynamo_local::fresh_store().await;
    let execution = ExecutionId::new();
    let campaign = CampaignId::new();
    let delta = CountDelta(vec![
        ("targeted".into(), 2),
        ("excluded".into(), 1),
        ("excluded.NoProfile".into(), 1),
    ]);
    store
        .add_counts(CountScope::Execution(execution), &delta)
        .await
        .unwrap();
    store
        .add_counts(CountScope::CampaignVersion(campaign, 3), &delta)
        .await
        .unwrap();
    let item = raw_get(&store, &format!("counts#execution#{execution}"), "_")
        .await
        .expect("the execution's counters");
    assert_eq!(item["targeted"], n(2));
    assert_eq!(
        item["excluded.NoProfile"],
        n(1),
        "a dotted name is one attribute"
    );
    assert!(
        raw_get(&store, &format!("counts#campaign#{campaign}#v3"), "_")
            .await
            .is_some()
    );
    // A name that would overwrite a key attribute is refused, and nothing changes.
    let bad = CountDelta(vec![("sent".into(), 1), ("pk".into(), 1)]);
    assert!(
        store
            .add_counts(CountScope::Execution(execution), &bad)
            .await
            .is_err()
    );
    let counts = store
        .get_counts(CountScope::Execution(execution))
        .await
        .unwrap();
    assert_eq!((counts.targeted, counts.sent), (2, 0));
    assert_eq!(counts.excluded_by_reason["NoProfile"], 1);
}

#[tokio::test]
async fn an_expired_cap_counter_still_in_the_table_restarts_at_one_with_the_new_window() {
    let store = dynamo_local::fresh_store().await;
    let old_end = ts("2027-01-15T11:00:00Z");
    raw_put(
        &store,
        HashMap::from([
            ("pk".to_string(), s("cap#ann|all|hour")),
            ("sk".to_string(), s("_")),
            ("n".to_string(), n(5)),
            ("expiresAtNs".to_string(), n(old_end.as_nanosecond())),
            ("expiresAt".to_string(), n(old_end.as_second())),
        ]),
    )
    .await;
    let new_end = ts("2027-01-15T12:00:00Z");
    let counter = CapCounter {
        key: "ann|all|hour".into(),
        limit: 2,
        expires_at: new_end,
    };
    let now = ts("2027-01-15T11:00:00Z");
    assert_eq!(
        store
            .increment_within(std::slice::from_ref(&counter), now)
            .await
            .unwrap(),
        None
    );
    let item = raw_get(&store, "cap#ann|all|hour", "_").await.unwrap();
    assert_eq!(item["n"], n(1), "reset, not added to the old window's 5");
    assert_eq!(item["expiresAtNs"], n(new_end.as_nanosecond()));
    assert_eq!(item["expiresAt"], n(new_end.as_second()));
    assert_eq!(
        store
            .increment_within(std::slice::from_ref(&counter), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .increment_within(std::slice::from_ref(&counter), now)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        raw_get(&store, "cap#ann|all|hour", "_").await.unwrap()["n"],
        n(2)
    );
}

#[tokio::test]
async fn only_pending_schedules_and_held_messages_are_in_the_due_indexes() {
    let store = dynamo_local::fresh_store().await;
    let schedule: ScheduledExecution = serde_json::from_value(json!({
        "id": ScheduleId::new(), "campaignId": CampaignId::new(),
        "executeAt": "2027-01-15T10:00:00.5Z", "status": "Scheduled",
        "createdAt": AT, "modifiedAt": AT
    }))
    .unwrap();
    store.insert_schedule(&schedule).await.unwrap();
    let pk = format!("schedule#{}", schedule.id);
    let item = raw_get(&store, &pk, "_").await.unwrap();
    assert_eq!(item["gsi1pk"], s("schedule#due"));
    let gsi1sk = match &item["gsi1sk"] {
        AttributeValue::S(v) => v.clone(),
        other => panic!("gsi1sk is {other:?}"),
    };
    assert!(gsi1sk.ends_with(&format!("#{}", schedule.id)), "{gsi1sk}");
    assert!(
        store
            .cancel_schedule(schedule.id, ts("2027-01-15T09:00:00Z"))
            .await
            .unwrap()
    );
    let item = raw_get(&store, &pk, "_").await.unwrap();
    assert!(
        !item.contains_key("gsi1pk") && !item.contains_key("gsi1sk"),
        "the cancel took the schedule out of the index"
    );
    assert_eq!(item["status"], s("Cancelled"));

    let execution = ExecutionId::new();
    let held: HeldMessage = serde_json::from_value(json!({
        "messageId": message(execution, "ann@example.com").id,
        "releaseAt": "2027-01-15T07:00:00Z",
        "work": {
            "executionId": execution, "campaignId": CampaignId::new(), "campaignVersion": 1,
            "recipient": {"type": "aep", "userId": "ann@example.com", "namespace": "email"}
        }
    }))
    .unwrap();
    store.hold(&held).await.unwrap();
    let item = raw_get(&store, &format!("hold#{}", held.message_id), "_")
        .await
        .unwrap();
    assert_eq!(item["gsi1pk"], s("hold#due"));
    assert!(
        !item.contains_key("expiresAt"),
        "a hold lives until it is released, however late"
    );
    assert!(store.release(&held.message_id).await.unwrap());
    assert!(
        raw_get(&store, &format!("hold#{}", held.message_id), "_")
            .await
            .is_none()
    );
}
