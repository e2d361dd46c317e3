use jiff::Timestamp;
use mail_parser::{MessageParser, MimeHeaders};

use super::*;
use crate::domain::{CampaignId, ExecutionId, MessageId};
use crate::ports::delivery::{ListUnsubscribe, MessageTags};
use crate::render::RenderedEmail;

const DOMAIN: &str = "mail.example.com";

fn tags() -> MessageTags {
    MessageTags {
        message_id: MessageId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        execution_id: ExecutionId::new(),
        campaign_id: CampaignId::new(),
        campaign_version: 3,
    }
}

fn envelope() -> EmailEnvelope {
    EmailEnvelope {
        tags: tags(),
        from_address: "news@example.com".into(),
        from_name: Some("Example News".into()),
        reply_to: Some("help@example.com".into()),
        to: "ada@example.org".into(),
        configuration_set: None,
        list_unsubscribe: None,
        content: RenderedEmail {
            subject: "Your order shipped".into(),
            html: "<html><body><p>Hello Ada</p></body></html>".into(),
            text: "Hello Ada".into(),
            preheader: None,
        },
    }
}

fn marketing() -> EmailEnvelope {
    let mut e = envelope();
    e.list_unsubscribe = Some(ListUnsubscribe {
        url: "https://herald.example.com/u/tok123".into(),
    });
    e
}

fn build(e: &EmailEnvelope) -> Vec<u8> {
    build_email_at(e, DOMAIN, Timestamp::from_second(1_700_000_000).unwrap()).unwrap()
}

/// The raw header names of the top-level header block, in order.
fn header_names(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']) && !l.is_empty())
        .map(|l| l.split(':').next().unwrap_or_default().to_ascii_lowercase())
        .collect()
}

fn count(names: &[String], name: &str) -> usize {
    names
        .iter()
        .filter(|n| n.eq_ignore_ascii_case(name))
        .count()
}

#[test]
fn every_header_is_written_exactly_once_and_parses_back() {
    let e = marketing();
    let raw = build(&e);
    let names = header_names(&raw);
    for h in [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "X-Herald-Message-Id",
        "X-Herald-Campaign-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ] {
        assert_eq!(count(&names, h), 1, "{h} in {names:?}");
    }

    let m = MessageParser::default().parse(&raw).unwrap();
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Example News"));
    assert_eq!(from.address(), Some("news@example.com"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("ada@example.org")
    );
    assert_eq!(
        m.reply_to().unwrap().first().unwrap().address(),
        Some("help@example.com")
    );
    assert_eq!(m.subject(), Some("Your order shipped"));
    assert_eq!(
        m.message_id(),
        Some("0123456789abcdef0123456789abcdef@mail.example.com")
    );
    assert_eq!(
        m.header_raw("X-Herald-Message-Id").map(str::trim),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        m.header_raw("X-Herald-Campaign-Id").map(str::trim),
        Some(e.tags.campaign_id.to_string().as_str())
    );
    assert_eq!(m.date().unwrap().to_timestamp(), 1_700_000_000);
}

#[test]
fn the_body_is_multipart_alternative_with_a_text_and_an_html_part() {
    let raw = build(&envelope());
    let m = MessageParser::default().parse(&raw).unwrap();
    let ct = m.content_type().unwrap();
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("alternative"));
    assert_eq!(m.text_body_count(), 1);
    assert_eq!(m.html_body_count(), 1);
    assert_eq!(
        m.text_part(0).unwrap().content_type().unwrap().subtype(),
        Some("plain")
    );
    assert_eq!(
        m.html_part(0).unwrap().content_type().unwrap().subtype(),
        Some("html")
    );
    assert_eq!(m.body_text(0).unwrap().trim(), "Hello Ada");
    assert_eq!(
        m.body_html(0).unwrap().trim(),
        "<html><body><p>Hello Ada</p></body></html>"
    );
}

#[test]
fn marketing_mail_carries_one_click_unsubscribe_exactly_once() {
    let raw = build(&marketing());
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.header_raw("List-Unsubscribe").map(str::trim),
        Some("<https://herald.example.com/u/tok123>")
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
}

#[test]
fn transactional_mail_has_no_unsubscribe_headers() {
    let names = header_names(&build(&envelope()));
    assert_eq!(count(&names, "List-Unsubscribe"), 0);
    assert_eq!(count(&names, "List-Unsubscribe-Post"), 0);
}

#[test]
fn a_non_ascii_subject_and_sender_name_are_encoded_and_round_trip() {
    let mut e = envelope();
    e.content.subject = "Ihre Bestellung ist unterwegs — 🚚 prêt à partir".into();
    e.from_name = Some("Zoë’s Café".into());
    let raw = build(&e);
    let head = String::from_utf8_lossy(&raw);
    let head = head.split("\r\n\r\n").next().unwrap();
    assert!(head.is_ascii(), "headers must be 7-bit: {head}");
    assert!(head.contains("=?utf-8?"), "encoded words expected: {head}");
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.subject(), Some(e.content.subject.as_str()));
    assert_eq!(
        m.from().unwrap().first().unwrap().name(),
        Some("Zoë’s Café")
    );
}

