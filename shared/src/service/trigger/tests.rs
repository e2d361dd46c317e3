//! Trigger service tests on the in-memory store, a fixed clock and a scripted fake sender.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_queue::MemoryQueue;
use crate::domain::trigger::UnitaryRequest;
use crate::domain::{
    CampaignSpec, ChannelConfigSpec, OutcomeKind, RuleSetSpec, Suppression, SuppressionReason,
};
use crate::ports::{
    AcceptanceStore, Accepted, CampaignStore, EmailEnvelope, EmailSender, ExecutionStore,
    FixedClock, JobDelivery, PushEnvelope, PushSender, SendError, SmsEnvelope, SmsSender,
    SuppressionStore,
};
use crate::service::{AdminConfig, AdminService};

/// Records every provider call; answers from a script (default: accepted).
#[derive(Clone, Default)]
struct FakeDelivery {
    calls: Arc<Mutex<Vec<String>>>,
    emails: Arc<Mutex<Vec<EmailEnvelope>>>,
    sms: Arc<Mutex<Vec<SmsEnvelope>>>,
    script: Arc<Mutex<VecDeque<SendError>>>,
    webhooks: Arc<Mutex<Vec<(String, String)>>>,
    webhook_script: Arc<Mutex<VecDeque<u16>>>,
    /// SMS only: how long a send takes, the sends in flight and their peak, and when each
    /// began.
    sms_latency: Arc<Mutex<Option<std::time::Duration>>>,
    sms_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    sms_peak: Arc<std::sync::atomic::AtomicUsize>,
    sms_started: Arc<Mutex<Vec<std::time::Instant>>>,
}

impl FakeDelivery {
    fn answer(&self, to: &str) -> Result<Accepted, SendError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(to.to_string());
        match self.script.lock().unwrap().pop_front() {
            Some(e) => Err(e),
            None => Ok(Accepted {
                provider_message_id: format!("fake-{}", calls.len()),
            }),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn then_fail(&self, errors: Vec<SendError>) {
        self.script.lock().unwrap().extend(errors);
    }
}

impl EmailSender for FakeDelivery {
    async fn send_email(&self, email: &EmailEnvelope) -> Result<Accepted, SendError> {
        self.emails.lock().unwrap().push(email.clone());
        self.answer(&email.to)
    }
}

impl SmsSender for FakeDelivery {
    async fn send_sms(&self, sms: &SmsEnvelope) -> Result<Accepted, SendError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.sms_started
            .lock()
            .unwrap()
            .push(std::time::Instant::now());
        let latency = *self.sms_latency.lock().unwrap();
        if let Some(latency) = latency {
            let now = self.sms_in_flight.fetch_add(1, SeqCst) + 1;
            self.sms_peak.fetch_max(now, SeqCst);
            tokio::time::sleep(latency).await;
            self.sms_in_flight.fetch_sub(1, SeqCst);
        }
        self.sms.lock().unwrap().push(sms.clone());
        self.answer(&sms.to)
    }
}

impl crate::ports::WebhookSender for FakeDelivery {
    async fn post(
        &self,
        url: &str,
        body: &str,
        _headers: &[(&'static str, String)],
    ) -> Result<(), crate::ports::WebhookError> {
        self.webhooks
            .lock()
            .unwrap()
            .push((url.to_string(), body.to_string()));
        match self.webhook_script.lock().unwrap().pop_front() {
            Some(status) => Err(crate::ports::WebhookError::Status(status)),
            None => Ok(()),
        }
    }
}

impl PushSender for FakeDelivery {
    async fn send_push(&self, push: &PushEnvelope) -> Result<Accepted, SendError> {
        self.answer(&push.token)
    }
}

type Clock = Arc<FixedClock>;

struct World {
    admin: AdminService<MemoryStore, Clock>,
    trigger: Arc<TriggerService<MemoryStore, FakeDelivery, MemoryQueue, Clock>>,
    queue: MemoryQueue,
    delivery: FakeDelivery,
    clock: Clock,
}

fn world() -> World {
    world_with(test_config())
}

fn test_config() -> TriggerConfig {
    TriggerConfig {
        throttle_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    }
}

fn world_with(config: TriggerConfig) -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(FixedClock::new("2026-03-02T12:00:00Z".parse().unwrap()));
    let delivery = FakeDelivery::default();
    let templates = Arc::new(TemplateCache::new(16));
    let queue = MemoryQueue::new();
    World {
        admin: AdminService::new(store.clone(), clock.clone(), AdminConfig::default()),
        trigger: Arc::new(TriggerService::new(
            store,
            delivery.clone(),
            queue.clone(),
            clock.clone(),
            templates,
            config,
        )),
        queue,
        delivery,
        clock,
    }
}

impl World {
    /// Another service on the same store, queue, clock and sender: a second dispatcher.
    fn another_trigger(&self) -> TriggerService<MemoryStore, FakeDelivery, MemoryQueue, Clock> {
        TriggerService::new(
            self.trigger.store().clone(),
            self.delivery.clone(),
            self.queue.clone(),
            self.clock.clone(),
            Arc::new(TemplateCache::new(16)),
            test_config(),
        )
    }

    async fn config(&self, v: serde_json::Value) -> String {
        let spec: ChannelConfigSpec = serde_json::from_value(v).unwrap();
        let c: crate::domain::ChannelConfig = self.admin.create_managed(spec).await.unwrap();
        c.id.to_string()
    }

    async fn live_campaign(&self, v: serde_json::Value) -> String {
        let spec: CampaignSpec = serde_json::from_value(v).unwrap();
        let c = self.admin.create_campaign(spec).await.unwrap();
        let live = self
            .admin
            .activate_campaign(c.campaign.id, None)
            .await
            .unwrap();
        live.campaign.id.to_string()
    }

