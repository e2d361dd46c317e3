//! The local outbox: files written and readable back, newest-first pages, the SES mailbox
//! simulator's feedback, and `.eml` files that parse as the MIME SES would get.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use herald_core::adapters::outbox::{
    FeedbackKind, Outbox, OutboxMessage, SimulatorMailbox, WRITERS, provider_message_id,
};
use herald_core::domain::channel_config::SmsType;
use herald_core::domain::profile::PushPlatform;
use herald_core::domain::{CampaignId, ExecutionId, MessageId};
use herald_core::ports::delivery::{
    EmailEnvelope, EmailSender, ListUnsubscribe, MessageTags, PushEnvelope, PushSender,
    SmsEnvelope, SmsSender,
};
use herald_core::ports::{FixedClock, PageRequest};
use herald_core::render::push::{PushParts, payloads};
use herald_core::render::{RenderedEmail, RenderedPush};
use herald_tests::threads::{named_runtime, threads_named};
use jiff::{SignedDuration, Timestamp};
use mail_parser::{MessageParser, MimeHeaders};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("herald-outbox-{}", uuid::Uuid::new_v4()));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const T0: i64 = 1_780_000_000;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(Timestamp::from_second(T0).expect("valid")))
}

fn open(dir: &TempDir, clock: &Arc<FixedClock>) -> Outbox {
    Outbox::open(&dir.0.join("outbox"))
        .expect("the outbox opens")
        .with_clock(clock.clone())
}

fn tags() -> MessageTags {
    MessageTags {
        message_id: MessageId::parse(&uuid::Uuid::new_v4().simple().to_string()).expect("hex"),
        execution_id: ExecutionId::new(),
        campaign_id: CampaignId::new(),
        campaign_version: 4,
    }
}

fn email(to: &str) -> EmailEnvelope {
    EmailEnvelope {
        tags: tags(),
        from_address: "news@example.com".into(),
        from_name: Some("Example".into()),
        reply_to: None,
        to: to.into(),
        configuration_set: Some("herald-events".into()),
        list_unsubscribe: Some(ListUnsubscribe {
            url: "https://herald.example.com/u/tok".into(),
        }),
        content: RenderedEmail {
            subject: "Spring sale — 20% off".into(),
            html: "<html><body><p>Hi Ann</p></body></html>".into(),
            text: "Hi Ann".into(),
            preheader: Some("Ends Sunday".into()),
        },
    }
}

fn sms(to: &str) -> SmsEnvelope {
    SmsEnvelope {
        tags: tags(),
        to: to.into(),
        text: "Your code is 123456".into(),
        sms_type: SmsType::Transactional,
        sender_id: Some("HERALD".into()),
        origination_number: None,
    }
}

fn push() -> PushEnvelope {
    let data = BTreeMap::from([("orderId".to_string(), "A-42".to_string())]);
    let p = payloads(&PushParts {
        title: Some("Shipped"),
        body: "Order A-42 is on its way",
        url: Some("app://orders/A-42"),
        image_url: None,
        data: &data,
        badge: None,
        sound: None,
    });
    PushEnvelope {
        tags: tags(),
        platform: PushPlatform::Apns,
        token: "apns-token-1".into(),
        platform_application_arn: "arn:aws:sns:us-east-1:123456789012:app/APNS/herald".into(),
        content: RenderedPush {
            title: Some("Shipped".into()),
            body: "Order A-42 is on its way".into(),
            url: Some("app://orders/A-42".into()),
            image_url: None,
            data,
            badge: None,
            sound: None,
            apns: p.apns,
            fcm: p.fcm,
            payload_bytes: p.bytes,
        },
    }
}