#[test]
fn non_ascii_bodies_round_trip() {
    let mut e = envelope();
    e.content.text = "Grüße, 世界!\nZeile zwei".into();
    e.content.html = "<body><p>Grüße, 世界!</p></body>".into();
    let raw = build(&e);
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.body_text(0).unwrap().replace("\r\n", "\n").trim(),
        e.content.text
    );
    assert_eq!(m.body_html(0).unwrap().trim(), e.content.html);
}

#[test]
fn the_preheader_is_a_hidden_first_element_of_the_html_body() {
    let mut e = envelope();
    e.content.html = "<html><head></head><BODY class=\"x\"><p>Hello</p></BODY></html>".into();
    e.content.preheader = Some("Save 20% <today> & more".into());
    let m_raw = build(&e);
    let m = MessageParser::default().parse(&m_raw).unwrap();
    let html = m.body_html(0).unwrap();
    assert!(
        html.contains(
            "<BODY class=\"x\"><div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">\
             Save 20% &lt;today&gt; &amp; more</div><p>Hello</p>"
        ),
        "{html}"
    );
    // The plain-text part does not carry it.
    assert!(!m.body_text(0).unwrap().contains("Save 20%"));
}

#[test]
fn html_without_a_body_tag_gets_the_preheader_at_the_start() {
    let mut e = envelope();
    e.content.html = "<p>Hi</p>".into();
    e.content.preheader = Some("Preview".into());
    let m_raw = build(&e);
    let m = MessageParser::default().parse(&m_raw).unwrap();
    assert!(
        m.body_html(0)
            .unwrap()
            .trim()
            .starts_with("<div style=\"display:none;"),
        "{:?}",
        m.body_html(0)
    );
}

type Mutation = Box<dyn Fn(&mut EmailEnvelope)>;

#[test]
fn a_line_break_in_any_header_value_is_refused() {
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "Subject",
            Box::new(|e| e.content.subject = "Hi\r\nBcc: evil@example.net".into()),
        ),
        (
            "Subject",
            Box::new(|e| e.content.subject = "Hi\nBcc: evil@example.net".into()),
        ),
        (
            "From",
            Box::new(|e| e.from_name = Some("News\rBcc: evil@example.net".into())),
        ),
        (
            "From",
            Box::new(|e| e.from_address = "news@example.com\r\nBcc: x@y.z".into()),
        ),
        (
            "To",
            Box::new(|e| e.to = "ada@example.org\nBcc: x@y.z".into()),
        ),
        (
            "Reply-To",
            Box::new(|e| e.reply_to = Some("a@b.c\r\nX: y".into())),
        ),
        (
            "List-Unsubscribe",
            Box::new(|e| {
                e.list_unsubscribe = Some(ListUnsubscribe {
                    url: "https://x.example/u\r\nBcc: x@y.z".into(),
                })
            }),
        ),
    ];
    for (header, mutate) in cases {
        let mut e = envelope();
        mutate(&mut e);
        let err = build_email_at(&e, DOMAIN, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(
            matches!(err, MimeError::LineBreak { header: h } if h == header),
            "{header}: {err:?}"
        );
    }
}

#[test]
fn an_address_that_could_add_recipients_is_refused() {
    for bad in [
        "ada@example.org, evil@example.net",
        "Ada <ada@example.org>",
        "ada@example.org>",
        "no-at-sign",
        "@example.org",
        "ada@",
        "a da@example.org",
    ] {
        let mut e = envelope();
        e.to = bad.into();
        let err = build_email_at(&e, DOMAIN, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(
            matches!(err, MimeError::Address { header: "To", .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn an_unsubscribe_url_that_is_not_http_or_holds_angle_brackets_is_refused() {
    for bad in [
        "mailto:x@y.z",
        "https://x.example/u>, <https://evil",
        "https://x.example/a b",
    ] {
        let mut e = envelope();
        e.list_unsubscribe = Some(ListUnsubscribe { url: bad.into() });
        let err = build_email_at(&e, DOMAIN, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(matches!(err, MimeError::Url { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn a_message_id_domain_with_odd_characters_is_refused() {
    let err = build_email_at(&envelope(), "bad domain>", Timestamp::UNIX_EPOCH).unwrap_err();
    assert!(matches!(err, MimeError::Domain { .. }), "{err:?}");
}

#[test]
fn a_long_subject_is_folded_without_losing_characters() {
    let mut e = envelope();
    e.content.subject = "word ".repeat(60).trim().to_string();
    let raw = build(&e);
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.subject(), Some(e.content.subject.as_str()));
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.split("\r\n").all(|l| l.len() <= 998), "{head}");
}
