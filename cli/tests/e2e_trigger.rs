//! End to end: triggers through the AJO-compatible execution API of the `herald` binary, with
//! messages landing in the outbox of its data directory. Every reply is checked never to be a
//! 5xx (see `herald_tests::server`).

use std::time::Duration;

use herald_tests::server::{HeraldServer, Reply};
use reqwest::Method;
use serde_json::{Value, json};

fn start() -> HeraldServer {
    HeraldServer::start(std::path::Path::new(env!("CARGO_BIN_EXE_herald")), &[], &[])
}

async fn start_on_dynamodb() -> HeraldServer {
    HeraldServer::start_on_dynamodb(std::path::Path::new(env!("CARGO_BIN_EXE_herald"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_email_is_rendered_from_profile_and_context_into_the_outbox_on_sqlite() {
    a_password_reset_email_is_rendered_from_profile_and_context_into_the_outbox(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_email_is_rendered_from_profile_and_context_into_the_outbox_on_dynamodb() {
    a_password_reset_email_is_rendered_from_profile_and_context_into_the_outbox(
        start_on_dynamodb().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_replays_the_response_and_a_reused_request_id_is_refused_on_sqlite() {
    a_retry_replays_the_response_and_a_reused_request_id_is_refused(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_replays_the_response_and_a_reused_request_id_is_refused_on_dynamodb() {
    a_retry_replays_the_response_and_a_reused_request_id_is_refused(start_on_dynamodb().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_simulator_address_is_suppressed_for_the_next_trigger_on_sqlite() {
    a_bounce_simulator_address_is_suppressed_for_the_next_trigger(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_simulator_address_is_suppressed_for_the_next_trigger_on_dynamodb() {
    a_bounce_simulator_address_is_suppressed_for_the_next_trigger(start_on_dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_push_and_high_throughput_triggers_reach_the_outbox_on_sqlite() {
    sms_push_and_high_throughput_triggers_reach_the_outbox(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_push_and_high_throughput_triggers_reach_the_outbox_on_dynamodb() {
    sms_push_and_high_throughput_triggers_reach_the_outbox(start_on_dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketing_sms_audience_run_records_consent_suppression_cap_and_quiet_hours_on_sqlite() {
    a_marketing_sms_audience_run_records_consent_suppression_cap_and_quiet_hours(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketing_sms_audience_run_records_consent_suppression_cap_and_quiet_hours_on_dynamodb()
{
    a_marketing_sms_audience_run_records_consent_suppression_cap_and_quiet_hours(
        start_on_dynamodb().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_audience_run_fires_at_execute_at_and_a_cancelled_one_never_does_on_sqlite() {
    a_scheduled_audience_run_fires_at_execute_at_and_a_cancelled_one_never_does(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_audience_run_fires_at_execute_at_and_a_cancelled_one_never_does_on_dynamodb() {
    a_scheduled_audience_run_fires_at_execute_at_and_a_cancelled_one_never_does(
        start_on_dynamodb().await,
    )
    .await;
}

async fn channel_config(s: &HeraldServer, body: Value) -> String {
    let r = s.post("/channel-configs", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn live_campaign(s: &HeraldServer, spec: Value) -> String {
    let c = s.post("/campaigns", &spec).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().unwrap().to_string();
    let a = s.post_empty(&format!("/campaigns/{id}/activate")).await;
    assert_eq!(a.body["status"], "live", "{}", a.text);
    id
}

async fn password_reset(s: &HeraldServer) -> String {
    let cfg = channel_config(
        s,
        json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com", "fromName": "Example"}}),
    )
    .await;
    live_campaign(
        s,
        json!({"name": "Password reset", "type": "transactional", "channel": "email", "channelConfigId": cfg,
               "content": {"email": {"subject": "Reset your password, {{default profile.firstName \"there\"}}",
                                     "html": "<p>Hi {{profile.firstName}}, <a href=\"{{context.resetUrl}}\">reset</a> within {{context.minutes}} minutes.</p>"}}}),
    )
    .await
}

/// The password-reset campaign, Ann's profile, and one accepted trigger for her.
async fn reset_for_ann(s: &HeraldServer, request_id: &str) -> Reply {
    let campaign = password_reset(s).await;
    let p = s
        .put(
            "/profiles/email/ann@example.com",
            &json!({"attributes": {"firstName": "Ann"}}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let r = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": request_id, "campaignId": campaign,
                    "context": {"resetUrl": "https://example.com/reset/abc", "minutes": 30},
                    "recipients": [{"type": "aep", "namespace": "email", "userId": "ann@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    r
}

async fn messages(s: &HeraldServer, reply: &Reply) -> Vec<Value> {
    let id = reply.body["executionId"].as_str().expect("an executionId");
    let m = s.get(&format!("/im/executions/{id}/messages")).await;
    assert_eq!(m.status, 200, "{}", m.text);
    m.body["items"].as_array().unwrap().clone()
}

async fn a_password_reset_email_is_rendered_from_profile_and_context_into_the_outbox(
    s: HeraldServer,
) {
    let r = reset_for_ann(&s, "reset-1").await;
    for field in [
        "executionId",
        "requestId",
        "createdAt",
        "createdBy",
        "modifiedAt",
        "modifiedBy",
    ] {
        assert!(
            r.body.get(field).is_some(),
            "AJO response field {field} missing: {}",
            r.text
        );
    }
    assert_eq!(r.body["requestId"], "reset-1");

    let msgs = messages(&s, &r).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["outcome"], "sent", "{msgs:?}");
    assert_eq!(msgs[0]["rulesBypassed"], true);
    let message_id = msgs[0]["id"].as_str().unwrap();

    let out = s.get(&format!("/outbox/{message_id}")).await;
    assert_eq!(out.status, 200, "{}", out.text);
    let text = out.text.clone();
    assert!(text.contains("Reset your password, Ann"), "{text}");
    assert!(text.contains("https://example.com/reset/abc"), "{text}");
    assert!(text.contains("30 minutes"), "{text}");
    let eml = s.get(&format!("/outbox/{message_id}/eml")).await;
    assert_eq!(eml.status, 200);
    assert!(
        eml.text
            .lines()
            .any(|l| l.starts_with("To:") && l.contains("ann@example.com")),
        "{}",
        eml.text
    );
    assert!(eml.text.contains("multipart/alternative"), "{}", eml.text);
    assert!(
        !eml.text.contains("List-Unsubscribe"),
        "transactional mail has no List-Unsubscribe"
    );
    assert!(
        s.data_dir
            .join("outbox")
            .join(format!("{message_id}.eml"))
            .exists()
    );

    let status = s
        .get(&format!(
            "/im/executions/audience/{}",
            r.body["executionId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status.body["status"], "Succeeded", "{}", status.text);
    assert_eq!(status.body["targetedProfileCount"], 1);
    assert_eq!(status.body["counts"]["sent"], 1);
}

async fn a_retry_replays_the_response_and_a_reused_request_id_is_refused(s: HeraldServer) {
    let campaign = password_reset(&s).await;
    let body = json!({"requestId": "idem-1", "campaignId": campaign,
                      "recipients": [{"type": "external", "namespace": "email", "userId": "bob@example.com"}]});
    let first = s.post("/im/executions/unitary", &body).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let again = s.post("/im/executions/unitary", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.text, first.text, "byte for byte");
    assert_eq!(
        again
            .headers
            .get("idempotency-replay")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert!(first.headers.get("idempotency-replay").is_none());
    let outbox = s.get("/outbox").await;
    assert_eq!(
        outbox.body["items"].as_array().unwrap().len(),
        1,
        "sent once: {}",
        outbox.text
    );

    let mut other = body.clone();
    other["recipients"][0]["userId"] = json!("carol@example.com");
    let reused = s.post("/im/executions/unitary", &other).await;
    reused.assert_problem(422, "request-id-reused");
    assert_eq!(
        reused.body["report"]["additionalContext"]["requestId"],
        "idem-1"
    );
    assert_eq!(
        reused.body["report"]["additionalContext"]["campaignId"],
        campaign.as_str()
    );
}

async fn a_bounce_simulator_address_is_suppressed_for_the_next_trigger(s: HeraldServer) {
    let campaign = password_reset(&s).await;
    let to = |req: &str| {
        json!({"requestId": req, "campaignId": campaign,
               "recipients": [{"type": "external", "namespace": "email", "userId": "bounce@simulator.amazonses.com"}]})
    };
    let first = s.post("/im/executions/unitary", &to("b1")).await;
    assert_eq!(messages(&s, &first).await[0]["outcome"], "sent");
    // The tick feeds the simulated bounce to the feedback path within a second or two.
    let mut suppressed = false;
    for _ in 0..50 {
        if s.get("/suppressions/email/bounce@simulator.amazonses.com")
            .await
            .status
            == 200
        {
            suppressed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(suppressed, "the hard bounce suppressed the address");
    let m = messages(&s, &first).await;
    assert_eq!(m[0]["outcome"], "bounced", "{m:?}");
    let second = s.post("/im/executions/unitary", &to("b2")).await;
    let m = messages(&s, &second).await;
    assert_eq!(
        (m[0]["outcome"].as_str(), m[0]["reason"].as_str()),
        (Some("excluded"), Some("Suppressed"))
    );
}

async fn sms_push_and_high_throughput_triggers_reach_the_outbox(s: HeraldServer) {
    let sms_cfg = channel_config(
        &s,
        json!({"name": "SMS", "category": "transactional", "sms": {"senderId": "Herald"}}),
    )
    .await;
    let sms = live_campaign(
        &s,
        json!({"name": "OTP", "type": "transactional", "channel": "sms", "channelConfigId": sms_cfg, "highThroughput": true,
               "content": {"sms": {"text": "Your code: {{context.code}}"}}}),
    )
    .await;
    let ht = s
        .post(
            "/im/executions/highthroughput",
            &json!({"requestId": "ht-1", "campaignId": sms, "recipients": [
                {"type": "external", "namespace": "phone", "userId": "+14155552671", "context": {"code": "111111"}},
                {"type": "external", "namespace": "phone", "userId": "+14155552672", "context": {"code": "222222"}}]}),
        )
        .await;
    assert_eq!(ht.status, 202, "{}", ht.text);
    let m = messages(&s, &ht).await;
    assert!(m.iter().all(|x| x["outcome"] == "sent"), "{m:?}");
    let out = s
        .get(&format!("/outbox/{}", m[0]["id"].as_str().unwrap()))
        .await;
    assert!(out.text.contains("Your code: "), "{}", out.text);
    // A high-throughput campaign is not triggered through /unitary, and takes external recipients only.
    s.post(
        "/im/executions/unitary",
        &json!({"requestId": "u", "campaignId": sms, "recipients": [{"type": "external", "namespace": "phone", "userId": "+14155552671"}]}),
    )
    .await
    .assert_problem(400, "wrong-execution-kind");
    s.post(
        "/im/executions/highthroughput",
        &json!({"requestId": "a", "campaignId": sms, "recipients": [{"type": "aep", "namespace": "phone", "userId": "+14155552671"}]}),
    )
    .await
    .assert_problem(400, "invalid-request");

    let push_cfg = channel_config(
        &s,
        json!({"name": "Push", "category": "transactional", "push": {"apnsPlatformArn": "arn:aws:sns:us-east-1:123456789012:app/APNS/herald"}}),
    )
    .await;
    let push = live_campaign(
        &s,
        json!({"name": "Shipped", "type": "transactional", "channel": "push", "channelConfigId": push_cfg,
               "content": {"push": {"title": "Shipped", "body": "Order {{context.order}} is on its way", "url": "app://orders/{{context.order}}"}}}),
    )
    .await;
    let p = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "push-1", "campaignId": push, "context": {"order": "A-42"}, "recipients": [
                {"type": "external", "namespace": "device", "userId": "d-1", "channelData": {"pushInfo": {"token": "apns-token-1", "platform": "apns"}}}]}),
        )
        .await;
    let m = messages(&s, &p).await;
    assert_eq!(m[0]["outcome"], "sent", "{m:?}");
    let out = s
        .get(&format!("/outbox/{}", m[0]["id"].as_str().unwrap()))
        .await;
    assert!(
        out.text.contains("Order A-42 is on its way"),
        "{}",
        out.text
    );
    assert!(out.text.contains("app://orders/A-42"), "{}", out.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_triggers_get_a_clear_4xx_problem() {
    let s = start();
    let campaign = password_reset(&s).await;
    let one = json!([{"type": "external", "namespace": "email", "userId": "a@example.com"}]);

    s.send(
        Method::POST,
        "/im/executions/unitary",
        Some(b"{\"requestId\":".to_vec()),
        &[],
    )
    .await
    .assert_problem(400, "invalid-json");
    s.post(
        "/im/executions/unitary",
        &json!({"campaignId": campaign, "recipients": one}),
    )
    .await
    .assert_problem(400, "invalid-request");
    s.post(
        "/im/executions/unitary",
        &json!({"requestId": "r", "campaignId": campaign, "recipients": []}),
    )
    .await
    .assert_problem(400, "invalid-request");
    let many: Vec<Value> = (0..21).map(|i| json!({"type": "external", "namespace": "email", "userId": format!("u{i}@example.com")})).collect();
    let too_many = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "r", "campaignId": campaign, "recipients": many}),
        )
        .await;
    too_many.assert_problem(400, "invalid-request");
    assert_eq!(
        too_many.body["report"]["additionalContext"]["requestId"],
        "r"
    );
    let dup = json!([{"type": "external", "namespace": "email", "userId": "a@example.com"}, {"type": "external", "namespace": "email", "userId": "a@example.com"}]);
    s.post(
        "/im/executions/unitary",
        &json!({"requestId": "r", "campaignId": campaign, "recipients": dup}),
    )
    .await
    .assert_problem(400, "invalid-request");
    s.post("/im/executions/unitary", &json!({"requestId": "r", "campaignId": campaign, "recipients": [{"type": "robot", "namespace": "email", "userId": "a"}]}))
        .await
        .assert_problem(400, "invalid-request");
    s.post("/im/executions/unitary", &json!({"requestId": "r", "campaignId": campaign, "recipients": one, "context": {"blob": "x".repeat(210 * 1024)}}))
        .await
        .assert_problem(400, "invalid-request");
    s.post("/im/executions/unitary", &json!({"requestId": "r", "campaignId": campaign, "recipients": one, "context": {"blob": "x".repeat(300 * 1024)}}))
        .await
        .assert_problem(413, "payload-too-large");
    s.post("/im/executions/unitary", &json!({"requestId": "r", "campaignId": "0190d6a2-0000-7000-8000-000000000000", "recipients": one}))
        .await
        .assert_problem(404, "campaign-not-found");
    s.post(
        "/im/executions/unitary",
        &json!({"requestId": "r", "campaignId": "not-a-campaign", "recipients": one}),
    )
    .await
    .assert_problem(404, "campaign-not-found");
    let draft = s
        .post("/campaigns", &json!({"name": "d", "type": "transactional", "channel": "email", "content": {"email": {"subject": "s", "html": "h"}}}))
        .await;
    s.post(
        "/im/executions/unitary",
        &json!({"requestId": "r", "campaignId": draft.body["id"], "recipients": one}),
    )
    .await
    .assert_problem(409, "campaign-not-live");
    s.get("/im/executions/audience/0190d6a2-0000-7000-8000-000000000000")
        .await
        .assert_problem(404, "execution-not-found");
    s.get("/im/executions/nope/messages")
        .await
        .assert_problem(404, "execution-not-found");
    s.send_anonymous(Method::POST, "/im/executions/unitary")
        .await
        .assert_problem(401, "unauthorized");
}

async fn wait_until<F>(what: &str, mut ok: F)
where
    F: AsyncFnMut() -> bool,
{
    for _ in 0..150 {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn a_marketing_sms_audience_run_records_consent_suppression_cap_and_quiet_hours(
    s: HeraldServer,
) {
    // Quiet hours around the current UTC hour: recipients in UTC are inside, UTC+12 is not.
    let hour = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .hour();
    let quiet = json!({"start": format!("{:02}:00", hour), "end": format!("{:02}:00", (hour + 2) % 24), "action": "queue"});
    let rules = s.post("/rule-sets", &json!({"name": "Marketing", "caps": [{"limit": 1, "period": "day"}], "quietHours": quiet})).await;
    assert_eq!(rules.status, 201, "{}", rules.text);
    let cfg = channel_config(
        &s,
        json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Shop"}}),
    )
    .await;
    let away = "Etc/GMT-12";
    let people = [
        (
            "+33612340001",
            json!({"consent": {"sms": "in"}, "timezone": away, "attributes": {"firstName": "Ann"}}),
        ),
        (
            "+33612340002",
            json!({"consent": {"sms": "out"}, "timezone": away}),
        ),
        ("+33612340003", json!({"timezone": away})),
        ("+33612340004", json!({"timezone": away})),
        ("+33612340005", json!({"timezone": "UTC"})),
    ];
    for (phone, body) in &people {
        assert_eq!(
            s.put(&format!("/profiles/phone/{phone}"), body)
                .await
                .status,
            201
        );
    }
    assert_eq!(
        s.post(
            "/suppressions",
            &json!({"channel": "sms", "address": "+33612340003"})
        )
        .await
        .status,
        201
    );
    let aud = s
        .post("/audiences", &json!({"name": "Shoppers", "kind": "static"}))
        .await;
    let audience = aud.body["id"].as_str().unwrap().to_string();
    let identities: Vec<Value> = people
        .iter()
        .map(|(p, _)| json!({"namespace": "phone", "value": p}))
        .collect();
    let added = s
        .post(
            &format!("/audiences/{audience}/members"),
            &json!({"identities": identities}),
        )
        .await;
    assert_eq!(added.body["memberCount"], 5, "{}", added.text);
    let campaign = live_campaign(
        &s,
        json!({"name": "Sale", "type": "marketing", "channel": "sms", "channelConfigId": cfg, "ruleSetId": rules.body["id"],
               "audience": {"id": audience}, "rateLimit": 50, "content": {"sms": {"text": "Hi {{default profile.firstName \"you\"}}: {{context.offer}}"}}}),
    )
    .await;
    // The fourth recipient already had today's one message.
    let warmup = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "warm", "campaignId": campaign, "context": {"offer": "early"},
                    "recipients": [{"type": "aep", "namespace": "phone", "userId": "+33612340004"}]}),
        )
        .await;
    assert_eq!(messages(&s, &warmup).await[0]["outcome"], "sent");

    let run = s
        .post(
            "/im/executions/audience",
            &json!({"requestId": "sale-1", "campaignId": campaign, "context": {"offer": "-20%"}}),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.text);
    let execution = run.body["executionId"].as_str().unwrap().to_string();
    wait_until("the audience execution succeeds", async || {
        s.get(&format!("/im/executions/audience/{execution}"))
            .await
            .body["status"]
            == "Succeeded"
    })
    .await;
    let status = s.get(&format!("/im/executions/audience/{execution}")).await;
    assert_eq!(status.body["targetedProfileCount"], 5, "{}", status.text);
    assert_eq!(status.body["audienceId"], audience.as_str());
    let mut got: Vec<(String, String, String)> = messages(&s, &run)
        .await
        .iter()
        .map(|m| {
            let profile = m["recipient"]["userId"].as_str().unwrap().to_string();
            (
                profile,
                m["outcome"].as_str().unwrap().to_string(),
                m["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 5);
    // Map profile ids back to phones.
    for g in got.iter_mut() {
        let p = s.get(&format!("/profiles/{}", g.0)).await;
        g.0 = p.body["identities"]["phone"].as_str().unwrap().to_string();
    }
    got.sort();
    let expect = |o: &str, r: &str| (o.to_string(), r.to_string());
    let outcomes: Vec<(String, String)> = got.into_iter().map(|(_, o, r)| (o, r)).collect();
    assert_eq!(
        outcomes,
        vec![
            expect("sent", ""),
            expect("excluded", "ConsentOut"),
            expect("excluded", "Suppressed"),
            expect("excluded", "FrequencyCap"),
            expect("queued", "QuietHours"),
        ]
    );
    let outbox = s.get("/outbox").await;
    let texts = outbox.text.clone();
    assert!(texts.contains("Hi Ann: -20%"), "{texts}");
}

async fn a_scheduled_audience_run_fires_at_execute_at_and_a_cancelled_one_never_does(
    s: HeraldServer,
) {
    let cfg = channel_config(
        &s,
        json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Shop"}}),
    )
    .await;
    assert_eq!(
        s.put(
            "/profiles/phone/+33612340101",
            &json!({"consent": {"sms": "in"}})
        )
        .await
        .status,
        201
    );
    let aud = s
        .post("/audiences", &json!({"name": "One", "kind": "static"}))
        .await;
    let audience = aud.body["id"].as_str().unwrap().to_string();
    s.post(
        &format!("/audiences/{audience}/members"),
        &json!({"identities": [{"namespace": "phone", "value": "+33612340101"}]}),
    )
    .await;
    let campaign = live_campaign(
        &s,
        json!({"name": "Later", "type": "marketing", "channel": "sms", "channelConfigId": cfg, "audience": {"id": audience},
               "content": {"sms": {"text": "Scheduled hello"}}}),
    )
    .await;
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(2))
        .unwrap();
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let first = s
        .post(
            "/im/executions/audience",
            &json!({"campaignId": campaign, "schedule": {"executeAt": soon}}),
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.body["scheduleStatus"], "Scheduled");
    assert_eq!(first.body["audience"]["id"], audience.as_str());
    let schedule = first.body["scheduleId"].as_str().unwrap().to_string();
    let second = s
        .post(
            "/im/executions/audience",
            &json!({"campaignId": campaign, "schedule": {"executeAt": later}}),
        )
        .await;
    let cancelled = second.body["scheduleId"].as_str().unwrap().to_string();
    let del = s
        .delete(&format!("/im/executions/schedules/{cancelled}"))
        .await;
    assert_eq!(
        (del.status.as_u16(), del.body.clone()),
        (200, json!({})),
        "{}",
        del.text
    );
    assert_eq!(
        s.get(&format!("/im/executions/schedules/{cancelled}"))
            .await
            .body["scheduleStatus"],
        "Cancelled"
    );
    s.delete(&format!("/im/executions/schedules/{cancelled}"))
        .await
        .assert_problem(409, "schedule-not-cancellable");
    s.get("/im/executions/schedules/0190d6a2-0000-7000-8000-000000000000")
        .await
        .assert_problem(404, "schedule-not-found");

    wait_until(
        "the schedule fires and its execution succeeds",
        async || {
            let r = s.get(&format!("/im/executions/schedules/{schedule}")).await;
            r.body["scheduleStatus"] == "Triggered"
                && r.body["executionDetails"]["status"] == "Succeeded"
        },
    )
    .await;
    let outbox = s.get("/outbox").await;
    assert_eq!(
        outbox.body["items"].as_array().unwrap().len(),
        1,
        "only the scheduled run sent: {}",
        outbox.text
    );
    assert!(outbox.text.contains("Scheduled hello"));
}

async fn one_click_unsubscribe(s: HeraldServer) {
    let cfg = channel_config(
        &s,
        json!({"name": "News", "category": "marketing", "email": {"fromAddress": "news@example.com", "listUnsubscribe": true}}),
    )
    .await;
    let campaign = live_campaign(
        &s,
        json!({"name": "Newsletter", "type": "marketing", "channel": "email", "channelConfigId": cfg,
               "content": {"email": {"subject": "News", "html": "<p>Hello</p><p><a href=\"{{unsubscribeUrl}}\">Unsubscribe</a></p>"}}}),
    )
    .await;
    assert_eq!(
        s.put(
            "/profiles/email/reader@example.com",
            &json!({"consent": {"email": "in"}})
        )
        .await
        .status,
        201
    );
    let reader = json!([{"type": "aep", "namespace": "email", "userId": "reader@example.com"}]);
    let first = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "n1", "campaignId": campaign, "recipients": reader}),
        )
        .await;
    let m = messages(&s, &first).await;
    assert_eq!(m[0]["outcome"], "sent", "{m:?}");
    let id = m[0]["id"].as_str().unwrap();
    let eml = s.get(&format!("/outbox/{id}/eml")).await.text;
    let unsubscribe_headers: Vec<&str> = eml
        .lines()
        .filter(|l| l.starts_with("List-Unsubscribe:"))
        .collect();
    assert_eq!(unsubscribe_headers.len(), 1, "{eml}");
    assert_eq!(
        eml.lines()
            .filter(|l| l.starts_with("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
            .count(),
        1
    );
    let url = unsubscribe_headers[0]
        .trim_start_matches("List-Unsubscribe:")
        .trim()
        .trim_matches(['<', '>'])
        .to_string();
    assert!(url.starts_with(&format!("{}/u/", s.base)), "{url}");
    let entry = s.get(&format!("/outbox/{id}")).await.text;
    assert!(
        entry.contains(&url),
        "the html link is the same signed URL: {entry}"
    );

    // A GET shows a confirmation page and changes nothing (link scanners follow GETs).
    let page = s.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("reader@example.com") && html.contains("<form method=\"post\""),
        "{html}"
    );
    assert_eq!(
        s.get("/profiles/email/reader@example.com").await.body["consent"]["email"],
        "in"
    );
    // RFC 8058 one-click POST, without any token: the link is the authorization.
    let done = s
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(
        s.get("/profiles/email/reader@example.com").await.body["consent"]["email"],
        "out"
    );
    let second = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "n2", "campaignId": campaign, "recipients": reader}),
        )
        .await;
    assert_eq!(messages(&s, &second).await[0]["reason"], "ConsentOut");
    // A forged or truncated link is refused.
    let forged = s.http.post(format!("{}x", url)).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    let garbage = s
        .http
        .get(format!("{}/u/not-a-token", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_on_sqlite() {
    one_click_unsubscribe(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_on_dynamodb() {
    one_click_unsubscribe(start_on_dynamodb().await).await;
}

async fn fifty_concurrent_identical_triggers(s: HeraldServer) {
    let campaign = password_reset(&s).await;
    let body = json!({"requestId": "burst-1", "campaignId": campaign, "recipients": [
        {"type": "external", "namespace": "email", "userId": "one@example.com"},
        {"type": "external", "namespace": "email", "userId": "two@example.com"}]});
    let s = std::sync::Arc::new(s);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            let body = body.clone();
            tokio::spawn(async move { s.post("/im/executions/unitary", &body).await })
        })
        .collect();
    let mut accepted = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            202 => accepted.push(r.text.clone()),
            409 => {
                r.assert_problem(409, "request-in-flight");
                assert!(
                    r.headers.get("retry-after").is_some(),
                    "a 409 says when to retry"
                );
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    accepted.dedup();
    assert_eq!(
        accepted.len(),
        1,
        "every accepted answer is the one execution"
    );
    let outbox = s.get("/outbox").await;
    assert_eq!(
        outbox.body["items"].as_array().unwrap().len(),
        2,
        "one message per recipient: {}",
        outbox.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_triggers_send_once_on_sqlite() {
    fifty_concurrent_identical_triggers(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_triggers_send_once_on_dynamodb() {
    fifty_concurrent_identical_triggers(start_on_dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_execution_resumes_after_a_crash_without_sending_twice() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_herald"));
    let s = start();
    let cfg = channel_config(
        &s,
        json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Shop"}}),
    )
    .await;
    let members = 60;
    let mut lines = String::new();
    for i in 0..members {
        lines.push_str(&json!({"identities": {"phone": format!("+336123450{i:02}")}}).to_string());
        lines.push('\n');
    }
    let import = s.import_profiles(lines).await;
    assert_eq!(import.body["created"], members, "{}", import.text);
    let aud = s
        .post("/audiences", &json!({"name": "Many", "kind": "static"}))
        .await;
    let audience = aud.body["id"].as_str().unwrap().to_string();
    let identities: Vec<Value> = (0..members)
        .map(|i| json!({"namespace": "phone", "value": format!("+336123450{i:02}")}))
        .collect();
    s.post(
        &format!("/audiences/{audience}/members"),
        &json!({"identities": identities}),
    )
    .await;
    // 20 messages a second: the run takes about three seconds, long enough to crash in the middle.
    let campaign = live_campaign(
        &s,
        json!({"name": "Slow", "type": "marketing", "channel": "sms", "channelConfigId": cfg, "audience": {"id": audience},
               "rateLimit": 20, "content": {"sms": {"text": "Hello"}}}),
    )
    .await;
    let run = s
        .post("/im/executions/audience", &json!({"campaignId": campaign}))
        .await;
    let execution = run.body["executionId"].as_str().unwrap().to_string();
    wait_until("some messages are sent", async || {
        s.get("/outbox?limit=1000").await.body["items"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
            >= 10
    })
    .await;
    let data_dir = s.crash();
    let sent_before = std::fs::read_dir(data_dir.join("outbox")).unwrap().count();
    assert!(
        sent_before < 2 * members as usize,
        "crashed mid-run ({sent_before} files)"
    );

    let s = HeraldServer::start_in(exe, data_dir, &[], &[]);
    wait_until("the resumed execution succeeds", async || {
        s.get(&format!("/im/executions/audience/{execution}"))
            .await
            .body["status"]
            == "Succeeded"
    })
    .await;
    let outbox = s.get("/outbox?limit=1000").await;
    let items = outbox.body["items"].as_array().unwrap();
    let mut ids: Vec<&str> = items
        .iter()
        .map(|e| e["messageId"].as_str().unwrap_or(""))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), items.len(), "no message twice");
    // A message the crash caught between its claim and its outcome is `unknown`
    // (`Interrupted`), never sent again; its outbox file exists if the crash came after it.
    let status = s.get(&format!("/im/executions/audience/{execution}")).await;
    let counts = &status.body["counts"];
    let (sent, unknown) = (
        counts["sent"].as_u64().unwrap(),
        counts["unknown"].as_u64().unwrap(),
    );
    assert_eq!(sent + unknown, members, "{}", status.text);
    assert!(
        unknown <= 8,
        "at most one per send running at once: {}",
        status.text
    );
    assert!(
        items.len() as u64 >= sent && items.len() as u64 <= members,
        "every sent message is in the outbox, none twice: {} files, {}",
        items.len(),
        status.text
    );
}

/// A webhook receiver on a free loopback port: records every request, answers 500 to the first.
async fn webhook_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().unwrap();
                seen.push((headers, body));
                if seen.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn feedback_webhook(s: HeraldServer) {
    let (url, seen) = webhook_receiver().await;
    let secret = "a-shared-secret-of-some-length";
    let put = s
        .put("/webhooks/feedback", &json!({"url": url, "secret": secret}))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    s.put(
        "/webhooks/feedback",
        &json!({"url": "ftp://nope", "secret": "short"}),
    )
    .await
    .assert_problem(400, "invalid-request");
    let campaign = password_reset(&s).await;
    let r = s
        .post(
            "/im/executions/unitary",
            &json!({"requestId": "wh-1", "campaignId": campaign, "recipients": [{"type": "external", "namespace": "email", "userId": "hook@example.com"}]}),
        )
        .await;
    let message = messages(&s, &r).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The first POST gets a 500; the worker retries it with back-off.
    wait_until("the webhook receives the event after a retry", async || {
        seen.lock().unwrap().len() >= 2
    })
    .await;
    let (headers, body) = seen.lock().unwrap()[1].clone();
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["messageId"], message.as_str());
    assert_eq!(event["outcome"], "sent");
    assert_eq!(event["eventId"], format!("{message}.sent"));
    let sig = headers
        .get("x-herald-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let t: i64 = sig
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    let expected = herald_core::domain::webhook::signature(
        secret,
        jiff::Timestamp::from_second(t).unwrap(),
        &body,
    );
    assert_eq!(
        sig, expected,
        "the signature verifies with the shared secret"
    );
    // The delivery is counted once the receiver has answered, so a moment after it saw it.
    let execution = format!(
        "/im/executions/audience/{}",
        r.body["executionId"].as_str().unwrap()
    );
    wait_until("the delivered event is counted", async || {
        s.get(&execution).await.body["counts"]["webhookDelivered"] == 1
    })
    .await;
    let status = s.get(&execution).await;
    assert_eq!(
        status.body["counts"]["webhookDelivered"], 1,
        "{}",
        status.text
    );
    assert_eq!(status.body["counts"]["webhookFailures"], 1);
    assert_eq!(s.delete("/webhooks/feedback").await.status, 204);
    s.get("/webhooks/feedback")
        .await
        .assert_problem(404, "webhook-not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_outcomes_reach_the_feedback_webhook_on_sqlite() {
    feedback_webhook(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_outcomes_reach_the_feedback_webhook_on_dynamodb() {
    feedback_webhook(start_on_dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_discard_sink_messages_are_sent_and_counted_but_nothing_is_written() {
    let s = HeraldServer::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_herald")),
        &["--delivery", "discard"],
        &[],
    );
    let r = reset_for_ann(&s, "discard-1").await;
    let msgs = messages(&s, &r).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["outcome"], "sent", "{msgs:?}");
    let message_id = msgs[0]["id"].as_str().unwrap();
    assert_eq!(
        msgs[0]["providerMessageId"],
        format!("discard-{message_id}"),
        "{msgs:?}"
    );
    s.get(&format!("/outbox/{message_id}"))
        .await
        .assert_problem(404, "route-not-found");
    assert!(
        !s.data_dir.join("outbox").exists(),
        "the discard sink writes no outbox"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_delivery_sink_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--port", "0", "--delivery", "pigeon"])
        .output()
        .expect("herald runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pigeon") && stderr.contains("outbox") && stderr.contains("discard"),
        "{stderr}"
    );
}
