//! The system under measurement, built once: Herald's `TriggerService` and `AdminService` over
//! a `DynamoStore` whose client the [`Meter`] watches, on a fresh table made from
//! `template.yaml`'s `HeraldTable`; the discard delivery sink; an in-memory queue that counts
//! the SQS requests the same jobs would make; a fixed clock (a Monday noon UTC, outside the
//! quiet hours of the fixtures' marketing rule set).
//!
//! Setup (profiles, audience, campaigns) runs on the same metered client; the runs count only
//! what happens after their own snapshot of the meter.

use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt};
use herald_core::adapters::discard::Discard;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::memory_queue::MemoryQueue;
use herald_core::domain::profile::ProfileUpdate;
use herald_core::domain::{
    AudienceId, CampaignId, CampaignSpec, ChannelConfig, ChannelConfigSpec, Identity, ProfileId,
    RuleSet, RuleSetSpec,
};
use herald_core::ports::{FixedClock, Job, Queue, StoreResult};
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService, MembersRequest, ServiceError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::meter::Meter;
use crate::fixtures;

/// Entries of one `SendMessageBatch` call (what `SqsQueue` sends).
pub const SQS_SEND_BATCH: usize = 10;
/// SQS bills each 64 KB chunk of a request as one request.
pub const SQS_CHUNK_BYTES: usize = 64 * 1024;
/// Profiles written at once during setup.
const SETUP_CONCURRENCY: usize = 16;
/// Members per `add_audience_members` call.
const MEMBERS_PER_CALL: usize = 10_000;

pub type Clock = Arc<FixedClock>;
pub type Trigger = TriggerService<DynamoStore, Discard, CountingQueue, Clock>;

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("setup failed: {what}")]
    Setup {
        what: String,
        #[source]
        source: ServiceError,
    },
    #[error("the fixture {what} is not valid")]
    Fixture {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("a trigger was refused")]
    Trigger(#[from] herald_core::service::trigger::TriggerError),
    #[error("{0}")]
    Check(String),
}

/// A fixture (JSON in the admin API's shape) as the type it stands for.
pub(crate) fn parse<T: DeserializeOwned>(what: &'static str, v: Value) -> Result<T, RunError> {
    serde_json::from_value(v).map_err(|source| RunError::Fixture { what, source })
}

fn setup(what: impl Into<String>) -> impl FnOnce(ServiceError) -> RunError {
    let what = what.into();
    move |source| RunError::Setup { what, source }
}

/// SQS requests the queued jobs would cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub jobs: u64,
    /// `SendMessageBatch` calls, each 64 KB chunk counted as one request.
    pub send_requests: u64,
}

/// The in-memory queue, counting what `SqsQueue` would send for the same jobs.
#[derive(Clone, Debug, Default)]
pub struct CountingQueue {
    jobs: MemoryQueue,
    stats: Arc<Mutex<QueueStats>>,
}

impl CountingQueue {
    pub fn drain(&self) -> Vec<Job> {
        self.jobs.drain()
    }

    pub fn stats(&self) -> QueueStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CountingQueue {
    fn count(&self, jobs: &[Job]) {
        let requests: u64 = jobs
            .chunks(SQS_SEND_BATCH)
            .map(|chunk| {
                let bytes: usize = chunk
                    .iter()
                    .map(|j| serde_json::to_string(j).map_or(0, |s| s.len()))
                    .sum();
                bytes.div_ceil(SQS_CHUNK_BYTES).max(1) as u64
            })
            .sum();
        {
            let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.jobs += jobs.len() as u64;
            s.send_requests += requests;
        }
    }
}

impl Queue for CountingQueue {
    async fn enqueue(&self, jobs: &[Job]) -> StoreResult<()> {
        self.count(jobs);
        self.jobs.enqueue(jobs).await
    }

