//! The dispatcher function's handler driven by real SQS event JSON (records built from the
//! messages moto's SQS actually holds), over DynamoDB Local, moto SQS and moto SNS.
//!
//! Provider calls are counted where they land: moto records every SNS `Publish` to a phone
//! number, and each test uses phone numbers of its own, so "one SMS per phone in moto" is "one
//! provider call per message", whatever Herald believes it did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::sqs_queue::SqsQueue;
use herald_core::domain::{
    AudienceBatch, CampaignId, ExecutionId, ExecutionStatus, MessageId, ProfileId,
};
use herald_core::ports::{Job, PageRequest, SystemClock};
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use herald_dispatcher::SqsEvent;
use herald_tests::{dynamo_local, moto};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

type Trigger = TriggerService<DynamoStore, AwsDelivery, SqsQueue, SystemClock>;

struct World {
    admin: AdminService<DynamoStore, SystemClock>,
    trigger: Trigger,
    sqs: aws_sdk_sqs::Client,
    queue_name: String,
    queue_url: String,
}

async fn world() -> World {
    world_with(TriggerConfig::default()).await
}

async fn world_with(config: TriggerConfig) -> World {
    let store = dynamo_local::fresh_store().await;
    let sqs = aws_sdk_sqs::Client::new(&moto::config().await);
    let queue_name = moto::unique("herald-dispatch");
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .expect("CreateQueue on moto")
        .queue_url
        .expect("a queue URL");
    let trigger = TriggerService::new(
        store.clone(),
        moto::delivery().await,
        SqsQueue::new(sqs.clone(), &queue_url),
        SystemClock,
        Arc::new(TemplateCache::new(16)),
        config,
    );
    World {
        admin: AdminService::new(store, SystemClock, AdminConfig::default()),
        trigger,
        sqs,
        queue_name,
        queue_url,
    }
}

impl World {
    /// Receives `want` messages from the dispatch queue (waiting up to 10 s), with the system
    /// attributes Lambda passes on.
    async fn receive(&self, want: usize) -> Vec<Message> {
        let started = Instant::now();
        let mut got = Vec::new();
        while got.len() < want && started.elapsed() < Duration::from_secs(10) {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("ReceiveMessage on moto");
            got.extend(out.messages.unwrap_or_default());
        }
        got
    }

    /// Whether the queue holds no visible message.
    async fn queue_is_empty(&self) -> bool {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage on moto");
        out.messages().is_empty()
    }

