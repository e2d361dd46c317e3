//! The trigger use cases: accept a trigger exactly once, run each recipient through the
//! eligibility pipeline (`pipeline`), deliver, and record every outcome.
//!
//! Acceptance (DESIGN §3): a trigger is accepted once per `(campaignId, requestId)` for 24 h. A
//! retry of a completed request replays the first response byte for byte; a duplicate while
//! the first is in flight gets 409 with `Retry-After`; the same requestId with another body gets
//! 422. A crashed attempt leaves its lease to expire; the retry after it takes the request over
//! and resumes the same execution, and the deterministic message ids make sure nobody is sent
//! twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::execution::CountScope;
use crate::domain::trigger::UnitaryRequest;
use crate::domain::{
    Campaign, CampaignId, CampaignStatus, CampaignType, CampaignVersion, ChannelConfig, CountDelta,
    Execution, ExecutionId, ExecutionKind, ExecutionStatus, MessageRecord, OutcomeCounts,
    RecipientWork, RuleSet, ValidationErrors,
};
use crate::ports::{
    Begin, Clock, Delivery, ExecutionStores, Page, PageRequest, Queue, RequestKey, Store,
    StoreError, StoredResponse,
};
use crate::render::{CompiledCampaign, TemplateCache};
use pipeline::Fresh;

mod address;
pub mod audience;
pub mod feedback;
mod pipeline;
pub mod scheduler;
pub mod unsubscribe;
pub mod webhook;

pub use pipeline::CLAIM_TIMEOUT;

/// Deployment settings of the trigger side.
#[derive(Clone, Debug)]
pub struct TriggerConfig {
    /// Who executions are created by (AJO `createdBy`).
    pub created_by: String,
    /// Base URL of Herald's public routes: unsubscribe links are `{base}/u/{token}`.
    pub public_base_url: String,
    /// HMAC key of unsubscribe tokens. Keep it stable: links already sent stop working when
    /// it changes.
    pub unsubscribe_secret: Arc<[u8]>,
    /// SES configuration set for email whose channel configuration names none (the deployment's
    /// set, whose events feed the feedback function).
    pub default_configuration_set: Option<String>,
    /// Marketing messages to profiles that never gave or refused consent: send (AJO's default)
    /// or exclude `ConsentMissing`.
    pub require_consent: bool,
    /// How long an acceptance is remembered.
    pub acceptance_ttl: SignedDuration,
    /// How long an in-flight attempt owns its request before a retry may take it over.
    pub lease: SignedDuration,
    /// Provider throttling: attempts before a message is held for a later retry, and the first
    /// back-off (doubled each attempt).
    pub throttle_attempts: u32,
    pub throttle_backoff: Duration,
    /// Recipients of one call, or members of one audience batch, processed at once.
    pub concurrency: usize,
    /// How long an audience batch of a campaign with a `rateLimit` may wait for its send
    /// slots. Members whose slot would come later go back to the queue for then, so a batch
    /// ends well within the dispatcher's timeout (and `herald serve`'s job lease) however many
    /// batches share the rate.
    pub pace_wait: SignedDuration,
}

impl Default for TriggerConfig {
    /// Defaults for tests and local use; the unsubscribe secret is random per process, so
    /// deployments set their own ([`TriggerConfig::unsubscribe_secret`]).
    fn default() -> Self {
        let mut secret = [0u8; 32];
        // Without an OS random source the all-zero key still works, it is just guessable.
        let _ = getrandom::fill(&mut secret);
        Self {
            created_by: "herald".into(),
            public_base_url: "http://127.0.0.1:3000".into(),
            unsubscribe_secret: Arc::from(secret.to_vec()),
            default_configuration_set: None,
            require_consent: false,
            acceptance_ttl: SignedDuration::from_hours(24),
            lease: SignedDuration::from_secs(60),
            throttle_attempts: 5,
            throttle_backoff: Duration::from_millis(200),
            concurrency: 8,
            pace_wait: SignedDuration::from_secs(20),
        }
    }
}