    async fn reset_email(&self) -> String {
        let cfg = self
            .config(json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com"}}))
            .await;
        self.live_campaign(json!({
            "name": "Reset", "type": "transactional", "channel": "email", "channelConfigId": cfg,
            "content": {"email": {"subject": "Reset, {{default profile.firstName \"there\"}}", "html": "<a href=\"{{context.url}}\">go</a>"}}
        }))
        .await
    }

    async fn profile(&self, email: &str, extra: serde_json::Value) {
        let key = crate::domain::Identity::parse("email", email).unwrap();
        let update = serde_json::from_value(extra).unwrap();
        self.admin.upsert_profile(&key, &update).await.unwrap();
    }

    async fn unitary(&self, v: serde_json::Value) -> Result<TriggerReply, TriggerError> {
        let r: UnitaryRequest = serde_json::from_value(v).unwrap();
        self.trigger
            .trigger_unitary(r, ExecutionKind::Unitary)
            .await
    }

    /// The execution a trigger's reply names.
    async fn view(&self, reply: &TriggerReply) -> ExecutionView {
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let id = body["executionId"].as_str().unwrap();
        self.trigger.execution(id).await.unwrap()
    }

    async fn messages(&self, reply: &TriggerReply) -> Vec<MessageRecord> {
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let id = body["executionId"].as_str().unwrap();
        self.trigger
            .messages(id, &PageRequest::first(100))
            .await
            .unwrap()
            .items
    }
}

fn aep(email: &str) -> serde_json::Value {
    json!({"type": "aep", "namespace": "email", "userId": email})
}

#[tokio::test]
async fn a_transactional_email_is_rendered_from_profile_and_context_and_sent_once() {
    let w = world();
    let campaign = w.reset_email().await;
    w.profile(
        "ann@example.com",
        json!({"attributes": {"firstName": "Ann"}}),
    )
    .await;
    let reply = w
        .unitary(json!({"requestId": "r1", "campaignId": campaign, "recipients": [aep("ann@example.com")],
                        "context": {"url": "https://example.com/r/1"}}))
        .await
        .unwrap();
    assert_eq!(reply.status, 202);
    assert!(!reply.replayed);
    let sent = w.delivery.emails.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].content.subject, "Reset, Ann");
    assert!(sent[0].content.html.contains("https://example.com/r/1"));
    assert_eq!(sent[0].from_address, "no-reply@example.com");
    let msgs = w.messages(&reply).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].outcome, OutcomeKind::Sent);
    assert!(
        msgs[0].rules_bypassed,
        "transactional messages say the rules were bypassed"
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let view = w
        .trigger
        .execution(body["executionId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!((view.counts.targeted, view.counts.sent), (1, 1));
    assert_eq!(view.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn a_retry_replays_the_first_response_and_a_changed_body_is_refused() {
    let w = world();
    let campaign = w.reset_email().await;
    let body = json!({"requestId": "r1", "campaignId": campaign, "recipients": [{"type": "external", "namespace": "email", "userId": "x@example.com"}]});
    let first = w.unitary(body.clone()).await.unwrap();
    w.clock.advance(jiff::SignedDuration::from_secs(5));
    let again = w.unitary(body.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.body, first.body, "byte for byte");
    assert_eq!(w.delivery.calls().len(), 1, "no second send");
    let mut changed = body;
    changed["recipients"][0]["userId"] = json!("y@example.com");
    let err = w.unitary(changed).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "request-id-reused"));
}

#[tokio::test]
async fn fifty_concurrent_identical_triggers_make_one_execution_and_one_send_per_recipient() {
    let w = world();
    let campaign = w.reset_email().await;
    let body = json!({"requestId": "burst", "campaignId": campaign, "recipients": [
        {"type": "external", "namespace": "email", "userId": "a@example.com"},
        {"type": "external", "namespace": "email", "userId": "b@example.com"}]});
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let t = w.trigger.clone();
            let r: UnitaryRequest = serde_json::from_value(body.clone()).unwrap();
            tokio::spawn(async move { t.trigger_unitary(r, ExecutionKind::Unitary).await })
        })
        .collect();
    let mut accepted = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(reply) => accepted.push(reply.body),
            Err(e) => assert_eq!(e.code(), "request-in-flight", "{e}"),
        }
    }
    accepted.dedup();
    assert_eq!(
        accepted.len(),
        1,
        "every accepted reply is the same execution"
    );
    let mut calls = w.delivery.calls();
    calls.sort();
    assert_eq!(calls, vec!["a@example.com", "b@example.com"]);
}

#[tokio::test]
async fn every_exclusion_is_recorded_with_its_reason() {
    let w = world();
    let campaign = w.reset_email().await;
    w.admin
        .suppress(
            serde_json::from_value(json!({"channel": "email", "address": "blocked@example.com"}))
                .unwrap(),
        )
        .await
        .unwrap();
    let reply = w
        .unitary(json!({"requestId": "r", "campaignId": campaign, "recipients": [
            aep("nobody@example.com"),
            {"type": "external", "namespace": "crm", "userId": "42"},
            {"type": "external", "namespace": "crm", "userId": "43", "channelData": {"emailAddress": "not-an-email"}},
            {"type": "external", "namespace": "email", "userId": "blocked@example.com"}
        ]}))
        .await
        .unwrap();
    let mut reasons: Vec<(String, Option<String>)> = w
        .messages(&reply)
        .await
        .into_iter()
        .map(|m| (m.recipient.user_id, m.reason))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("42".into(), Some("NoAddress".into())),
            ("43".into(), Some("InvalidAddress".into())),
            ("blocked@example.com".into(), Some("Suppressed".into())),
            ("nobody@example.com".into(), Some("NoProfile".into())),
        ]
    );
    assert!(w.delivery.calls().is_empty());
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let view = w
        .trigger
        .execution(body["executionId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(view.counts.excluded, 4);
    assert_eq!(view.counts.excluded_by_reason["NoProfile"], 1);
}

async fn marketing_sms(w: &World, rules: serde_json::Value) -> String {
    let cfg = w
        .config(json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Herald"}}))
        .await;
    let rs: RuleSetSpec = serde_json::from_value(rules).unwrap();
    let rule_set: crate::domain::RuleSet = w.admin.create_managed(rs).await.unwrap();
    w.live_campaign(json!({"name": "Promo", "type": "marketing", "channel": "sms", "channelConfigId": cfg,
                           "ruleSetId": rule_set.id, "content": {"sms": {"text": "Hi {{profile.firstName}}"}}}))
        .await
}

async fn phone_profile(w: &World, phone: &str, extra: serde_json::Value) {
    let key = crate::domain::Identity::parse("phone", phone).unwrap();
    w.admin
        .upsert_profile(&key, &serde_json::from_value(extra).unwrap())
        .await
        .unwrap();
}

fn phone(p: &str) -> serde_json::Value {
    json!({"type": "aep", "namespace": "phone", "userId": p})
}

#[tokio::test]
async fn marketing_rules_exclude_by_consent_cap_and_quiet_hours() {
    let w = world();
    // 12:00 UTC: quiet in Tokyo (21:00), not in Paris (13:00).
    let campaign = marketing_sms(&w, json!({"name": "R", "caps": [{"limit": 1, "period": "day"}],
                                            "quietHours": {"start": "20:00", "end": "08:00", "action": "discard"}}))
    .await;
    phone_profile(&w, "+33612345678", json!({"consent": {"sms": "in"}, "timezone": "Europe/Paris", "attributes": {"firstName": "Ann"}})).await;
    phone_profile(&w, "+33612345679", json!({"consent": {"sms": "out"}})).await;
    phone_profile(&w, "+81312345678", json!({"timezone": "Asia/Tokyo"})).await;
    let first = w
        .unitary(
            json!({"requestId": "m1", "campaignId": campaign, "recipients": [
            phone("+33612345678"), phone("+33612345679"), phone("+81312345678")]}),
        )
        .await
        .unwrap();
    let mut got: Vec<(String, OutcomeKind, Option<String>)> = w
        .messages(&first)
        .await
        .into_iter()
        .map(|m| (m.recipient.user_id, m.outcome, m.reason))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0], ("+33612345678".into(), OutcomeKind::Sent, None));
    assert_eq!(
        got[1],
        (
            "+33612345679".into(),
            OutcomeKind::Excluded,
            Some("ConsentOut".into())
        )
    );
    assert_eq!(
        got[2],
        (
            "+81312345678".into(),
            OutcomeKind::Excluded,
            Some("QuietHours".into())
        )
    );
    assert_eq!(
        w.delivery.sms.lock().unwrap()[0].sms_type,
        crate::domain::channel_config::SmsType::Promotional
    );
    // The cap (1 a day) stops the second message to Ann.
    let second = w.unitary(json!({"requestId": "m2", "campaignId": campaign, "recipients": [phone("+33612345678")]})).await.unwrap();
    let m = &w.messages(&second).await[0];
    assert_eq!(
        (m.outcome, m.reason.as_deref()),
        (OutcomeKind::Excluded, Some("FrequencyCap"))
    );
    assert_eq!(w.delivery.calls().len(), 1);
}

