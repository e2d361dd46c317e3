//! The built function binaries end to end: each runs as its own process against the local
//! Lambda Runtime API stub (`herald_tests::runtime_api`), with the environment Lambda gives it
//! and its AWS endpoints pointed at DynamoDB Local and moto (`AWS_ENDPOINT_URL_<SERVICE>`), so
//! `main.rs`'s wiring, the runtime loop and the handler all run as they do in AWS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::adapters::dynamo::DynamoStore;
use herald_core::domain::CampaignStatus;
use herald_core::ports::FixedClock;
use herald_core::service::{AdminConfig, AdminService};
use herald_tests::runtime_api::{self, FunctionProcess, ReplyKind, RuntimeApi};
use herald_tests::{dynamo_local, moto};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// How long a function may take to answer one invocation here (debug build, emulators).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// The environment of a Herald function in Lambda, on the emulators.
fn herald_env(
    api: &RuntimeApi,
    function: &str,
    table: &str,
    queue_url: &str,
) -> Vec<(String, String)> {
    let mut env = api.lambda_env(function);
    let moto = moto::endpoint();
    env.extend(
        [
            ("HERALD_TABLE", table.to_string()),
            ("HERALD_QUEUE_URL", queue_url.to_string()),
            (
                "HERALD_UNSUBSCRIBE_SECRET",
                "a-test-secret-of-32-characters!!".to_string(),
            ),
            (
                "HERALD_PUBLIC_URL",
                "https://herald.example.com".to_string(),
            ),
            ("HERALD_MAIL_DOMAIN", "herald.test".to_string()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo_local::endpoint()),
            ("AWS_ENDPOINT_URL_SQS", moto.clone()),
            ("AWS_ENDPOINT_URL_SNS", moto.clone()),
            ("AWS_ENDPOINT_URL_SESV2", moto),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("RUST_LOG", "info".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

async fn new_queue() -> String {
    aws_sdk_sqs::Client::new(&moto::config().await)
        .create_queue()
        .queue_name(moto::unique("herald-dispatch"))
        .send()
        .await
        .expect("CreateQueue on moto")
        .queue_url
        .expect("a queue URL")
}

/// A scheduled event for the current minute, or the next one when this is minute 0 of an hour:
/// the hourly SMS opt-out sync (minute 0, tested in `lambda_scheduler`) is not part of these
/// replies. The tick itself runs on the function's clock, not on the event's time.
fn scheduled_event(id: &str) -> Value {
    let mut time = Timestamp::now();
    if herald_scheduler::syncs_opt_outs(Some(time.as_second())) {
        time += jiff::SignedDuration::from_mins(1);
    }
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/herald-SchedulerTick-1A2B3C4D5E6F"],
        "detail": {}
    })
}

/// The JSON log lines a function wrote (Lambda's JSON log format), by their message.
fn logged(process: &FunctionProcess, message: &str) -> Vec<Value> {
    process
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_binary_answers_scheduled_events_through_the_runtime_api() {
    let binary = runtime_api::build_function("herald-scheduler");
    let client = dynamo_local::client().await;
    let table = dynamo_local::fresh_table(&client).await;
    let queue_url = new_queue().await;
    // Activated an hour ago to start half an hour ago: scheduled, and due now.
    let an_hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    let admin = AdminService::new(
        DynamoStore::new(client, &table),
        Arc::new(FixedClock::new(an_hour_ago)),
        AdminConfig::default(),
    );
    let config: herald_core::domain::ChannelConfig = admin
        .create_managed(
            serde_json::from_value(
                json!({"name": "SMS", "category": "transactional", "sms": {"senderId": "Herald"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let start = an_hour_ago + SignedDuration::from_mins(30);
    let campaign = admin
        .create_campaign(
            serde_json::from_value(
                json!({"name": "Codes", "type": "transactional", "channel": "sms",
                "channelConfigId": config.id, "content": {"sms": {"text": "Code {{context.code}}"}},
                "schedule": {"startAt": start.to_string()}}),
            )
            .unwrap(),
        )
        .await
        .unwrap()
        .campaign
        .id;
    admin.activate_campaign(campaign, None).await.unwrap();
    assert_eq!(
        admin.get_campaign(campaign).await.unwrap().campaign.status,
        CampaignStatus::Scheduled
    );

    let api = RuntimeApi::start().await;
    let spawned = Instant::now();
    let process = FunctionProcess::spawn(
        &binary,
        &herald_env(&api, "herald-scheduler", &table, &queue_url),
    );
    let ready = api.wait_first_poll(ANSWER_WITHIN).await.unwrap_or_else(|| {
        panic!(
            "herald-scheduler (pid {}) never polled for an invocation; its output:\n{}",
            process.pid(),
            process.logs()
        )
    });
    eprintln!(
        "herald-scheduler (debug build) initialized in {:?}",
        ready.duration_since(spawned)
    );

    let event = scheduled_event("cdc73f9d-aea9-11e3-9d5a-835b769c0d9c");
    let first = api.invoke(&event);
    let reply = api.reply(&first, ANSWER_WITHIN).await.unwrap_or_else(|| {
        panic!(
            "no answer to the scheduled event; the function's output:\n{}",
            process.logs()
        )
    });
    assert_eq!(reply.kind, ReplyKind::Response, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"campaignsAdvanced": 1, "schedulesFired": 0, "messagesReleased": 0})
    );
    assert_eq!(
        admin.get_campaign(campaign).await.unwrap().campaign.status,
        CampaignStatus::Live
    );

    // The same event again, to the warm process: nothing left to do.
    let second = api.invoke(&event);
    let reply = api
        .reply(&second, ANSWER_WITHIN)
        .await
        .expect("a second answer");
    assert_eq!(
        reply.json(),
        json!({"campaignsAdvanced": 0, "schedulesFired": 0, "messagesReleased": 0})
    );
    assert!(api.polls() >= 2, "one process served both invocations");
    let done = logged(&process, "scheduler tick done");
    assert_eq!(
        done.len(),
        2,
        "one JSON log line per tick:\n{}",
        process.logs()
    );
    assert_eq!(done[0]["fields"]["campaigns_advanced"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tick_reaches_the_runtime_api_as_an_invocation_error() {
    let binary = runtime_api::build_function("herald-scheduler");
    let api = RuntimeApi::start().await;
    let queue_url = new_queue().await;
    let missing_table = moto::unique("herald-missing");
    let process = FunctionProcess::spawn(
        &binary,
        &herald_env(&api, "herald-scheduler", &missing_table, &queue_url),
    );
    let id = api.invoke(&scheduled_event("0c4a2f1e-8d3b-4e5a-9f6c-7b8d9e0f1a2b"));
    let reply = api.reply(&id, ANSWER_WITHIN).await.unwrap_or_else(|| {
        panic!(
            "no answer to the scheduled event; the function's output:\n{}",
            process.logs()
        )
    });
    assert_eq!(reply.kind, ReplyKind::Error, "{}", reply.body);
    let body = reply.json();
    assert_eq!(
        body["errorType"], "Herald.Scheduler.internal-error",
        "{body}"
    );
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("scheduler tick failed")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_configuration_exits_at_start_naming_what_is_missing() {
    let binary = runtime_api::build_function("herald-scheduler");
    let api = RuntimeApi::start().await;
    let queue_url = new_queue().await;
    let env: Vec<(String, String)> = herald_env(&api, "herald-scheduler", "t", &queue_url)
        .into_iter()
        .filter(|(k, _)| k != "HERALD_UNSUBSCRIBE_SECRET")
        .collect();
    let mut process = FunctionProcess::spawn(&binary, &env);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.exited() {
            break status;
        }
        assert!(
            started.elapsed() < ANSWER_WITHIN,
            "the function kept running without HERALD_UNSUBSCRIBE_SECRET"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    assert!(
        process.logs().contains("HERALD_UNSUBSCRIBE_SECRET"),
        "{}",
        process.logs()
    );
    assert_eq!(api.polls(), 0, "it never asked for an invocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_binary_reports_a_poison_record_as_the_only_batch_item_failure() {
    let binary = runtime_api::build_function("herald-dispatcher");
    let client = dynamo_local::client().await;
    let table = dynamo_local::fresh_table(&client).await;
    let queue_url = new_queue().await;
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(
        &binary,
        &herald_env(&api, "herald-dispatcher", &table, &queue_url),
    );
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id, "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795774500000",
                           "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1795774500001"},
            "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:herald-dispatch",
            "awsRegion": "us-east-1"
        })
    };
    // A planning step of an execution that does not exist completes doing nothing.
    let plan = serde_json::to_string(&herald_core::ports::Job::Plan {
        execution_id: herald_core::domain::ExecutionId::new(),
    })
    .unwrap();
    let event = json!({"Records": [
        record("059f36b4-87a3-44ab-83d2-661975830a7d", &plan),
        record("2e1424d4-f796-459a-8184-9c92662be6da", "not a job"),
    ]});
    let id = api.invoke(&event);
    let reply = api.reply(&id, ANSWER_WITHIN).await.unwrap_or_else(|| {
        panic!(
            "no answer to the SQS event; the function's output:\n{}",
            process.logs()
        )
    });
    assert_eq!(reply.kind, ReplyKind::Response, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}),
        "the function's output:\n{}",
        process.logs()
    );
    let poison = logged(
        &process,
        "poison message: reported failed so that it moves to the dead-letter queue",
    );
    assert_eq!(poison.len(), 1, "{}", process.logs());
    assert_eq!(poison[0]["level"], "ERROR");
}