impl TriggerConfig {
    /// The configuration of a deployed function, from its environment: `HERALD_UNSUBSCRIBE_SECRET`
    /// (required), `HERALD_PUBLIC_URL`, `HERALD_REQUIRE_CONSENT` (`true`/`1`) and
    /// `HERALD_SES_CONFIGURATION_SET`; everything else at its default.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let secret = var("HERALD_UNSUBSCRIBE_SECRET")
            .ok_or("HERALD_UNSUBSCRIBE_SECRET is not set: it signs the unsubscribe links of marketing email")?;
        Ok(Self {
            public_base_url: var("HERALD_PUBLIC_URL").unwrap_or_default(),
            unsubscribe_secret: Arc::from(secret.into_bytes()),
            require_consent: var("HERALD_REQUIRE_CONSENT").is_some_and(|v| v == "true" || v == "1"),
            default_configuration_set: var("HERALD_SES_CONFIGURATION_SET"),
            ..Self::default()
        })
    }
}

/// Why a trigger was not accepted. Each has a stable code and an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    #[error("campaign {0} does not exist")]
    CampaignNotFound(String),
    #[error("campaign {id} is {status}, not live; activate it first")]
    CampaignNotLive {
        id: CampaignId,
        status: CampaignStatus,
    },
    #[error("campaign {id} runs {window}; it cannot be triggered now")]
    OutsideSchedule { id: CampaignId, window: String },
    #[error("{0}")]
    WrongKind(String),
    #[error("request {request_id} is being processed; retry after {retry_after_secs} s")]
    InFlight {
        request_id: String,
        retry_after_secs: u64,
    },
    #[error(
        "request {0} was already accepted with a different body; use a new requestId for a new trigger"
    )]
    BodyMismatch(String),
    #[error("execution {0} does not exist")]
    ExecutionNotFound(String),
    #[error("audience {0} does not exist")]
    AudienceNotFound(String),
    #[error("{0}")]
    BadToken(crate::domain::unsubscribe::TokenError),
    #[error("schedule {0} does not exist")]
    ScheduleNotFound(String),
    #[error("schedule {id} is {status:?}; only a schedule that has not fired can be cancelled")]
    ScheduleNotCancellable {
        id: crate::domain::ScheduleId,
        status: crate::domain::ScheduleStatus,
    },
    #[error("{0}")]
    Webhook(#[from] crate::ports::WebhookError),
    #[error("{}", match .0 { StoreError::InvalidCursor(m) => m.as_str(), _ => "storage failed" })]
    Store(#[from] StoreError),
}

impl TriggerError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::CampaignNotFound(_) => "campaign-not-found",
            Self::CampaignNotLive { .. } => "campaign-not-live",
            Self::OutsideSchedule { .. } => "campaign-outside-schedule",
            Self::WrongKind(_) => "wrong-execution-kind",
            Self::InFlight { .. } => "request-in-flight",
            Self::BodyMismatch(_) => "request-id-reused",
            Self::ExecutionNotFound(_) => "execution-not-found",
            Self::AudienceNotFound(_) => "audience-not-found",
            Self::BadToken(_) => "invalid-unsubscribe-link",
            Self::ScheduleNotFound(_) => "schedule-not-found",
            Self::ScheduleNotCancellable { .. } => "schedule-not-cancellable",
            Self::Webhook(_) => "webhook-failed",
            Self::Store(StoreError::InvalidCursor(_)) => "invalid-cursor",
            Self::Store(_) => "internal-error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::WrongKind(_) | Self::BadToken(_) => 400,
            Self::CampaignNotFound(_)
            | Self::ExecutionNotFound(_)
            | Self::AudienceNotFound(_)
            | Self::ScheduleNotFound(_) => 404,
            Self::ScheduleNotCancellable { .. } => 409,
            Self::CampaignNotLive { .. } | Self::OutsideSchedule { .. } | Self::InFlight { .. } => {
                409
            }
            Self::BodyMismatch(_) => 422,
            Self::Webhook(_) => 502,
            Self::Store(StoreError::InvalidCursor(_)) => 400,
            Self::Store(_) => 500,
        }
    }
}

/// The answer to a trigger: the status and exact body to send, and whether it is a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerReply {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

/// AJO's execution response.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResponse {
    pub execution_id: ExecutionId,
    pub request_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    pub created_by: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub modified_at: Timestamp,
    pub modified_by: String,
}

