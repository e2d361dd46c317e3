use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::domain::CampaignSpec;

fn spec(channel: &str, content: Value) -> CampaignSpec {
    serde_json::from_value(json!({
        "name": "Test", "type": "transactional", "channel": channel, "content": content
    }))
    .expect("valid campaign spec")
}

fn compile(channel: &str, content: Value) -> CompiledCampaign {
    match CompiledCampaign::compile(&spec(channel, content)) {
        Ok(c) => c,
        Err(f) => panic!("does not compile: {f:?}"),
    }
}

fn render_with(
    c: &CompiledCampaign,
    selection: &Selection<'_>,
    profile: Value,
    context: Value,
) -> Result<Rendered, RenderError> {
    let campaign = json!({"id": "c1", "name": "Test", "version": 1});
    c.render(
        selection,
        RenderInput {
            profile,
            context,
            campaign: &campaign,
            unsubscribe_url: Some("https://u.example/unsub?t=a&b=c"),
        },
    )
}

fn render(c: &CompiledCampaign, profile: Value, context: Value) -> Rendered {
    render_with(c, &Selection::default(), profile, context).expect("renders")
}

fn email(r: Rendered) -> RenderedEmail {
    match r.message {
        RenderedMessage::Email(e) => e,
        other => panic!("not an email: {other:?}"),
    }
}

fn sms(r: Rendered) -> RenderedSms {
    match r.message {
        RenderedMessage::Sms(s) => s,
        other => panic!("not an SMS: {other:?}"),
    }
}

fn push(r: Rendered) -> RenderedPush {
    match r.message {
        RenderedMessage::Push(p) => p,
        other => panic!("not a push: {other:?}"),
    }
}

fn codes(findings: &[Finding]) -> Vec<(&str, &str)> {
    findings
        .iter()
        .map(|f| (f.code.as_str(), f.field.as_str()))
        .collect()
}

#[test]
fn an_email_renders_subject_html_text_and_preheader() {
    let c = compile(
        "email",
        json!({"email": {
            "subject": "Hi {{default profile.firstName \"there\"}}",
            "html": "<p>Your code is <b>{{context.code}}</b>.</p><p><a href=\"{{unsubscribeUrl}}\">Unsubscribe</a></p>",
            "text": "Code: {{context.code}} ({{campaign.name}})",
            "preheader": "Code {{context.code}}"
        }}),
    );
    let r = render(&c, json!({"firstName": "Ada"}), json!({"code": "1234"}));
    assert_eq!((r.variant.as_str(), r.locale.as_deref()), ("A", None));
    let e = email(r);
    assert_eq!(e.subject, "Hi Ada");
    assert_eq!(
        e.html,
        "<p>Your code is <b>1234</b>.</p><p><a href=\"https://u.example/unsub?t&#x3D;a&amp;b&#x3D;c\">Unsubscribe</a></p>"
    );
    assert_eq!(e.text, "Code: 1234 (Test)");
    assert_eq!(e.preheader.as_deref(), Some("Code 1234"));
}

#[test]
fn a_script_tag_in_a_profile_value_is_escaped_in_html_but_not_in_text_subject_or_sms() {
    let content = json!({"email": {
        "subject": "For {{profile.name}}",
        "html": "<p>Hello {{profile.name}} {{upper profile.name}}</p>",
        "text": "Hello {{profile.name}}"
    }});
    let c = compile("email", content);
    let evil = json!({"name": "<script>x</script>"});
    let e = email(render(&c, evil.clone(), json!({})));
    assert_eq!(
        e.html,
        "<p>Hello &lt;script&gt;x&lt;/script&gt; &lt;SCRIPT&gt;X&lt;/SCRIPT&gt;</p>"
    );
    assert_eq!(e.text, "Hello <script>x</script>");
    assert_eq!(e.subject, "For <script>x</script>");

    let c = compile("sms", json!({"sms": {"text": "Hi {{profile.name}} & co"}}));
    assert_eq!(
        sms(render(&c, evil, json!({}))).text,
        "Hi <script>x</script> & co"
    );
}

#[test]
fn line_breaks_in_a_subject_and_preheader_become_one_space() {
    let c = compile(
        "email",
        json!({"email": {
            "subject": "Order {{context.id}}\r\nBcc: victim@example.com",
            "html": "<p>x</p>",
            "preheader": "{{context.pre}}"
        }}),
    );
    let e = email(render(
        &c,
        json!({}),
        json!({"id": "A\r\n\r\nB", "pre": "\n line one\nline two \r\n"}),
    ));
    assert_eq!(e.subject, "Order A B Bcc: victim@example.com");
    assert!(!e.subject.contains(['\r', '\n']));
    assert_eq!(e.preheader.as_deref(), Some("line one line two"));
}

