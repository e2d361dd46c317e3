//! The SES v2 and SNS delivery adapter against moto server: what SES and SNS actually
//! received (the raw MIME, the SMS and its attributes, the push JSON), disabled endpoints, and
//! the classification of refusals and unreachable endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::domain::channel_config::SmsType;
use herald_core::domain::profile::PushPlatform;
use herald_core::domain::{CampaignId, ExecutionId, MessageId};
use herald_core::ports::delivery::{
    EmailEnvelope, EmailSender, ListUnsubscribe, MessageTags, PushEnvelope, PushSender, SendError,
    SmsEnvelope, SmsSender,
};
use herald_core::render::push::{PushParts, payloads};
use herald_core::render::{RenderedEmail, RenderedPush};
use herald_tests::moto;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tags() -> MessageTags {
    let id = uuid::Uuid::new_v4().simple().to_string();
    MessageTags {
        message_id: MessageId::parse(&id).expect("32 hex digits"),
        execution_id: ExecutionId::new(),
        campaign_id: CampaignId::new(),
        campaign_version: 2,
    }
}

fn email(from: &str, to: &str) -> EmailEnvelope {
    EmailEnvelope {
        tags: tags(),
        from_address: from.into(),
        from_name: Some("Herald Tests".into()),
        reply_to: Some("support@example.com".into()),
        to: to.into(),
        configuration_set: None,
        list_unsubscribe: None,
        content: RenderedEmail {
            subject: "Reset your password".into(),
            html: "<html><body><p>Click <a href=\"https://x.example/r\">here</a></p></body></html>"
                .into(),
            text: "Click https://x.example/r".into(),
            preheader: Some("Valid for 30 minutes".into()),
        },
    }
}

async fn sender(delivery: &AwsDelivery) -> String {
    let from = format!("{}@example.com", moto::unique("sender"));
    moto::verify_sender(delivery, &from).await;
    from
}

fn header_count(raw: &str, name: &str) -> usize {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let head = head.split("\n\n").next().unwrap_or(head);
    head.lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .count()
}

async fn the_one_raw_email_to(to: &str) -> String {
    let raws = moto::raw_emails_to(to).await;
    assert_eq!(
        raws.len(),
        1,
        "moto holds {} raw messages to {to}",
        raws.len()
    );
    raws.into_iter().next().unwrap_or_default()
}

#[tokio::test]
async fn a_transactional_email_reaches_ses_as_raw_mime_with_every_header_once() {
    let d = moto::delivery().await;
    let from = sender(&d).await;
    let to = format!("{}@example.org", moto::unique("rcpt"));
    let e = email(&from, &to);

    let accepted = d.send_email(&e).await.expect("SES accepts the message");
    assert!(!accepted.provider_message_id.is_empty());

    let raw = the_one_raw_email_to(&to).await;
    for h in [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "X-Herald-Message-Id",
        "X-Herald-Campaign-Id",
    ] {
        assert_eq!(header_count(&raw, h), 1, "{h} in\n{raw}");
    }
    assert_eq!(header_count(&raw, "List-Unsubscribe"), 0, "{raw}");
    assert_eq!(header_count(&raw, "List-Unsubscribe-Post"), 0, "{raw}");

    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("moto's copy parses as MIME");
    assert_eq!(
        m.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(from.as_str())
    );
    assert_eq!(
        m.from().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Herald Tests")
    );
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(to.as_str())
    );
    assert_eq!(m.subject(), Some("Reset your password"));
    assert_eq!(
        m.message_id(),
        Some(format!("{}@{}", e.tags.message_id, moto::MESSAGE_ID_DOMAIN).as_str())
    );
    assert_eq!(
        m.header_raw("X-Herald-Message-Id").map(str::trim),
        Some(e.tags.message_id.as_str())
    );
    let ct = m.content_type().expect("a content type");
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(m.text_body_count(), 1);
    assert_eq!(m.html_body_count(), 1);
    assert_eq!(
        m.body_text(0).map(|t| t.trim().to_string()),
        Some("Click https://x.example/r".into())
    );
    let html = m.body_html(0).unwrap_or_default();
    assert!(
        html.contains("<body><div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">Valid for 30 minutes</div><p>Click"),
        "{html}"
    );
}