/// An execution with its live counts (Herald's `GET` views).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    pub kind: ExecutionKind,
    pub request_id: String,
    pub status: ExecutionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<crate::domain::AudienceId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub modified_at: Timestamp,
    pub counts: OutcomeCounts,
}

/// Everything the pipeline needs about the campaign version being executed, loaded once per
/// execution.
pub(crate) struct CampaignCtx {
    pub campaign: Campaign,
    pub version: Arc<CampaignVersion>,
    pub compiled: Arc<CompiledCampaign>,
    pub channel_config: Option<ChannelConfig>,
    pub rule_set: Option<RuleSet>,
    pub campaign_data: serde_json::Value,
    /// Transactional campaigns: the enabled feedback webhook, if one is configured.
    pub webhook: Option<crate::domain::webhook::Webhook>,
}

/// What [`TriggerService::process_all`] did: a record per recipient it ran, in order, and the
/// recipients its pace deferred.
pub(crate) struct Processed<'w> {
    pub records: Vec<MessageRecord>,
    pub deferred: Vec<&'w RecipientWork>,
}

pub struct TriggerService<S, D, Q, C> {
    store: S,
    delivery: D,
    queue: Q,
    clock: C,
    templates: Arc<TemplateCache>,
    versions: VersionCache,
    config: TriggerConfig,
}

/// Campaign versions read for executions, by campaign id, each valid while the campaign record
/// is at the revision it was read at: every change to a campaign or to any of its versions is
/// one atomic write that bumps the campaign's revision (`CampaignStore::update_campaign`), so a
/// hit is exactly what the store would return, and a trigger reads the small campaign record
/// only instead of also reading and parsing its version. Bounded: emptied when full.
#[derive(Default)]
struct VersionCache {
    inner: std::sync::Mutex<HashMap<CampaignId, (u64, Arc<CampaignVersion>)>>,
}

/// Campaigns whose versions [`VersionCache`] holds at most.
const VERSION_CACHE_CAPACITY: usize = 1024;

impl VersionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CampaignId, (u64, Arc<CampaignVersion>)>> {
        // The map is always consistent (single inserts and clears), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, campaign: &Campaign, version: u32) -> Option<Arc<CampaignVersion>> {
        self.lock()
            .get(&campaign.id)
            .filter(|(revision, v)| *revision == campaign.revision && v.version == version)
            .map(|(_, v)| Arc::clone(v))
    }

    fn put(&self, campaign: &Campaign, version: Arc<CampaignVersion>) {
        let mut map = self.lock();
        if map.len() >= VERSION_CACHE_CAPACITY && !map.contains_key(&campaign.id) {
            map.clear();
        }
        map.insert(campaign.id, (campaign.revision, version));
    }
}

/// The `202 Accepted` answer to a unitary trigger whose execution is `execution`.
fn accepted(execution: &Execution) -> Result<StoredResponse, StoreError> {
    let response = ExecutionResponse {
        execution_id: execution.id,
        request_id: execution.request_id.clone(),
        created_at: execution.created_at,
        created_by: execution.created_by.clone(),
        modified_at: execution.modified_at,
        modified_by: execution.created_by.clone(),
    };
    let body = serde_json::to_string(&response).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredResponse { status: 202, body })
}