/// A marketing SMS to a profile in Tokyo at 21:00 there, in quiet hours (20:00–08:00) that
/// hold messages until they end.
async fn held_in_tokyo(w: &World) -> TriggerReply {
    let campaign = marketing_sms(
        w,
        json!({"name": "R", "quietHours": {"start": "20:00", "end": "08:00", "action": "queue"}}),
    )
    .await;
    phone_profile(w, "+81312345678", json!({"timezone": "Asia/Tokyo"})).await;
    w.unitary(
        json!({"requestId": "q", "campaignId": campaign, "recipients": [phone("+81312345678")]}),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn quiet_hours_with_queue_hold_the_message_until_they_end() {
    let w = world();
    let reply = held_in_tokyo(&w).await;
    let m = &w.messages(&reply).await[0];
    assert_eq!(m.outcome, OutcomeKind::Queued);
    assert_eq!(
        m.release_at,
        Some("2026-03-02T23:00:00Z".parse().unwrap()),
        "08:00 in Tokyo"
    );
    assert!(w.delivery.calls().is_empty());
    let held = crate::ports::HoldStore::due_held(
        w.trigger.store(),
        "2026-03-03T00:00:00Z".parse().unwrap(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(held.len(), 1);
}

#[tokio::test]
async fn throttling_is_retried_and_an_ambiguous_answer_is_never_resent() {
    let w = world();
    let campaign = w.reset_email().await;
    let ext = |e: &str| json!({"type": "external", "namespace": "email", "userId": e});
    w.delivery.then_fail(vec![
        SendError::Throttled { retry_after: None },
        SendError::Throttled { retry_after: None },
    ]);
    let r = w
        .unitary(
            json!({"requestId": "t", "campaignId": campaign, "recipients": [ext("t@example.com")]}),
        )
        .await
        .unwrap();
    assert_eq!(w.messages(&r).await[0].outcome, OutcomeKind::Sent);
    assert_eq!(
        w.delivery.calls().len(),
        3,
        "two throttled attempts, then accepted"
    );

    w.delivery.then_fail(vec![SendError::Ambiguous {
        detail: "timeout".into(),
    }]);
    let r = w
        .unitary(
            json!({"requestId": "u", "campaignId": campaign, "recipients": [ext("u@example.com")]}),
        )
        .await
        .unwrap();
    let m = &w.messages(&r).await[0];
    assert_eq!(m.outcome, OutcomeKind::Unknown);
    assert_eq!(w.delivery.calls().len(), 4, "one call, not retried");

    w.delivery.then_fail(vec![SendError::Rejected {
        reason: "MessageRejected: bad".into(),
    }]);
    let r = w
        .unitary(
            json!({"requestId": "v", "campaignId": campaign, "recipients": [ext("v@example.com")]}),
        )
        .await
        .unwrap();
    let m = &w.messages(&r).await[0];
    assert_eq!(
        (m.outcome, m.detail.as_deref()),
        (OutcomeKind::Failed, Some("MessageRejected: bad"))
    );

    w.delivery.then_fail(
        (0..5)
            .map(|_| SendError::Throttled { retry_after: None })
            .collect(),
    );
    let r = w
        .unitary(
            json!({"requestId": "w", "campaignId": campaign, "recipients": [ext("w@example.com")]}),
        )
        .await
        .unwrap();
    let m = &w.messages(&r).await[0];
    assert_eq!(
        (m.outcome, m.reason.as_deref()),
        (OutcomeKind::Queued, Some("Throttled")),
        "held, never dropped"
    );
}

#[tokio::test]
async fn triggers_for_unknown_stopped_or_wrong_kind_campaigns_are_refused() {
    let w = world();
    let campaign = w.reset_email().await;
    let ext = json!([{"type": "external", "namespace": "email", "userId": "a@example.com"}]);
    let err = w.unitary(json!({"requestId": "a", "campaignId": "0190d6a2-0000-7000-8000-000000000000", "recipients": ext})).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (404, "campaign-not-found"));
    let r: UnitaryRequest = serde_json::from_value(
        json!({"requestId": "b", "campaignId": campaign, "recipients": ext}),
    )
    .unwrap();
    let err = w
        .trigger
        .trigger_unitary(r, ExecutionKind::HighThroughput)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (400, "wrong-execution-kind"));
    w.admin
        .stop_campaign(campaign.parse().unwrap(), None)
        .await
        .unwrap();
    let err = w
        .unitary(json!({"requestId": "c", "campaignId": campaign, "recipients": ext}))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (409, "campaign-not-live"));
}

/// Triggers keep the version they read in a cache; a new live version (a campaign write bumps
/// its revision) is what the next trigger renders, and a stopped campaign is refused at once.
#[tokio::test]
async fn a_newly_activated_version_is_used_by_the_next_trigger() {
    let w = world();
    let campaign = w.reset_email().await;
    let id: CampaignId = campaign.parse().unwrap();
    let to = |rid: &str| {
        json!({"requestId": rid, "campaignId": campaign, "context": {"url": "https://x.example/r"},
        "recipients": [{"type": "external", "namespace": "email", "userId": format!("{rid}@example.com")}]})
    };
    for rid in ["v1a", "v1b"] {
        w.unitary(to(rid)).await.unwrap();
    }
    w.admin.open_draft(id, None).await.unwrap();
    let mut spec =
        serde_json::to_value(w.admin.get_campaign_version(id, 2).await.unwrap().spec).unwrap();
    spec["content"]["email"]["subject"] = json!("Version two");
    let spec: CampaignSpec = serde_json::from_value(spec).unwrap();
    w.admin.update_campaign(id, spec, None).await.unwrap();
    w.admin.activate_campaign(id, None).await.unwrap();
    w.unitary(to("v2")).await.unwrap();
    let subjects: Vec<String> = w
        .delivery
        .emails
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.content.subject.clone())
        .collect();
    assert_eq!(subjects, ["Reset, there", "Reset, there", "Version two"]);
    w.admin.stop_campaign(id, None).await.unwrap();
    let err = w.unitary(to("stopped")).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (409, "campaign-not-live"));
}