#[test]
fn the_text_part_is_derived_from_the_rendered_html_when_absent() {
    let c = compile(
        "email",
        json!({"email": {
            "subject": "s",
            "html": "<html><head><style>p{}</style></head><body><h1>Hi {{profile.name}}</h1>\
                     <p>See <a href=\"https://x.example/o/{{context.id}}\">your order</a>.</p></body></html>"
        }}),
    );
    let e = email(render(&c, json!({"name": "Ada & Bob"}), json!({"id": 7})));
    assert_eq!(
        e.text,
        "Hi Ada & Bob\n\nSee your order (https://x.example/o/7)."
    );
}

#[test]
fn an_sms_renders_with_its_encoding_and_segment_count() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "Code {{context.code}} {{context.extra}}\n"}}),
    );
    let s = sms(render(&c, json!({}), json!({"code": 42, "extra": "€"})));
    assert_eq!(s.text, "Code 42 €");
    assert_eq!((s.encoding, s.characters, s.segments), ("GSM-7", 9, 1));
    let s = sms(render(
        &c,
        json!({}),
        json!({"code": 42, "extra": "🎉".repeat(40)}),
    ));
    assert_eq!((s.encoding, s.segments), ("UCS-2", 2));
}

#[test]
fn a_push_renders_its_fields_and_both_payloads() {
    let c = compile(
        "push",
        json!({"push": {
            "title": "Hi\n{{profile.name}}",
            "body": "Order {{context.id}} shipped",
            "url": "app://orders/{{context.id}}",
            "imageUrl": "{{context.image}}",
            "data": {"orderId": "{{context.id}}", "kind": "shipping"},
            "badge": 2,
            "sound": "default"
        }}),
    );
    let p = push(render(&c, json!({"name": "<Ada>"}), json!({"id": "42"})));
    assert_eq!(p.title.as_deref(), Some("Hi <Ada>"));
    assert_eq!(p.body, "Order 42 shipped");
    assert_eq!(p.url.as_deref(), Some("app://orders/42"));
    assert_eq!(
        p.image_url, None,
        "an image URL that renders empty is left out"
    );
    assert_eq!(p.data["orderId"], "42");
    assert_eq!(p.badge, Some(2));
    assert_eq!(
        p.apns.value(),
        json!({"aps": {"alert": {"title": "Hi <Ada>", "body": "Order 42 shipped"},
                       "badge": 2, "sound": "default"},
               "orderId": "42", "kind": "shipping", "url": "app://orders/42"})
    );
    assert_eq!(
        p.fcm.value()["fcmV1Message"]["message"]["data"],
        json!({"orderId": "42", "kind": "shipping", "url": "app://orders/42"})
    );
    assert_eq!(
        p.payload_bytes,
        p.apns.as_str().len().max(p.fcm.as_str().len())
    );
}

#[test]
fn a_push_whose_rendered_payload_is_over_4_kb_is_an_error() {
    let c = compile("push", json!({"push": {"body": "{{context.text}}"}}));
    let ok = render_with(
        &c,
        &Selection::default(),
        json!({}),
        json!({"text": "short"}),
    );
    assert!(ok.is_ok());
    let e = render_with(
        &c,
        &Selection::default(),
        json!({}),
        json!({"text": "x".repeat(5000)}),
    )
    .expect_err("too large");
    assert_eq!(e.field, "content.push.body");
    assert!(
        e.message.contains("over the 4096-byte limit"),
        "{}",
        e.message
    );
}

#[test]
fn ajo_expressions_render_like_handlebars() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "Hi {%= profile.person.name.firstName ?: 'there' %}, code {%= context.code %}"}}),
    );
    let s = sms(render(&c, json!({}), json!({"code": "9"})));
    assert_eq!(s.text, "Hi there, code 9");
    let s = sms(render(
        &c,
        json!({"person": {"name": {"firstName": "Ada"}}}),
        json!({"code": "9"}),
    ));
    assert_eq!(s.text, "Hi Ada, code 9");
}

