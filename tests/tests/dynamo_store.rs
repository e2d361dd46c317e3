//! DynamoDB adapter tests on DynamoDB Local: the table made from `template.yaml`, the item layout
//! `docs/data-model.md` documents, cursors, batching and conflict mapping. The behaviour every
//! store shares is in `contract_dynamodb.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, TimeToLiveStatus,
};
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::domain::{
    Audience, AudienceId, Campaign, CampaignId, CampaignVersion, Channel, Identity, Profile,
    ProfileId, Suppression,
};
use herald_core::ports::{
    AudienceMemberStore, CampaignStore, Conflict, PageRequest, ProfileStore, RecordStore,
    StoreError, SuppressionStore,
};
use herald_tests::dynamo_local;
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
async fn a_table_made_from_the_template_has_its_keys_gsi_ttl_and_billing_mode() {
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
    let gsi = &table.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("gsi1"));
    let gsi_keys: Vec<&str> = gsi
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(gsi_keys, ["gsi1pk", "gsi1sk"]);
    assert_eq!(
        gsi.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
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