#[tokio::test]
async fn an_email_is_written_as_eml_and_json_and_read_back() {
    let dir = TempDir::new();
    let clock = clock();
    let outbox = open(&dir, &clock);
    let e = email("ann@example.com");
    let id = e.tags.message_id.clone();

    let accepted = outbox.send_email(&e).await.expect("accepted");

    assert_eq!(accepted.provider_message_id, format!("outbox-{id}"));
    assert_eq!(accepted.provider_message_id, provider_message_id(&id));
    assert!(dir.0.join("outbox").join(format!("{id}.eml")).is_file());
    assert!(dir.0.join("outbox").join(format!("{id}.json")).is_file());
    assert_eq!(
        outbox.eml_path(&id),
        dir.0.join("outbox").join(format!("{id}.eml"))
    );

    let entry = outbox.get(&id).await.expect("readable").expect("stored");
    assert_eq!(entry.message_id, id);
    assert_eq!(entry.provider_message_id, accepted.provider_message_id);
    assert_eq!(entry.execution_id, e.tags.execution_id);
    assert_eq!(entry.campaign_id, e.tags.campaign_id);
    assert_eq!(entry.campaign_version, 4);
    assert_eq!(entry.created_at, Timestamp::from_second(T0).expect("valid"));
    assert_eq!(entry.simulator, None);
    let OutboxMessage::Email(m) = &entry.message else {
        panic!("an email entry: {entry:?}");
    };
    assert_eq!(m.to, "ann@example.com");
    assert_eq!(m.from_name.as_deref(), Some("Example"));
    assert_eq!(m.configuration_set.as_deref(), Some("herald-events"));
    assert_eq!(
        m.list_unsubscribe.as_deref(),
        Some("https://herald.example.com/u/tok")
    );
    assert_eq!(m.content, e.content);
    assert_eq!(m.eml_file, format!("{id}.eml"));

    // The JSON file itself is camelCase with a channel tag.
    let raw_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.0.join("outbox").join(format!("{id}.json"))).expect("json file"),
    )
    .expect("JSON");
    assert_eq!(raw_json["channel"], "email");
    assert_eq!(raw_json["messageId"], id.as_str());
    assert_eq!(raw_json["subject"], "Spring sale — 20% off");
    assert_eq!(raw_json["createdAt"], "2026-05-28T20:26:40Z");
}

#[tokio::test]
async fn the_eml_file_is_the_mime_ses_would_get() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let e = email("ann@example.com");
    let id = e.tags.message_id.clone();
    outbox.send_email(&e).await.expect("accepted");

    let bytes = outbox.eml(&id).await.expect("readable").expect("stored");
    assert_eq!(bytes, std::fs::read(outbox.eml_path(&id)).expect("file"));
    let m = MessageParser::default()
        .parse(&bytes)
        .expect("parses as MIME");
    assert_eq!(m.subject(), Some("Spring sale — 20% off"));
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("ann@example.com")
    );
    let ct = m.content_type().expect("content type");
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(m.text_body_count(), 1);
    assert_eq!(m.html_body_count(), 1);
    assert_eq!(
        m.header_raw("List-Unsubscribe").map(str::trim),
        Some("<https://herald.example.com/u/tok>")
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        m.message_id(),
        Some(format!("{id}@outbox.herald.localhost").as_str())
    );
    assert_eq!(m.date().map(|d| d.to_timestamp()), Some(T0));
    assert!(
        m.body_html(0)
            .unwrap_or_default()
            .contains(">Ends Sunday</div>")
    );
}

#[tokio::test]
async fn sms_and_push_are_written_as_json_only() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let s = sms("+14155550100");
    let p = push();

    let a = outbox.send_sms(&s).await.expect("sms accepted");
    let b = outbox.send_push(&p).await.expect("push accepted");

    assert_eq!(
        a.provider_message_id,
        provider_message_id(&s.tags.message_id)
    );
    assert_eq!(
        b.provider_message_id,
        provider_message_id(&p.tags.message_id)
    );
    for id in [&s.tags.message_id, &p.tags.message_id] {
        assert!(!outbox.eml_path(id).exists(), "no .eml for {id}");
        assert!(outbox.eml(id).await.expect("readable").is_none());
    }

    let entry = outbox
        .get(&s.tags.message_id)
        .await
        .expect("readable")
        .expect("stored");
    let OutboxMessage::Sms(m) = entry.message else {
        panic!("an SMS entry");
    };
    assert_eq!(m.to, "+14155550100");
    assert_eq!(m.text, "Your code is 123456");
    assert_eq!(m.encoding, "GSM-7");
    assert_eq!(m.segments, 1);
    assert_eq!(m.sms_type, SmsType::Transactional);
    assert_eq!(m.sender_id.as_deref(), Some("HERALD"));

    let entry = outbox
        .get(&p.tags.message_id)
        .await
        .expect("readable")
        .expect("stored");
    let OutboxMessage::Push(m) = entry.message else {
        panic!("a push entry");
    };
    assert_eq!(m.platform, PushPlatform::Apns);
    assert_eq!(m.token, "apns-token-1");
    assert_eq!(m.content, p.content);
    assert_eq!(
        m.content.apns.value()["aps"]["alert"]["body"],
        "Order A-42 is on its way"
    );
}

