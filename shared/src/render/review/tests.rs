use serde_json::{Value, json};

use super::*;
use crate::domain::{CampaignId, CampaignSpec, ChannelConfig};

const NOW: &str = "2025-06-01T12:00:00Z";

fn email_config(category: &str) -> ChannelConfig {
    serde_json::from_value(json!({
        "id": "01939e1c-0000-7000-8000-000000000001",
        "name": "Main sender",
        "category": category,
        "email": {"fromAddress": "news@example.com"},
        "revision": 1,
        "createdAt": NOW,
        "updatedAt": NOW
    }))
    .expect("valid channel config")
}

fn sms_config(category: &str) -> ChannelConfig {
    serde_json::from_value(json!({
        "id": "01939e1c-0000-7000-8000-000000000002",
        "name": "SMS sender",
        "category": category,
        "sms": {"senderId": "Herald"},
        "revision": 1,
        "createdAt": NOW,
        "updatedAt": NOW
    }))
    .expect("valid channel config")
}

/// A marketing email that passes review with no finding at all.
fn good_email() -> Value {
    json!({
        "name": "Newsletter",
        "type": "marketing",
        "channel": "email",
        "channelConfigId": "01939e1c-0000-7000-8000-000000000001",
        "audience": {"id": "01939e1c-0000-7000-8000-0000000000aa"},
        "content": {
            "email": {
                "subject": "News for {{default profile.firstName \"you\"}}",
                "html": "<p>Hi</p>{{#each context.items}}<p>{{name}} {{@index}}</p>{{/each}}\
                         <a href=\"{{unsubscribeUrl}}\">Unsubscribe</a>",
                "text": "Hi. Unsubscribe: {{unsubscribeUrl}}"
            }
        }
    })
}

fn version_of(spec: Value) -> CampaignVersion {
    let spec: CampaignSpec = serde_json::from_value(spec).expect("valid spec");
    let ts: Timestamp = NOW.parse().expect("timestamp");
    CampaignVersion {
        campaign_id: CampaignId::parse("01939e1c-7f2a-7c3e-9b1d-2f4a6c8e0a12").expect("uuid"),
        version: 3,
        spec,
        created_at: ts,
        updated_at: ts,
        activated_at: None,
    }
}

struct Refs<'a> {
    channel_config: Lookup<&'a ChannelConfig>,
    audience: Lookup<()>,
    rule_set: Lookup<()>,
}

fn run(spec: Value, refs: Refs<'_>) -> ReviewReport {
    let v = version_of(spec);
    review(
        &v,
        &ReviewContext {
            channel_config: refs.channel_config,
            audience: refs.audience,
            rule_set: refs.rule_set,
            now: NOW.parse().expect("timestamp"),
        },
    )
}

/// Reviews an email campaign with a matching marketing config and a found audience.
fn run_email(spec: Value) -> ReviewReport {
    let config = email_config("marketing");
    run(
        spec,
        Refs {
            channel_config: Lookup::Found(&config),
            audience: Lookup::Found(()),
            rule_set: Lookup::NotReferenced,
        },
    )
}

/// Reviews a transactional SMS/push-like campaign with no audience.
fn run_with_config(spec: Value, config: &ChannelConfig) -> ReviewReport {
    run(
        spec,
        Refs {
            channel_config: Lookup::Found(config),
            audience: Lookup::NotReferenced,
            rule_set: Lookup::NotReferenced,
        },
    )
}

fn errors(r: &ReviewReport) -> Vec<(&str, &str)> {
    r.errors
        .iter()
        .map(|f| (f.code.as_str(), f.field.as_str()))
        .collect()
}

fn warnings(r: &ReviewReport) -> Vec<(&str, &str)> {
    r.warnings
        .iter()
        .map(|f| (f.code.as_str(), f.field.as_str()))
        .collect()
}

fn with_content(mut spec: Value, content: Value) -> Value {
    spec["content"] = content;
    spec
}

