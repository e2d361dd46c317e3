//! Audience executions: accepted (or scheduled) at once, then planned and delivered through the
//! queue. A planning step pages the next members into batches; a batch runs its members through
//! the pipeline at the campaign's rate. Every job is idempotent: planning resumes from the
//! execution's stored cursor, and a redelivered batch finds the message records it wrote.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::pipeline::{Fresh, message_id};
use super::{CampaignCtx, TriggerError, TriggerReply, TriggerService, accepted, body_hash};
use crate::domain::trigger::{AudienceRequest, AudienceSelector, Recipient, RecipientType};
use crate::domain::{
    Audience, AudienceBatch, AudienceId, AudienceKind, CampaignId, Execution, ExecutionId,
    ExecutionKind, ExecutionStatus, MessageId, OutcomeKind, Profile, ProfileId, RecipientWork,
    ScheduleId, ScheduleStatus, ScheduledExecution, ValidationError,
};
use crate::ports::{
    Clock, Delivery, ExecutionStores, Job, JobDelivery, PaceStore, PageRequest, Queue, RequestKey,
    Reservation, Store, StoreError, StoredResponse, slots_end,
};

/// Members read per planning step.
pub const PLAN_PAGE: u32 = 1000;
/// Members per batch job.
pub const BATCH_SIZE: usize = 100;
/// The namespace audience members are recorded under (their stored profile id).
pub const PROFILE_NAMESPACE: &str = "profileId";

/// AJO's scheduled-execution response.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    pub schedule_id: ScheduleId,
    pub schedule_status: ScheduleStatus,
    pub campaign_id: CampaignId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceSelector>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub execute_at: Timestamp,
    /// The execution the schedule started, once `Triggered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::ExecutionView>))]
    pub execution_details: Option<serde_json::Value>,
}

/// A batch's share of its campaign's send slots at `rateLimit`. Slots are reserved from the
/// store a second's worth at a time ([`PaceStore::reserve_sends`]), so every process sending
/// for the campaign keeps to the rate together, and batches running side by side take turns.
/// A batch starts no send after `latest_start` (it would outlive its function): once the next
/// free slot is later, its remaining members are deferred ([`Pace::later`]).
pub(crate) struct Pace {
    campaign: CampaignId,
    interval: SignedDuration,
    per_reservation: u32,
    latest_start: Timestamp,
    state: tokio::sync::Mutex<PaceState>,
}

struct PaceState {
    /// The next granted slot, and how many granted slots are left from it.
    next: Timestamp,
    granted: u32,
    /// Members of the batch no slot was reserved for yet.
    unreserved: u32,
    /// The campaign's first free slot once it was past `latest_start`.
    later: Option<Timestamp>,
}

impl Pace {
    pub fn new(
        campaign: CampaignId,
        per_second: u32,
        members: usize,
        latest_start: Timestamp,
    ) -> Self {
        let per_second = per_second.max(1);
        Self {
            campaign,
            interval: SignedDuration::from_nanos(1_000_000_000 / i64::from(per_second)),
            per_reservation: per_second,
            latest_start,
            state: tokio::sync::Mutex::new(PaceState {
                next: latest_start,
                granted: 0,
                unreserved: u32::try_from(members).unwrap_or(u32::MAX),
                later: None,
            }),
        }
    }

    /// The next send slot of the batch, reserving more when the granted ones are used up;
    /// `None` once the campaign's free slots are past `latest_start`.
    pub async fn slot<S: PaceStore>(
        &self,
        store: &S,
        clock: &impl Clock,
    ) -> Result<Option<Timestamp>, StoreError> {
        let mut s = self.state.lock().await;
        if s.later.is_some() {
            return Ok(None);
        }
        if s.granted == 0 {
            let count = self.per_reservation.min(s.unreserved).max(1);
            let reserved = store
                .reserve_sends(
                    self.campaign,
                    count,
                    self.interval,
                    clock.now(),
                    self.latest_start,
                )
                .await?;
            match reserved {
                Reservation::Granted { start } => {
                    s.next = start;
                    s.granted = count;
                    s.unreserved = s.unreserved.saturating_sub(count);
                }
                Reservation::Later { next } => {
                    s.later = Some(next);
                    return Ok(None);
                }
            }
        }
        let slot = s.next;
        s.next = slots_end(slot, self.interval, 1);
        s.granted -= 1;
        Ok(Some(slot))
    }

