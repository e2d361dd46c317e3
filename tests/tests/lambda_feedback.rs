//! The feedback function through its Lambda handler: SNS event JSON as Lambda delivers it,
//! carrying SES events and SNS platform application events written from the AWS developer
//! guides, deserialized into `SnsEvent` and handed to [`Feedback::handle`] over DynamoDB Local.
//! Push endpoint lookups and the SMS opt-out list go to moto.

use std::sync::Arc;

use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::memory_queue::MemoryQueue;
use herald_core::domain::execution::{CountDelta, CountScope};
use herald_core::domain::{
    CampaignId, Channel, ExecutionId, MessageId, MessageRecord, OutcomeCounts, OutcomeKind,
    RecipientKey, SuppressionReason,
};
use herald_core::ports::{Claim, CountStore, Job, MessageStore, SuppressionStore, SystemClock};
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use herald_feedback::{Feedback, HandlerError, SnsEvent, Summary};
use herald_tests::{dynamo_local, moto};
use jiff::Timestamp;
use serde_json::{Value, json};

type Service = TriggerService<DynamoStore, AwsDelivery, MemoryQueue, SystemClock>;

struct World {
    store: DynamoStore,
    queue: MemoryQueue,
    trigger: Arc<Service>,
    feedback: Feedback<DynamoStore, AwsDelivery, MemoryQueue, SystemClock, AwsDelivery>,
}

/// The handler over a fresh DynamoDB Local table, with `delivery` for sends and lookups.
async fn world_with(delivery: AwsDelivery) -> World {
    let store = dynamo_local::fresh_store().await;
    let queue = MemoryQueue::new();
    let trigger = Arc::new(TriggerService::new(
        store.clone(),
        delivery.clone(),
        queue.clone(),
        SystemClock,
        Arc::new(TemplateCache::new(8)),
        TriggerConfig::default(),
    ));
    World {
        store,
        queue,
        feedback: Feedback::new(Arc::clone(&trigger), delivery),
        trigger,
    }
}

/// The handler with a delivery adapter pointed at a closed port: SES events never call AWS.
async fn world() -> World {
    world_with(AwsDelivery::from_conf(
        &moto::config_at("http://127.0.0.1:9").await,
        moto::MESSAGE_ID_DOMAIN,
    ))
    .await
}

/// The SNS event Lambda delivers for one notification on Herald's feedback topic.
fn sns_event(messages: &[String]) -> SnsEvent {
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            json!({
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:herald-feedback:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": format!("95df01b4-ee98-5cb9-9903-4c221d41eb5{i}"),
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:herald-feedback",
                    "Subject": null,
                    "Message": message,
                    "Timestamp": "2026-11-27T10:15:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:herald-feedback:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                    "MessageAttributes": {}
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
        .expect("aws_lambda_events parses the SNS event Lambda delivers")
}

/// The `mail` object of an SES event record (event publishing through a configuration set,
/// with Herald's message tags).
fn mail(ses_id: &str, to: &str) -> Value {
    json!({
        "timestamp": "2026-11-27T10:14:02.012Z",
        "source": "Herald <no-reply@herald.test>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/herald.test",
        "sendingAccountId": "123456789012",
        "messageId": ses_id,
        "destination": [to],
        "headersTruncated": false,
        "headers": [
            {"name": "From", "value": "Herald <no-reply@herald.test>"},
            {"name": "To", "value": to},
            {"name": "Subject", "value": "Your code"},
            {"name": "MIME-Version", "value": "1.0"}
        ],
        "commonHeaders": {"from": ["Herald <no-reply@herald.test>"], "to": [to], "subject": "Your code"},
        "tags": {
            "ses:configuration-set": ["herald-events"],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["herald.test"],
            "ses:caller-identity": ["herald-trigger-api"],
            "herald-message-id": ["0123456789abcdef0123456789abcdef"]
        }
    })
}

fn ses_delivery(ses_id: &str, to: &str) -> String {
    json!({
        "eventType": "Delivery",
        "mail": mail(ses_id, to),
        "delivery": {
            "timestamp": "2026-11-27T10:14:03.589Z",
            "processingTimeMillis": 1577,
            "recipients": [to],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
            "remoteMtaIp": "192.0.2.44"
        }
    })
    .to_string()
}

fn ses_bounce(ses_id: &str, to: &str, bounce_type: &str, sub_type: &str) -> String {
    json!({
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [{
                "emailAddress": to,
                "action": "failed",
                "status": if bounce_type == "Permanent" { "5.1.1" } else { "4.2.2" },
                "diagnosticCode": if bounce_type == "Permanent" { "smtp; 550 5.1.1 user unknown" } else { "smtp; 452 4.2.2 mailbox full" }
            }],
            "timestamp": "2026-11-27T10:14:41.669Z",
            "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
            "reportingMTA": "dsn; mta.example.com"
        },
        "mail": mail(ses_id, to)
    })
    .to_string()
}

/// A complaint as an identity feedback notification (`notificationType`, no tags).
fn ses_complaint_notification(ses_id: &str, to: &str) -> String {
    json!({
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": to}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-11-27T10:20:00.000Z",
            "timestamp": "2026-11-27T10:20:01.000Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"
        },
        "mail": {
            "timestamp": "2026-11-27T10:14:02.012Z",
            "messageId": ses_id,
            "source": "no-reply@herald.test",
            "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/herald.test",
            "sourceIp": "192.0.2.0",
            "sendingAccountId": "123456789012",
            "callerIdentity": "herald-trigger-api",
            "destination": [to]
        }
    })
    .to_string()
}

