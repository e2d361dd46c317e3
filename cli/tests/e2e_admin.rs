//! End to end: the `herald` binary on a free port with a temporary data directory, driven over
//! HTTP through a campaign's whole admin life and through every kind of bad input. Every reply
//! is checked never to be a 5xx (see `herald_tests::server`).

use herald_tests::server::HeraldServer;
use reqwest::Method;
use serde_json::{Value, json};

fn start() -> HeraldServer {
    HeraldServer::start(std::path::Path::new(env!("CARGO_BIN_EXE_herald")), &[], &[])
}

fn etag(r: &herald_tests::server::Reply) -> String {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag header")
        .to_string()
}

async fn create_email_config(s: &HeraldServer, category: &str) -> String {
    let r = s
        .post(
            "/channel-configs",
            &json!({"name": format!("{category} mail"), "category": category,
                    "email": {"fromAddress": "no-reply@example.com", "fromName": "Example"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("config id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_goes_from_draft_through_review_activation_versions_stop_and_archive() {
    campaign_life(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_campaign_life_runs_on_herald_serve_with_the_dynamodb_store() {
    campaign_life(start_on_dynamodb().await).await;
}

/// `herald serve --store dynamodb` against a fresh DynamoDB Local table made from template.yaml.
async fn start_on_dynamodb() -> HeraldServer {
    HeraldServer::start_on_dynamodb(std::path::Path::new(env!("CARGO_BIN_EXE_herald"))).await
}

async fn campaign_life(s: HeraldServer) {
    let config = create_email_config(&s, "transactional").await;

    // A draft with a broken template, no subject and no channel configuration.
    let created = s
        .post(
            "/campaigns",
            &json!({"name": "Password reset", "type": "transactional", "channel": "email",
                    "content": {"email": {"subject": "", "html": "<p>Hi {{profile.firstName</p>"}}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "draft");
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/campaigns/{id}");

    let review = s.post_empty(&format!("{path}/review")).await;
    assert_eq!(review.status, 200, "{}", review.text);
    let codes: Vec<&str> = review.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    for expected in [
        "template-syntax",
        "missing-subject",
        "missing-channel-config",
    ] {
        assert!(
            codes.contains(&expected),
            "review should report {expected}: {codes:?}"
        );
    }

    // Activation is refused with the review report.
    let refused = s.post_empty(&format!("{path}/activate")).await;
    refused.assert_problem(422, "review-failed");
    assert!(
        !refused.body["review"]["errors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get(&path).await.body["status"], "draft");

    // Fix it, guarded by the ETag.
    let tag = etag(&s.get(&path).await);
    let fixed_spec = json!({"name": "Password reset", "type": "transactional", "channel": "email",
        "channelConfigId": config,
        "content": {"email": {"subject": "Reset your password, {{default profile.firstName \"there\"}}",
                              "html": "<p>Hi {{profile.firstName}}, <a href=\"{{context.resetUrl}}\">reset</a></p>"}}});
    let fixed = s
        .send(
            Method::PUT,
            &path,
            Some(fixed_spec.to_string().into_bytes()),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    assert_eq!(
        fixed.body["draftVersion"], 1,
        "a draft campaign is edited in place"
    );
    let stale = s
        .send(
            Method::PUT,
            &path,
            Some(fixed_spec.to_string().into_bytes()),
            &[("if-match", &tag)],
        )
        .await;
    stale.assert_problem(409, "stale-revision");

    let review = s.post_empty(&format!("{path}/review")).await;
    assert_eq!(review.body["errors"], json!([]), "{}", review.text);

    // Preview renders every field; HTML is escaped, the subject is not.
    let preview = s
        .post(
            &format!("{path}/preview"),
            &json!({"profile": {"firstName": "Ann <b>"}, "context": {"resetUrl": "https://example.com/r?t=1"}}),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert_eq!(
        preview.body["email"]["subject"],
        "Reset your password, Ann <b>"
    );
    let html = preview.body["email"]["html"].as_str().unwrap();
    assert!(html.contains("Ann &lt;b&gt;"), "{html}");
    // Handlebars escapes `=` too (safe even in unquoted attributes); mail clients decode it.
    assert!(html.contains("https://example.com/r?t&#x3D;1"), "{html}");
    assert!(
        !preview.body["email"]["text"].as_str().unwrap().is_empty(),
        "text part derived from html"
    );
    let fallback = s.post(&format!("{path}/preview"), &json!({})).await;
    assert_eq!(
        fallback.body["email"]["subject"],
        "Reset your password, there"
    );

    // Activate: live at version 1.
    let live = s.post_empty(&format!("{path}/activate")).await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(live.body["status"], "live");
    assert_eq!(live.body["liveVersion"], 1);
    assert!(live.body.get("draftVersion").is_none());

    // A live campaign is never edited in place: a draft version opens.
    let draft = s.post_empty(&format!("{path}/draft")).await;
    assert_eq!(draft.status, 200, "{}", draft.text);
    assert_eq!(draft.body["draftVersion"], 2);
    assert_eq!(draft.body["liveVersion"], 1);
    let mut v2 = fixed_spec.clone();
    v2["content"]["email"]["subject"] = json!("Your password reset link");
    let edited = s.put(&path, &v2).await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(
        edited.body["draft"]["spec"]["content"]["email"]["subject"],
        "Your password reset link"
    );
    assert_eq!(
        edited.body["live"]["spec"]["content"]["email"]["subject"],
        fixed_spec["content"]["email"]["subject"]
    );
    let v1 = s.get(&format!("{path}/versions/1")).await;
    assert_eq!(
        v1.body["spec"]["content"]["email"]["subject"],
        fixed_spec["content"]["email"]["subject"]
    );

    // Activating the draft version replaces the live one.
    let live2 = s.post_empty(&format!("{path}/activate")).await;
    assert_eq!(live2.status, 200, "{}", live2.text);
    assert_eq!(live2.body["liveVersion"], 2);
    assert_eq!(
        live2.body["live"]["spec"]["content"]["email"]["subject"],
        "Your password reset link"
    );
    assert!(live2.body["live"]["activatedAt"].is_string());

    // Illegal transitions.
    s.delete(&path)
        .await
        .assert_problem(409, "illegal-transition");
    s.post_empty(&format!("{path}/archive"))
        .await
        .assert_problem(409, "illegal-transition");
    s.post_empty(&format!("{path}/activate"))
        .await
        .assert_problem(409, "illegal-transition");

    let stopped = s.post_empty(&format!("{path}/stop")).await;
    assert_eq!(stopped.body["status"], "stopped", "{}", stopped.text);
    s.post_empty(&format!("{path}/stop"))
        .await
        .assert_problem(409, "illegal-transition");
    s.put(&path, &v2)
        .await
        .assert_problem(409, "illegal-transition");
    let archived = s.post_empty(&format!("{path}/archive")).await;
    assert_eq!(archived.body["status"], "archived", "{}", archived.text);

    // Any campaign can be duplicated into a new draft; drafts can be deleted.
    let copy = s.post_empty(&format!("{path}/duplicate")).await;
    assert_eq!(copy.status, 201, "{}", copy.text);
    assert_eq!(copy.body["status"], "draft");
    assert_eq!(copy.body["name"], "Password reset (copy)");
    let copy_path = format!("/campaigns/{}", copy.body["id"].as_str().unwrap());
    assert_eq!(s.delete(&copy_path).await.status, 204);
    s.get(&copy_path)
        .await
        .assert_problem(404, "campaign-not-found");

    let list = s.get("/campaigns?limit=10").await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );

    assert!(s.stop(), "herald serve exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_problem_and_never_a_5xx() {
    let s = start();

    // Malformed JSON, wrong types, empty body.
    let malformed = s
        .send(
            Method::POST,
            "/campaigns",
            Some(b"{\"name\": ".to_vec()),
            &[],
        )
        .await;
    malformed.assert_problem(400, "invalid-json");
    let wrong = s
        .post("/campaigns", &json!({"name": 5, "type": "transactional", "channel": "email", "content": {"email": {}}}))
        .await;
    wrong.assert_problem(400, "invalid-request");
    assert!(
        wrong.body["detail"].as_str().unwrap().contains("name"),
        "{}",
        wrong.text
    );
    let bad_enum = s
        .post("/campaigns", &json!({"name": "x", "type": "newsletter", "channel": "email", "content": {"email": {}}}))
        .await;
    bad_enum.assert_problem(400, "invalid-request");
    assert!(
        bad_enum.body["detail"].as_str().unwrap().contains("type"),
        "{}",
        bad_enum.text
    );
    s.send(Method::POST, "/campaigns", Some(Vec::new()), &[])
        .await
        .assert_problem(400, "invalid-json");
    let mismatch = s
        .post(
            "/campaigns",
            &json!({"name": "x", "type": "marketing", "channel": "sms", "content": {"email": {}}}),
        )
        .await;
    mismatch.assert_problem(400, "invalid-request");
    assert!(!mismatch.body["errors"].as_array().unwrap().is_empty());

    // Unknown campaign, by a valid and an invalid id.
    let unknown = "0190d6a2-0000-7000-8000-000000000000";
    s.get(&format!("/campaigns/{unknown}"))
        .await
        .assert_problem(404, "campaign-not-found");
    s.post_empty(&format!("/campaigns/{unknown}/activate"))
        .await
        .assert_problem(404, "campaign-not-found");
    s.get("/campaigns/not-a-uuid")
        .await
        .assert_problem(404, "campaign-not-found");

    // Illegal transition: stopping a draft.
    let draft = s
        .post("/campaigns", &json!({"name": "x", "type": "marketing", "channel": "sms", "content": {"sms": {"text": "hi"}}}))
        .await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    let id = draft.body["id"].as_str().unwrap();
    s.post_empty(&format!("/campaigns/{id}/stop"))
        .await
        .assert_problem(409, "illegal-transition");
    s.send(
        Method::PUT,
        &format!("/campaigns/{id}"),
        Some(b"{}".to_vec()),
        &[("if-match", "banana")],
    )
    .await
    .assert_problem(400, "invalid-request");

    // Invalid email and phone, in a channel configuration and as profile identities.
    let bad_from = s
        .post("/channel-configs", &json!({"name": "m", "category": "marketing", "email": {"fromAddress": "not-an-email"}}))
        .await;
    bad_from.assert_problem(400, "invalid-request");
    assert!(
        bad_from.body["detail"]
            .as_str()
            .unwrap()
            .contains("not-an-email"),
        "{}",
        bad_from.text
    );
    s.put("/profiles/email/not-an-email", &json!({}))
        .await
        .assert_problem(400, "invalid-request");
    s.put("/profiles/phone/12345", &json!({}))
        .await
        .assert_problem(400, "invalid-request");
    let bad_phone = s
        .put(
            "/profiles/email/ann@example.com",
            &json!({"identities": {"phone": "+1 555"}}),
        )
        .await;
    bad_phone.assert_problem(400, "invalid-request");
    assert_eq!(
        bad_phone.body["errors"][0]["field"], "identities.phone.value",
        "{}",
        bad_phone.text
    );
    s.post(
        "/suppressions",
        &json!({"channel": "sms", "address": "0800 123"}),
    )
    .await
    .assert_problem(400, "invalid-request");

    // Oversized body.
    let big = json!({"name": "x".repeat(300 * 1024), "type": "marketing", "channel": "sms", "content": {"sms": {}}});
    s.post("/campaigns", &big)
        .await
        .assert_problem(413, "payload-too-large");

    // Missing or wrong token; health stays public.
    s.send_anonymous(Method::GET, "/campaigns")
        .await
        .assert_problem(401, "unauthorized");
    let wrong_token = s
        .http
        .get(format!("{}/campaigns", s.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    let health = s.send_anonymous(Method::GET, "/im/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");

    // Unknown routes and methods, bad paging.
    s.get("/nope").await.assert_problem(404, "route-not-found");
    s.send(Method::PATCH, "/campaigns", None, &[])
        .await
        .assert_problem(405, "method-not-allowed");
    s.get("/campaigns?limit=0")
        .await
        .assert_problem(400, "invalid-request");
    s.get("/campaigns?limit=abc")
        .await
        .assert_problem(400, "invalid-request");
}

/// The README's limits for bulk calls hold over HTTP: 10,000 import lines and 10,000 audience
/// members (about 600 KB of identities) per call are taken, one more member is a clear 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_of_10000_members_is_taken_by_add_and_remove() {
    let s = start();
    let ndjson: String = (0..10_000)
        .map(|i| {
            json!({"identities": {"email": format!("member{i:05}@example.com")}}).to_string() + "\n"
        })
        .collect();
    let import = s.import_profiles(ndjson).await;
    assert_eq!(import.status, 200, "{}", import.text);
    assert_eq!(import.body["created"], 10_000, "{}", import.text);

    let aud = s
        .post("/audiences", &json!({"name": "Everyone", "kind": "static"}))
        .await;
    assert_eq!(aud.status, 201, "{}", aud.text);
    let aid = aud.body["id"].as_str().unwrap();
    let members = |n: usize| {
        let ids: Vec<Value> = (0..n)
            .map(|i| json!({"namespace": "email", "value": format!("member{i:05}@example.com")}))
            .collect();
        json!({"identities": ids})
    };
    let full = members(10_000);
    assert!(
        full.to_string().len() > 256 * 1024,
        "the call is over the default body limit"
    );
    let added = s.post(&format!("/audiences/{aid}/members"), &full).await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["memberCount"], 10_000, "{}", added.text);

    let mut over = members(10_000);
    over["identities"]
        .as_array_mut()
        .unwrap()
        .push(json!({"namespace": "email", "value": "member00000@example.net"}));
    s.post(&format!("/audiences/{aid}/members"), &over)
        .await
        .assert_problem(400, "invalid-request");

    let removed = s
        .post(&format!("/audiences/{aid}/members/remove"), &full)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["memberCount"], 0, "{}", removed.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_audiences_rule_sets_and_suppressions_work_over_http() {
    people_and_lists(start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_audiences_rule_sets_and_suppressions_work_with_the_dynamodb_store() {
    people_and_lists(start_on_dynamodb().await).await;
}

async fn people_and_lists(s: HeraldServer) {
    // A cursor this server never issued is a 4xx (DynamoDB) or a harmless starting key (SQLite).
    let odd = s.get("/audiences?cursor=zzzz").await;
    assert!(
        odd.status == 200 || (odd.status == 400 && odd.code() == "invalid-cursor"),
        "{}",
        odd.text
    );
    // Upsert by identity: created, then updated with merged attributes.
    let created = s
        .put("/profiles/email/Ann@Example.com", &json!({"attributes": {"firstName": "Ann", "plan": "pro"}, "consent": {"email": "in"}, "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let pid = created.body["id"].as_str().unwrap().to_string();
    let updated = s
        .put("/profiles/email/ann@example.com", &json!({"attributes": {"plan": null, "city": "Lyon"}, "identities": {"phone": "+33 6 12 34 56 78"}}))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["id"], pid.as_str());
    assert_eq!(
        updated.body["attributes"],
        json!({"firstName": "Ann", "city": "Lyon"})
    );
    assert_eq!(updated.body["identities"]["phone"], "+33612345678");
    let found = s.get("/profiles/phone/+33612345678").await;
    assert_eq!(found.body["id"], pid.as_str(), "{}", found.text);
    // The phone now belongs to Ann: another profile cannot take it.
    let taken = s
        .put(
            "/profiles/email/bob@example.com",
            &json!({"identities": {"phone": "+33612345678"}}),
        )
        .await;
    taken.assert_problem(409, "identity-taken");

    // NDJSON import of 1,000 profiles plus one bad line.
    let mut ndjson: String = (0..1000)
        .map(|i| {
            json!({"identities": {"email": format!("user{i}@example.com")}, "attributes": {"n": i}})
                .to_string()
                + "\n"
        })
        .collect();
    ndjson.push_str("{\"identities\": {\"email\": \"broken\"}}\n");
    let import = s.import_profiles(ndjson).await;
    assert_eq!(import.status, 200, "{}", import.text);
    assert_eq!(import.body["received"], 1001);
    assert_eq!(import.body["created"], 1000);
    assert_eq!(import.body["failed"], 1);
    assert_eq!(import.body["errors"][0]["line"], 1001);
    let user7 = s.get("/profiles/email/user7@example.com").await;
    assert_eq!(user7.body["attributes"]["n"], 7);

    // A static audience: add by identity and by id, count, page, remove.
    let aud = s
        .post("/audiences", &json!({"name": "VIPs", "kind": "static"}))
        .await;
    assert_eq!(aud.status, 201, "{}", aud.text);
    let aid = aud.body["id"].as_str().unwrap();
    let added = s
        .post(
            &format!("/audiences/{aid}/members"),
            &json!({"profileIds": [pid], "identities": [{"namespace": "email", "value": "user1@example.com"}, {"namespace": "email", "value": "user2@example.com"}]}),
        )
        .await;
    assert_eq!(added.body["memberCount"], 3, "{}", added.text);
    let page = s.get(&format!("/audiences/{aid}/members?limit=2")).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let rest = s
        .get(&format!(
            "/audiences/{aid}/members?limit=2&cursor={}",
            page.body["next"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        rest.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        rest.text
    );
    let removed = s
        .post(
            &format!("/audiences/{aid}/members/remove"),
            &json!({"profileIds": [pid]}),
        )
        .await;
    assert_eq!(removed.body["memberCount"], 2, "{}", removed.text);
    s.post(
        &format!("/audiences/{aid}/members"),
        &json!({"profileIds": ["0190d6a2-0000-7000-8000-000000000000"]}),
    )
    .await
    .assert_problem(404, "profile-not-found");

    // A rule audience counts matching profiles.
    let rule = s
        .post("/audiences", &json!({"name": "Big n", "kind": "rule", "rule": {"conditions": [{"attribute": "n", "op": "gte", "value": 990}]}}))
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    assert_eq!(
        s.get(&format!("/audiences/{}", rule.body["id"].as_str().unwrap()))
            .await
            .body["memberCount"],
        10
    );
    s.post(
        &format!("/audiences/{}/members", rule.body["id"].as_str().unwrap()),
        &json!({"profileIds": [pid]}),
    )
    .await
    .assert_problem(409, "audience-not-static");

    // Rule sets.
    let rs = s
        .post("/rule-sets", &json!({"name": "Default", "caps": [{"limit": 3, "period": "week"}], "quietHours": {"start": "21:00", "end": "08:00", "action": "queue"}}))
        .await;
    assert_eq!(rs.status, 201, "{}", rs.text);
    s.post(
        "/rule-sets",
        &json!({"name": "Bad", "caps": [{"limit": 0, "period": "day"}]}),
    )
    .await
    .assert_problem(400, "invalid-request");

    // Suppressions: add, read, list by channel, delete.
    let sup = s
        .post(
            "/suppressions",
            &json!({"channel": "email", "address": "Bounce@Example.com", "note": "manual"}),
        )
        .await;
    assert_eq!(sup.status, 201, "{}", sup.text);
    assert_eq!(sup.body["address"], "bounce@example.com");
    assert_eq!(sup.body["reason"], "manual");
    assert_eq!(
        s.post(
            "/suppressions",
            &json!({"channel": "email", "address": "bounce@example.com"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.get("/suppressions/email/bounce@example.com").await.status,
        200
    );
    let listed = s.get("/suppressions?channel=email").await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
    assert_eq!(
        s.get("/suppressions?channel=sms").await.body["items"],
        json!([])
    );
    assert_eq!(
        s.delete("/suppressions/email/bounce@example.com")
            .await
            .status,
        204
    );
    s.get("/suppressions/email/bounce@example.com")
        .await
        .assert_problem(404, "suppression-not-found");

    // Erasure removes the profile and frees its identities.
    assert_eq!(s.delete(&format!("/profiles/{pid}")).await.status, 204);
    s.get(&format!("/profiles/{pid}"))
        .await
        .assert_problem(404, "profile-not-found");
    let reuse = s
        .put(
            "/profiles/email/bob@example.com",
            &json!({"identities": {"phone": "+33612345678"}}),
        )
        .await;
    assert_eq!(reuse.status, 201, "{}", reuse.text);
    let _: Value = reuse.body;
}