#[test]
fn triple_stash_is_refused_at_compile_time() {
    let r = CompiledCampaign::compile(&spec(
        "email",
        json!({"email": {"subject": "s", "html": "<p>{{{profile.bio}}}</p>"},
               "locales": {"fr": {"email": {"subject": "{{~{profile.x}~}}", "html": "x"}}}}),
    ));
    let findings = r.err().expect("refused");
    assert_eq!(
        codes(&findings),
        vec![
            ("triple-stash", "content.email.html"),
            ("triple-stash", "content.locales.fr.email.subject"),
        ]
    );
    assert!(
        findings[0].message.contains("line 1, column 4"),
        "{}",
        findings[0].message
    );
}

#[test]
fn a_syntax_error_is_reported_with_its_field_and_position() {
    let r = CompiledCampaign::compile(&spec(
        "email",
        json!({"email": {"subject": "ok", "html": "<p>\n{{#if profile.vip}}VIP</p>"},
               "variants": [{"name": "B", "weight": 50, "email": {"subject": "{{profile.name", "html": "x"}}]}),
    ));
    let findings = r.err().expect("refused");
    assert_eq!(
        codes(&findings),
        vec![
            ("template-syntax", "content.email.html"),
            ("template-syntax", "content.variants[0].email.subject"),
        ]
    );
    assert!(
        findings[0].message.contains("line 2"),
        "{}",
        findings[0].message
    );
}

#[test]
fn partials_are_refused_at_compile_time() {
    let r = CompiledCampaign::compile(&spec("sms", json!({"sms": {"text": "{{> footer}}"}})));
    let findings = r.err().expect("refused");
    assert_eq!(
        codes(&findings),
        vec![("template-syntax", "content.sms.text")]
    );
    assert!(findings[0].message.contains("partials"));
}

#[test]
fn a_missing_value_renders_as_empty_text() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "Hi {{profile.name}}{{context.a.b.c}}!"}}),
    );
    assert_eq!(sms(render(&c, json!({}), json!({}))).text, "Hi !");
}

#[test]
fn a_helper_error_fails_the_whole_render_with_the_field_path() {
    let c = compile(
        "email",
        json!({"email": {"subject": "ok", "html": "<p>{{formatDate context.when \"%Y\" \"Nowhere/City\"}}</p>"}}),
    );
    let e = render_with(
        &c,
        &Selection::default(),
        json!({}),
        json!({"when": "2024-01-01T00:00:00Z"}),
    )
    .expect_err("render error");
    assert_eq!(e.field, "content.email.html");
    assert!(e.message.contains("not an IANA time zone"), "{}", e.message);
    assert!(e.message.contains("line 1"), "{}", e.message);
}

#[test]
fn a_required_field_that_renders_empty_is_an_error() {
    let c = compile("push", json!({"push": {"body": "{{context.message}}"}}));
    let e = render_with(&c, &Selection::default(), json!({}), json!({})).expect_err("empty");
    assert_eq!(e.field, "content.push.body");
    assert!(e.message.contains("empty"), "{}", e.message);
}

#[test]
fn the_locale_falls_back_from_region_to_language_to_the_default() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "Hello"},
               "locales": {"pt": {"sms": {"text": "Olá"}}, "pt-BR": {"sms": {"text": "Oi"}},
                           "fr": {"sms": {"text": "Bonjour {{profile.name}}"}}}}),
    );
    let at = |locale: Option<&str>| {
        let r = render_with(
            &c,
            &Selection {
                locale,
                ..Selection::default()
            },
            json!({"name": "Zoé"}),
            json!({}),
        )
        .expect("renders");
        (r.locale.clone(), sms(r).text)
    };
    assert_eq!(at(Some("pt-BR")), (Some("pt-BR".into()), "Oi".into()));
    assert_eq!(at(Some("pt-PT")), (Some("pt".into()), "Olá".into()));
    assert_eq!(at(Some("fr_CA")), (Some("fr".into()), "Bonjour Zoé".into()));
    assert_eq!(at(Some("de")), (None, "Hello".into()));
    assert_eq!(at(None), (None, "Hello".into()));
}

