//! The admin API through the Lambda path: real API Gateway HTTP API (v2) event JSON is
//! deserialized by `lambda_http`, handed to the same router the Lambda `main.rs` runs (over
//! DynamoDB Local), and the Lambda response is serialized back to JSON as the runtime would.

use std::sync::Arc;

use herald_core::adapters::dynamo::DynamoStore;
use herald_core::ports::SystemClock;
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use herald_tests::dynamo_local;
use lambda_http::request::LambdaRequest;
use serde_json::{Value, json};
use tower::ServiceExt;

/// An API Gateway HTTP API payload 2.0 event as AWS delivers it.
fn event(method: &str, path: &str, route: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-65f0e5a1-0123456789abcdef01234567",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
                                    "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/ops", "userId": "AIDAEXAMPLE"}},
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "requestId": "Jq1dFhtaoAMEVxw=",
            "routeKey": route,
            "stage": "$default",
            "time": "27/Nov/2026:10:15:00 +0000",
            "timeEpoch": 1795774500000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

async fn invoke(app: &axum::Router, event: Value) -> Value {
    let request: LambdaRequest =
        serde_json::from_value(event).expect("lambda_http parses an API Gateway v2 event");
    let adapter = lambda_http::Adapter::from(app.clone());
    let response = adapter
        .oneshot(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .expect("the handler answers");
    serde_json::to_value(response).expect("the Lambda response serializes")
}

fn body_of(response: &Value) -> Value {
    let text = response["body"].as_str().unwrap_or("");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_v2_events_drive_the_admin_router_over_dynamodb_local() {
    let client = dynamo_local::client().await;
    let table = dynamo_local::fresh_table(&client).await;
    let admin = Arc::new(AdminService::new(
        DynamoStore::new(client, table),
        SystemClock,
        AdminConfig::default(),
    ));
    let app = herald_admin_api::router(admin);

    let spec = json!({"name": "Welcome", "type": "marketing", "channel": "sms",
                      "content": {"sms": {"text": "Hi {{profile.firstName}}"}}});
    let created = invoke(
        &app,
        event(
            "POST",
            "/campaigns",
            "ANY /campaigns",
            Some(&spec.to_string()),
        ),
    )
    .await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let campaign = body_of(&created);
    assert_eq!(campaign["status"], "draft");
    let id = campaign["id"].as_str().expect("an id");
    assert_eq!(created["headers"]["etag"], "\"1\"", "{created}");

    let path = format!("/campaigns/{id}");
    let fetched = invoke(&app, event("GET", &path, "ANY /campaigns/{proxy+}", None)).await;
    assert_eq!(fetched["statusCode"], 200, "{fetched}");
    assert_eq!(body_of(&fetched)["draft"]["spec"], spec);

    let bad = invoke(
        &app,
        event("POST", "/campaigns", "ANY /campaigns", Some("{not json")),
    )
    .await;
    assert_eq!(bad["statusCode"], 400, "{bad}");
    assert_eq!(bad["headers"]["content-type"], "application/problem+json");
    assert_eq!(body_of(&bad)["code"], "invalid-json");

    let missing = invoke(
        &app,
        event(
            "GET",
            "/campaigns/0190d6a2-0000-7000-8000-000000000000",
            "ANY /campaigns/{proxy+}",
            None,
        ),
    )
    .await;
    assert_eq!(missing["statusCode"], 404, "{missing}");
    assert_eq!(body_of(&missing)["code"], "campaign-not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_api_accepts_a_unitary_execution_through_the_lambda_path() {
    let client = dynamo_local::client().await;
    let table = dynamo_local::fresh_table(&client).await;
    let store = DynamoStore::new(client, table);
    let admin = AdminService::new(store.clone(), SystemClock, AdminConfig::default());
    let config: herald_core::domain::ChannelConfigSpec = serde_json::from_value(json!({
        "name": "SMS", "category": "transactional", "sms": {"senderId": "Herald"}
    }))
    .unwrap();
    let config: herald_core::domain::ChannelConfig = admin.create_managed(config).await.unwrap();
    let spec = serde_json::from_value(json!({"name": "Code", "type": "transactional", "channel": "sms",
        "channelConfigId": config.id, "content": {"sms": {"text": "Your code is {{context.code}}"}}}))
    .unwrap();
    let campaign = admin.create_campaign(spec).await.unwrap();
    admin
        .activate_campaign(campaign.campaign.id, None)
        .await
        .unwrap();

    let outbox_dir =
        std::env::temp_dir().join(format!("herald-lambda-outbox-{}", uuid::Uuid::new_v4()));
    let outbox = herald_core::adapters::outbox::Outbox::open(&outbox_dir).unwrap();
    let trigger = TriggerService::new(
        store,
        outbox.clone(),
        herald_core::adapters::memory_queue::MemoryQueue::new(),
        SystemClock,
        Arc::new(TemplateCache::new(8)),
        TriggerConfig::default(),
    );
    let app = herald_trigger_api::router(Arc::new(trigger));

    let health = invoke(&app, event("GET", "/im/health", "GET /im/health", None)).await;
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(body_of(&health)["status"], "ok");

    let body = json!({"requestId": "lambda-1", "campaignId": campaign.campaign.id, "context": {"code": "123456"},
                      "recipients": [{"type": "external", "namespace": "phone", "userId": "+14155552671"}]});
    let accepted = invoke(
        &app,
        event(
            "POST",
            "/im/executions/unitary",
            "ANY /im/{proxy+}",
            Some(&body.to_string()),
        ),
    )
    .await;
    assert_eq!(accepted["statusCode"], 202, "{accepted}");
    let execution = body_of(&accepted)["executionId"]
        .as_str()
        .unwrap()
        .to_string();
    let replay = invoke(
        &app,
        event(
            "POST",
            "/im/executions/unitary",
            "ANY /im/{proxy+}",
            Some(&body.to_string()),
        ),
    )
    .await;
    assert_eq!(replay["statusCode"], 202);
    assert_eq!(
        replay["body"], accepted["body"],
        "the retry replays the first response byte for byte"
    );
    assert_eq!(replay["headers"]["idempotency-replay"], "true");

    let path = format!("/im/executions/{execution}/messages");
    let messages = invoke(&app, event("GET", &path, "ANY /im/{proxy+}", None)).await;
    let items = body_of(&messages)["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{messages}");
    assert_eq!(items[0]["outcome"], "sent");
    let listed = outbox
        .list(&herald_core::ports::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.items.len(),
        1,
        "exactly one message reached the outbox"
    );
    let _ = std::fs::remove_dir_all(outbox_dir);
}

/// The README's bulk limits hold on DynamoDB too: a 10,000-line import and a 10,000-member add
/// are each one call (the admin function has 29 s; the time each took here is printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_import_and_a_full_member_add_are_one_call_each_on_dynamodb() {
    let client = dynamo_local::client().await;
    let table = dynamo_local::fresh_table(&client).await;
    let admin = AdminService::new(
        DynamoStore::new(client, table),
        SystemClock,
        AdminConfig::default(),
    );
    let email = |i: usize| format!("bulk{i:05}@example.com");
    let ndjson: String = (0..10_000)
        .map(|i| {
            json!({"identities": {"email": email(i)}, "attributes": {"n": i}}).to_string() + "\n"
        })
        .collect();
    let began = std::time::Instant::now();
    let report = admin
        .import_profiles(&ndjson)
        .await
        .expect("the import runs");
    eprintln!(
        "10,000-line import on DynamoDB Local: {:.1?}",
        began.elapsed()
    );
    assert_eq!(
        (report.received, report.created, report.failed),
        (10_000, 10_000, 0),
        "{:?}",
        report.errors.first()
    );
    for i in [0, 4_321, 9_999] {
        let p = admin.find_profile("email", &email(i)).await.unwrap();
        assert_eq!(p.attributes["n"], i);
    }

    let audience = admin
        .create_audience(serde_json::from_value(json!({"name": "Bulk", "kind": "static"})).unwrap())
        .await
        .unwrap()
        .audience
        .id;
    let members = herald_core::service::MembersRequest {
        profile_ids: vec![],
        identities: (0..10_000)
            .map(|i| herald_core::service::IdentityRef {
                namespace: "email".into(),
                value: email(i),
            })
            .collect(),
    };
    let began = std::time::Instant::now();
    let added = admin
        .add_audience_members(audience, &members)
        .await
        .expect("the members are added");
    eprintln!(
        "10,000-member add on DynamoDB Local: {:.1?}",
        began.elapsed()
    );
    assert_eq!(added.member_count, 10_000);
}