    /// When the campaign's next slot is free, if the batch stopped short of it.
    pub async fn later(&self) -> Option<Timestamp> {
        self.state.lock().await.later
    }
}

fn schedule_id(execution: ExecutionId) -> ScheduleId {
    ScheduleId::parse(&execution.to_string()).unwrap_or_default()
}

fn execution_id(schedule: ScheduleId) -> ExecutionId {
    ExecutionId::parse(&schedule.to_string()).unwrap_or_default()
}

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    /// `POST /im/executions/audience`: starts (or schedules) an execution for every member of
    /// the audience; the reply comes at once and the work continues on the queue.
    pub async fn trigger_audience(
        &self,
        mut request: AudienceRequest,
    ) -> Result<TriggerReply, TriggerError> {
        request.validate()?;
        let ctx = self
            .campaign_for(&request.campaign_id, ExecutionKind::Audience)
            .await?;
        let audience = self.audience_of(&ctx, request.audience.as_ref()).await?;
        let request_id = request
            .request_id
            .get_or_insert_with(|| format!("herald-{}", uuid::Uuid::new_v4()))
            .clone();
        let key = RequestKey {
            campaign_id: ctx.campaign.id,
            request_id: request_id.clone(),
        };
        let hash = body_hash(&request);
        let now = self.clock.now();
        let id = match self.accept(&key, &hash, now).await? {
            Ok((id, _)) => id,
            Err(replay) => return Ok(replay),
        };
        let context = request.context.clone().unwrap_or_default();
        let body = match request
            .schedule
            .as_ref()
            .map(|s| s.execute_at)
            .filter(|at| *at > now)
        {
            Some(execute_at) => {
                let schedule = ScheduledExecution {
                    id: schedule_id(id),
                    campaign_id: ctx.campaign.id,
                    audience_id: Some(audience.id),
                    request_id: Some(request_id.clone()),
                    context,
                    execute_at,
                    status: ScheduleStatus::Scheduled,
                    execution_id: None,
                    created_at: now,
                    modified_at: now,
                };
                match self.store.insert_schedule(&schedule).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                to_json(&self.schedule_response(&schedule).await?)?
            }
            None => {
                let execution = self
                    .start_audience(&ctx, id, audience.id, &request_id, context, now)
                    .await?;
                accepted(&execution)?.body
            }
        };
        let stored = StoredResponse {
            status: 202,
            body: body.clone(),
        };
        self.finish(&key, &hash, &stored).await?;
        Ok(TriggerReply {
            status: 202,
            body,
            replayed: false,
        })
    }

    /// The audience named by the request, else the campaign's own; it must exist.
    async fn audience_of(
        &self,
        ctx: &CampaignCtx,
        selector: Option<&AudienceSelector>,
    ) -> Result<Audience, TriggerError> {
        let id: AudienceId = match selector {
            Some(s) => {
                s.id.parse()
                    .map_err(|_| TriggerError::AudienceNotFound(s.id.clone()))?
            }
            None => ctx
                .version
                .spec
                .audience
                .as_ref()
                .map(|a| a.id)
                .ok_or_else(|| {
                    TriggerError::Invalid(
                        ValidationError::new(
                            "audience",
                            format!(
                                "campaign {} has no audience; name one in audience.id",
                                ctx.campaign.id
                            ),
                        )
                        .into(),
                    )
                })?,
        };
        self.store
            .get_record::<Audience>(&id.to_string())
            .await?
            .ok_or_else(|| TriggerError::AudienceNotFound(id.to_string()))
    }

    /// Creates the execution (or finds it again) and queues its first planning step.
    async fn start_audience(
        &self,
        ctx: &CampaignCtx,
        id: ExecutionId,
        audience: AudienceId,
        request_id: &str,
        context: serde_json::Map<String, serde_json::Value>,
        now: Timestamp,
    ) -> Result<Execution, TriggerError> {
        let execution = Execution {
            id,
            kind: ExecutionKind::Audience,
            campaign_id: ctx.campaign.id,
            campaign_version: ctx.version.version,
            request_id: request_id.to_string(),
            audience_id: Some(audience),
            status: ExecutionStatus::InProgress,
            context: serde_json::Value::Object(context),
            created_at: now,
            created_by: self.config.created_by.clone(),
            modified_at: now,
            plan_cursor: Some(String::new()),
            revision: 1,
        };
        let execution = match self.store.insert_execution(&execution).await {
            Ok(()) => execution,
            Err(StoreError::Conflict(_)) => self
                .store
                .get_execution(id)
                .await?
                .ok_or_else(|| TriggerError::ExecutionNotFound(id.to_string()))?,
            Err(e) => return Err(e.into()),
        };
        self.queue
            .enqueue(&[Job::Plan { execution_id: id }])
            .await?;
        Ok(execution)
    }

    /// Runs one job from the queue, handed out for the first time or again.
    pub async fn run_job(&self, job: &Job, delivery: JobDelivery) -> Result<(), TriggerError> {
        match job {
            Job::Plan { execution_id } => self.plan_step(*execution_id).await,
            Job::Batch(batch) => self.run_batch(batch, delivery).await,
            Job::Webhook(event) => self.deliver_webhook(event).await,
        }
    }

    /// Pages the next members into batch jobs, queues them (and the next planning step), then
    /// moves the cursor on with a conditional write. A crash in between repeats the page,
    /// which the batches tolerate.
    async fn plan_step(&self, id: ExecutionId) -> Result<(), TriggerError> {
        let Some(mut execution) = self.store.get_execution(id).await? else {
            return Ok(());
        };
        let Some(cursor) = execution.plan_cursor.clone() else {
            return Ok(());
        };
        if let Some(s) = self.store.get_schedule(schedule_id(id)).await?
            && s.status == ScheduleStatus::Cancelled
        {
            return self.end_execution(execution, ExecutionStatus::Failed).await;
        }
        let audience = match execution.audience_id {
            Some(a) => self.store.get_record::<Audience>(&a.to_string()).await?,
            None => None,
        };
        let Some(audience) = audience else {
            tracing::warn!(execution = %id, "the audience of an execution was deleted; the execution fails");
            return self.end_execution(execution, ExecutionStatus::Failed).await;
        };
        let page = PageRequest {
            cursor: (!cursor.is_empty()).then_some(cursor),
            limit: PLAN_PAGE,
        };
        let (members, next) = match &audience.spec.kind {
            AudienceKind::Static => {
                let p = self.store.list_members(audience.id, &page).await?;
                (p.items, p.next)
            }
            AudienceKind::Rule { rule } => {
                let p = self.store.list_profiles(&page).await?;
                (
                    p.items
                        .iter()
                        .filter(|profile| rule.matches(profile))
                        .map(|profile| profile.id)
                        .collect(),
                    p.next,
                )
            }
        };
        let mut jobs: Vec<Job> = members
            .chunks(BATCH_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                Job::Batch(AudienceBatch {
                    execution_id: id,
                    campaign_id: execution.campaign_id,
                    campaign_version: execution.campaign_version,
                    sequence: execution.revision * 1_000 + i as u64,
                    members: chunk.to_vec(),
                })
            })
            .collect();
        if next.is_some() {
            jobs.push(Job::Plan { execution_id: id });
        }
        self.queue.enqueue(&jobs).await?;
        let expected = execution.revision;
        execution.plan_cursor = next;
        execution.modified_at = self.clock.now();
        execution.revision += 1;
        match self.store.update_execution(&execution, expected).await {
            Ok(()) => {
                // Only the step that moved the cursor counts the page.
                let planned =
                    crate::domain::CountDelta(vec![("planned".into(), members.len() as i64)]);
                self.store
                    .add_counts(
                        crate::domain::execution::CountScope::Execution(id),
                        &planned,
                    )
                    .await?;
                self.settle_execution(id).await
            }
            Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks an audience execution `Succeeded` once planning is done and every planned
    /// member has a message record.
    pub(crate) async fn settle_execution(&self, id: ExecutionId) -> Result<(), TriggerError> {
        let Some(execution) = self.store.get_execution(id).await? else {
            return Ok(());
        };
        if execution.status != ExecutionStatus::InProgress || execution.plan_cursor.is_some() {
            return Ok(());
        }
        let counts = self
            .store
            .get_counts(crate::domain::execution::CountScope::Execution(id))
            .await?;
        if counts.targeted >= counts.planned {
            self.end_execution(execution, ExecutionStatus::Succeeded)
                .await?;
        }
        Ok(())
    }

    async fn end_execution(
        &self,
        mut execution: Execution,
        status: ExecutionStatus,
    ) -> Result<(), TriggerError> {
        let expected = execution.revision;
        execution.status = status;
        execution.plan_cursor = None;
        execution.modified_at = self.clock.now();
        execution.revision += 1;
        match self.store.update_execution(&execution, expected).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs a batch's members through the pipeline, a few at a time, at the campaign's rate.
    async fn run_batch(
        &self,
        batch: &AudienceBatch,
        delivery: JobDelivery,
    ) -> Result<(), TriggerError> {
        let Some(execution) = self.store.get_execution(batch.execution_id).await? else {
            return Ok(());
        };
        let ctx = match self
            .campaign_version_ctx(batch.campaign_id, batch.campaign_version)
            .await
        {
            Ok(ctx) => ctx,
            Err(TriggerError::Store(e)) => return Err(TriggerError::Store(e)),
            Err(e) => {
                // Stopped while the execution ran: the rest is not sent.
                tracing::info!(execution = %batch.execution_id, reason = %e, "audience batch skipped");
                return self.end_execution(execution, ExecutionStatus::Failed).await;
            }
        };
        let context = Arc::new(match &execution.context {
            serde_json::Value::Object(m) => m.clone(),
            _ => Default::default(),
        });
        let works: Vec<RecipientWork> = batch
            .members
            .iter()
            .map(|member| RecipientWork {
                execution_id: batch.execution_id,
                campaign_id: batch.campaign_id,
                campaign_version: batch.campaign_version,
                recipient: Recipient {
                    recipient_type: RecipientType::Aep,
                    user_id: member.to_string(),
                    namespace: PROFILE_NAMESPACE.into(),
                    channel_data: None,
                    profile: None,
                    context: None,
                    merge_policy_name: None,
                    merge_policy_schema: None,
                },
                request_context: Arc::clone(&context),
                profile_id: Some(*member),
            })
            .collect();
        // What the members' runs would each look up, read for the whole batch at once: which
        // messages exist already (only a batch handed out again can have any), and the
        // others' profiles.
        let channel = ctx.version.spec.channel;
        let ids: Vec<MessageId> = works.iter().map(|w| message_id(channel, w)).collect();
        // A member with a message is skipped. One still `pending` was claimed by an earlier
        // delivery of the batch that stopped before its outcome: a batch is handed out again
        // only once that delivery failed, or outlived its lease (SQS's visibility timeout, six
        // times the dispatcher's; `herald serve`'s 5 minutes, or its restart). It was
        // interrupted, recorded below.
        let mut done: HashSet<MessageId> = HashSet::new();
        let mut interrupted = Vec::new();
        if delivery == JobDelivery::Again {
            for m in self.store.get_messages(&ids).await? {
                done.insert(m.id.clone());
                if m.outcome == OutcomeKind::Pending {
                    interrupted.push(m);
                }
            }
        }
        let fresh: Vec<(&RecipientWork, MessageId)> = works
            .iter()
            .zip(ids)
            .filter(|(_, id)| !done.contains(id))
            .collect();
        let members: Vec<ProfileId> = fresh.iter().filter_map(|(w, _)| w.profile_id).collect();
        let mut profiles: HashMap<ProfileId, Profile> = self
            .store
            .get_profiles(&members)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let runs: Vec<_> = fresh
            .into_iter()
            .map(|(work, id)| {
                let profile = work.profile_id.and_then(|p| profiles.remove(&p));
                (work, Some(Fresh { id, profile }))
            })
            .collect();
        let pace = ctx.version.spec.rate_limit.map(|per_second| {
            let latest_start = self
                .clock
                .now()
                .saturating_add(self.config.pace_wait)
                .unwrap_or(Timestamp::MAX);
            Pace::new(ctx.campaign.id, per_second, runs.len(), latest_start)
        });
        let processed = self.process_all(&ctx, runs, pace.as_ref()).await?;
        if let (Some(pace), false) = (&pace, processed.deferred.is_empty()) {
            // The campaign's slots are taken until after this batch may wait: the members not
            // started yet go back to the queue, as a batch of their own, for when they free up.
            let at = pace.later().await.unwrap_or_else(|| self.clock.now());
            let rest = AudienceBatch {
                members: processed
                    .deferred
                    .iter()
                    .filter_map(|w| w.profile_id)
                    .collect(),
                ..batch.clone()
            };
            tracing::info!(
                execution = %batch.execution_id,
                deferred = rest.members.len(),
                until = %at,
                "campaign rate reached: members deferred"
            );
            self.queue
                .enqueue_at(&[Job::Batch(rest)], self.clock.now(), at)
                .await?;
        }
        for record in interrupted {
            self.interrupted(&ctx, record).await?;
        }
        self.settle_execution(batch.execution_id).await
    }

    /// Fires due scheduled executions: the execution is created and planning queued before the
    /// schedule is marked triggered, so a crash in between only repeats idempotent steps.
    pub async fn fire_due_schedules(&self, limit: u32) -> Result<usize, TriggerError> {
        let now = self.clock.now();
        let due = self.store.due_schedules(now, limit).await?;
        let mut fired = 0;
        for schedule in due {
            let id = execution_id(schedule.id);
            let ctx = match self.campaign_version_ctx_live(schedule.campaign_id).await {
                Ok(ctx) => ctx,
                Err(TriggerError::Store(e)) => return Err(TriggerError::Store(e)),
                Err(e) => {
                    tracing::info!(schedule = %schedule.id, reason = %e, "scheduled execution not started");
                    self.store.cancel_schedule(schedule.id, now).await?;
                    continue;
                }
            };
            let Some(audience) = schedule.audience_id else {
                continue;
            };
            let request_id = schedule.request_id.clone().unwrap_or_default();
            self.start_audience(
                &ctx,
                id,
                audience,
                &request_id,
                schedule.context.clone(),
                now,
            )
            .await?;
            if self.store.mark_triggered(schedule.id, id, now).await? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    async fn campaign_version_ctx_live(&self, id: CampaignId) -> Result<CampaignCtx, TriggerError> {
        self.campaign_for(&id.to_string(), ExecutionKind::Audience)
            .await
    }

    async fn schedule_response(
        &self,
        s: &ScheduledExecution,
    ) -> Result<ScheduleResponse, TriggerError> {
        let execution_details = match s.execution_id {
            Some(e) => Some(
                serde_json::to_value(self.execution(&e.to_string()).await?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            None => None,
        };
        Ok(ScheduleResponse {
            schedule_id: s.id,
            schedule_status: s.status,
            campaign_id: s.campaign_id,
            audience: s
                .audience_id
                .map(|a| AudienceSelector { id: a.to_string() }),
            execute_at: s.execute_at,
            execution_details,
        })
    }

    /// `GET /im/executions/schedules/{scheduleId}`.
    pub async fn schedule(&self, id: &str) -> Result<ScheduleResponse, TriggerError> {
        let sid: ScheduleId = id
            .parse()
            .map_err(|_| TriggerError::ScheduleNotFound(format!("{id:?}")))?;
        let s = self
            .store
            .get_schedule(sid)
            .await?
            .ok_or_else(|| TriggerError::ScheduleNotFound(sid.to_string()))?;
        self.schedule_response(&s).await
    }

    /// `DELETE /im/executions/schedules/{scheduleId}`: cancels a schedule that has not fired.
    pub async fn cancel_schedule(&self, id: &str) -> Result<(), TriggerError> {
        let sid: ScheduleId = id
            .parse()
            .map_err(|_| TriggerError::ScheduleNotFound(format!("{id:?}")))?;
        if self.store.cancel_schedule(sid, self.clock.now()).await? {
            return Ok(());
        }
        match self.store.get_schedule(sid).await? {
            None => Err(TriggerError::ScheduleNotFound(sid.to_string())),
            Some(s) => Err(TriggerError::ScheduleNotCancellable {
                id: sid,
                status: s.status,
            }),
        }
    }
}

fn to_json(v: &impl Serialize) -> Result<String, TriggerError> {
    serde_json::to_string(v).map_err(|e| TriggerError::Store(StoreError::Corrupt(e.to_string())))
}
