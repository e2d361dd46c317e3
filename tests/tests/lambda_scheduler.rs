//! The scheduler function's handler driven by EventBridge's real "Scheduled Event" JSON, over
//! DynamoDB Local (store), moto SQS (dispatch queue) and moto SNS (SMS). The service's clock is
//! fixed so a test can move time past a schedule; each event is delivered twice, as EventBridge
//! may, and must do each thing once.

use std::sync::Arc;
use std::time::Duration;

use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::sqs_queue::SqsQueue;
use herald_core::domain::suppression::normalize_address;
use herald_core::domain::trigger::UnitaryRequest;
use herald_core::domain::{
    CampaignId, CampaignStatus, Channel, ExecutionKind, ScheduleStatus, SuppressionReason,
};
use herald_core::ports::{FixedClock, Job, SuppressionStore, SystemClock};
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use herald_scheduler::{ScheduledEvent, SchedulerReport};
use herald_tests::{dynamo_local, moto};
use jiff::{SignedDuration, Timestamp};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};

type Clock = Arc<FixedClock>;
type Trigger = TriggerService<DynamoStore, AwsDelivery, SqsQueue, Clock>;

/// 12:00 UTC: 21:00 in Tokyo (quiet hours), 13:00 in Paris.
const T0: &str = "2026-03-02T12:00:00Z";

struct World {
    admin: AdminService<DynamoStore, Clock>,
    trigger: Trigger,
    clock: Clock,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn world() -> World {
    world_with(moto::delivery().await).await
}

async fn world_with(delivery: AwsDelivery) -> World {
    let store = dynamo_local::fresh_store().await;
    let clock: Clock = Arc::new(FixedClock::new(T0.parse().unwrap()));
    let conf = moto::config().await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue_url = sqs
        .create_queue()
        .queue_name(moto::unique("herald-dispatch"))
        .send()
        .await
        .expect("CreateQueue on moto")
        .queue_url
        .expect("a queue URL");
    let trigger = TriggerService::new(
        store.clone(),
        delivery,
        SqsQueue::new(sqs.clone(), &queue_url),
        clock.clone(),
        Arc::new(TemplateCache::new(16)),
        TriggerConfig::default(),
    );
    World {
        admin: AdminService::new(store, clock.clone(), AdminConfig::default()),
        trigger,
        clock,
        sqs,
        queue_url,
    }
}

/// EventBridge's scheduled event, as the `rate(1 minute)` rule delivers it.
fn scheduled_event(id: &str, time: &str) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/herald-SchedulerTick-1A2B3C4D5E6F"],
        "detail": {}
    })
}

impl World {
    /// Delivers `event` to the handler; returns the report as the runtime would serialize it.
    async fn tick(&self, event: &Value) -> Value {
        let event: ScheduledEvent =
            serde_json::from_value(event.clone()).expect("a scheduled event parses");
        let report: SchedulerReport =
            herald_scheduler::handle(&self.trigger, LambdaEvent::new(event, Context::default()))
                .await
                .expect("the tick succeeds");
        serde_json::to_value(report).expect("the report serializes")
    }

    async fn sms_config(&self, category: &str) -> String {
        let spec = serde_json::from_value(
            json!({"name": "SMS", "category": category, "sms": {"senderId": "Herald"}}),
        )
        .unwrap();
        let c: herald_core::domain::ChannelConfig = self.admin.create_managed(spec).await.unwrap();
        c.id.to_string()
    }