fn ses_send(ses_id: &str, to: &str) -> String {
    json!({"eventType": "Send", "mail": mail(ses_id, to), "send": {}}).to_string()
}

/// A message SES accepted as `ses_id`: claimed, then recorded `sent` with the provider id,
/// as the pipeline does.
async fn sent_message(store: &DynamoStore, ses_id: &str, to: &str) -> MessageRecord {
    let now = Timestamp::now();
    let execution = ExecutionId::new();
    let recipient = RecipientKey {
        namespace: "email".into(),
        user_id: to.into(),
    };
    let mut record = MessageRecord {
        id: MessageId::derive(execution, &recipient, Channel::Email),
        execution_id: execution,
        campaign_id: CampaignId::new(),
        campaign_version: 1,
        channel: Channel::Email,
        recipient,
        address: Some(to.into()),
        outcome: OutcomeKind::Pending,
        reason: None,
        detail: None,
        provider_message_id: None,
        variant: None,
        locale: None,
        rules_bypassed: true,
        release_at: None,
        created_at: now,
        updated_at: now,
    };
    assert_eq!(
        store
            .claim_message(&record, &CountDelta::default())
            .await
            .expect("claim"),
        Claim::Claimed
    );
    record.outcome = OutcomeKind::Sent;
    record.provider_message_id = Some(ses_id.into());
    store
        .update_message(&record, OutcomeKind::Pending, &CountDelta::default())
        .await
        .expect("recorded sent");
    record
}

/// An SES-style message id no other test uses.
fn ses_id() -> String {
    format!(
        "0100019{}-{}-000000",
        &uuid::Uuid::new_v4().simple().to_string()[..9],
        uuid::Uuid::new_v4()
    )
}

fn address() -> String {
    format!("{}@example.com", moto::unique("fb"))
}

impl World {
    async fn handle(&self, messages: &[String]) -> Summary {
        self.feedback
            .handle(sns_event(messages))
            .await
            .expect("the invocation succeeds")
    }

    async fn message(&self, m: &MessageRecord) -> MessageRecord {
        self.store
            .get_message(&m.id)
            .await
            .expect("read")
            .expect("the message exists")
    }

    /// The execution's counts, checked equal to its campaign version's.
    async fn counts(&self, m: &MessageRecord) -> OutcomeCounts {
        let e = self
            .store
            .get_counts(CountScope::Execution(m.execution_id))
            .await
            .expect("counts");
        let v = self
            .store
            .get_counts(CountScope::CampaignVersion(
                m.campaign_id,
                m.campaign_version,
            ))
            .await
            .expect("counts");
        assert_eq!(e, v, "execution and campaign report count alike");
        e
    }