#[test]
fn the_variant_is_chosen_by_bucket_or_forced_by_name() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "A"},
        "variants": [
            {"name": "B", "weight": 30, "sms": {"text": "B {{profile.x}}"}},
            {"name": "C", "weight": 20, "sms": {"text": "C"},
             "locales": {"fr": {"sms": {"text": "C-fr"}}}}
        ]}),
    );
    let pick = |variant: Option<&str>, bucket: u32, locale: Option<&str>| {
        let r = render_with(
            &c,
            &Selection {
                variant,
                bucket: Bucket::Fixed(bucket),
                locale,
            },
            json!({"x": 1}),
            json!({}),
        )
        .expect("renders");
        (r.variant.clone(), sms(r).text)
    };
    // A has 100 - 30 - 20 = 50%: buckets 0..50 are A, 50..80 B, 80..100 C.
    assert_eq!(pick(None, 0, None), ("A".into(), "A".into()));
    assert_eq!(pick(None, 49, None), ("A".into(), "A".into()));
    assert_eq!(pick(None, 50, None), ("B".into(), "B 1".into()));
    assert_eq!(pick(None, 79, None), ("B".into(), "B 1".into()));
    assert_eq!(pick(None, 80, Some("fr")), ("C".into(), "C-fr".into()));
    assert_eq!(pick(None, 99, None), ("C".into(), "C".into()));
    assert_eq!(pick(Some("C"), 0, None), ("C".into(), "C".into()));
    assert_eq!(pick(Some("A"), 99, None), ("A".into(), "A".into()));
}

#[test]
fn forcing_an_unknown_variant_is_an_error_naming_the_variants() {
    let c = compile(
        "sms",
        json!({"sms": {"text": "A"}, "variants": [{"name": "B", "weight": 50, "sms": {"text": "B"}}]}),
    );
    let e = render_with(
        &c,
        &Selection {
            variant: Some("Z"),
            ..Selection::default()
        },
        json!({}),
        json!({}),
    )
    .expect_err("unknown variant");
    assert_eq!(e.field, "variant");
    assert!(e.message.contains("A, B"), "{}", e.message);
}

#[test]
fn variant_buckets_are_pinned_and_spread_evenly() {
    let id = CampaignId::parse("01939e1c-7f2a-7c3e-9b1d-2f4a6c8e0a12").expect("uuid");
    // Pinned: these values must never change (live A/B tests depend on them).
    assert_eq!(variant_bucket(id, "ada@example.com"), PINNED[0]);
    assert_eq!(variant_bucket(id, "+33612345678"), PINNED[1]);
    assert_eq!(variant_bucket(id, ""), PINNED[2]);
    let mut counts = [0u32; 10];
    for i in 0..10_000 {
        let b = variant_bucket(id, &format!("user-{i}"));
        assert!(b < 100);
        counts[(b / 10) as usize] += 1;
    }
    for c in counts {
        assert!((850..1150).contains(&c), "uneven spread: {counts:?}");
    }
    let other = CampaignId::parse("01939e1c-7f2a-7c3e-9b1d-2f4a6c8e0a13").expect("uuid");
    let differ = (0..100)
        .filter(|i| variant_bucket(id, &i.to_string()) != variant_bucket(other, &i.to_string()))
        .count();
    assert!(differ > 80, "buckets should depend on the campaign");
}

/// Computed independently: `int.from_bytes(sha256(uuid.bytes + key.encode()).digest()[:8],
/// 'big') % 100` in Python.
const PINNED: [u32; 3] = [54, 8, 35];

fn version(spec: CampaignSpec, updated_at: &str) -> CampaignVersion {
    let ts: jiff::Timestamp = updated_at.parse().expect("timestamp");
    CampaignVersion {
        campaign_id: CampaignId::parse("01939e1c-7f2a-7c3e-9b1d-2f4a6c8e0a12").expect("uuid"),
        version: 1,
        spec,
        created_at: ts,
        updated_at: ts,
        activated_at: None,
    }
}