#[test]
fn a_complete_campaign_passes_with_no_finding() {
    let r = run_email(good_email());
    assert_eq!(r.version, 3);
    assert!(r.passed(), "{:?}", r.errors);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn a_template_that_does_not_compile_is_a_template_syntax_error() {
    let mut s = good_email();
    s["content"]["email"]["subject"] = json!("Hi {{#if profile.vip}}VIP");
    let r = run_email(s);
    assert_eq!(
        errors(&r),
        vec![("template-syntax", "content.email.subject")]
    );
    assert!(r.errors[0].message.contains("does not compile"));
}

#[test]
fn triple_stash_is_a_triple_stash_error() {
    let mut s = good_email();
    s["content"]["email"]["text"] = json!("{{{profile.bio}}}");
    let r = run_email(s);
    assert_eq!(errors(&r), vec![("triple-stash", "content.email.text")]);
    assert!(
        r.errors[0].message.contains("{{{profile.bio}}}"),
        "{}",
        r.errors[0].message
    );
}

#[test]
fn an_unknown_root_is_flagged_but_paths_inside_each_are_not() {
    let mut s = good_email();
    s["content"]["email"]["html"] = json!(
        "<a href=\"{{unsubscribeUrl}}\">u</a>{{#each context.items}}{{name}}{{/each}}\
         {{user.name}} {{upper contxt.city}}"
    );
    let r = run_email(s);
    assert_eq!(
        errors(&r),
        vec![
            ("unknown-variable-root", "content.email.html"),
            ("unknown-variable-root", "content.email.html"),
        ]
    );
    assert!(
        r.errors[0].message.contains("{{user.name}}"),
        "{}",
        r.errors[0].message
    );
    assert!(
        r.errors[1].message.contains("{{contxt.city}}"),
        "{}",
        r.errors[1].message
    );
}

#[test]
fn an_unknown_helper_is_flagged() {
    let mut s = good_email();
    s["content"]["email"]["subject"] = json!("{{shout profile.name}}");
    let r = run_email(s);
    assert_eq!(
        errors(&r),
        vec![("unknown-helper", "content.email.subject")]
    );
    assert!(
        r.errors[0].message.contains("formatDate"),
        "lists the helpers"
    );
}

#[test]
fn a_high_throughput_campaign_reading_profile_is_flagged() {
    let config = sms_config("transactional");
    let r = run_with_config(
        json!({"name": "OTP", "type": "transactional", "channel": "sms", "highThroughput": true,
               "channelConfigId": "01939e1c-0000-7000-8000-000000000002",
               "content": {"sms": {"text": "Hi {{profile.name}}, code {{context.code}}"}}}),
        &config,
    );
    assert_eq!(
        errors(&r),
        vec![("high-throughput-profile-reference", "content.sms.text")]
    );
}

#[test]
fn a_missing_subject_and_a_missing_body_are_flagged_in_every_locale_and_variant() {
    let s = with_content(
        good_email(),
        json!({
            "email": {"subject": "S", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"},
            "locales": {"fr": {"email": {"subject": " ", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"}}},
            "variants": [{"name": "B", "weight": 50, "email": {"subject": "S", "html": "", "text": "t"}}]
        }),
    );
    let r = run_email(s);
    assert_eq!(
        errors(&r),
        vec![
            ("missing-subject", "content.locales.fr.email.subject"),
            ("missing-body", "content.variants[0].email.html"),
        ]
    );
}

#[test]
fn an_empty_sms_or_push_body_is_missing_body() {
    let config = sms_config("transactional");
    let r = run_with_config(
        json!({"name": "x", "type": "transactional", "channel": "sms",
               "channelConfigId": "01939e1c-0000-7000-8000-000000000002",
               "content": {"sms": {"text": ""}}}),
        &config,
    );
    assert_eq!(errors(&r), vec![("missing-body", "content.sms.text")]);

    let r = run(
        json!({"name": "x", "type": "transactional", "channel": "push",
               "content": {"push": {"title": "T", "body": "  "}}}),
        Refs {
            channel_config: Lookup::NotReferenced,
            audience: Lookup::NotReferenced,
            rule_set: Lookup::NotReferenced,
        },
    );
    assert_eq!(
        errors(&r),
        vec![
            ("missing-body", "content.push.body"),
            ("missing-channel-config", "channelConfigId"),
        ]
    );
}

#[test]
fn a_marketing_email_without_an_unsubscribe_link_is_flagged_per_locale() {
    let s = with_content(
        good_email(),
        json!({
            "email": {"subject": "S", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"},
            "locales": {"de": {"email": {"subject": "S", "html": "<p>Kein Link</p>", "text": "t"}}}
        }),
    );
    let r = run_email(s);
    assert_eq!(
        errors(&r),
        vec![("missing-unsubscribe-link", "content.locales.de.email.html")]
    );
    assert!(r.errors[0].message.contains("{{unsubscribeUrl}}"));
}

#[test]
fn a_transactional_email_needs_no_unsubscribe_link() {
    let mut s = good_email();
    s["type"] = json!("transactional");
    s["content"]["email"]["html"] = json!("<p>Your receipt</p>");
    let config = email_config("transactional");
    let r = run(
        s,
        Refs {
            channel_config: Lookup::Found(&config),
            audience: Lookup::NotReferenced,
            rule_set: Lookup::NotReferenced,
        },
    );
    assert!(r.passed(), "{:?}", r.errors);
}

#[test]
fn a_push_payload_certainly_over_4_kb_is_an_error() {
    let config = sms_config("transactional");
    let r = run_with_config(
        json!({"name": "x", "type": "transactional", "channel": "push",
               "channelConfigId": "01939e1c-0000-7000-8000-000000000002",
               "content": {"push": {"body": format!("{} {{{{context.x}}}}", "a".repeat(4200))}}}),
        &config,
    );
    let codes = errors(&r);
    assert!(
        codes.contains(&("push-payload-size", "content.push.body")),
        "{codes:?}"
    );
    assert!(
        r.errors
            .iter()
            .any(|f| f.message.contains("even with every variable empty"))
    );
}

#[test]
fn a_push_payload_over_4_kb_only_through_variables_is_a_warning() {
    let config = sms_config("transactional");
    // The text outside the #if block is short; with the block it is over 4 KB.
    let body = format!("Hi {{{{#if context.long}}}}{}{{{{/if}}}}", "a".repeat(4200));
    let r = run_with_config(
        json!({"name": "x", "type": "transactional", "channel": "push",
               "channelConfigId": "01939e1c-0000-7000-8000-000000000002",
               "content": {"push": {"body": body}}}),
        &config,
    );
    assert!(
        !errors(&r).contains(&("push-payload-size", "content.push.body")),
        "{:?}",
        r.errors
    );
    assert_eq!(
        warnings(&r),
        vec![("push-payload-size", "content.push.body")]
    );
    assert!(r.warnings[0].message.contains("depends on the values"));
}

#[test]
fn variant_weights_over_100_are_an_error_and_exactly_100_a_warning() {
    let variants = |a: u32, b: u32| {
        with_content(
            good_email(),
            json!({
                "email": {"subject": "S", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"},
                "variants": [
                    {"name": "B", "weight": a, "email": {"subject": "S", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"}},
                    {"name": "C", "weight": b, "email": {"subject": "S", "html": "<a href=\"{{unsubscribeUrl}}\">u</a>", "text": "t"}}
                ]
            }),
        )
    };
    let r = run_email(variants(60, 50));
    assert_eq!(errors(&r), vec![("variant-weights", "content.variants")]);
    assert!(r.errors[0].message.contains("110%"));
    let r = run_email(variants(60, 40));
    assert!(r.passed(), "{:?}", r.errors);
    assert_eq!(
        warnings(&r),
        vec![("default-variant-unused", "content.variants")]
    );
}

#[test]
fn channel_configuration_problems_are_flagged() {
    let r = run(
        good_email(),
        Refs {
            channel_config: Lookup::NotReferenced,
            audience: Lookup::Found(()),
            rule_set: Lookup::NotReferenced,
        },
    );
    assert_eq!(
        errors(&r),
        vec![("missing-channel-config", "channelConfigId")]
    );

    let r = run(
        good_email(),
        Refs {
            channel_config: Lookup::Missing,
            audience: Lookup::Found(()),
            rule_set: Lookup::NotReferenced,
        },
    );
    assert_eq!(
        errors(&r),
        vec![("channel-config-not-found", "channelConfigId")]
    );
    assert!(
        r.errors[0]
            .message
            .contains("01939e1c-0000-7000-8000-000000000001")
    );

    let sms = sms_config("marketing");
    let r = run(
        good_email(),
        Refs {
            channel_config: Lookup::Found(&sms),
            audience: Lookup::Found(()),
            rule_set: Lookup::NotReferenced,
        },
    );
    assert_eq!(
        errors(&r),
        vec![("channel-config-channel-mismatch", "channelConfigId")]
    );

    let transactional = email_config("transactional");
    let r = run(
        good_email(),
        Refs {
            channel_config: Lookup::Found(&transactional),
            audience: Lookup::Found(()),
            rule_set: Lookup::NotReferenced,
        },
    );
    assert_eq!(
        errors(&r),
        vec![("channel-config-category-mismatch", "channelConfigId")]
    );
    assert!(
        r.errors[0]
            .message
            .contains("transactional messages but this is a marketing")
    );
}

#[test]
fn missing_audience_and_rule_set_are_flagged() {
    let config = email_config("marketing");
    let mut s = good_email();
    s["ruleSetId"] = json!("01939e1c-0000-7000-8000-0000000000bb");
    let r = run(
        s,
        Refs {
            channel_config: Lookup::Found(&config),
            audience: Lookup::Missing,
            rule_set: Lookup::Missing,
        },
    );
    assert_eq!(
        errors(&r),
        vec![
            ("audience-not-found", "audience.id"),
            ("rule-set-not-found", "ruleSetId"),
        ]
    );
}

#[test]
fn a_marketing_campaign_without_audience_gets_a_warning() {
    let config = email_config("marketing");
    let mut s = good_email();
    s.as_object_mut().map(|o| o.remove("audience"));
    let r = run(
        s,
        Refs {
            channel_config: Lookup::Found(&config),
            audience: Lookup::NotReferenced,
            rule_set: Lookup::NotReferenced,
        },
    );
    assert!(r.passed());
    assert_eq!(warnings(&r), vec![("no-audience", "audience")]);
    assert!(r.warnings[0].message.contains("unitary"));
}

#[test]
fn schedule_problems_are_flagged() {
    let mut s = good_email();
    s["schedule"] = json!({"startAt": "2025-07-01T00:00:00Z", "endAt": "2025-07-01T00:00:00Z"});
    assert_eq!(
        errors(&run_email(s)),
        vec![("schedule-end-before-start", "schedule.endAt")]
    );
    let mut s = good_email();
    s["schedule"] = json!({"endAt": "2025-06-01T11:59:59Z"});
    assert_eq!(
        errors(&run_email(s)),
        vec![("schedule-ended", "schedule.endAt")]
    );
}

#[test]
fn a_long_sms_template_gets_a_segment_warning_that_says_how_it_was_counted() {
    let config = sms_config("transactional");
    let r = run_with_config(
        json!({"name": "x", "type": "transactional", "channel": "sms",
               "channelConfigId": "01939e1c-0000-7000-8000-000000000002",
               "content": {"sms": {"text": format!("{} {{{{context.code}}}} 🎉", "a".repeat(200))}}}),
        &config,
    );
    assert!(r.passed());
    assert_eq!(warnings(&r), vec![("sms-segments", "content.sms.text")]);
    let m = &r.warnings[0].message;
    assert!(m.contains("UCS-2") && m.contains("4 segments"), "{m}");
    assert!(m.contains("variables as written"), "{m}");
}

#[test]
fn an_email_without_text_gets_an_informational_warning() {
    let mut s = good_email();
    s["content"]["email"]
        .as_object_mut()
        .map(|o| o.remove("text"));
    let r = run_email(s);
    assert!(r.passed());
    assert_eq!(
        warnings(&r),
        vec![("missing-text-part", "content.email.text")]
    );
}

#[test]
fn untranslated_ajo_syntax_gets_a_warning() {
    let mut s = good_email();
    s["content"]["email"]["subject"] = json!("{%#if profile.vip %}VIP{%/if%} {%= profile.name %}");
    let r = run_email(s);
    assert!(r.passed(), "{:?}", r.errors);
    assert_eq!(
        warnings(&r),
        vec![
            ("ajo-syntax-unsupported", "content.email.subject"),
            ("ajo-syntax-unsupported", "content.email.subject"),
        ]
    );
}