#[tokio::test]
async fn a_disabled_push_endpoint_suppresses_the_token() {
    let w = world();
    let cfg = w
        .config(json!({"name": "Push", "category": "transactional", "push": {"fcmPlatformArn": "arn:aws:sns:us-east-1:1:app/GCM/x"}}))
        .await;
    let campaign = w
        .live_campaign(json!({"name": "P", "type": "transactional", "channel": "push", "channelConfigId": cfg,
                              "content": {"push": {"title": "Hi", "body": "Order {{context.order}}"}}}))
        .await;
    w.delivery.then_fail(vec![SendError::EndpointDisabled]);
    let r = w
        .unitary(json!({"requestId": "p", "campaignId": campaign, "context": {"order": 7}, "recipients": [
            {"type": "external", "namespace": "device", "userId": "d1", "channelData": {"pushInfo": {"token": "tok-1", "platform": "fcm"}}}]}))
        .await
        .unwrap();
    assert_eq!(
        w.messages(&r).await[0].reason.as_deref(),
        Some("PushEndpointDisabled")
    );
    let s: Option<Suppression> = w
        .trigger
        .store()
        .get_suppression(crate::domain::Channel::Push, "tok-1")
        .await
        .unwrap();
    assert_eq!(
        s.map(|s| s.reason),
        Some(SuppressionReason::PushEndpointDisabled)
    );
}

impl World {
    /// Runs queued jobs until the queue is empty; returns how many ran.
    async fn run_jobs(&self) -> usize {
        let mut ran = 0;
        loop {
            let jobs = self.queue.drain();
            if jobs.is_empty() {
                return ran;
            }
            for job in jobs {
                self.trigger
                    .run_job(&job, JobDelivery::First)
                    .await
                    .unwrap();
                ran += 1;
            }
        }
    }

    async fn audience_of_phones(&self, phones: &[&str]) -> String {
        let a = self
            .admin
            .create_audience(
                serde_json::from_value(json!({"name": "Phones", "kind": "static"})).unwrap(),
            )
            .await
            .unwrap();
        let identities: Vec<_> = phones
            .iter()
            .map(|p| crate::service::IdentityRef {
                namespace: "phone".into(),
                value: p.to_string(),
            })
            .collect();
        let req = crate::service::MembersRequest {
            profile_ids: vec![],
            identities,
        };
        self.admin
            .add_audience_members(a.audience.id, &req)
            .await
            .unwrap();
        a.audience.id.to_string()
    }

    async fn audience(&self, v: serde_json::Value) -> Result<TriggerReply, TriggerError> {
        self.trigger
            .trigger_audience(serde_json::from_value(v).unwrap())
            .await
    }

    /// Triggers `campaign` for `audience` and runs only its planning step: the execution id
    /// and the batch jobs it queued, kept to run by hand.
    async fn planned(&self, campaign: &str, audience: &str) -> (String, Vec<crate::ports::Job>) {
        let reply = self
            .audience(json!({"campaignId": campaign, "audience": {"id": audience}}))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let execution = body["executionId"].as_str().unwrap().to_string();
        let plan = self.queue.drain();
        assert_eq!(plan.len(), 1);
        self.trigger
            .run_job(&plan[0], JobDelivery::First)
            .await
            .unwrap();
        (execution, self.queue.drain())
    }
}

#[tokio::test]
async fn an_audience_execution_is_planned_and_delivered_through_the_queue_exactly_once() {
    let w = world();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    let phones = ["+33612345601", "+33612345602", "+33612345603"];
    for p in phones {
        phone_profile(&w, p, json!({"attributes": {"firstName": "P"}})).await;
    }
    phone_profile(&w, "+33612345604", json!({"consent": {"sms": "out"}})).await;
    let audience = w
        .audience_of_phones(&[phones[0], phones[1], phones[2], "+33612345604"])
        .await;
    let reply = w.audience(json!({"requestId": "aud-1", "campaignId": campaign, "audience": {"id": audience}, "context": {"promo": "X"}})).await.unwrap();
    assert_eq!(reply.status, 202);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let execution = body["executionId"].as_str().unwrap().to_string();
    assert!(
        w.delivery.calls().is_empty(),
        "nothing is sent before the queue runs"
    );
    assert!(
        w.run_jobs().await >= 2,
        "a planning step and at least one batch"
    );
    let mut sent = w.delivery.calls();
    sent.sort();
    assert_eq!(sent, phones.to_vec());
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(
        (view.counts.targeted, view.counts.sent, view.counts.excluded),
        (4, 3, 1)
    );
    assert_eq!(view.counts.excluded_by_reason["ConsentOut"], 1);
    assert_eq!(view.status, ExecutionStatus::Succeeded);

    // A redelivered batch (and planning step) sends nothing twice.
    let ctx_jobs = vec![crate::ports::Job::Plan {
        execution_id: execution.parse().unwrap(),
    }];
    for job in &ctx_jobs {
        w.trigger.run_job(job, JobDelivery::First).await.unwrap();
    }
    w.run_jobs().await;
    assert_eq!(w.delivery.calls().len(), 3);
    // The same request again is a replay.
    let again = w.audience(json!({"requestId": "aud-1", "campaignId": campaign, "audience": {"id": audience}, "context": {"promo": "X"}})).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.body, reply.body);
}