/// sha256 of the canonical JSON of a request: the same request re-serialized gives the same
/// hash whatever its whitespace or key order.
fn body_hash(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    pub fn new(
        store: S,
        delivery: D,
        queue: Q,
        clock: C,
        templates: Arc<TemplateCache>,
        config: TriggerConfig,
    ) -> Self {
        Self {
            store,
            delivery,
            queue,
            clock,
            templates,
            versions: VersionCache::default(),
            config,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn delivery(&self) -> &D {
        &self.delivery
    }

    /// Loads a live campaign version for an execution of `kind`, refusing campaigns that are
    /// unknown, not live, outside their window or of the wrong kind.
    async fn campaign_for(
        &self,
        campaign_id: &str,
        kind: ExecutionKind,
    ) -> Result<CampaignCtx, TriggerError> {
        let id: CampaignId = campaign_id
            .parse()
            .map_err(|_| TriggerError::CampaignNotFound(format!("{campaign_id:?}")))?;
        let campaign = self
            .store
            .get_campaign(id)
            .await?
            .ok_or_else(|| TriggerError::CampaignNotFound(id.to_string()))?;
        let (CampaignStatus::Live, Some(n)) = (campaign.status, campaign.live_version) else {
            return Err(TriggerError::CampaignNotLive {
                id,
                status: campaign.status,
            });
        };
        let version = self.version_of(&campaign, n).await?;
        let spec = &version.spec;
        let now = self.clock.now();
        if !spec.schedule.contains(now) {
            let window = match (spec.schedule.start_at, spec.schedule.end_at) {
                (Some(s), Some(e)) => format!("from {s} to {e}"),
                (Some(s), None) => format!("from {s}"),
                (None, Some(e)) => format!("until {e}"),
                (None, None) => "always".into(),
            };
            return Err(TriggerError::OutsideSchedule { id, window });
        }
        match kind {
            ExecutionKind::HighThroughput if !spec.high_throughput => {
                return Err(TriggerError::WrongKind(format!(
                    "campaign {id} is not a high-throughput campaign; trigger it with /im/executions/unitary"
                )));
            }
            ExecutionKind::Unitary if spec.high_throughput => {
                return Err(TriggerError::WrongKind(format!(
                    "campaign {id} is a high-throughput campaign; trigger it with /im/executions/highthroughput"
                )));
            }
            ExecutionKind::Audience if spec.campaign_type != CampaignType::Marketing => {
                return Err(TriggerError::WrongKind(format!(
                    "campaign {id} is transactional; audience executions are for marketing campaigns (use /im/executions/unitary)"
                )));
            }
            _ => {}
        }
        self.context_for(campaign, version).await
    }

    /// Loads what the pipeline needs for one campaign version.
    async fn context_for(
        &self,
        campaign: Campaign,
        version: Arc<CampaignVersion>,
    ) -> Result<CampaignCtx, TriggerError> {
        let spec = &version.spec;
        let compiled = self
            .templates
            .get_or_compile(&version)
            .map_err(|findings| {
                // An activated version passed review, so this means a template engine change broke it.
                TriggerError::Invalid(ValidationErrors(
                    findings
                        .into_iter()
                        .map(|f| crate::domain::ValidationError::new(f.field, f.message))
                        .collect(),
                ))
            })?;
        let channel_config = match spec.channel_config_id {
            Some(cid) => {
                self.store
                    .get_record::<ChannelConfig>(&cid.to_string())
                    .await?
            }
            None => None,
        };
        let rule_set = match spec.rule_set_id {
            Some(rid) => self.store.get_record::<RuleSet>(&rid.to_string()).await?,
            None => None,
        };
        let campaign_data = crate::render::campaign_data(&version);
        let webhook = if spec.campaign_type == CampaignType::Transactional {
            self.webhook().await?
        } else {
            None
        };
        Ok(CampaignCtx {
            campaign,
            version,
            compiled,
            channel_config,
            rule_set,
            campaign_data,
            webhook,
        })
    }

    /// `POST /im/executions/unitary` (or `/highthroughput` with `kind = HighThroughput`).
    pub async fn trigger_unitary(
        &self,
        request: UnitaryRequest,
        kind: ExecutionKind,
    ) -> Result<TriggerReply, TriggerError> {
        request.validate(kind == ExecutionKind::HighThroughput)?;
        let ctx = self.campaign_for(&request.campaign_id, kind).await?;
        let key = RequestKey {
            campaign_id: ctx.campaign.id,
            request_id: request.request_id.clone(),
        };
        let hash = body_hash(&request);
        let now = self.clock.now();
        let (execution_id, new) = match self.accept(&key, &hash, now).await? {
            Ok(started) => started,
            Err(replay) => return Ok(replay),
        };
        let context = Arc::new(request.context.clone().unwrap_or_default());
        let works: Vec<RecipientWork> = request
            .recipients
            .iter()
            .map(|r| RecipientWork {
                execution_id,
                campaign_id: ctx.campaign.id,
                campaign_version: ctx.version.version,
                recipient: r.clone(),
                request_context: Arc::clone(&context),
                profile_id: None,
            })
            .collect();
        // A new execution has no messages yet (a request names each recipient once), so none
        // is looked up; a resumed one may have some, which the pipeline finds first.
        let channel = ctx.version.spec.channel;
        let runs = works
            .iter()
            .map(|w| {
                let fresh = new.then(|| Fresh {
                    id: pipeline::message_id(channel, w),
                    profile: None,
                });
                (w, fresh)
            })
            .collect();
        let records = self.process_all(&ctx, runs, None).await?.records;
        // A resumed attempt took the request over from one whose lease ran out: that attempt
        // is gone, and a message it claimed without recording an outcome was interrupted.
        if !new {
            for record in records {
                if record.outcome == crate::domain::OutcomeKind::Pending {
                    self.interrupted(&ctx, record).await?;
                }
            }
        }
        let execution = self.unitary_execution(&ctx, execution_id, kind, &request, now);
        let stored = accepted(&execution)?;
        // The common case in one write: a new execution and the request it completes.
        let stored = match self
            .store
            .complete_request(&key, &hash, &stored, &execution)
            .await
        {
            Ok(()) => stored,
            // A resumed attempt (its execution written earlier) or a finish refused: the
            // careful path, step by step.
            Err(StoreError::Conflict(_)) => {
                let finished = self.record_execution(execution).await?;
                let stored = accepted(&finished)?;
                self.finish(&key, &hash, &stored).await?;
                stored
            }
            Err(e) => return Err(e.into()),
        };
        Ok(TriggerReply {
            status: stored.status,
            body: stored.body,
            replayed: false,
        })
    }

    /// Begins exactly-once acceptance of `key`: `Ok(Ok((execution id, new)))` to run it (`new`:
    /// this attempt started it, rather than resuming an earlier attempt's), `Ok(Err(reply))` to
    /// replay a completed request, or the in-flight / body-mismatch refusal.
    async fn accept(
        &self,
        key: &RequestKey,
        hash: &str,
        now: Timestamp,
    ) -> Result<Result<(ExecutionId, bool), TriggerReply>, TriggerError> {
        let lease_until = now.saturating_add(self.config.lease).unwrap_or(now);
        let expires_at = now
            .saturating_add(self.config.acceptance_ttl)
            .unwrap_or(now);
        let proposed = ExecutionId::new();
        match self
            .store
            .begin_request(key, hash, proposed, now, lease_until, expires_at)
            .await?
        {
            Begin::Started { execution_id } => Ok(Ok((execution_id, execution_id == proposed))),
            Begin::Completed(stored) => Ok(Err(TriggerReply {
                status: stored.status,
                body: stored.body,
                replayed: true,
            })),
            Begin::InFlight { lease_until } => Err(TriggerError::InFlight {
                request_id: key.request_id.clone(),
                retry_after_secs: lease_until.duration_since(now).as_secs().max(1) as u64,
            }),
            Begin::Mismatch => Err(TriggerError::BodyMismatch(key.request_id.clone())),
        }
    }

    /// Stores the first answer for replays.
    async fn finish(
        &self,
        key: &RequestKey,
        hash: &str,
        response: &StoredResponse,
    ) -> Result<(), TriggerError> {
        match self.store.finish_request(key, hash, response).await {
            // Another attempt took the lease over and completed it: same execution, same answer.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A unitary execution's record, `Succeeded`: it is written once, after its recipients
    /// were processed. The caller learns its id from the response, which comes after this, so
    /// an `InProgress` record would only be seen by readers who guessed the id (or got it from
    /// a feedback webhook event queued meanwhile), and it cost another write per trigger.
    fn unitary_execution(
        &self,
        ctx: &CampaignCtx,
        id: ExecutionId,
        kind: ExecutionKind,
        request: &UnitaryRequest,
        started_at: Timestamp,
    ) -> Execution {
        Execution {
            id,
            kind,
            campaign_id: ctx.campaign.id,
            campaign_version: ctx.version.version,
            request_id: request.request_id.clone(),
            audience_id: None,
            status: ExecutionStatus::Succeeded,
            context: serde_json::Value::Null,
            created_at: started_at,
            created_by: self.config.created_by.clone(),
            modified_at: self.clock.now(),
            plan_cursor: None,
            revision: 1,
        }
    }

    /// Writes a unitary execution on its own. A retry that resumes the request (the lease was
    /// taken over) writes the same id: when an earlier attempt wrote it, that record is kept
    /// and answered. A record still `InProgress` (written by an earlier version of Herald,
    /// which inserted it first) is closed.
    async fn record_execution(&self, execution: Execution) -> Result<Execution, TriggerError> {
        let id = execution.id;
        match self.store.insert_execution(&execution).await {
            Ok(()) => Ok(execution),
            Err(StoreError::Conflict(_)) => {
                let existing = self
                    .store
                    .get_execution(id)
                    .await?
                    .ok_or_else(|| TriggerError::ExecutionNotFound(id.to_string()))?;
                self.close_execution(existing).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn close_execution(&self, mut execution: Execution) -> Result<Execution, TriggerError> {
        if execution.status != ExecutionStatus::InProgress {
            return Ok(execution);
        }
        let expected = execution.revision;
        execution.status = ExecutionStatus::Succeeded;
        execution.modified_at = self.clock.now();
        execution.revision += 1;
        match self.store.update_execution(&execution, expected).await {
            Ok(()) => Ok(execution),
            // Someone else (a resumed attempt) closed it: read what they wrote.
            Err(StoreError::Conflict(_)) => self
                .store
                .get_execution(execution.id)
                .await?
                .ok_or_else(|| TriggerError::ExecutionNotFound(execution.id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a delta to an execution's counters and its campaign version's report.
    pub(crate) async fn count(
        &self,
        campaign: CampaignId,
        version: u32,
        execution: ExecutionId,
        delta: &CountDelta,
    ) -> Result<(), StoreError> {
        if delta.is_empty() {
            return Ok(());
        }
        self.store
            .add_counts(CountScope::Execution(execution), delta)
            .await?;
        self.store
            .add_counts(CountScope::CampaignVersion(campaign, version), delta)
            .await
    }

    /// Runs every recipient through the pipeline, with what was read for them beforehand,
    /// [`TriggerConfig::concurrency`] at a time; with a `pace` (an audience batch of a campaign
    /// with a `rateLimit`), each after waiting for its send slot. The records come back in the
    /// order of `works`; the recipients the pace had no slot for are returned, not run.
    pub(crate) async fn process_all<'w>(
        &self,
        ctx: &CampaignCtx,
        works: Vec<(&'w RecipientWork, Option<Fresh>)>,
        pace: Option<&audience::Pace>,
    ) -> Result<Processed<'w>, TriggerError> {
        use futures_util::stream::{FuturesOrdered, StreamExt};
        let mut waiting = works.into_iter();
        let mut running: FuturesOrdered<_> = waiting
            .by_ref()
            .take(self.config.concurrency.max(1))
            .map(|(work, fresh)| self.process_paced(ctx, work, fresh, pace))
            .collect();
        let mut done = Processed {
            records: Vec::with_capacity(running.len() + waiting.len()),
            deferred: Vec::new(),
        };
        while let Some(ran) = running.next().await {
            match ran? {
                Ok(record) => done.records.push(record),
                Err(work) => done.deferred.push(work),
            }
            if let Some((work, fresh)) = waiting.next() {
                running.push_back(self.process_paced(ctx, work, fresh, pace));
            }
        }
        Ok(done)
    }

    /// Runs one recipient, after its send slot when paced; gives the recipient back when the
    /// pace has no slot for it.
    async fn process_paced<'w>(
        &self,
        ctx: &CampaignCtx,
        work: &'w RecipientWork,
        fresh: Option<Fresh>,
        pace: Option<&audience::Pace>,
    ) -> Result<Result<MessageRecord, &'w RecipientWork>, StoreError> {
        if let Some(pace) = pace {
            let Some(slot) = pace.slot(&self.store, &self.clock).await? else {
                return Ok(Err(work));
            };
            let wait = slot.duration_since(self.clock.now());
            if wait.is_positive() {
                tokio::time::sleep(wait.unsigned_abs()).await;
            }
        }
        self.process(ctx, work, fresh).await.map(Ok)
    }

    /// Releases held messages that are due (quiet hours over, throttling backed off): each
    /// runs through the pipeline again, then its hold is removed. Safe to run concurrently and
    /// repeatedly: a message moves on from `queued` only once. Returns how many were handled.
    pub async fn release_due(&self, limit: u32) -> Result<usize, TriggerError> {
        let now = self.clock.now();
        let due = self.store.due_held(now, limit).await?;
        let mut handled = 0;
        for held in &due {
            let work = &held.work;
            match self
                .campaign_version_ctx(work.campaign_id, work.campaign_version)
                .await
            {
                Ok(ctx) => {
                    if self.release(&ctx, held).await?.is_none() {
                        // Another attempt is sending it: its hold stays.
                        continue;
                    }
                }
                Err(TriggerError::Store(e)) => return Err(TriggerError::Store(e)),
                // The campaign was stopped (or removed) while the message waited: it is not sent.
                Err(e) => self.drop_held(held, &e.to_string()).await?,
            }
            self.store.release(&held.message_id).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// The context for a specific version of a campaign that must still be live.
    async fn campaign_version_ctx(
        &self,
        id: CampaignId,
        version: u32,
    ) -> Result<CampaignCtx, TriggerError> {
        let campaign = self
            .store
            .get_campaign(id)
            .await?
            .ok_or_else(|| TriggerError::CampaignNotFound(id.to_string()))?;
        if campaign.status != CampaignStatus::Live {
            return Err(TriggerError::CampaignNotLive {
                id,
                status: campaign.status,
            });
        }
        let version = self.version_of(&campaign, version).await?;
        self.context_for(campaign, version).await
    }

    /// Version `n` of a campaign just read: from [`VersionCache`] while the campaign is at the
    /// revision it was cached at, from the store otherwise.
    async fn version_of(
        &self,
        campaign: &Campaign,
        n: u32,
    ) -> Result<Arc<CampaignVersion>, TriggerError> {
        if let Some(v) = self.versions.get(campaign, n) {
            return Ok(v);
        }
        let id = campaign.id;
        let version = Arc::new(
            self.store
                .get_campaign_version(id, n)
                .await?
                .ok_or_else(|| TriggerError::CampaignNotFound(format!("{id} v{n}")))?,
        );
        self.versions.put(campaign, Arc::clone(&version));
        Ok(version)
    }

    /// Marks a held message excluded because its campaign can no longer send.
    async fn drop_held(
        &self,
        held: &crate::domain::HeldMessage,
        why: &str,
    ) -> Result<(), TriggerError> {
        let Some(mut record) = self.store.get_message(&held.message_id).await? else {
            return Ok(());
        };
        if record.outcome != crate::domain::OutcomeKind::Queued {
            return Ok(());
        }
        record.outcome = crate::domain::OutcomeKind::Excluded;
        record.reason = Some(
            crate::domain::ExclusionReason::CampaignNotLive
                .as_str()
                .into(),
        );
        record.detail = Some(why.to_string());
        record.release_at = None;
        record.updated_at = self.clock.now();
        let delta = CountDelta(vec![("queued".into(), -1)]).plus(CountDelta::excluded(
            crate::domain::ExclusionReason::CampaignNotLive,
        ));
        match self
            .store
            .update_message(&record, crate::domain::OutcomeKind::Queued, &delta)
            .await
        {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// An execution with its counts.
    pub async fn execution(&self, id: &str) -> Result<ExecutionView, TriggerError> {
        let eid: ExecutionId = id
            .parse()
            .map_err(|_| TriggerError::ExecutionNotFound(format!("{id:?}")))?;
        let e = self
            .store
            .get_execution(eid)
            .await?
            .ok_or_else(|| TriggerError::ExecutionNotFound(eid.to_string()))?;
        let counts = self.store.get_counts(CountScope::Execution(eid)).await?;
        Ok(ExecutionView {
            execution_id: e.id,
            campaign_id: e.campaign_id,
            campaign_version: e.campaign_version,
            kind: e.kind,
            request_id: e.request_id,
            status: e.status,
            audience_id: e.audience_id,
            created_at: e.created_at,
            modified_at: e.modified_at,
            counts,
        })
    }

    /// One page of an execution's messages.
    pub async fn messages(
        &self,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>, TriggerError> {
        let eid: ExecutionId = id
            .parse()
            .map_err(|_| TriggerError::ExecutionNotFound(format!("{id:?}")))?;
        if self.store.get_execution(eid).await?.is_none() {
            return Err(TriggerError::ExecutionNotFound(eid.to_string()));
        }
        Ok(self.store.list_messages(eid, page).await?)
    }
}

#[cfg(test)]
mod tests;