    async fn suppression(&self, channel: Channel, address: &str) -> Option<SuppressionReason> {
        self.store
            .get_suppression(channel, address)
            .await
            .expect("read")
            .map(|s| s.reason)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_triggered_through_ses_is_delivered_when_ses_reports_the_delivery() {
    let delivery = moto::delivery().await;
    let w = world_with(delivery.clone()).await;
    let sender = format!("{}@herald.test", moto::unique("sender"));
    moto::verify_sender(&delivery, &sender).await;
    let admin = AdminService::new(w.store.clone(), SystemClock, AdminConfig::default());
    let webhook = serde_json::from_value(
        json!({"url": "https://hooks.example.com/herald", "secret": "0123456789abcdef"}),
    )
    .expect("a webhook spec");
    admin
        .put_feedback_webhook(webhook, None)
        .await
        .expect("webhook stored");
    let config = serde_json::from_value(json!({
        "name": "Mail", "category": "transactional", "email": {"fromAddress": sender}
    }))
    .expect("a channel config spec");
    let config: herald_core::domain::ChannelConfig =
        admin.create_managed(config).await.expect("config");
    let spec = serde_json::from_value(json!({
        "name": "Code", "type": "transactional", "channel": "email", "channelConfigId": config.id,
        "content": {"email": {"subject": "Your code", "html": "<p>{{context.code}}</p>"}}
    }))
    .expect("a campaign spec");
    let campaign = admin.create_campaign(spec).await.expect("campaign");
    admin
        .activate_campaign(campaign.campaign.id, None)
        .await
        .expect("activated");
    let to = address();
    let request = serde_json::from_value(json!({
        "requestId": "fb-1", "campaignId": campaign.campaign.id,
        "recipients": [{"type": "external", "namespace": "email", "userId": to}],
        "context": {"code": "123456"}
    }))
    .expect("a unitary request");
    let reply = w
        .trigger
        .trigger_unitary(request, herald_core::domain::ExecutionKind::Unitary)
        .await
        .expect("accepted");
    let execution: Value = serde_json::from_str(&reply.body).expect("JSON");
    let execution = execution["executionId"].as_str().expect("an execution id");
    let messages = w
        .trigger
        .messages(execution, &herald_core::ports::PageRequest::first(10))
        .await
        .expect("messages")
        .items;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.outcome, OutcomeKind::Sent, "{m:?}");
    let ses_id = m.provider_message_id.clone().expect("SES's message id");
    w.queue.drain();

    let summary = w.handle(&[ses_delivery(&ses_id, &to)]).await;

    assert_eq!((summary.records, summary.recorded), (1, 1), "{summary:?}");
    assert_eq!(w.message(m).await.outcome, OutcomeKind::Delivered);
    let counts = w.counts(m).await;
    assert_eq!((counts.sent, counts.delivered), (1, 1));
    let jobs = w.queue.drain();
    assert!(
        matches!(jobs.as_slice(), [Job::Webhook(e)] if e.outcome == OutcomeKind::Delivered && e.message_id == m.id),
        "the transactional outcome goes to the feedback webhook: {jobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_bounces_the_message_and_suppresses_the_address() {
    let w = world().await;
    let (id, to) = (ses_id(), address());
    let m = sent_message(&w.store, &id, &to).await;

    let summary = w
        .handle(&[ses_bounce(&id, &to, "Permanent", "General")])
        .await;

    assert_eq!(summary.recorded, 1, "{summary:?}");
    let after = w.message(&m).await;
    assert_eq!(after.outcome, OutcomeKind::Bounced);
    assert_eq!(after.reason.as_deref(), Some("bounced"));
    assert_eq!(
        w.suppression(Channel::Email, &to).await,
        Some(SuppressionReason::HardBounce)
    );
    assert_eq!(w.counts(&m).await.bounced, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_bounce_is_counted_once_even_when_delivered_twice() {
    let w = world().await;
    let (id, to) = (ses_id(), address());
    let m = sent_message(&w.store, &id, &to).await;
    let soft = ses_bounce(&id, &to, "Transient", "MailboxFull");

    let first = w.handle(std::slice::from_ref(&soft)).await;
    let second = w.handle(&[soft]).await;
    let undetermined = w
        .handle(&[ses_bounce(&id, &to, "Undetermined", "Undetermined")])
        .await;

    assert_eq!(first.recorded, 1, "{first:?}");
    assert_eq!((second.recorded, second.duplicates), (0, 1), "{second:?}");
    assert_eq!(undetermined.duplicates, 1, "one soft bounce per message");
    let counts = w.counts(&m).await;
    assert_eq!((counts.soft_bounced, counts.bounced), (1, 0));
    let after = w.message(&m).await;
    assert_eq!(
        after.outcome,
        OutcomeKind::Sent,
        "a soft bounce is no outcome"
    );
    assert_eq!(after.reason.as_deref(), Some("softBounced"));
    assert_eq!(w.suppression(Channel::Email, &to).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_notification_marks_the_message_complained_and_suppresses_the_address() {
    let w = world().await;
    let (id, to) = (ses_id(), address());
    let m = sent_message(&w.store, &id, &to).await;

    let summary = w
        .handle(&[ses_delivery(&id, &to), ses_complaint_notification(&id, &to)])
        .await;

    assert_eq!(summary.recorded, 2, "{summary:?}");
    assert_eq!(w.message(&m).await.outcome, OutcomeKind::Complained);
    assert_eq!(
        w.suppression(Channel::Email, &to).await,
        Some(SuppressionReason::Complaint)
    );
    let counts = w.counts(&m).await;
    assert_eq!((counts.delivered, counts.complained), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_moves_the_message_once() {
    let w = world().await;
    let (id, to) = (ses_id(), address());
    let m = sent_message(&w.store, &id, &to).await;
    let delivery = ses_delivery(&id, &to);
    let bounce = ses_bounce(&id, &to, "Permanent", "General");

    let batch = w.handle(&[delivery.clone(), delivery.clone()]).await;
    let redelivered = w.handle(&[delivery, bounce.clone()]).await;
    let again = w.handle(&[bounce]).await;

    assert_eq!((batch.recorded, batch.duplicates), (1, 1), "{batch:?}");
    assert_eq!(
        (redelivered.recorded, redelivered.duplicates),
        (1, 1),
        "{redelivered:?}"
    );
    assert_eq!((again.recorded, again.duplicates), (0, 1), "{again:?}");
    let counts = w.counts(&m).await;
    assert_eq!((counts.delivered, counts.bounced), (1, 1));
    assert_eq!(w.message(&m).await.outcome, OutcomeKind::Bounced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_for_an_unknown_message_id_is_ignored() {
    let w = world().await;
    let to = address();

    let summary = w
        .handle(&[
            ses_bounce(&ses_id(), &to, "Permanent", "General"),
            ses_delivery(&ses_id(), &to),
        ])
        .await;

    assert_eq!(
        summary,
        Summary {
            records: 2,
            unknown_messages: 2,
            ..Summary::default()
        }
    );
    assert_eq!(
        w.suppression(Channel::Email, &to).await,
        None,
        "a bounce of a message Herald did not send suppresses nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_in_a_batch_does_not_stop_the_good_ones() {
    let w = world().await;
    let (a, to_a) = (ses_id(), address());
    let (b, to_b) = (ses_id(), address());
    let ma = sent_message(&w.store, &a, &to_a).await;
    let mb = sent_message(&w.store, &b, &to_b).await;
    let no_recipients = json!({"eventType": "Bounce", "mail": mail(&b, &to_b),
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}})
    .to_string();

    let summary = w
        .handle(&[
            "this is not JSON".into(),
            ses_delivery(&a, &to_a),
            json!({"AlarmName": "not feedback"}).to_string(),
            no_recipients,
            ses_send(&b, &to_b),
            ses_bounce(&b, &to_b, "Permanent", "NoEmail"),
        ])
        .await;

    assert_eq!(
        summary,
        Summary {
            records: 6,
            recorded: 2,
            ignored: 1,
            skipped: 3,
            ..Summary::default()
        }
    );
    assert_eq!(w.message(&ma).await.outcome, OutcomeKind::Delivered);
    assert_eq!(w.message(&mb).await.outcome, OutcomeKind::Bounced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_fails_the_invocation_so_the_event_is_retried() {
    let client = dynamo_local::client().await;
    let store = DynamoStore::new(client, format!("no-such-table-{}", uuid::Uuid::new_v4()));
    let delivery = AwsDelivery::from_conf(
        &moto::config_at("http://127.0.0.1:9").await,
        moto::MESSAGE_ID_DOMAIN,
    );
    let trigger = Arc::new(TriggerService::new(
        store,
        delivery.clone(),
        MemoryQueue::new(),
        SystemClock,
        Arc::new(TemplateCache::new(1)),
        TriggerConfig::default(),
    ));
    let feedback = Feedback::new(trigger, delivery);

    let result = feedback
        .handle(sns_event(&[ses_delivery(&ses_id(), &address())]))
        .await;

    let error = result.expect_err("a store failure is an invocation error");
    assert!(matches!(error, HandlerError::Record(_)), "{error:?}");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Herald.Feedback.Record");
}

/// An SNS platform application event (the `EventEndpointUpdated` topic) naming only the
/// endpoint, as SNS publishes them.
fn endpoint_updated(endpoint_arn: &str, app_arn: &str) -> String {
    json!({
        "EndpointArn": endpoint_arn,
        "EventType": "EndpointUpdated",
        "Resource": app_arn,
        "Service": "SNS",
        "Time": "2026-11-27T10:15:00.000Z",
        "Type": "Notification"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_push_endpoint_suppresses_its_token() {
    let delivery = moto::delivery().await;
    let w = world_with(delivery.clone()).await;
    let app = moto::platform_application(&delivery, "GCM").await;
    let endpoint = |token: String| {
        let delivery = delivery.clone();
        let app = app.clone();
        async move {
            delivery
                .sns()
                .create_platform_endpoint()
                .platform_application_arn(app)
                .token(token)
                .send()
                .await
                .expect("CreatePlatformEndpoint on moto")
                .endpoint_arn
                .expect("an endpoint ARN")
        }
    };
    let (disabled_token, enabled_token) = (moto::unique("fcm-off"), moto::unique("fcm-on"));
    let disabled = endpoint(disabled_token.clone()).await;
    let enabled = endpoint(enabled_token.clone()).await;
    delivery
        .sns()
        .set_endpoint_attributes()
        .endpoint_arn(&disabled)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("SetEndpointAttributes on moto");
    let carried_token = moto::unique("apns-dead");
    let failure = json!({
        "DeliveryAttempts": 1,
        "EndpointArn": "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/herald/0f3e5a4c-9d7b-3e2a-8c1d-2b4a6e8f0a1c",
        "EventType": "DeliveryFailure",
        "FailureMessage": "Endpoint is disabled",
        "FailureType": "EndpointDisabled",
        "MessageId": "9c3a8b2e-0c1f-5d2e-9a11-1d2f3e4a5b6c",
        "Resource": "arn:aws:sns:us-east-1:123456789012:app/APNS/herald",
        "Service": "SNS",
        "Time": "2026-11-27T10:15:00.000Z",
        "Token": carried_token
    })
    .to_string();

    let summary = w
        .handle(&[
            endpoint_updated(&disabled, &app),
            endpoint_updated(&enabled, &app),
            failure,
        ])
        .await;

    assert_eq!(
        (summary.tokens_suppressed, summary.ignored),
        (2, 1),
        "{summary:?}"
    );
    assert_eq!(
        w.suppression(Channel::Push, &disabled_token).await,
        Some(SuppressionReason::PushEndpointDisabled),
        "looked up with GetEndpointAttributes"
    );
    assert_eq!(
        w.suppression(Channel::Push, &carried_token).await,
        Some(SuppressionReason::PushEndpointDisabled),
        "the token the event carries"
    );
    assert_eq!(w.suppression(Channel::Push, &enabled_token).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_opt_outs_listed_by_sns_are_suppressed() {
    let delivery = moto::delivery().await;
    let w = world_with(delivery.clone()).await;
    let listed = moto::opted_out_numbers(&delivery).await;
    assert!(!listed.is_empty(), "moto lists a few opted-out numbers");

    let report = w
        .trigger
        .sync_sms_opt_outs(&delivery)
        .await
        .expect("the sync completes");

    assert_eq!(report.pages, 1);
    assert_eq!(report.numbers, listed.len() as u64);
    assert_eq!(report.added + report.invalid, report.numbers);
    assert!(report.added > 0, "{report:?}");
    let mut suppressed = 0;
    for number in &listed {
        if let Ok(key) = herald_core::domain::suppression::normalize_address(Channel::Sms, number) {
            assert_eq!(
                w.suppression(Channel::Sms, &key).await,
                Some(SuppressionReason::SmsOptOut),
                "{number}"
            );
            suppressed += 1;
        }
    }
    assert_eq!(suppressed, report.added);
    let again = w.trigger.sync_sms_opt_outs(&delivery).await.expect("sync");
    assert_eq!(again.added, 0, "a second sync finds nothing new");
}