#[tokio::test]
async fn a_batch_run_again_or_queued_twice_sends_nothing_twice_and_an_erased_member_is_excluded() {
    let w = world();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    let phones = ["+33612345621", "+33612345622", "+33612345623"];
    let mut profiles = Vec::new();
    for p in phones {
        let key = crate::domain::Identity::parse("phone", p).unwrap();
        let update = serde_json::from_value(json!({"attributes": {"firstName": "P"}})).unwrap();
        profiles.push(w.admin.upsert_profile(&key, &update).await.unwrap().0.id);
    }
    let audience = w.audience_of_phones(&phones).await;
    let (execution, batches) = w.planned(&campaign, &audience).await;
    assert!(matches!(batches.as_slice(), [crate::ports::Job::Batch(_)]));
    w.admin.erase_profile(profiles[2]).await.unwrap();

    w.trigger
        .run_job(&batches[0], JobDelivery::First)
        .await
        .unwrap();
    // Handed out again: its members' messages are read first and skipped.
    w.trigger
        .run_job(&batches[0], JobDelivery::Again)
        .await
        .unwrap();
    // The same members queued twice (a repeated planning step), this copy handed out for the
    // first time: nothing is read first, and each claim finds the first record.
    w.trigger
        .run_job(&batches[0], JobDelivery::First)
        .await
        .unwrap();

    let mut sent = w.delivery.calls();
    sent.sort();
    assert_eq!(sent, phones[..2].to_vec(), "each member still there, once");
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(
        (view.counts.targeted, view.counts.sent, view.counts.excluded),
        (3, 2, 1),
        "the later runs count nothing"
    );
    assert_eq!(view.counts.excluded_by_reason["NoProfile"], 1);
    assert_eq!(view.status, ExecutionStatus::Succeeded);
}

/// An audience of `n` phone profiles, each with a first name.
async fn phone_audience(w: &World, n: usize) -> String {
    let phones: Vec<String> = (0..n).map(|i| format!("+336123456{i:02}")).collect();
    for p in &phones {
        phone_profile(w, p, json!({"attributes": {"firstName": "P"}})).await;
    }
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    w.audience_of_phones(&phones).await
}

#[tokio::test]
async fn a_batch_sends_to_several_members_at_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let w = world();
    *w.delivery.sms_latency.lock().unwrap() = Some(std::time::Duration::from_millis(20));
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    let audience = phone_audience(&w, 24).await;
    w.audience(json!({"campaignId": campaign, "audience": {"id": audience}}))
        .await
        .unwrap();
    w.run_jobs().await;
    assert_eq!(w.delivery.calls().len(), 24);
    assert_eq!(
        w.delivery.sms_peak.load(SeqCst),
        TriggerConfig::default().concurrency,
        "a batch keeps `concurrency` sends in flight"
    );
}

/// A live marketing SMS campaign sending at most `per_second` messages a second.
async fn paced_sms(w: &World, per_second: u32) -> String {
    let cfg = w
        .config(json!({"name": "SMS", "category": "marketing", "sms": {"senderId": "Herald"}}))
        .await;
    w.live_campaign(json!({"name": "Slow", "type": "marketing", "channel": "sms", "channelConfigId": cfg,
                          "rateLimit": per_second, "content": {"sms": {"text": "Hi {{profile.firstName}}"}}}))
        .await
}

/// The instants sends started, in order, as offsets from `began`; asserts that the k-th is no
/// earlier than k × `interval` (a busy machine only makes sends later).
fn assert_spaced(w: &World, began: std::time::Instant, n: usize, interval: std::time::Duration) {
    let mut started = w.delivery.sms_started.lock().unwrap().clone();
    assert_eq!(started.len(), n);
    started.sort();
    for (k, at) in started.iter().enumerate() {
        assert!(
            *at - began >= interval * k as u32,
            "send {k} started {:?} after the batches began",
            *at - began
        );
    }
}

#[tokio::test]
async fn a_rate_limit_spaces_the_sends_of_concurrent_members() {
    let w = world();
    let campaign = paced_sms(&w, 50).await;
    let audience = phone_audience(&w, 6).await;
    w.audience(json!({"campaignId": campaign, "audience": {"id": audience}}))
        .await
        .unwrap();
    let began = std::time::Instant::now();
    w.run_jobs().await;
    // 50 per second: the k-th send slot is k × 20 ms after the first.
    assert_spaced(&w, began, 6, std::time::Duration::from_millis(20));
}

#[tokio::test]
async fn two_dispatchers_sending_for_one_campaign_keep_to_its_rate_together() {
    let w = world();
    let campaign = paced_sms(&w, 50).await;
    let audience = phone_audience(&w, 12).await;
    let (_, jobs) = w.planned(&campaign, &audience).await;
    let [crate::ports::Job::Batch(batch)] = jobs.as_slice() else {
        panic!("one batch expected, got {jobs:?}");
    };
    // Two halves of the batch, each run by its own service, at the same time.
    let (a, b) = batch.members.split_at(6);
    let half = |members: &[crate::domain::ProfileId], sequence| {
        crate::ports::Job::Batch(crate::domain::AudienceBatch {
            members: members.to_vec(),
            sequence,
            ..batch.clone()
        })
    };
    let (first, second) = (half(a, 0), half(b, 1));
    let other = w.another_trigger();
    let began = std::time::Instant::now();
    let (x, y) = tokio::join!(
        w.trigger.run_job(&first, JobDelivery::First),
        other.run_job(&second, JobDelivery::First)
    );
    x.unwrap();
    y.unwrap();
    // Together at 50 a second, not each: 12 slots 20 ms apart.
    assert_spaced(&w, began, 12, std::time::Duration::from_millis(20));
}

#[tokio::test]
async fn a_batch_defers_the_members_whose_send_slots_come_after_its_wait() {
    let w = world_with(TriggerConfig {
        pace_wait: jiff::SignedDuration::from_millis(500),
        ..test_config()
    });
    let campaign = paced_sms(&w, 10).await;
    let audience = phone_audience(&w, 14).await;
    let (execution, jobs) = w.planned(&campaign, &audience).await;
    for job in &jobs {
        w.trigger.run_job(job, JobDelivery::First).await.unwrap();
    }
    // 10 a second, reserved a second's worth at a time: slots 0–0.9 s are taken by 10 members;
    // the next free one (1 s) is past the 0.5 s this batch may wait, so 4 go back to the queue.
    assert_eq!(w.delivery.calls().len(), 10);
    assert!(w.queue.is_empty());
    let delayed = w.queue.drain_delayed();
    let [(crate::ports::Job::Batch(rest), at)] = delayed.as_slice() else {
        panic!("one deferred batch expected, got {delayed:?}");
    };
    assert_eq!(rest.members.len(), 4);
    let t0: jiff::Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
    assert_eq!(
        *at,
        t0 + jiff::SignedDuration::from_secs(1),
        "queued for the free slot"
    );
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(view.status, ExecutionStatus::InProgress, "not done yet");

    w.clock.advance(jiff::SignedDuration::from_secs(1));
    w.trigger
        .run_job(&crate::ports::Job::Batch(rest.clone()), JobDelivery::First)
        .await
        .unwrap();
    let mut sent = w.delivery.calls();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 14, "every member once");
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(view.counts.sent, 14);
    assert_eq!(view.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn a_scheduled_audience_execution_fires_at_its_time_and_a_cancelled_one_never_does() {
    let w = world();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    phone_profile(&w, "+33612345611", json!({})).await;
    let audience = w.audience_of_phones(&["+33612345611"]).await;
    let reply = w
        .audience(json!({"campaignId": campaign, "audience": {"id": audience}, "schedule": {"executeAt": "2026-03-02T13:00:00Z"}}))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["scheduleStatus"], "Scheduled");
    let schedule = body["scheduleId"].as_str().unwrap().to_string();
    let other = w
        .audience(json!({"campaignId": campaign, "audience": {"id": audience}, "schedule": {"executeAt": "2026-03-02T13:00:00Z"}}))
        .await
        .unwrap();
    let other_id = serde_json::from_str::<serde_json::Value>(&other.body).unwrap()["scheduleId"]
        .as_str()
        .unwrap()
        .to_string();
    w.trigger.cancel_schedule(&other_id).await.unwrap();
    assert_eq!(
        w.trigger.fire_due_schedules(10).await.unwrap(),
        0,
        "not yet due"
    );
    w.clock.advance(jiff::SignedDuration::from_hours(1));
    assert_eq!(
        w.trigger.fire_due_schedules(10).await.unwrap(),
        1,
        "the cancelled one does not fire"
    );
    w.run_jobs().await;
    assert_eq!(w.delivery.calls(), vec!["+33612345611"]);
    let s = w.trigger.schedule(&schedule).await.unwrap();
    assert_eq!(s.schedule_status, crate::domain::ScheduleStatus::Triggered);
    assert!(s.execution_details.is_some());
    let err = w.trigger.cancel_schedule(&schedule).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (409, "schedule-not-cancellable")
    );
    assert_eq!(
        w.trigger
            .cancel_schedule("0190d6a2-0000-7000-8000-000000000000")
            .await
            .unwrap_err()
            .code(),
        "schedule-not-found"
    );
}