#[tokio::test]
async fn an_unknown_message_is_none() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let id = MessageId::parse("00000000000000000000000000000000").expect("hex");
    assert!(outbox.get(&id).await.expect("readable").is_none());
    assert!(outbox.eml(&id).await.expect("readable").is_none());
}

#[tokio::test]
async fn list_pages_newest_first_with_an_opaque_cursor() {
    let dir = TempDir::new();
    let clock = clock();
    let outbox = open(&dir, &clock);
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = email(&format!("user{i}@example.com"));
        ids.push(e.tags.message_id.clone());
        outbox.send_email(&e).await.expect("accepted");
        clock.advance(SignedDuration::from_secs(1));
    }
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();

    let first = outbox
        .list(&PageRequest::first(2))
        .await
        .expect("first page");
    let second = outbox
        .list(&PageRequest {
            cursor: first.next.clone(),
            limit: 2,
        })
        .await
        .expect("second page");
    let third = outbox
        .list(&PageRequest {
            cursor: second.next.clone(),
            limit: 2,
        })
        .await
        .expect("third page");

    let got: Vec<_> = [&first, &second, &third]
        .iter()
        .flat_map(|p| p.items.iter().map(|e| e.message_id.clone()))
        .collect();
    assert_eq!(got, newest_first);
    assert!(first.next.is_some() && second.next.is_some());
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.next, None);

    let all = outbox.list(&PageRequest::first(0)).await.expect("all");
    assert_eq!(all.items.len(), 5);
    assert_eq!(all.next, None);
}

#[tokio::test]
async fn a_cursor_that_is_not_from_the_outbox_is_an_error() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let err = outbox
        .list(&PageRequest {
            cursor: Some("garbage".into()),
            limit: 10,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("garbage"), "{err}");
}

#[tokio::test]
async fn entries_survive_reopening_the_outbox() {
    let dir = TempDir::new();
    let clock = clock();
    let e = email("ann@example.com");
    open(&dir, &clock).send_email(&e).await.expect("accepted");

    let reopened = open(&dir, &clock);

    assert!(
        reopened
            .get(&e.tags.message_id)
            .await
            .expect("readable")
            .is_some()
    );
    assert_eq!(
        reopened
            .list(&PageRequest::first(10))
            .await
            .expect("list")
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn simulator_bounce_and_suppression_addresses_are_accepted_and_bounce() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let bounce = email("bounce@simulator.amazonses.com");
    let labelled = email("suppressionlist+run-1@simulator.amazonses.com");

    let a = outbox.send_email(&bounce).await.expect("accepted like SES");
    let b = outbox
        .send_email(&labelled)
        .await
        .expect("accepted like SES");

    let events = outbox.take_feedback();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].provider_message_id, a.provider_message_id);
    assert_eq!(events[0].message_id, bounce.tags.message_id);
    assert_eq!(events[0].tags, bounce.tags);
    assert_eq!(events[0].kind, FeedbackKind::Bounce { permanent: true });
    assert_eq!(events[0].address, "bounce@simulator.amazonses.com");
    assert_eq!(events[1].provider_message_id, b.provider_message_id);
    assert_eq!(events[1].kind, FeedbackKind::Bounce { permanent: true });
    assert_eq!(
        events[1].address,
        "suppressionlist+run-1@simulator.amazonses.com"
    );
    assert!(outbox.take_feedback().is_empty(), "taking drains the queue");

    let stored = outbox
        .get(&bounce.tags.message_id)
        .await
        .expect("readable")
        .expect("the message is still written");
    assert_eq!(stored.simulator, Some(SimulatorMailbox::Bounce));
}