#[test]
fn the_cache_compiles_a_version_once() {
    let cache = TemplateCache::new(4);
    let v = version(
        spec("sms", json!({"sms": {"text": "x"}})),
        "2025-01-01T00:00:00Z",
    );
    let a = cache.get_or_compile(&v).expect("compiles");
    let b = cache.get_or_compile(&v).expect("compiles");
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_cache_recompiles_an_edited_draft() {
    let cache = TemplateCache::new(4);
    let v1 = version(
        spec("sms", json!({"sms": {"text": "old"}})),
        "2025-01-01T00:00:00Z",
    );
    let first = cache.get_or_compile(&v1).expect("compiles");
    let v1_edited = version(
        spec("sms", json!({"sms": {"text": "new"}})),
        "2025-01-01T00:05:00Z",
    );
    let second = cache.get_or_compile(&v1_edited).expect("compiles");
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(sms(render(&second, json!({}), json!({}))).text, "new");
    assert_eq!(cache.len(), 1, "the edit replaces the stale entry");
}

#[test]
fn the_cache_does_not_keep_a_version_that_fails_to_compile() {
    let cache = TemplateCache::new(4);
    let v = version(
        spec("sms", json!({"sms": {"text": "{{{x}}}"}})),
        "2025-01-01T00:00:00Z",
    );
    let findings = cache.get_or_compile(&v).err().expect("refused");
    assert_eq!(findings[0].code, "triple-stash");
    assert!(cache.is_empty());
}

#[test]
fn the_cache_drops_the_least_recently_used_version() {
    let cache = TemplateCache::new(2);
    let mut v = version(
        spec("sms", json!({"sms": {"text": "x"}})),
        "2025-01-01T00:00:00Z",
    );
    let v1 = v.clone();
    v.version = 2;
    let v2 = v.clone();
    v.version = 3;
    let v3 = v;
    let a1 = cache.get_or_compile(&v1).expect("compiles");
    cache.get_or_compile(&v2).expect("compiles");
    // Touch v1 so that v2 is the least recently used.
    assert!(Arc::ptr_eq(
        &a1,
        &cache.get_or_compile(&v1).expect("cached")
    ));
    cache.get_or_compile(&v3).expect("compiles");
    assert_eq!(cache.len(), 2);
    assert!(Arc::ptr_eq(
        &a1,
        &cache.get_or_compile(&v1).expect("still cached")
    ));
}

#[test]
fn compiled_campaigns_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledCampaign>();
    assert_send_sync::<TemplateCache>();
}

#[test]
fn campaign_data_has_the_documented_keys() {
    let v = version(
        spec("sms", json!({"sms": {"text": "x"}})),
        "2025-01-01T00:00:00Z",
    );
    let d = campaign_data(&v);
    assert_eq!(
        d,
        json!({"id": "01939e1c-7f2a-7c3e-9b1d-2f4a6c8e0a12", "name": "Test", "version": 1,
               "type": "transactional", "channel": "sms"})
    );
}

#[test]
fn one_line_collapses_every_kind_of_line_break() {
    assert_eq!(one_line("a\r\n\r\nb\u{2028}c\u{85}d\n".into()), "a b c d");
    assert_eq!(one_line("  one line\t".into()), "one line");
    assert_eq!(one_line("one line".into()), "one line");
}

#[test]
fn odd_templates_never_panic() {
    let odd = [
        "{{",
        "}}",
        "{{}}",
        "{{#}}",
        "{{/if}}",
        "{{else}}",
        "{{^}}",
        "{{(foo)}}",
        "{{> }}",
        "{{{{raw}}}}x{{{{/raw}}}}",
        "{{!-- unclosed",
        "{{#each}}{{/each}}",
        "{{lookup}}",
        "{{@root}}",
        "{{../x}}",
        "{{[a b]}}",
        "{{this}}",
        "{{.}}",
        "{{#if}}{{/if}}",
        "{{#with}}x{{/with}}",
        "{{((a))}}",
        "{{a (b (c d))}}",
        "{{#each x as |a b c|}}{{/each}}",
        "{{*inline}}",
        "{{#*inline \"x\"}}y{{/inline}}",
        "{{default}}",
        "{{upper (lookup)}}",
        "{{#if a}}{{else if b}}{{else}}{{/if}}",
        "{{~}}",
        "{{~a~}}",
        "{{a=b}}",
        "{{a b=c}}",
        "{{#each context.items}}{{@../index}}{{/each}}",
        "{{@index.x}}",
        "{{'str'}}",
        "{{1}}",
        "{{true}}",
        "{{null}}",
        "{{[}}",
        "{{a.[b}}",
        "{{a/b/c}}",
        "\\{{x}}",
        "{{len}}",
        "{{#eq 1 1}}y{{/eq}}",
        "{{#each 5}}x{{/each}}",
        "{{#with 5}}{{this}}{{/with}}",
    ];
    for src in odd {
        let s = spec("sms", json!({"sms": {"text": src}}));
        let v = version(s.clone(), "2025-01-01T00:00:00Z");
        let _ = review::review(
            &v,
            &review::ReviewContext {
                channel_config: review::Lookup::NotReferenced,
                audience: review::Lookup::NotReferenced,
                rule_set: review::Lookup::NotReferenced,
                now: v.updated_at,
            },
        );
        let Ok(c) = CompiledCampaign::compile(&s) else {
            continue;
        };
        let _ = render_with(
            &c,
            &Selection::default(),
            json!({"a": 1}),
            json!({"items": [1, 2], "x": [1]}),
        );
    }
}
