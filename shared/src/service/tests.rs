//! Service tests on the in-memory store with a fixed clock.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::domain::profile::ProfileUpdate;
use crate::domain::{CampaignSpec, CampaignStatus, ChannelConfig, ChannelConfigSpec, Identity};
use crate::ports::{AudienceMemberStore, FixedClock};

type Svc = AdminService<MemoryStore, Arc<FixedClock>>;

fn service() -> (Svc, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new("2026-03-01T09:00:00Z".parse().unwrap()));
    (
        AdminService::new(MemoryStore::new(), clock.clone(), AdminConfig::default()),
        clock,
    )
}

fn spec(value: serde_json::Value) -> CampaignSpec {
    serde_json::from_value(value).unwrap()
}

async fn email_config(svc: &Svc, category: &str) -> ChannelConfig {
    let s: ChannelConfigSpec = serde_json::from_value(json!({
        "name": "Mail", "category": category, "email": {"fromAddress": "news@example.com"}
    }))
    .unwrap();
    svc.create_managed(s).await.unwrap()
}

async fn marketing_email(svc: &Svc, schedule: serde_json::Value) -> CampaignView {
    let cfg = email_config(svc, "marketing").await;
    svc.create_campaign(spec(json!({
        "name": "Spring sale", "type": "marketing", "channel": "email", "channelConfigId": cfg.id,
        "schedule": schedule,
        "content": {"email": {"subject": "Sale", "html": "<p>Hi {{profile.firstName}} <a href=\"{{unsubscribeUrl}}\">stop</a></p>"}}
    })))
    .await
    .unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_campaign_whose_start_lies_ahead_is_scheduled_on_activation() {
    let (svc, _) = service();
    let c = marketing_email(&svc, json!({"startAt": "2026-03-02T00:00:00Z"})).await;
    let v = svc.activate_campaign(c.campaign.id, None).await.unwrap();
    assert_eq!(v.campaign.status, CampaignStatus::Scheduled);
    assert_eq!(
        v.live.unwrap().activated_at,
        Some(at("2026-03-01T09:00:00Z"))
    );
}

#[tokio::test]
async fn activation_with_review_errors_changes_nothing() {
    let (svc, _) = service();
    let c = svc
        .create_campaign(spec(json!({"name": "x", "type": "marketing", "channel": "sms", "content": {"sms": {"text": ""}}})))
        .await
        .unwrap();
    let err = svc
        .activate_campaign(c.campaign.id, None)
        .await
        .unwrap_err();
    let ServiceError::ReviewFailed(report) = err else {
        panic!("expected ReviewFailed, got {err:?}")
    };
    assert!(
        report.errors.iter().any(|f| f.code == "missing-body"),
        "{report:?}"
    );
    let after = svc.get_campaign(c.campaign.id).await.unwrap();
    assert_eq!(after.campaign.status, CampaignStatus::Draft);
    assert_eq!(after.campaign.revision, c.campaign.revision);
}

#[tokio::test]
async fn an_explicit_stale_revision_is_refused_and_a_missing_one_is_not() {
    let (svc, _) = service();
    let c = marketing_email(&svc, json!({})).await;
    let id = c.campaign.id;
    let s = c.draft.unwrap().spec;
    svc.update_campaign(id, s.clone(), Some(1)).await.unwrap();
    let err = svc
        .update_campaign(id, s.clone(), Some(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "stale-revision");
    let v = svc.update_campaign(id, s, None).await.unwrap();
    assert_eq!(v.campaign.revision, 3);
}

#[tokio::test]
async fn concurrent_edits_without_if_match_all_land_one_after_another() {
    let (svc, _) = service();
    let svc = Arc::new(svc);
    let c = marketing_email(&svc, json!({})).await;
    let base = c.draft.unwrap().spec;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let svc = svc.clone();
            let mut s = base.clone();
            s.name = format!("edit {i}");
            tokio::spawn(async move { svc.update_campaign(c.campaign.id, s, None).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        svc.get_campaign(c.campaign.id)
            .await
            .unwrap()
            .campaign
            .revision,
        9
    );
}

#[tokio::test]
async fn a_live_campaign_edit_opens_version_two_and_activation_swaps_it_in() {
    let (svc, clock) = service();
    let c = marketing_email(&svc, json!({})).await;
    let id = c.campaign.id;
    svc.activate_campaign(id, None).await.unwrap();
    clock.advance(SignedDuration::from_hours(1));
    let mut s = c.draft.unwrap().spec;
    s.name = "Spring sale v2".into();
    let edited = svc.update_campaign(id, s, None).await.unwrap();
    assert_eq!(
        (edited.campaign.live_version, edited.campaign.draft_version),
        (Some(1), Some(2))
    );
    assert_eq!(edited.live.as_ref().unwrap().spec.name, "Spring sale");
    // Opening a draft when one is open changes nothing.
    let again = svc.open_draft(id, None).await.unwrap();
    assert_eq!(again.campaign.revision, edited.campaign.revision);
    let live = svc.activate_campaign(id, None).await.unwrap();
    assert_eq!(live.campaign.live_version, Some(2));
    assert_eq!(
        live.live.unwrap().activated_at,
        Some(at("2026-03-01T10:00:00Z"))
    );
    assert_eq!(
        svc.get_campaign_version(id, 1).await.unwrap().spec.name,
        "Spring sale"
    );
}

#[tokio::test]
async fn review_reports_a_missing_channel_configuration_audience_and_rule_set() {
    let (svc, _) = service();
    let c = svc
        .create_campaign(spec(json!({
            "name": "x", "type": "marketing", "channel": "sms",
            "channelConfigId": "0190d6a2-0000-7000-8000-000000000001",
            "audience": {"id": "0190d6a2-0000-7000-8000-000000000002"},
            "ruleSetId": "0190d6a2-0000-7000-8000-000000000003",
            "content": {"sms": {"text": "hello"}}
        })))
        .await
        .unwrap();
    let report = svc.review_campaign(c.campaign.id, None).await.unwrap();
    let codes: Vec<&str> = report.errors.iter().map(|f| f.code.as_str()).collect();
    for code in [
        "channel-config-not-found",
        "audience-not-found",
        "rule-set-not-found",
    ] {
        assert!(codes.contains(&code), "{codes:?}");
    }
}

#[tokio::test]
async fn preview_renders_a_stored_profile_with_inline_overrides_and_its_locale() {
    let (svc, _) = service();
    let cfg = email_config(&svc, "transactional").await;
    let c = svc
        .create_campaign(spec(json!({
            "name": "Hello", "type": "transactional", "channel": "email", "channelConfigId": cfg.id,
            "content": {"email": {"subject": "Hello {{profile.firstName}} from {{profile.city}}", "html": "<p>{{context.code}}</p>"},
                        "locales": {"fr": {"email": {"subject": "Bonjour {{profile.firstName}}", "html": "<p>{{context.code}}</p>"}}}}
        })))
        .await
        .unwrap();
    let key = Identity::parse("email", "ann@example.com").unwrap();
    let update: ProfileUpdate = serde_json::from_value(
        json!({"attributes": {"firstName": "Ann", "city": "Lyon"}, "locale": "fr-FR"}),
    )
    .unwrap();
    let (profile, created) = svc.upsert_profile(&key, &update).await.unwrap();
    assert!(created);
    let req: PreviewRequest = serde_json::from_value(json!({
        "profileId": profile.id, "profile": {"firstName": "Annie"}, "context": {"code": 42}
    }))
    .unwrap();
    let p = svc.preview_campaign(c.campaign.id, req).await.unwrap();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["email"]["subject"], "Bonjour Annie", "{v}");
    assert_eq!(v["locale"], "fr");
    assert_eq!(v["email"]["html"], "<p>42</p>");
}

#[tokio::test]
async fn upserting_the_same_new_identity_concurrently_creates_one_profile() {
    let (svc, _) = service();
    let svc = Arc::new(svc);
    let key = Identity::parse("email", "race@example.com").unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let svc = svc.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let u: ProfileUpdate =
                    serde_json::from_value(json!({"attributes": {format!("k{i}"): i}})).unwrap();
                svc.upsert_profile(&key, &u)
                    .await
                    .map(|(p, created)| (p.id, created))
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut creations = 0;
    for t in tasks {
        let (id, created) = t.await.unwrap().unwrap();
        ids.push(id);
        creations += usize::from(created);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one profile for one identity");
    assert_eq!(creations, 1);
    let p = svc.find_profile("email", "race@example.com").await.unwrap();
    assert_eq!(
        p.attributes.len(),
        10,
        "every update landed: {:?}",
        p.attributes
    );
}

#[tokio::test]
async fn an_import_reports_every_bad_line_and_applies_the_good_ones_in_order() {
    let (svc, _) = service();
    let body = [
        r#"{"identities": {"email": "a@example.com"}, "attributes": {"n": 1}}"#,
        r#"{"identities": {"email": "a@example.com"}, "attributes": {"n": 2}}"#,
        "",
        r#"{"attributes": {"n": 3}}"#,
        r#"not json"#,
        r#"{"identities": {"phone": "+33612345678"}, "timezone": "Nowhere/Land"}"#,
    ]
    .join("\n");
    let r = svc.import_profiles(&body).await.unwrap();
    assert_eq!((r.received, r.created, r.updated, r.failed), (5, 1, 1, 3));
    let lines: Vec<usize> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6]);
    assert_eq!(
        svc.find_profile("email", "a@example.com")
            .await
            .unwrap()
            .attributes["n"],
        2
    );
    assert!(svc.import_profiles("\n\n").await.is_err());
}

#[tokio::test]
async fn an_import_of_several_waves_applies_every_line_about_one_profile_in_file_order() {
    let (svc, _) = service();
    // A profile holding an email and a phone, updated by one line through each.
    svc.import_profiles(
        r#"{"identities": {"email": "both@example.com", "phone": "+33612345670"}}"#,
    )
    .await
    .unwrap();
    // 150 lines over 100 profiles: line i + 100 updates the profile line i created, a wave or
    // two later; the last two lines reach one profile by different identities.
    let mut lines: Vec<String> = (0..150)
        .map(|i| {
            json!({"identities": {"crmId": format!("c{}", i % 100)}, "attributes": {"n": i}})
                .to_string()
        })
        .collect();
    lines.push(
        json!({"identities": {"email": "both@example.com"}, "attributes": {"tier": "gold"}})
            .to_string(),
    );
    lines.push(
        json!({"identities": {"phone": "+33612345670"}, "attributes": {"tier": "silver"}})
            .to_string(),
    );
    let r = svc.import_profiles(&lines.join("\n")).await.unwrap();
    assert_eq!(
        (r.received, r.created, r.updated, r.failed),
        (152, 100, 52, 0),
        "{:?}",
        r.errors
    );
    for i in 0..100 {
        let p = svc.find_profile("crmId", &format!("c{i}")).await.unwrap();
        let last = if i < 50 { i + 100 } else { i };
        assert_eq!(
            p.attributes["n"], last,
            "profile c{i} has its last line's value"
        );
    }
    let both = svc.find_profile("phone", "+33612345670").await.unwrap();
    assert_eq!(both.attributes["tier"], "silver", "the later line wins");
}

#[tokio::test]
async fn an_import_matches_each_line_to_its_own_profile_when_lines_name_several_identities() {
    let (svc, _) = service();
    let created = svc
        .import_profiles(
            &(1..=3)
                .map(|i| json!({"identities": {"crmId": format!("c{i}")}}).to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .await
        .unwrap();
    assert_eq!(created.created, 3);
    // One wave: the first line names a held identity and a new one, so its two lookups answer
    // a profile and nothing; the next lines must still find their own profiles.
    let lines = [
        json!({"identities": {"crmId": "c1", "email": "new1@example.com"}, "attributes": {"n": 1}}),
        json!({"identities": {"crmId": "c2"}, "attributes": {"n": 2}}),
        json!({"identities": {"crmId": "c3"}, "attributes": {"n": 3}}),
    ]
    .map(|l| l.to_string())
    .join("\n");
    let r = svc.import_profiles(&lines).await.unwrap();
    assert_eq!(
        (r.updated, r.created, r.failed),
        (3, 0, 0),
        "{:?}",
        r.errors
    );
    for i in 1..=3 {
        let p = svc.find_profile("crmId", &format!("c{i}")).await.unwrap();
        assert_eq!(p.attributes["n"], i);
    }
    let by_mail = svc.find_profile("email", "new1@example.com").await.unwrap();
    let by_crm = svc.find_profile("crmId", "c1").await.unwrap();
    assert_eq!(by_mail.id, by_crm.id, "the new email went to c1's profile");
}

#[tokio::test]
async fn an_import_out_of_time_stops_between_waves_and_reports_the_lines_it_did_not_reach() {
    let clock = Arc::new(FixedClock::new("2026-03-01T09:00:00Z".parse().unwrap()));
    // No time at all: the first wave runs (every call makes progress), then the call stops.
    let svc = AdminService::new(
        MemoryStore::new(),
        clock,
        AdminConfig {
            import_budget: Some(jiff::SignedDuration::ZERO),
            ..AdminConfig::default()
        },
    );
    let mut lines: Vec<String> = (0..100)
        .map(|i| json!({"identities": {"crmId": format!("c{i}")}}).to_string())
        .collect();
    lines.insert(1, "not json".into());
    let r = svc.import_profiles(&lines.join("\n")).await.unwrap();
    let wave = crate::service::profiles::IMPORT_WAVE;
    assert_eq!(
        (r.received, r.created, r.failed, r.not_processed),
        (101, wave, 1, 100 - wave)
    );
    // The bad line is line 2; the first wave is lines 1 and 3..=65; line 66 is the first left.
    assert_eq!(r.resume_at_line, Some(wave + 2));
    assert!(
        svc.find_profile("crmId", &format!("c{}", wave - 1))
            .await
            .is_ok()
    );
    assert!(
        svc.find_profile("crmId", &format!("c{wave}"))
            .await
            .is_err(),
        "a line not processed is not applied"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["notProcessed"], 100 - wave);
    assert_eq!(json["resumeAtLine"], wave + 2);
}

#[tokio::test]
async fn a_static_audience_with_members_cannot_become_a_rule_audience() {
    let (svc, _) = service();
    let a = svc
        .create_audience(serde_json::from_value(json!({"name": "A", "kind": "static"})).unwrap())
        .await
        .unwrap();
    let key = Identity::parse("email", "m@example.com").unwrap();
    let (p, _) = svc
        .upsert_profile(&key, &ProfileUpdate::default())
        .await
        .unwrap();
    let members = MembersRequest {
        profile_ids: vec![p.id],
        identities: vec![],
    };
    assert_eq!(
        svc.add_audience_members(a.audience.id, &members)
            .await
            .unwrap()
            .member_count,
        1
    );
    let to_rule = serde_json::from_value(
        json!({"name": "A", "kind": "rule", "rule": {"conditions": [{"attribute": "x", "op": "exists"}]}}),
    )
    .unwrap();
    assert_eq!(
        svc.replace_audience(a.audience.id, to_rule, None)
            .await
            .unwrap_err()
            .code(),
        "conflict"
    );
    svc.delete_audience(a.audience.id, None).await.unwrap();
    assert_eq!(
        svc.store().count_members(a.audience.id).await.unwrap(),
        0,
        "deleting clears the members"
    );
}