    async fn enqueue_at(
        &self,
        jobs: &[Job],
        now: jiff::Timestamp,
        at: jiff::Timestamp,
    ) -> StoreResult<()> {
        self.count(jobs);
        self.jobs.enqueue_at(jobs, now, at).await
    }
}

/// The marketing email: a spring sale to newsletter subscribers (one-click unsubscribe).
pub fn marketing_email_campaign(channel_config_id: &str, rule_set_id: Option<&str>) -> Value {
    let mut body = json!({
        "name": "Spring sale newsletter",
        "tags": ["promotions", "benchmark"],
        "type": "marketing",
        "channel": "email",
        "channelConfigId": channel_config_id,
        "content": {"email": {
            "subject": "{{profile.firstName}}, {{context.discountPercent}}% off {{profile.favoriteCategory}} until {{context.endsOn}}",
            "preheader": "Code {{context.promoCode}} inside",
            "html": MARKETING_HTML,
        }}
    });
    if let (Some(id), Some(map)) = (rule_set_id, body.as_object_mut()) {
        map.insert("ruleSetId".into(), json!(id));
    }
    body
}

const MARKETING_HTML: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Spring sale</title>
<style>body{margin:0;background:#f4f4f7;font-family:Helvetica,Arial,sans-serif;color:#33334d}
.card{max-width:600px;margin:24px auto;background:#fff;border-radius:8px;padding:24px 32px}
.button{display:inline-block;background:#3869d4;color:#fff;text-decoration:none;padding:12px 24px;border-radius:6px}
.footer{font-size:12px;color:#8a8aa3}</style></head>
<body><div class="card">
<h1>{{context.discountPercent}}% off {{profile.favoriteCategory}}</h1>
<p>Hi {{profile.firstName}},</p>
<p>Spring is here and so is our sale: {{context.discountPercent}}% off everything in
{{profile.favoriteCategory}} until {{context.endsOn}} with the code <strong>{{context.promoCode}}</strong>.</p>
{{#if profile.vip}}<p>As a VIP you also get free express delivery.</p>{{/if}}
<p>Your {{profile.tier}} balance: {{profile.points}} points.</p>
<p style="text-align:center"><a class="button" href="https://shop.example.com/sale?code={{context.promoCode}}">Shop the sale</a></p>
<p class="footer">Example Shop Ltd, 1 Market Street, London EC1A 1AA, United Kingdom.
You receive this email because you subscribed to our newsletter.
<a href="{{unsubscribeUrl}}">Unsubscribe</a></p>
</div></body></html>
"#;

/// Everything the runs need, built once.
pub struct World {
    pub meter: Meter,
    client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub admin: AdminService<DynamoStore, Clock>,
    pub trigger: Trigger,
    pub queue: CountingQueue,
    pub delivery: Discard,
    pub clock: Clock,
    /// Fixture profile `i` is `profiles[i]`.
    pub profiles: Vec<ProfileId>,
}

impl World {
    /// A fresh table on the DynamoDB Local at `endpoint`, with `profiles` fixture profiles.
    pub async fn new(endpoint: &str, profiles: usize) -> Result<World, RunError> {
        let meter = Meter::new();
        let client = meter.client(endpoint).await;
        let table = herald_tests::dynamo_local::fresh_table(&client).await;
        let store = DynamoStore::new(client.clone(), table.clone());
        let now = fixtures::FIXED_NOW
            .parse()
            .map_err(|e| RunError::Check(format!("fixtures::FIXED_NOW: {e}")))?;
        let clock: Clock = Arc::new(FixedClock::new(now));
        let queue = CountingQueue::default();
        let delivery = Discard::new();
        let trigger = TriggerService::new(
            store.clone(),
            delivery.clone(),
            queue.clone(),
            clock.clone(),
            Arc::new(TemplateCache::new(16)),
            TriggerConfig::default(),
        );
        let admin = AdminService::new(store, clock.clone(), AdminConfig::default());
        let mut world = World {
            meter,
            client,
            table,
            admin,
            trigger,
            queue,
            delivery,
            clock,
            profiles: vec![],
        };
        world.profiles = world.create_profiles(profiles).await?;
        Ok(world)
    }

    /// Deletes the table (after the runs: it only takes DynamoDB Local's memory).
    pub async fn drop_table(&self) -> Result<(), RunError> {
        self.client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                RunError::Check(format!(
                    "DeleteTable {}: {}",
                    self.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            })
    }

    async fn create_profiles(&self, n: usize) -> Result<Vec<ProfileId>, RunError> {
        let admin = &self.admin;
        let results: Vec<Result<(usize, ProfileId), RunError>> = stream::iter(0..n)
            .map(|i| async move {
                let email = fixtures::email_of(i);
                let key = Identity::parse("email", &email)
                    .map_err(|e| RunError::Check(format!("{email}: {}", e.message)))?;
                let update: ProfileUpdate = parse("profile", fixtures::profile(i))?;
                let (profile, _) = admin
                    .upsert_profile(&key, &update)
                    .await
                    .map_err(setup(format!("profile {email}")))?;
                Ok((i, profile.id))
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        let mut pairs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        pairs.sort_by_key(|(i, _)| *i);
        Ok(pairs.into_iter().map(|(_, id)| id).collect())
    }

    async fn channel_config(&self, spec: Value) -> Result<String, RunError> {
        let spec: ChannelConfigSpec = parse("channel configuration", spec)?;
        let c: ChannelConfig = self
            .admin
            .create_managed(spec)
            .await
            .map_err(setup("channel configuration"))?;
        Ok(c.id.to_string())
    }

    async fn live(&self, spec: Value) -> Result<CampaignId, RunError> {
        let spec: CampaignSpec = parse("campaign", spec)?;
        let draft = self
            .admin
            .create_campaign(spec)
            .await
            .map_err(setup("campaign"))?;
        let live = self
            .admin
            .activate_campaign(draft.campaign.id, None)
            .await
            .map_err(setup("campaign activation"))?;
        Ok(live.campaign.id)
    }

    /// The fixtures' transactional order-confirmation email, live.
    pub async fn transactional_email(&self) -> Result<CampaignId, RunError> {
        let cfg = self
            .channel_config(fixtures::email_channel_config())
            .await?;
        self.live(fixtures::email_campaign(&cfg)).await
    }

    /// The marketing newsletter email, live; under the fixtures' marketing rule set (a weekly
    /// cap across channels applies to email; quiet hours are not in force at the fixed time)
    /// when `with_rules`.
    pub async fn marketing_email(&self, with_rules: bool) -> Result<CampaignId, RunError> {
        let cfg = self
            .channel_config(json!({
                "name": "Shop newsletter",
                "category": "marketing",
                "email": {
                    "fromAddress": "news@shop.example.com",
                    "fromName": "Example Shop",
                    "configurationSet": "herald-events"
                }
            }))
            .await?;
        let rule_set = if with_rules {
            let spec: RuleSetSpec = parse("rule set", fixtures::marketing_rule_set())?;
            let r: RuleSet = self
                .admin
                .create_managed(spec)
                .await
                .map_err(setup("rule set"))?;
            Some(r.id.to_string())
        } else {
            None
        };
        self.live(marketing_email_campaign(&cfg, rule_set.as_deref()))
            .await
    }

    /// A static audience of the first `n` fixture profiles.
    pub async fn audience(&self, n: usize) -> Result<AudienceId, RunError> {
        let view = self
            .admin
            .create_audience(parse(
                "audience",
                json!({"name": "Newsletter subscribers", "kind": "static"}),
            )?)
            .await
            .map_err(setup("audience"))?;
        let id = view.audience.id;
        for chunk in self.profiles[..n.min(self.profiles.len())].chunks(MEMBERS_PER_CALL) {
            let req = MembersRequest {
                profile_ids: chunk.to_vec(),
                identities: vec![],
            };
            self.admin
                .add_audience_members(id, &req)
                .await
                .map_err(setup("audience members"))?;
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use herald_core::domain::ExecutionId;

    use super::*;

    #[tokio::test]
    async fn queued_jobs_cost_one_send_request_per_ten() {
        let queue = CountingQueue::default();
        let jobs: Vec<Job> = (0..25)
            .map(|_| Job::Plan {
                execution_id: ExecutionId::new(),
            })
            .collect();
        queue.enqueue(&jobs).await.unwrap();
        queue.enqueue(&jobs[..1]).await.unwrap();
        assert_eq!(
            queue.stats(),
            QueueStats {
                jobs: 26,
                send_requests: 4
            }
        );
        assert_eq!(queue.drain().len(), 26);
    }
}