#[tokio::test]
async fn audience_executions_are_for_marketing_campaigns_with_an_existing_audience() {
    let w = world();
    let transactional = w.reset_email().await;
    let err = w
        .audience(json!({"campaignId": transactional}))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (400, "wrong-execution-kind"));
    let marketing = marketing_sms(&w, json!({"name": "R"})).await;
    let err = w
        .audience(json!({"campaignId": marketing}))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "invalid-request",
        "no audience named and none on the campaign"
    );
    let err = w.audience(json!({"campaignId": marketing, "audience": {"id": "0190d6a2-0000-7000-8000-000000000000"}})).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (404, "audience-not-found"));
}

#[tokio::test]
async fn transactional_outcomes_are_posted_to_the_feedback_webhook_and_failures_retried() {
    let w = world();
    let spec: crate::domain::webhook::WebhookSpec = serde_json::from_value(
        json!({"url": "https://hooks.example.com/herald", "secret": "0123456789abcdef"}),
    )
    .unwrap();
    w.admin.put_feedback_webhook(spec, None).await.unwrap();
    let campaign = w.reset_email().await;
    let reply = w
        .unitary(
            json!({"requestId": "wh", "campaignId": campaign, "recipients": [
            {"type": "external", "namespace": "email", "userId": "ok@example.com"},
            {"type": "external", "namespace": "email", "userId": "not-an-email"}]}),
        )
        .await
        .unwrap();
    let jobs = w.queue.drain();
    assert_eq!(jobs.len(), 2, "one event per message outcome");
    // The receiver fails once: the job errors (the queue retries it), and the failure is counted.
    w.delivery.webhook_script.lock().unwrap().push_back(500);
    let first = w.trigger.run_job(&jobs[0], JobDelivery::First).await;
    assert_eq!(first.unwrap_err().code(), "webhook-failed");
    for job in &jobs {
        w.trigger.run_job(job, JobDelivery::First).await.unwrap();
    }
    let posted = w.delivery.webhooks.lock().unwrap().clone();
    assert_eq!(posted.len(), 3);
    let outcomes: Vec<String> = posted[1..]
        .iter()
        .map(|(url, body)| {
            assert_eq!(url, "https://hooks.example.com/herald");
            serde_json::from_str::<serde_json::Value>(body).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut outcomes = outcomes;
    outcomes.sort();
    assert_eq!(outcomes, vec!["excluded", "sent"]);
    let view = w.view(&reply).await;
    assert_eq!(
        (view.counts.webhook_delivered, view.counts.webhook_failures),
        (2, 1)
    );
}

#[tokio::test]
async fn marketing_outcomes_are_not_posted_to_the_feedback_webhook() {
    let w = world();
    let spec: crate::domain::webhook::WebhookSpec = serde_json::from_value(
        json!({"url": "https://hooks.example.com/herald", "secret": "0123456789abcdef"}),
    )
    .unwrap();
    w.admin.put_feedback_webhook(spec, None).await.unwrap();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    w.unitary(
        json!({"requestId": "m", "campaignId": campaign, "recipients": [
        {"type": "external", "namespace": "phone", "userId": "+33612345670"}]}),
    )
    .await
    .unwrap();
    assert!(w.queue.drain().is_empty());
}

#[tokio::test]
async fn a_live_campaign_past_its_end_is_refused_as_outside_its_schedule() {
    let w = world();
    let cfg = w
        .config(json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com"}}))
        .await;
    let campaign = w
        .live_campaign(json!({"name": "Window", "type": "transactional", "channel": "email", "channelConfigId": cfg,
                              "schedule": {"endAt": "2026-03-02T13:00:00Z"},
                              "content": {"email": {"subject": "s", "html": "h"}}}))
        .await;
    w.clock.advance(jiff::SignedDuration::from_hours(2));
    let err = w
        .unitary(
            json!({"requestId": "late", "campaignId": campaign, "recipients": [
            {"type": "external", "namespace": "email", "userId": "a@example.com"}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (409, "campaign-outside-schedule")
    );
}

#[tokio::test]
async fn an_unknown_aep_recipient_gets_a_profile_only_when_the_campaign_creates_profiles() {
    let w = world();
    let cfg = w
        .config(json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com"}}))
        .await;
    let creating = w
        .live_campaign(json!({"name": "Welcome", "type": "transactional", "channel": "email", "channelConfigId": cfg,
                              "createProfiles": true, "content": {"email": {"subject": "Welcome", "html": "<p>Hi</p>"}}}))
        .await;
    let r = w.unitary(json!({"requestId": "c1", "campaignId": creating, "recipients": [aep("new@example.com")]})).await.unwrap();
    assert_eq!(w.messages(&r).await[0].outcome, OutcomeKind::Sent);
    assert!(
        w.admin
            .find_profile("email", "new@example.com")
            .await
            .is_ok(),
        "the profile was created"
    );
    let plain = w.reset_email().await;
    let r = w.unitary(json!({"requestId": "c2", "campaignId": plain, "recipients": [aep("other@example.com")]})).await.unwrap();
    assert_eq!(w.messages(&r).await[0].reason.as_deref(), Some("NoProfile"));
    assert!(
        w.admin
            .find_profile("email", "other@example.com")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_render_error_excludes_the_recipient_with_the_reason_and_never_sends_half_a_message() {
    let w = world();
    let cfg = w
        .config(json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com"}}))
        .await;
    let campaign = w
        .live_campaign(json!({"name": "Dated", "type": "transactional", "channel": "email", "channelConfigId": cfg,
                              "content": {"email": {"subject": "On {{formatDate context.when \"%Y-%m-%d\"}}", "html": "<p>x</p>"}}}))
        .await;
    let r = w
        .unitary(json!({"requestId": "r", "campaignId": campaign, "recipients": [
            {"type": "external", "namespace": "email", "userId": "ok@example.com", "context": {"when": "2026-05-01T10:00:00Z"}},
            {"type": "external", "namespace": "email", "userId": "bad@example.com", "context": {"when": "yesterday"}}]}))
        .await
        .unwrap();
    let mut m = w.messages(&r).await;
    m.sort_by(|a, b| a.recipient.user_id.cmp(&b.recipient.user_id));
    assert_eq!(
        (m[0].outcome, m[0].reason.as_deref()),
        (OutcomeKind::Excluded, Some("RenderError"))
    );
    assert!(
        m[0].detail.as_deref().unwrap_or("").contains("subject"),
        "{:?}",
        m[0].detail
    );
    assert_eq!(m[1].outcome, OutcomeKind::Sent);
    let sent = w.delivery.emails.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].content.subject, "On 2026-05-01");
}

#[tokio::test]
async fn the_tick_moves_campaigns_along_their_schedule_once() {
    let w = world();
    let cfg = w
        .config(json!({"name": "Mail", "category": "transactional", "email": {"fromAddress": "no-reply@example.com"}}))
        .await;
    let spec: CampaignSpec = serde_json::from_value(json!({"name": "Later", "type": "transactional", "channel": "email",
        "channelConfigId": cfg, "schedule": {"startAt": "2026-03-02T13:00:00Z", "endAt": "2026-03-02T15:00:00Z"},
        "content": {"email": {"subject": "s", "html": "h"}}}))
    .unwrap();
    let c = w.admin.create_campaign(spec).await.unwrap();
    let id = c.campaign.id;
    assert_eq!(
        w.admin
            .activate_campaign(id, None)
            .await
            .unwrap()
            .campaign
            .status,
        crate::domain::CampaignStatus::Scheduled
    );
    assert_eq!(w.trigger.tick().await.unwrap().campaigns_advanced, 0);
    w.clock.advance(jiff::SignedDuration::from_hours(1));
    assert_eq!(w.trigger.tick().await.unwrap().campaigns_advanced, 1);
    assert_eq!(
        w.trigger.tick().await.unwrap().campaigns_advanced,
        0,
        "a repeated tick changes nothing"
    );
    assert_eq!(
        w.admin.get_campaign(id).await.unwrap().campaign.status,
        crate::domain::CampaignStatus::Live
    );
    w.clock.advance(jiff::SignedDuration::from_hours(2));
    w.trigger.tick().await.unwrap();
    assert_eq!(
        w.admin.get_campaign(id).await.unwrap().campaign.status,
        crate::domain::CampaignStatus::Completed
    );
}

#[tokio::test]
async fn the_tick_deletes_acceptance_records_once_they_expire() {
    let w = world();
    let campaign = w.reset_email().await;
    w.profile("ann@example.com", json!({})).await;
    let request = json!({"requestId": "r-kept", "campaignId": campaign, "recipients": [aep("ann@example.com")]});
    let first = w.unitary(request.clone()).await.unwrap();
    assert_eq!(
        w.trigger.tick().await.unwrap().expired_purged,
        0,
        "a live record is kept"
    );
    w.clock
        .advance(TriggerConfig::default().acceptance_ttl - SignedDuration::from_secs(1));
    assert_eq!(w.trigger.tick().await.unwrap().expired_purged, 0);
    let replayed = w.unitary(request.clone()).await.unwrap();
    assert!(replayed.replayed, "within its window the request replays");
    assert_eq!(replayed.body, first.body);
    w.clock.advance(SignedDuration::from_secs(1));
    assert_eq!(w.trigger.tick().await.unwrap().expired_purged, 1);
    assert_eq!(w.trigger.tick().await.unwrap().expired_purged, 0);
}

#[tokio::test]
async fn a_unitary_execution_is_written_once_and_a_resumed_attempt_keeps_the_record_it_finds() {
    let w = world();
    let campaign = w.reset_email().await;
    w.profile("ann@example.com", json!({})).await;
    w.profile("bob@example.com", json!({})).await;
    // Written once, at the end, `Succeeded`.
    let reply = w
        .unitary(json!({"requestId": "r-once", "campaignId": campaign, "recipients": [aep("ann@example.com")]}))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let eid: ExecutionId = body["executionId"].as_str().unwrap().parse().unwrap();
    let stored = w.trigger.store().get_execution(eid).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.revision),
        (ExecutionStatus::Succeeded, 1)
    );

    // An attempt that died after writing its execution `InProgress` (as Herald did before it
    // wrote executions once): the retry takes the lease over, resumes that execution, closes
    // it and answers with its creation time.
    let request = json!({"requestId": "r-legacy", "campaignId": campaign, "recipients": [aep("bob@example.com")]});
    let parsed: UnitaryRequest = serde_json::from_value(request.clone()).unwrap();
    let cid: CampaignId = campaign.parse().unwrap();
    let key = RequestKey {
        campaign_id: cid,
        request_id: "r-legacy".into(),
    };
    let before = crate::ports::Clock::now(&w.clock);
    let legacy = ExecutionId::new();
    let begun = w
        .trigger
        .store()
        .begin_request(
            &key,
            &body_hash(&parsed),
            legacy,
            before,
            before,
            before
                .saturating_add(SignedDuration::from_hours(24))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        begun,
        Begin::Started {
            execution_id: legacy
        }
    );
    let live = w.trigger.store().get_campaign(cid).await.unwrap().unwrap();
    w.trigger
        .store()
        .insert_execution(&Execution {
            id: legacy,
            kind: ExecutionKind::Unitary,
            campaign_id: cid,
            campaign_version: live.live_version.unwrap(),
            request_id: "r-legacy".into(),
            audience_id: None,
            status: ExecutionStatus::InProgress,
            context: serde_json::Value::Null,
            created_at: before,
            created_by: "herald".into(),
            modified_at: before,
            plan_cursor: None,
            revision: 1,
        })
        .await
        .unwrap();
    w.clock.advance(SignedDuration::from_secs(5));
    let reply = w.unitary(request.clone()).await.unwrap();
    assert_eq!(reply.status, 202);
    let again = w.unitary(request).await.unwrap();
    assert!(
        again.replayed,
        "the step-by-step path completed the request too"
    );
    assert_eq!(again.body, reply.body);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["executionId"], json!(legacy.to_string()));
    assert_eq!(body["createdAt"], json!(before.to_string()));
    let stored = w
        .trigger
        .store()
        .get_execution(legacy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.revision),
        (ExecutionStatus::Succeeded, 2)
    );
    assert_eq!(w.delivery.calls(), ["ann@example.com", "bob@example.com"]);
}

/// Makes every SMS send take far longer than `cut`, runs `attempt` for `cut` and drops it
/// there, as a crash or a timeout would stop it, then makes sends instant again.
async fn cut_short<T>(w: &World, attempt: impl std::future::Future<Output = T>) {
    *w.delivery.sms_latency.lock().unwrap() = Some(std::time::Duration::from_secs(3600));
    let cut = tokio::time::timeout(std::time::Duration::from_millis(200), attempt).await;
    assert!(
        cut.is_err(),
        "the attempt was still sending when it was cut"
    );
    *w.delivery.sms_latency.lock().unwrap() = None;
}

/// The `(outcome, reason)` of every message of an execution.
async fn outcomes(w: &World, execution: &str) -> Vec<(OutcomeKind, Option<String>)> {
    w.trigger
        .messages(execution, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| (m.outcome, m.reason))
        .collect()
}

/// SMS sends begun, the cut ones included.
fn sends_begun(w: &World) -> usize {
    w.delivery.sms_started.lock().unwrap().len()
}

fn interrupted() -> (OutcomeKind, Option<String>) {
    (OutcomeKind::Unknown, Some("Interrupted".into()))
}

#[tokio::test]
async fn a_batch_delivered_again_records_the_claims_its_cut_delivery_left_as_interrupted() {
    let w = world();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    let audience = phone_audience(&w, 3).await;
    let (execution, mut batches) = w.planned(&campaign, &audience).await;
    let batch = batches.remove(0);

    cut_short(&w, w.trigger.run_job(&batch, JobDelivery::First)).await;
    assert_eq!(
        outcomes(&w, &execution).await,
        vec![(OutcomeKind::Pending, None); 3]
    );
    assert_eq!(
        w.trigger.execution(&execution).await.unwrap().status,
        ExecutionStatus::InProgress
    );

    // Handed out again, the batch takes its earlier delivery for gone: its claims are
    // interrupted, unknown and counted, and never sent again.
    w.trigger.run_job(&batch, JobDelivery::Again).await.unwrap();
    assert_eq!(outcomes(&w, &execution).await, vec![interrupted(); 3]);
    assert_eq!(sends_begun(&w), 3, "the cut delivery's calls only");
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(
        (view.counts.targeted, view.counts.unknown, view.counts.sent),
        (3, 3, 0)
    );
    assert_eq!(view.status, ExecutionStatus::Succeeded);
    // A further delivery finds them settled and counts nothing.
    w.trigger.run_job(&batch, JobDelivery::Again).await.unwrap();
    assert_eq!(
        w.trigger
            .execution(&execution)
            .await
            .unwrap()
            .counts
            .unknown,
        3
    );
}

#[tokio::test]
async fn a_request_taken_over_records_the_claim_its_cut_attempt_left_as_interrupted() {
    let w = world();
    let campaign = marketing_sms(&w, json!({"name": "R"})).await;
    phone_profile(
        &w,
        "+33612345678",
        json!({"attributes": {"firstName": "Ann"}}),
    )
    .await;
    phone_profile(&w, "+33612345679", json!({"consent": {"sms": "out"}})).await;
    let request = json!({"requestId": "cut", "campaignId": campaign,
                         "recipients": [phone("+33612345678"), phone("+33612345679")]});
    cut_short(&w, w.unitary(request.clone())).await;
    let err = w.unitary(request.clone()).await.unwrap_err();
    assert_eq!(err.code(), "request-in-flight");

    // After the lease the retry takes the request over: its first attempt is gone.
    w.clock.advance(TriggerConfig::default().lease);
    let reply = w.unitary(request.clone()).await.unwrap();
    assert_eq!(reply.status, 202);
    let mut got: Vec<_> = w
        .messages(&reply)
        .await
        .into_iter()
        .map(|m| (m.recipient.user_id, m.outcome, m.reason))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (
                "+33612345678".to_string(),
                OutcomeKind::Unknown,
                Some("Interrupted".to_string())
            ),
            (
                "+33612345679".to_string(),
                OutcomeKind::Excluded,
                Some("ConsentOut".to_string())
            ),
        ]
    );
    assert_eq!(sends_begun(&w), 1, "not sent again");
    let view = w.view(&reply).await;
    assert_eq!(
        (
            view.counts.targeted,
            view.counts.unknown,
            view.counts.excluded
        ),
        (2, 1, 1)
    );
    assert_eq!(view.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn a_release_cut_short_keeps_its_hold_until_the_claim_times_out_then_is_interrupted() {
    let w = world();
    let reply = held_in_tokyo(&w).await;
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let execution = body["executionId"].as_str().unwrap().to_string();
    assert_eq!(
        outcomes(&w, &execution).await,
        [(OutcomeKind::Queued, Some("QuietHours".into()))]
    );
    // 08:00 in Tokyo: the tick releases it, and is cut while sending.
    w.clock.set("2026-03-02T23:00:00Z".parse().unwrap());
    cut_short(&w, w.trigger.tick()).await;
    assert_eq!(outcomes(&w, &execution).await[0].0, OutcomeKind::Pending);
    let due = |w: &World| {
        let now = crate::ports::Clock::now(&w.clock);
        let store = w.trigger.store().clone();
        async move {
            crate::ports::HoldStore::due_held(&store, now, 10)
                .await
                .unwrap()
                .len()
        }
    };

    // The next tick leaves a recent claim to its claimer, and keeps the hold.
    assert_eq!(w.trigger.tick().await.unwrap().messages_released, 0);
    assert_eq!(due(&w).await, 1);
    assert_eq!(outcomes(&w, &execution).await[0].0, OutcomeKind::Pending);

    w.clock.advance(pipeline::CLAIM_TIMEOUT);
    assert_eq!(w.trigger.tick().await.unwrap().messages_released, 1);
    assert_eq!(due(&w).await, 0);
    assert_eq!(outcomes(&w, &execution).await, [interrupted()]);
    assert_eq!(sends_begun(&w), 1, "not sent again");
    let view = w.trigger.execution(&execution).await.unwrap();
    assert_eq!(
        (
            view.counts.targeted,
            view.counts.queued,
            view.counts.unknown
        ),
        (1, 0, 1),
        "out of queued, into unknown"
    );
}