    /// Creates and activates a campaign; returns its id.
    async fn activate(&self, spec: Value) -> CampaignId {
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

    /// A live marketing SMS campaign with `rules` as its rule set.
    async fn marketing_sms(&self, rules: Value) -> CampaignId {
        let cfg = self.sms_config("marketing").await;
        let rule_set: herald_core::domain::RuleSet = self
            .admin
            .create_managed(serde_json::from_value(rules).unwrap())
            .await
            .unwrap();
        self.activate(json!({"name": "Promo", "type": "marketing", "channel": "sms", "channelConfigId": cfg,
                             "ruleSetId": rule_set.id, "content": {"sms": {"text": "Hi {{profile.firstName}}"}}}))
            .await
    }

    async fn status(&self, id: CampaignId) -> CampaignStatus {
        self.admin.get_campaign(id).await.unwrap().campaign.status
    }

    async fn phone_profile(&self, phone: &str, update: Value) {
        let key = herald_core::domain::Identity::parse("phone", phone).unwrap();
        self.admin
            .upsert_profile(&key, &serde_json::from_value(update).unwrap())
            .await
            .unwrap();
    }

    /// The outcome of the one message of `execution`.
    async fn outcome(&self, execution: &str) -> String {
        let page = herald_core::ports::PageRequest::first(10);
        let items = self.trigger.messages(execution, &page).await.unwrap().items;
        assert_eq!(items.len(), 1, "{items:?}");
        items[0].outcome.as_str().to_string()
    }

    /// Bodies of the messages on the dispatch queue (received, so hidden for 30 s after).
    async fn queued(&self) -> Vec<Job> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage on moto");
        out.messages()
            .iter()
            .map(|m| {
                let body = m.body().unwrap_or_default();
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{body} is not a Job: {e}"))
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_moves_to_live_when_its_start_passed_and_to_completed_at_its_end_once_per_change()
 {
    let w = world().await;
    let cfg = w.sms_config("transactional").await;
    let start: Timestamp = T0.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(1);
    let end = start + SignedDuration::from_hours(2);
    let id = w
        .activate(json!({"name": "Window", "type": "transactional", "channel": "sms", "channelConfigId": cfg,
                         "content": {"sms": {"text": "Code {{context.code}}"}},
                         "schedule": {"startAt": start.to_string(), "endAt": end.to_string()}}))
        .await;
    assert_eq!(w.status(id).await, CampaignStatus::Scheduled);

    let early = scheduled_event("7bf73129-1428-4cd3-a780-95db273d1602", T0);
    assert_eq!(w.tick(&early).await["campaignsAdvanced"], 0);
    assert_eq!(w.status(id).await, CampaignStatus::Scheduled, "not yet");

    w.clock.advance(SignedDuration::from_mins(90));
    let started = scheduled_event(
        "b1a4c2e6-5a3e-4f0e-9d7b-5f1f7c3e8a21",
        "2026-03-02T13:30:00Z",
    );
    assert_eq!(
        w.tick(&started).await,
        json!({"campaignsAdvanced": 1, "schedulesFired": 0, "messagesReleased": 0})
    );
    assert_eq!(w.status(id).await, CampaignStatus::Live);
    assert_eq!(
        w.tick(&started).await["campaignsAdvanced"],
        0,
        "the same event delivered again changes nothing"
    );
    assert_eq!(w.status(id).await, CampaignStatus::Live);

    w.clock.advance(SignedDuration::from_hours(2));
    let ended = scheduled_event(
        "0d6c9f3b-8e2a-4b71-a5c4-3e9f1d2b7c60",
        "2026-03-02T15:30:00Z",
    );
    assert_eq!(w.tick(&ended).await["campaignsAdvanced"], 1);
    assert_eq!(w.status(id).await, CampaignStatus::Completed);
    assert_eq!(w.tick(&ended).await["campaignsAdvanced"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_scheduled_audience_execution_fires_once_and_its_plan_job_lands_on_the_queue() {
    let w = world().await;
    let campaign = w.marketing_sms(json!({"name": "Rules"})).await;
    let phone = valid_phone();
    w.phone_profile(&phone, json!({"attributes": {"firstName": "Ann"}}))
        .await;
    let audience = w
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
        identities: vec![herald_core::service::IdentityRef {
            namespace: "phone".into(),
            value: phone.clone(),
        }],
    };
    w.admin
        .add_audience_members(audience, &members)
        .await
        .unwrap();
    let reply = w
        .trigger
        .trigger_audience(
            serde_json::from_value(json!({"campaignId": campaign, "audience": {"id": audience},
                                          "schedule": {"executeAt": "2026-03-02T13:00:00Z"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let schedule_id = serde_json::from_str::<Value>(&reply.body).unwrap()["scheduleId"]
        .as_str()
        .expect("a schedule id")
        .to_string();

    let before = scheduled_event(
        "3c1e2b4a-6d5f-4e7a-8b9c-0a1b2c3d4e5f",
        "2026-03-02T12:59:00Z",
    );
    w.clock.set("2026-03-02T12:59:00Z".parse().unwrap());
    assert_eq!(w.tick(&before).await["schedulesFired"], 0);
    assert!(
        w.queued().await.is_empty(),
        "nothing is queued before its time"
    );

    let due = scheduled_event(
        "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        "2026-03-02T13:00:00Z",
    );
    w.clock.set("2026-03-02T13:00:00Z".parse().unwrap());
    let mut report = w.tick(&due).await;
    report
        .as_object_mut()
        .unwrap()
        .remove("smsOptOuts")
        .expect("13:00: the hourly opt-out sync ran too");
    assert_eq!(
        report,
        json!({"campaignsAdvanced": 0, "schedulesFired": 1, "messagesReleased": 0})
    );
    let jobs = w.queued().await;
    assert_eq!(
        jobs,
        vec![Job::Plan {
            execution_id: schedule_id.parse().unwrap()
        }],
        "the execution's first planning step is on the queue, under the schedule's id"
    );

    assert_eq!(
        w.tick(&due).await["schedulesFired"],
        0,
        "the same event delivered again fires nothing"
    );
    assert!(w.queued().await.is_empty(), "and queues nothing more");
    let schedule = w.trigger.schedule(&schedule_id).await.unwrap();
    assert_eq!(schedule.schedule_status, ScheduleStatus::Triggered);
    assert!(schedule.execution_details.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_held_for_quiet_hours_is_released_once_when_they_end() {
    let w = world().await;
    let campaign = w
        .marketing_sms(json!({"name": "Quiet", "quietHours": {"start": "20:00", "end": "08:00", "action": "queue"}}))
        .await;
    let phone = valid_phone();
    w.phone_profile(
        &phone,
        json!({"timezone": "Asia/Tokyo", "attributes": {"firstName": "Aki"}}),
    )
    .await;
    let request: UnitaryRequest =
        serde_json::from_value(json!({"requestId": "quiet-1", "campaignId": campaign,
        "recipients": [{"type": "aep", "namespace": "phone", "userId": phone}]}))
        .unwrap();
    let reply = w
        .trigger
        .trigger_unitary(request, ExecutionKind::Unitary)
        .await
        .unwrap();
    let execution = serde_json::from_str::<Value>(&reply.body).unwrap()["executionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.outcome(&execution).await,
        "queued",
        "21:00 in Tokyo: held"
    );
    assert_eq!(
        w.tick(&scheduled_event("e1", T0)).await["messagesReleased"],
        0
    );
    assert!(moto::sms_to(&phone).await.is_empty());

    // 08:30 in Tokyo.
    w.clock.set("2026-03-02T23:30:00Z".parse().unwrap());
    let morning = scheduled_event(
        "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c",
        "2026-03-02T23:30:00Z",
    );
    assert_eq!(w.tick(&morning).await["messagesReleased"], 1);
    assert_eq!(w.outcome(&execution).await, "sent");
    assert_eq!(w.tick(&morning).await["messagesReleased"], 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        moto::sms_to(&phone).await.len(),
        1,
        "one SMS, however often the tick runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_that_cannot_reach_its_table_fails_the_invocation() {
    let client = dynamo_local::client().await;
    let store = DynamoStore::new(client, moto::unique("herald-no-such-table"));
    let conf = moto::config().await;
    let trigger = TriggerService::new(
        store,
        moto::delivery().await,
        SqsQueue::new(aws_sdk_sqs::Client::new(&conf), "http://127.0.0.1:1/none"),
        SystemClock,
        Arc::new(TemplateCache::new(4)),
        TriggerConfig::default(),
    );
    let event: ScheduledEvent =
        serde_json::from_value(scheduled_event("a1", "2026-03-02T12:00:00Z")).unwrap();
    let err = herald_scheduler::handle(&trigger, LambdaEvent::new(event, Context::default()))
        .await
        .expect_err("the tick fails");
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Herald.Scheduler.internal-error");
    assert!(
        diagnostic.error_message.contains("storage failed"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_at_minute_zero_copies_sns_opted_out_numbers_into_the_suppression_list() {
    let delivery = moto::delivery().await;
    let listed = moto::opted_out_numbers(&delivery).await;
    let numbers: Vec<_> = listed
        .iter()
        .filter_map(|n| normalize_address(Channel::Sms, n).ok())
        .collect();
    assert!(
        !numbers.is_empty(),
        "moto lists valid opted-out numbers: {listed:?}"
    );
    let w = world_with(delivery).await;

    let minute_one = w
        .tick(&scheduled_event("c0ffee01", "2026-03-02T12:01:00Z"))
        .await;
    assert_eq!(minute_one.get("smsOptOuts"), None, "{minute_one}");
    for n in &numbers {
        assert!(
            w.trigger
                .store()
                .get_suppression(Channel::Sms, n)
                .await
                .unwrap()
                .is_none()
        );
    }

    let on_the_hour = w
        .tick(&scheduled_event("c0ffee02", "2026-03-02T13:00:00Z"))
        .await;
    assert_eq!(
        on_the_hour["smsOptOuts"]["status"], "synced",
        "{on_the_hour}"
    );
    assert_eq!(
        on_the_hour["smsOptOuts"]["added"],
        numbers.len(),
        "{on_the_hour}"
    );
    for n in &numbers {
        let s = w
            .trigger
            .store()
            .get_suppression(Channel::Sms, n)
            .await
            .unwrap();
        assert_eq!(
            s.map(|s| s.reason),
            Some(SuppressionReason::SmsOptOut),
            "{n}"
        );
    }
    let again = w
        .tick(&scheduled_event("c0ffee02", "2026-03-02T13:00:00Z"))
        .await;
    assert_eq!(
        again["smsOptOuts"]["added"], 0,
        "the same event again adds nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_opt_out_sync_is_reported_but_does_not_fail_the_tick() {
    let unreachable = AwsDelivery::from_conf(
        &moto::config_at(&moto::closed_port_url()).await,
        "herald.test",
    );
    let w = world_with(unreachable).await;
    let report = w
        .tick(&scheduled_event("dead0001", "2026-03-02T14:00:00Z"))
        .await;
    assert_eq!(report["smsOptOuts"]["status"], "failed", "{report}");
    assert!(
        report["smsOptOuts"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{report}"
    );
    assert_eq!(
        report["campaignsAdvanced"], 0,
        "the tick itself completed: {report}"
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