#[tokio::test]
async fn simulator_complaint_delivers_then_complains_success_delivers_and_ooto_is_silent() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let complaint = email("complaint@simulator.amazonses.com");
    let success = email("success@simulator.amazonses.com");
    let ooto = email("ooto@simulator.amazonses.com");
    let ordinary = email("ann@example.com");

    for e in [&complaint, &success, &ooto, &ordinary] {
        outbox.send_email(e).await.expect("accepted");
    }

    let kinds: Vec<_> = outbox
        .take_feedback()
        .into_iter()
        .map(|f| (f.message_id, f.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (complaint.tags.message_id.clone(), FeedbackKind::Delivery),
            (complaint.tags.message_id.clone(), FeedbackKind::Complaint),
            (success.tags.message_id.clone(), FeedbackKind::Delivery),
        ]
    );
}

#[tokio::test]
async fn next_feedback_waits_for_a_simulated_event() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let waiter = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.next_feedback().await })
    };
    tokio::task::yield_now().await;

    let e = email("bounce+w@simulator.amazonses.com");
    outbox.send_email(&e).await.expect("accepted");

    let events = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woken within 5 s")
        .expect("the task ran");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message_id, e.tags.message_id);
}

#[tokio::test]
async fn an_email_that_would_inject_a_header_is_refused_and_not_written() {
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let mut e = email("ann@example.com");
    e.content.subject = "Hi\nBcc: evil@example.net".into();

    let err = outbox.send_email(&e).await.unwrap_err();

    assert!(
        matches!(
            err,
            herald_core::ports::delivery::SendError::Rejected { .. }
        ),
        "{err:?}"
    );
    assert!(
        outbox
            .get(&e.tags.message_id)
            .await
            .expect("readable")
            .is_none()
    );
    assert!(!outbox.eml_path(&e.tags.message_id).exists());
}

#[tokio::test]
async fn a_corrupted_entry_is_skipped_by_list_and_reported_by_get() {
    let dir = TempDir::new();
    let clock = clock();
    let outbox = open(&dir, &clock);
    let good = email("ann@example.com");
    let bad = email("bob@example.com");
    outbox.send_email(&good).await.expect("accepted");
    outbox.send_email(&bad).await.expect("accepted");
    std::fs::write(outbox.json_path(&bad.tags.message_id), b"{not json").expect("overwrite");

    let page = outbox.list(&PageRequest::first(10)).await.expect("list");

    let ids: Vec<_> = page.items.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids, vec![good.tags.message_id.clone()]);
    assert!(outbox.get(&bad.tags.message_id).await.is_err());
}

#[test]
fn a_burst_of_sends_writes_a_few_files_at_a_time_on_a_few_threads() {
    // A fan-out sends hundreds of messages at once; each used to take a thread of tokio's
    // blocking pool for its files, and tokio started one for nearly every send. The outbox's
    // own writer threads write them now. Blocking-pool threads outlive their work by 10 s, so
    // counting the runtime's threads right after the burst counts every thread it started.
    const NAME: &str = "herald-ob-burst";
    const SENDS: usize = 200;
    let dir = TempDir::new();
    let outbox = open(&dir, &clock());
    let runtime = named_runtime(NAME);
    let sends: Vec<_> = (0..SENDS)
        .map(|_| {
            let outbox = outbox.clone();
            runtime.spawn(async move { outbox.send_sms(&sms("+14155550100")).await })
        })
        .collect();
    for send in sends {
        runtime
            .block_on(send)
            .expect("the task ran")
            .expect("the outbox accepts the message");
    }
    let threads = threads_named(NAME);
    let written = std::fs::read_dir(dir.0.join("outbox"))
        .expect("the outbox directory")
        .count();
    assert_eq!(written, SENDS, "one .json file per message");
    // The runtime's one worker, and no blocking-pool thread.
    assert_eq!(
        threads, 1,
        "runtime threads after {SENDS} sends (the outbox has {WRITERS} writer threads)"
    );
}