#[tokio::test]
async fn marketing_email_carries_the_one_click_unsubscribe_pair_exactly_once() {
    let d = moto::delivery().await;
    let from = sender(&d).await;
    let to = format!("{}@example.org", moto::unique("rcpt"));
    let mut e = email(&from, &to);
    e.list_unsubscribe = Some(ListUnsubscribe {
        url: "https://herald.example.com/u/signed-token".into(),
    });

    d.send_email(&e).await.expect("SES accepts the message");

    let raw = the_one_raw_email_to(&to).await;
    assert_eq!(header_count(&raw, "List-Unsubscribe"), 1, "{raw}");
    assert_eq!(header_count(&raw, "List-Unsubscribe-Post"), 1, "{raw}");
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    assert_eq!(
        m.header_raw("List-Unsubscribe").map(str::trim),
        Some("<https://herald.example.com/u/signed-token>")
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
}

#[tokio::test]
async fn the_send_carries_the_configuration_set_the_tags_and_only_the_recipient() {
    let (d, captured) = moto::delivery_capturing().await;
    let from = sender(&d).await;
    let to = format!("{}@example.org", moto::unique("rcpt"));
    let mut e = email(&from, &to);
    e.configuration_set = Some("herald-events".into());

    d.send_email(&e).await.expect("SES accepts the message");

    assert_eq!(moto::raw_emails_to(&to).await.len(), 1);
    // moto drops the configuration set and tags; check the request as it was sent.
    let sends: Vec<Value> = captured
        .json_bodies()
        .into_iter()
        .filter(|b| b["Destination"]["ToAddresses"][0] == to.as_str())
        .collect();
    assert_eq!(sends.len(), 1, "one provider call");
    let body = &sends[0];
    assert_eq!(body["FromEmailAddress"], from.as_str());
    assert_eq!(
        body["Destination"],
        serde_json::json!({"ToAddresses": [to]})
    );
    assert_eq!(body["ConfigurationSetName"], "herald-events");
    assert!(body["Content"]["Raw"]["Data"].is_string());
    assert!(body["Content"].get("Simple").is_none());
    let tags: BTreeMap<String, String> = body["EmailTags"]
        .as_array()
        .expect("EmailTags")
        .iter()
        .map(|t| {
            (
                t["Name"].as_str().unwrap_or_default().to_string(),
                t["Value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([
            (
                "herald-message-id".to_string(),
                e.tags.message_id.to_string()
            ),
            (
                "herald-execution-id".to_string(),
                e.tags.execution_id.to_string()
            ),
            (
                "herald-campaign-id".to_string(),
                e.tags.campaign_id.to_string()
            ),
            ("herald-campaign-version".to_string(), "2".to_string()),
        ])
    );
}

#[tokio::test]
async fn a_non_ascii_subject_reaches_ses_encoded_and_decodes_back() {
    let d = moto::delivery().await;
    let from = sender(&d).await;
    let to = format!("{}@example.org", moto::unique("rcpt"));
    let mut e = email(&from, &to);
    e.content.subject = "Votre commande est expédiée — 📦 Grüße".into();

    d.send_email(&e).await.expect("SES accepts the message");

    let raw = the_one_raw_email_to(&to).await;
    let subject_line = raw
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or_default();
    assert!(subject_line.is_ascii(), "{subject_line}");
    assert!(subject_line.contains("=?utf-8?"), "{subject_line}");
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    assert_eq!(m.subject(), Some(e.content.subject.as_str()));
}

#[tokio::test]
async fn an_unverified_sender_is_rejected_with_the_services_reason() {
    let d = moto::delivery().await;
    let from = format!("{}@example.com", moto::unique("unverified"));
    let to = format!("{}@example.org", moto::unique("rcpt"));

    let err = d.send_email(&email(&from, &to)).await.unwrap_err();

    match err {
        SendError::Rejected { reason } => {
            assert!(reason.contains("MessageRejected"), "{reason}");
            assert!(reason.contains(&from), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(moto::raw_emails_to(&to).await.is_empty());
}

#[tokio::test]
async fn a_header_injection_attempt_is_rejected_before_any_call() {
    let d = moto::delivery().await;
    let from = sender(&d).await;
    let to = format!("{}@example.org", moto::unique("rcpt"));
    let mut e = email(&from, &to);
    e.content.subject = "Hello\r\nBcc: victim@example.net".into();

    let err = d.send_email(&e).await.unwrap_err();

    assert!(matches!(err, SendError::Rejected { .. }), "{err:?}");
    assert!(moto::raw_emails_to(&to).await.is_empty());
}

fn sms(to: &str, sms_type: SmsType) -> SmsEnvelope {
    SmsEnvelope {
        tags: tags(),
        to: to.into(),
        text: "Your code is 123456".into(),
        sms_type,
        sender_id: None,
        origination_number: None,
    }
}

/// The `MessageAttributes` of a captured SNS Publish, by name.
fn sms_attributes(fields: &[(String, String)]) -> BTreeMap<String, (String, String)> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    for n in 1..=10 {
        let name = get(&format!("MessageAttributes.entry.{n}.Name"));
        if name.is_empty() {
            continue;
        }
        out.insert(
            name,
            (
                get(&format!("MessageAttributes.entry.{n}.Value.DataType")),
                get(&format!("MessageAttributes.entry.{n}.Value.StringValue")),
            ),
        );
    }
    out
}

#[tokio::test]
async fn a_transactional_sms_reaches_sns_with_number_text_and_sms_type() {
    let (d, captured) = moto::delivery_capturing().await;
    let phone = moto::unique_phone();

    let accepted = d
        .send_sms(&sms(&phone, SmsType::Transactional))
        .await
        .expect("SNS accepts the SMS");

    let recorded = moto::sms_to(&phone).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["message"], "Your code is 123456");
    assert_eq!(
        recorded[0]["message_id"],
        accepted.provider_message_id.as_str()
    );
    // moto keeps only the number and the text; the attributes are checked on the wire.
    let publishes: Vec<_> = captured
        .requests("Publish")
        .into_iter()
        .filter(|f| f.iter().any(|(k, v)| k == "PhoneNumber" && v == &phone))
        .collect();
    assert_eq!(publishes.len(), 1);
    let attrs = sms_attributes(&publishes[0]);
    assert_eq!(
        attrs,
        BTreeMap::from([(
            "AWS.SNS.SMS.SMSType".to_string(),
            ("String".to_string(), "Transactional".to_string())
        )])
    );
}

#[tokio::test]
async fn a_promotional_sms_carries_sender_id_and_origination_number() {
    let (d, captured) = moto::delivery_capturing().await;
    let phone = moto::unique_phone();
    let mut s = sms(&phone, SmsType::Promotional);
    s.sender_id = Some("HERALD".into());
    s.origination_number = Some("+18005550100".into());

    d.send_sms(&s).await.expect("SNS accepts the SMS");

    assert_eq!(moto::sms_to(&phone).await.len(), 1);
    let publishes: Vec<_> = captured
        .requests("Publish")
        .into_iter()
        .filter(|f| f.iter().any(|(k, v)| k == "PhoneNumber" && v == &phone))
        .collect();
    assert_eq!(publishes.len(), 1, "one provider call");
    let attrs = sms_attributes(&publishes[0]);
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(attrs["AWS.SNS.SMS.SMSType"], s("String", "Promotional"));
    assert_eq!(attrs["AWS.SNS.SMS.SenderID"], s("String", "HERALD"));
    assert_eq!(
        attrs["AWS.MM.SMS.OriginationNumber"],
        s("String", "+18005550100")
    );
    assert_eq!(attrs.len(), 3);
}

fn push_content() -> RenderedPush {
    let data = BTreeMap::from([("orderId".to_string(), "A-42".to_string())]);
    let p = payloads(&PushParts {
        title: Some("Shipped"),
        body: "Order A-42 is on its way",
        url: Some("app://orders/A-42"),
        image_url: None,
        data: &data,
        badge: Some(1),
        sound: Some("default"),
    });
    RenderedPush {
        title: Some("Shipped".into()),
        body: "Order A-42 is on its way".into(),
        url: Some("app://orders/A-42".into()),
        image_url: None,
        data,
        badge: Some(1),
        sound: Some("default".into()),
        apns: p.apns,
        fcm: p.fcm,
        payload_bytes: p.bytes,
    }
}

fn push(platform: PushPlatform, app: &str, token: &str) -> PushEnvelope {
    PushEnvelope {
        tags: tags(),
        platform,
        token: token.into(),
        platform_application_arn: app.into(),
        content: push_content(),
    }
}

/// The messages moto's endpoint for `token` received, each parsed from its JSON structure.
async fn endpoint_messages(token: &str) -> Vec<Value> {
    let endpoint = moto::endpoint_for_token(token)
        .await
        .unwrap_or_else(|| panic!("moto has no endpoint for token {token}"));
    let messages = match &endpoint["messages"] {
        Value::Object(m) => m.values().cloned().collect::<Vec<_>>(),
        Value::Array(a) => a.clone(),
        other => panic!("unexpected messages {other:?}"),
    };
    messages
        .iter()
        .map(|m| match m {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}")),
            other => other.clone(),
        })
        .collect()
}

#[tokio::test]
async fn an_fcm_push_is_published_to_the_tokens_endpoint_with_the_gcm_payload() {
    let d = moto::delivery().await;
    let app = moto::platform_application(&d, "GCM").await;
    let token = moto::unique("fcm-token");

    let accepted = d
        .send_push(&push(PushPlatform::Fcm, &app, &token))
        .await
        .expect("SNS accepts the push");
    assert!(!accepted.provider_message_id.is_empty());

    let messages = endpoint_messages(&token).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = messages[0].as_object().expect("a JSON message structure");
    assert_eq!(m.len(), 2, "default and GCM only: {m:?}");
    assert_eq!(m["default"], "Order A-42 is on its way");
    let gcm: Value =
        serde_json::from_str(m["GCM"].as_str().expect("GCM is a string")).expect("JSON");
    assert_eq!(gcm, push_content().fcm.value());
    assert_eq!(
        gcm["fcmV1Message"]["message"]["data"]["url"],
        "app://orders/A-42"
    );
}

#[tokio::test]
async fn apns_and_sandbox_pushes_use_their_own_keys() {
    let d = moto::delivery().await;
    for (platform, moto_platform, key) in [
        (PushPlatform::Apns, "APNS", "APNS"),
        (PushPlatform::ApnsSandbox, "APNS_SANDBOX", "APNS_SANDBOX"),
    ] {
        let app = moto::platform_application(&d, moto_platform).await;
        let token = moto::unique("apns-token");
        d.send_push(&push(platform, &app, &token))
            .await
            .expect("SNS accepts the push");
        let messages = endpoint_messages(&token).await;
        assert_eq!(messages.len(), 1);
        let payload: Value =
            serde_json::from_str(messages[0][key].as_str().expect("payload string")).expect("JSON");
        assert_eq!(payload, push_content().apns.value(), "{key}");
        assert_eq!(payload["aps"]["alert"]["title"], "Shipped");
        assert!(messages[0].get("GCM").is_none());
    }
}

#[tokio::test]
async fn a_second_push_to_the_same_token_reuses_its_endpoint() {
    let d = moto::delivery().await;
    let app = moto::platform_application(&d, "GCM").await;
    let token = moto::unique("fcm-token");

    d.send_push(&push(PushPlatform::Fcm, &app, &token))
        .await
        .expect("first");
    d.send_push(&push(PushPlatform::Fcm, &app, &token))
        .await
        .expect("second");

    let endpoints: Vec<_> = moto::data().await["sns"]["PlatformEndpoint"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["token"].as_str() == Some(token.as_str()))
        .collect();
    assert_eq!(endpoints.len(), 1, "one endpoint per token");
    assert_eq!(endpoint_messages(&token).await.len(), 2);
}

#[tokio::test]
async fn a_disabled_endpoint_is_endpoint_disabled_and_nothing_is_published() {
    let d = moto::delivery().await;
    let app = moto::platform_application(&d, "GCM").await;
    let token = moto::unique("fcm-token");
    d.send_push(&push(PushPlatform::Fcm, &app, &token))
        .await
        .expect("first send");
    let arn = moto::endpoint_for_token(&token).await.expect("endpoint")["arn"]
        .as_str()
        .expect("arn")
        .to_string();
    d.sns()
        .set_endpoint_attributes()
        .endpoint_arn(&arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("SetEndpointAttributes");

    let err = d
        .send_push(&push(PushPlatform::Fcm, &app, &token))
        .await
        .unwrap_err();

    assert_eq!(err, SendError::EndpointDisabled);
    assert_eq!(
        endpoint_messages(&token).await.len(),
        1,
        "nothing more was published"
    );
    let attrs = d
        .sns()
        .get_endpoint_attributes()
        .endpoint_arn(&arn)
        .send()
        .await
        .expect("GetEndpointAttributes");
    assert_eq!(
        attrs
            .attributes()
            .and_then(|a| a.get("Enabled"))
            .map(String::as_str),
        Some("false"),
        "a send never re-enables an endpoint"
    );
}

#[tokio::test]
async fn publishing_to_a_disabled_endpoint_answers_endpoint_disabled() {
    // The race the attribute check cannot close: the endpoint is disabled between the check
    // and the publish. SNS's own answer must classify the same way.
    let d = moto::delivery().await;
    let app = moto::platform_application(&d, "GCM").await;
    let token = moto::unique("fcm-token");
    let arn = d
        .sns()
        .create_platform_endpoint()
        .platform_application_arn(&app)
        .token(&token)
        .send()
        .await
        .expect("CreatePlatformEndpoint")
        .endpoint_arn
        .expect("arn");
    d.sns()
        .set_endpoint_attributes()
        .endpoint_arn(&arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("SetEndpointAttributes");

    let err = d
        .sns()
        .publish()
        .target_arn(&arn)
        .message("x")
        .send()
        .await
        .unwrap_err();

    assert_eq!(
        herald_core::adapters::aws_delivery::classify(&err, true),
        SendError::EndpointDisabled
    );
}

#[tokio::test]
async fn a_push_through_an_unknown_platform_application_is_rejected() {
    let d = moto::delivery().await;
    let app = "arn:aws:sns:us-east-1:123456789012:app/GCM/does-not-exist";
    let token = moto::unique("fcm-token");

    let err = d
        .send_push(&push(PushPlatform::Fcm, app, &token))
        .await
        .unwrap_err();

    assert!(matches!(err, SendError::Rejected { .. }), "{err:?}");
    assert!(moto::endpoint_for_token(&token).await.is_none());
}

#[tokio::test]
async fn every_channel_sent_to_a_closed_port_is_not_sent() {
    let url = moto::closed_port_url();
    let d = AwsDelivery::from_conf(&moto::config_at(&url).await, moto::MESSAGE_ID_DOMAIN);

    let e = d
        .send_email(&email("a@example.com", "b@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::NotSent { .. }), "email: {e:?}");

    let s = d
        .send_sms(&sms("+14155550100", SmsType::Transactional))
        .await
        .unwrap_err();
    assert!(matches!(s, SendError::NotSent { .. }), "sms: {s:?}");

    let p = d
        .send_push(&push(
            PushPlatform::Fcm,
            "arn:aws:sns:us-east-1:123456789012:app/GCM/x",
            "t",
        ))
        .await
        .unwrap_err();
    assert!(matches!(p, SendError::NotSent { .. }), "push: {p:?}");
}

#[tokio::test]
async fn an_unresolvable_host_is_not_sent() {
    let d = AwsDelivery::from_conf(
        &moto::config_at("http://herald-no-such-host.invalid:4566").await,
        moto::MESSAGE_ID_DOMAIN,
    );

    let err = d
        .send_sms(&sms("+14155550100", SmsType::Transactional))
        .await
        .unwrap_err();

    assert!(matches!(err, SendError::NotSent { .. }), "{err:?}");
}

#[tokio::test]
async fn a_send_whose_credentials_cannot_be_loaded_is_not_sent() {
    // The failure happens before the request reaches the HTTP client, whatever its shape.
    let conf = moto::config().await;
    // The provider gets the configuration's HTTP client, as `aws_config::defaults` would give it.
    let providers = aws_config::provider_config::ProviderConfig::without_region().with_http_client(
        conf.http_client()
            .expect("the test configuration has an HTTP client"),
    );
    let no_such_profile = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .configure(&providers)
        .profile_name(moto::unique("herald-no-such-profile"))
        .build();
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&conf)
            .credentials_provider(no_such_profile)
            .build(),
    );
    let d = AwsDelivery::new(
        aws_sdk_sesv2::Client::new(&conf),
        sns,
        moto::MESSAGE_ID_DOMAIN,
    );
    let phone = moto::unique_phone();

    let err = d
        .send_sms(&sms(&phone, SmsType::Transactional))
        .await
        .unwrap_err();

    assert!(matches!(err, SendError::NotSent { .. }), "{err:?}");
    assert!(moto::sms_to(&phone).await.is_empty());
}

/// A loopback HTTP server that counts the requests it receives and answers each with
/// `response` (or never, when `None`).
async fn fake_provider(response: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                let mut seen = 0;
                loop {
                    match socket.read(&mut buf[seen..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen += n,
                    }
                    let text = String::from_utf8_lossy(&buf[..seen]);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if seen >= end + 4 + length {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                match response {
                    Some(r) => {
                        let _ = socket.write_all(r.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (url, count)
}

/// The adapter on `url` with a short attempt timeout.
async fn delivery_at(url: &str) -> AwsDelivery {
    let conf = moto::config_at(url).await;
    let timeouts = aws_sdk_sesv2::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(500))
        .build();
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&conf)
            .timeout_config(timeouts.clone())
            .build(),
    );
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&conf)
            .timeout_config(timeouts)
            .build(),
    );
    AwsDelivery::new(ses, sns, moto::MESSAGE_ID_DOMAIN)
}

#[tokio::test]
async fn a_provider_that_never_answers_is_ambiguous_after_one_request() {
    let (url, requests) = fake_provider(None).await;
    let d = delivery_at(&url).await;

    let err = d
        .send_email(&email("a@example.com", "b@example.org"))
        .await
        .unwrap_err();

    assert!(matches!(err, SendError::Ambiguous { .. }), "{err:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "never retried");
}

#[tokio::test]
async fn a_server_error_is_ambiguous_and_never_retried_by_the_sdk() {
    const RESPONSE: &str = "HTTP/1.1 500 Internal Server Error\r\n\
        content-type: application/json\r\n\
        x-amzn-errortype: InternalFailure\r\n\
        content-length: 45\r\n\
        connection: close\r\n\r\n\
        {\"__type\":\"InternalFailure\",\"message\":\"boom\"}";
    let (url, requests) = fake_provider(Some(RESPONSE)).await;
    let d = delivery_at(&url).await;

    let err = d
        .send_email(&email("a@example.com", "b@example.org"))
        .await
        .unwrap_err();

    match err {
        SendError::Ambiguous { detail } => assert!(detail.contains("InternalFailure"), "{detail}"),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the SDK's retries are off"
    );
}

#[tokio::test]
async fn throttling_is_throttled_after_one_request() {
    const RESPONSE: &str = "HTTP/1.1 429 Too Many Requests\r\n\
        content-type: application/json\r\n\
        x-amzn-errortype: TooManyRequestsException\r\n\
        retry-after: 2\r\n\
        content-length: 80\r\n\
        connection: close\r\n\r\n\
        {\"__type\":\"TooManyRequestsException\",\"message\":\"Maximum sending rate exceeded.\"}";
    let (url, requests) = fake_provider(Some(RESPONSE)).await;
    let d = delivery_at(&url).await;

    let err = d
        .send_email(&email("a@example.com", "b@example.org"))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        SendError::Throttled {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the SDK's retries are off"
    );
}