    /// The Lambda SQS record of a received message.
    fn record(&self, m: &Message) -> Value {
        let attributes: serde_json::Map<String, Value> = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "messageId": m.message_id(),
            "receiptHandle": m.receipt_handle(),
            "body": m.body(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": m.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", self.queue_name),
            "awsRegion": "us-east-1"
        })
    }

    /// A record SQS could deliver with any body (one no Herald code sent).
    fn record_with_body(&self, body: &str) -> Value {
        json!({
            "messageId": uuid::Uuid::new_v4().to_string(),
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1795774500000",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1795774500001"
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", self.queue_name),
            "awsRegion": "us-east-1"
        })
    }

    fn job_record(&self, job: &Job) -> Value {
        self.record_with_body(&serde_json::to_string(job).unwrap())
    }

    /// Hands `{"Records": records}` to the handler; returns its response as the runtime would
    /// serialize it.
    async fn dispatch(&self, records: &[Value]) -> Value {
        dispatch_on(&self.trigger, records).await
    }

    /// Another dispatcher instance: its own service on the same table, queue and providers.
    async fn another_dispatcher(&self, config: TriggerConfig) -> Trigger {
        TriggerService::new(
            self.trigger.store().clone(),
            moto::delivery().await,
            SqsQueue::new(self.sqs.clone(), &self.queue_url),
            SystemClock,
            Arc::new(TemplateCache::new(16)),
            config,
        )
    }

    async fn phone_audience(&self, phones: &[String]) -> String {
        for p in phones {
            let key = herald_core::domain::Identity::parse("phone", p).unwrap();
            self.admin
                .upsert_profile(
                    &key,
                    &serde_json::from_value(json!({"attributes": {"firstName": "Sam"}})).unwrap(),
                )
                .await
                .unwrap();
        }
        let audience = self
            .admin
            .create_audience(
                serde_json::from_value(json!({"name": "Phones", "kind": "static"})).unwrap(),
            )
            .await
            .unwrap()
            .audience
            .id;
        let members = herald_core::service::MembersRequest {
            profile_ids: vec![],
            identities: phones
                .iter()
                .map(|p| herald_core::service::IdentityRef {
                    namespace: "phone".into(),
                    value: p.clone(),
                })
                .collect(),
        };
        self.admin
            .add_audience_members(audience, &members)
            .await
            .unwrap();
        audience.to_string()
    }

    async fn marketing_sms(&self) -> CampaignId {
        self.marketing_sms_at(None).await
    }

    /// Triggers `campaign` for `audience` with a promo context; returns the execution id.
    async fn trigger_promo(&self, campaign: CampaignId, audience: &str) -> String {
        let reply = self
            .trigger
            .trigger_audience(
                serde_json::from_value(
                    json!({"campaignId": campaign, "audience": {"id": audience},
                                              "context": {"promo": "10% off"}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        serde_json::from_str::<Value>(&reply.body).unwrap()["executionId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A live marketing SMS campaign, with a `rateLimit` when `per_second` is given.
    async fn marketing_sms_at(&self, per_second: Option<u32>) -> CampaignId {
        let cfg: herald_core::domain::ChannelConfig = self
            .admin
            .create_managed(
                serde_json::from_value(
                    json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Herald"}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let rules: herald_core::domain::RuleSet = self
            .admin
            .create_managed(serde_json::from_value(json!({"name": "Rules"})).unwrap())
            .await
            .unwrap();
        let mut spec = json!({"name": "Promo", "type": "marketing", "channel": "sms", "channelConfigId": cfg.id,
                          "ruleSetId": rules.id, "content": {"sms": {"text": "Hi {{profile.firstName}}, {{context.promo}}"}}});
        if let Some(rate) = per_second {
            spec["rateLimit"] = json!(rate);
        }
        let c = self
            .admin
            .create_campaign(serde_json::from_value(spec).unwrap())
            .await
            .unwrap();
        self.admin
            .activate_campaign(c.campaign.id, None)
            .await
            .unwrap();
        c.campaign.id
    }
}

/// Hands `{"Records": records}` to the handler of `trigger`; returns its response as the
/// runtime would serialize it.
async fn dispatch_on(trigger: &Trigger, records: &[Value]) -> Value {
    let event: SqsEvent =
        serde_json::from_value(json!({ "Records": records })).expect("an SQS event parses");
    let response =
        herald_dispatcher::handle(trigger, LambdaEvent::new(event, Context::default())).await;
    serde_json::to_value(response).expect("the response serializes")
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn sms_counts(phones: &[String]) -> Vec<usize> {
    let mut counts = Vec::new();
    for p in phones {
        counts.push(moto::sms_to(p).await.len());
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_execution_runs_through_sqs_batches_once_despite_a_poison_record_and_redelivery()
 {
    let w = world().await;
    let campaign = w.marketing_sms().await;
    let phones: Vec<String> = (0..3).map(|_| valid_phone()).collect();
    let audience = w.phone_audience(&phones).await;
    let execution = w.trigger_promo(campaign, &audience).await;

    // The planning step, as the queue delivers it, next to two poison records.
    let plan = w.receive(1).await;
    assert_eq!(plan.len(), 1, "the trigger queued one planning step");
    let not_json = w.record_with_body("{\"job\": \"plan\", \"executionId\": ");
    let not_a_job = w.record_with_body("{\"job\": \"explode\", \"target\": \"everyone\"}");
    let batch = [w.record(&plan[0]), not_json.clone(), not_a_job.clone()];
    let response = w.dispatch(&batch).await;
    assert_eq!(
        failures(&response),
        vec![
            not_json["messageId"].as_str().unwrap().to_string(),
            not_a_job["messageId"].as_str().unwrap().to_string()
        ],
        "only the poison records go back (to end in the dead-letter queue)"
    );
    assert_eq!(
        sms_counts(&phones).await,
        vec![0, 0, 0],
        "planning sends nothing"
    );

    // The batch jobs the planning step queued.
    let batches = w.receive(1).await;
    assert_eq!(batches.len(), 1, "three members make one batch job");
    match serde_json::from_str(batches[0].body().unwrap_or_default()) {
        Ok(Job::Batch(b)) => assert_eq!(b.members.len(), 3),
        other => panic!("expected a batch job, got {other:?}"),
    }
    let records: Vec<Value> = batches.iter().map(|m| w.record(m)).collect();
    assert_eq!(failures(&w.dispatch(&records).await), Vec::<String>::new());
    assert_eq!(sms_counts(&phones).await, vec![1, 1, 1], "one SMS each");
    let messages = w
        .trigger
        .messages(&execution, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(messages.len(), 3);
    assert!(
        messages.iter().all(|m| m.outcome.as_str() == "sent"),
        "{messages:?}"
    );
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(view.status, ExecutionStatus::Succeeded);
    assert_eq!((view.counts.targeted, view.counts.sent), (3, 3));

    // SQS delivers the same messages again (a lost acknowledgement, a visibility timeout).
    let mut again: Vec<Value> = records.clone();
    again.push(w.record(&plan[0]));
    for r in &mut again {
        r["attributes"]["ApproximateReceiveCount"] = json!("2");
    }
    assert_eq!(failures(&w.dispatch(&again).await), Vec::<String>::new());
    assert_eq!(
        sms_counts(&phones).await,
        vec![1, 1, 1],
        "a redelivered batch makes no second provider call"
    );
    assert!(
        w.queue_is_empty().await,
        "a finished plan queues no more batches"
    );
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!((view.counts.targeted, view.counts.sent), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_keep_to_a_campaigns_rate_together_and_defer_what_does_not_fit() {
    // 2 a second, slots reserved a second's worth (2) at a time; a batch waits at most 1.2 s.
    let config = TriggerConfig {
        pace_wait: jiff::SignedDuration::from_millis(1_200),
        ..TriggerConfig::default()
    };
    let w = world_with(config.clone()).await;
    let other = w.another_dispatcher(config).await;
    let campaign = w.marketing_sms_at(Some(2)).await;
    let phones: Vec<String> = (0..6).map(|_| valid_phone()).collect();
    let audience = w.phone_audience(&phones).await;
    let execution = w.trigger_promo(campaign, &audience).await;
    let plan = w.receive(1).await;
    assert_eq!(
        failures(&w.dispatch(&[w.record(&plan[0])]).await),
        Vec::<String>::new()
    );
    let batches = w.receive(1).await;
    let Ok(Job::Batch(batch)) = serde_json::from_str(batches[0].body().unwrap_or_default()) else {
        panic!("expected a batch job, got {:?}", batches[0].body());
    };
    w.sqs
        .delete_message()
        .queue_url(&w.queue_url)
        .receipt_handle(batches[0].receipt_handle().unwrap_or_default())
        .send()
        .await
        .expect("DeleteMessage on moto");

    // Half the batch on each dispatcher, at once. Together they get slots 0.5 s apart from 0
    // on; a batch waits for its slots at most 1.2 s, so 3 or 4 slots fit (which batch asks
    // first decides) and the members whose slot would come later are deferred.
    let (a, b) = batch.members.split_at(3);
    let half = |members: &[ProfileId], sequence| {
        w.job_record(&Job::Batch(AudienceBatch {
            members: members.to_vec(),
            sequence,
            ..batch.clone()
        }))
    };
    let (first, second) = ([half(a, 0)], [half(b, 1)]);
    let began = Instant::now();
    let (x, y) = tokio::join!(w.dispatch(&first), dispatch_on(&other, &second));
    let took = began.elapsed();
    assert_eq!(failures(&x), Vec::<String>::new());
    assert_eq!(failures(&y), Vec::<String>::new());
    let sent: usize = sms_counts(&phones).await.iter().sum();
    assert!(
        (3..=4).contains(&sent),
        "{sent} sent: the slots at 0, 0.5, 1 (and 1.5) s fit in the batches' wait, no more"
    );
    assert!(
        took >= Duration::from_millis(500) * (sent as u32 - 1) - Duration::from_millis(50),
        "{sent} sends 0.5 s apart took {took:?}"
    );

    // The deferred members come back as delayed batch jobs; run, they finish the execution.
    let mut deferred = Vec::new();
    let mut members = 0;
    let started = Instant::now();
    while members < 6 - sent && started.elapsed() < Duration::from_secs(15) {
        for m in w.receive(1).await {
            match serde_json::from_str(m.body().unwrap_or_default()) {
                Ok(Job::Batch(rest)) => members += rest.members.len(),
                other => panic!("expected a batch job, got {other:?}"),
            }
            deferred.push(m);
        }
    }
    assert_eq!(members, 6 - sent, "every member not sent was deferred");
    let records: Vec<Value> = deferred.iter().map(|m| w.record(m)).collect();
    assert_eq!(failures(&w.dispatch(&records).await), Vec::<String>::new());
    assert_eq!(sms_counts(&phones).await, vec![1; 6], "one SMS each");
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!((view.counts.targeted, view.counts.sent), (6, 6));
    assert_eq!(view.status, ExecutionStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_job_that_fails_goes_back_to_the_queue() {
    let w = world().await;
    w.admin
        .put_feedback_webhook(
            serde_json::from_value(json!({"url": format!("{}/hook", moto::closed_port_url()),
                                          "secret": "a-signing-secret-of-some-length"}))
            .unwrap(),
            None,
        )
        .await
        .unwrap();
    let execution = ExecutionId::new();
    let campaign = CampaignId::new();
    let recipient = json!({"namespace": "phone", "userId": "+14155550100"});
    let message_id = MessageId::derive(
        execution,
        &serde_json::from_value(recipient.clone()).unwrap(),
        herald_core::domain::Channel::Sms,
    );
    let event = serde_json::from_value(json!({
        "eventId": format!("{message_id}.sent"), "messageId": message_id, "executionId": execution,
        "campaignId": campaign, "campaignVersion": 1, "channel": "sms", "recipient": recipient,
        "outcome": "sent", "providerMessageId": "moto-1", "occurredAt": "2026-11-27T10:15:00Z"
    }))
    .unwrap();
    let webhook = w.job_record(&Job::Webhook(event));
    // Jobs of an execution that no longer exists complete without doing anything.
    let plan = w.job_record(&Job::Plan {
        execution_id: ExecutionId::new(),
    });
    let batch = w.job_record(&Job::Batch(AudienceBatch {
        execution_id: ExecutionId::new(),
        campaign_id: campaign,
        campaign_version: 1,
        sequence: 0,
        members: vec![ProfileId::new()],
    }));
    let more_plans: Vec<Value> = (0..4)
        .map(|_| {
            w.job_record(&Job::Plan {
                execution_id: ExecutionId::new(),
            })
        })
        .collect();
    let mut records = vec![plan, webhook.clone(), batch];
    records.extend(more_plans);

    let response = w.dispatch(&records).await;
    assert_eq!(
        failures(&response),
        vec![webhook["messageId"].as_str().unwrap().to_string()],
        "the webhook POST failed: only its message is retried"
    );
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": webhook["messageId"]}]}),
        "the response has the shape Lambda's ReportBatchItemFailures expects"
    );
    assert_eq!(
        failures(&w.dispatch(&[]).await),
        Vec::<String>::new(),
        "an empty batch fails nothing"
    );
}

/// A unique US number the profile store accepts (`moto::unique_phone` may draw an exchange
/// starting with 0 or 1, which phone-number validation rejects): +1 415, an exchange
/// `[2-9][2-9]x`, four random digits.
fn valid_phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!(
        "+1415{}{}{:05}",
        2 + n % 8,
        2 + (n >> 8) % 8,
        (n >> 16) % 100_000
    )
}
