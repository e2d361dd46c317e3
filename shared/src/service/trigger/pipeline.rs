//! One recipient through the pipeline (DESIGN §3):
//!
//! resolve the recipient (profile by namespace + userId, or the trigger's own data) → a valid
//! address → not suppressed → marketing only: consent, quiet hours → render → claim the message
//! id with a conditional write → marketing only: frequency caps → send (throttling retried with
//! back-off) → record the outcome. Every exclusion is recorded with its reason code.

use jiff::Timestamp;

use super::address::{self, Address};
use super::{CampaignCtx, TriggerService};
use crate::domain::channel_config::ChannelSettings;
use crate::domain::execution::{CountDelta, HeldMessage};
use crate::domain::profile::Identity;
use crate::domain::rules::QuietAction;
use crate::domain::trigger::RecipientType;
use crate::domain::{
    CampaignType, Channel, ExclusionReason, MessageId, MessageRecord, OutcomeKind, Profile,
    ProfileId, RecipientKey, RecipientWork, Suppression, SuppressionReason,
};
use crate::ports::delivery::{ListUnsubscribe, MessageTags};
use crate::ports::{
    Accepted, CapCounter, Claim, Clock, Conflict, Delivery, EmailEnvelope, ExecutionStores,
    PushEnvelope, Queue, SendError, SmsEnvelope, Store, StoreError,
};
use crate::render::{Bucket, RenderInput, Rendered, RenderedMessage, Selection};

/// How long a held message's claim (`pending`) may wait for its outcome before a later tick
/// takes the release that claimed it for gone. Longer than any release lives: the deployed
/// scheduler times out after 55 s, and a send's throttling back-off takes seconds
/// (`template.yaml`'s check keeps every function's timeout under it).
pub const CLAIM_TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The reason of a message whose claim outlived the attempt that made it.
pub(crate) const INTERRUPTED: &str = "Interrupted";

/// Whether a `pending` record's claim is older than [`CLAIM_TIMEOUT`] at `now`.
pub(crate) fn claim_timed_out(record: &MessageRecord, now: Timestamp) -> bool {
    record.outcome == OutcomeKind::Pending
        && record
            .updated_at
            .saturating_add(CLAIM_TIMEOUT)
            .is_ok_and(|end| end <= now)
}

/// What taking a message counts: a new claim is targeted; a queued one is no longer queued.
fn taken(slot: Slot) -> CountDelta {
    match slot {
        Slot::New => CountDelta::one("targeted"),
        Slot::Queued => CountDelta(vec![("queued".into(), -1)]),
    }
}

/// What is known of a recipient before the pipeline runs: their message, with this id, does
/// not exist yet (an audience batch read its members' messages together; a new unitary
/// execution has none), and for an audience member, their profile as the batch read it
/// (`None`: it does not exist; unused for a recipient addressed by identity). Without it the
/// pipeline looks both up itself.
pub(crate) struct Fresh {
    pub id: MessageId,
    pub profile: Option<Profile>,
}

/// Where the pipeline gets an audience member's profile.
enum ProfileFrom {
    /// Read as the pipeline reaches them.
    Store,
    /// Read by their batch beforehand (`None`: it does not exist).
    Batch(Option<Profile>),
}

/// The id of a recipient's message: the same for every attempt at the same work.
pub(crate) fn message_id(channel: Channel, work: &RecipientWork) -> MessageId {
    let key = recipient_key(work);
    MessageId::derive(work.execution_id, &key, channel)
}

fn recipient_key(work: &RecipientWork) -> RecipientKey {
    RecipientKey {
        namespace: work.recipient.namespace.to_ascii_lowercase(),
        user_id: work.recipient.user_id.clone(),
    }
}

/// What the checks decided for a recipient.
enum Decision {
    Exclude(ExclusionReason, String),
    Hold(Timestamp),
    Send(Box<Outgoing>),
}

/// A rendered message ready for its provider.
struct Outgoing {
    address: Address,
    message: RenderedMessage,
    /// Marketing email: the signed one-click unsubscribe link.
    unsubscribe_url: Option<String>,
    /// Marketing: the frequency-cap counters to take when it is sent.
    caps: Vec<CapCounter>,
}

/// A provider request, built once for all of a message's attempts.
enum Envelope {
    Email(EmailEnvelope),
    Sms(SmsEnvelope),
    Push(PushEnvelope),
}

/// How the record of this message is written: claimed fresh, or moved on from `queued`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    New,
    Queued,
}

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    /// Runs one recipient through the pipeline and returns their message record. Safe to run
    /// again for the same work: the deterministic message id finds the first record (read
    /// here, or by the batch: [`Fresh`]; a record written meanwhile is found by the claim).
    pub(crate) async fn process(
        &self,
        ctx: &CampaignCtx,
        work: &RecipientWork,
        fresh: Option<Fresh>,
    ) -> Result<MessageRecord, StoreError> {
        let channel = ctx.version.spec.channel;
        let key = recipient_key(work);
        let (id, profile) = match fresh {
            Some(Fresh { id, profile }) => (id, ProfileFrom::Batch(profile)),
            None => {
                let id = MessageId::derive(work.execution_id, &key, channel);
                if let Some(existing) = self.store.get_message(&id).await? {
                    return Ok(existing);
                }
                (id, ProfileFrom::Store)
            }
        };
        let now = self.clock.now();
        let record = MessageRecord {
            id,
            execution_id: work.execution_id,
            campaign_id: work.campaign_id,
            campaign_version: work.campaign_version,
            channel,
            recipient: key,
            address: None,
            outcome: OutcomeKind::Pending,
            reason: None,
            detail: None,
            provider_message_id: None,
            variant: None,
            locale: None,
            rules_bypassed: ctx.version.spec.campaign_type == CampaignType::Transactional,
            release_at: None,
            created_at: now,
            updated_at: now,
        };
        self.run(ctx, work, record, Slot::New, now, profile).await
    }

    /// Releases held messages that are due: each runs through the pipeline again (consent and
    /// suppression may have changed), without the quiet-hours check. `None` when an earlier
    /// release claimed it and may still be sending it (its claim is younger than
    /// [`CLAIM_TIMEOUT`]): the hold stays for a later tick. An older claim was interrupted.
    pub(crate) async fn release(
        &self,
        ctx: &CampaignCtx,
        held: &HeldMessage,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let now = self.clock.now();
        let record = match self.store.get_message(&held.message_id).await? {
            Some(record) if record.outcome == OutcomeKind::Pending => {
                return if claim_timed_out(&record, now) {
                    self.interrupted(ctx, record).await.map(Some)
                } else {
                    Ok(None)
                };
            }
            other => other,
        };
        match record {
            Some(record) if record.outcome == OutcomeKind::Queued => {
                self.run(
                    ctx,
                    &held.work,
                    record,
                    Slot::Queued,
                    now,
                    ProfileFrom::Store,
                )
                .await
            }
            Some(record) => Ok(record),
            None => self.process(ctx, &held.work, None).await,
        }
        .map(Some)
    }

    async fn run(
        &self,
        ctx: &CampaignCtx,
        work: &RecipientWork,
        mut record: MessageRecord,
        slot: Slot,
        now: Timestamp,
        profile: ProfileFrom,
    ) -> Result<MessageRecord, StoreError> {
        let decision = self
            .decide(ctx, work, &mut record, slot, now, profile)
            .await?;
        record.updated_at = now;
        match decision {
            Decision::Exclude(reason, detail) => {
                record.outcome = OutcomeKind::Excluded;
                record.reason = Some(reason.as_str().into());
                record.detail = Some(detail);
                record.release_at = None;
                self.write(ctx, record, slot, CountDelta::excluded(reason))
                    .await
            }
            Decision::Hold(release_at) => {
                // Hold first: a crash between the two leaves a hold without a record, which the
                // release handles; the other order could lose the message.
                self.store
                    .hold(&HeldMessage {
                        message_id: record.id.clone(),
                        release_at,
                        work: work.clone(),
                    })
                    .await?;
                record.outcome = OutcomeKind::Queued;
                record.reason = Some("QuietHours".into());
                record.detail = Some(format!("quiet hours: held until {release_at}"));
                record.release_at = Some(release_at);
                if slot == Slot::Queued {
                    return Ok(record);
                }
                self.write(ctx, record, slot, CountDelta::one("queued"))
                    .await
            }
            Decision::Send(outgoing) => self.send(ctx, work, record, slot, *outgoing).await,
        }
    }

    /// Writes the record (a new claim, counted as targeted too, or a transition from `queued`)
    /// with its counts. When someone else wrote it first, their record is returned and nothing
    /// is counted.
    async fn write(
        &self,
        ctx: &CampaignCtx,
        record: MessageRecord,
        slot: Slot,
        delta: CountDelta,
    ) -> Result<MessageRecord, StoreError> {
        if let Err(existing) = self.take(&record, slot, &taken(slot).plus(delta)).await? {
            return Ok(existing);
        }
        self.notify(ctx.webhook.as_ref(), &record).await;
        Ok(record)
    }

    /// Takes the message for this attempt, with `counts`: claims a new record or moves it on
    /// from `queued`. Returns the record someone else wrote first (nothing is counted then).
    async fn take(
        &self,
        record: &MessageRecord,
        slot: Slot,
        counts: &CountDelta,
    ) -> Result<Result<(), MessageRecord>, StoreError> {
        match slot {
            Slot::New => match self.store.claim_message(record, counts).await? {
                Claim::Claimed => Ok(Ok(())),
                Claim::Exists(existing) => Ok(Err(*existing)),
            },
            Slot::Queued => match self
                .store
                .update_message(record, OutcomeKind::Queued, counts)
                .await
            {
                Ok(()) => Ok(Ok(())),
                Err(StoreError::Conflict(_)) => self
                    .store
                    .get_message(&record.id)
                    .await?
                    .map(Err)
                    .ok_or(StoreError::Conflict(Conflict::RevisionMismatch)),
                Err(e) => Err(e),
            },
        }
    }

    /// Moves a claimed (`pending`) record to its outcome, with its counts.
    async fn settle(
        &self,
        ctx: &CampaignCtx,
        record: MessageRecord,
        delta: CountDelta,
    ) -> Result<MessageRecord, StoreError> {
        self.store
            .update_message(&record, OutcomeKind::Pending, &delta)
            .await?;
        self.notify(ctx.webhook.as_ref(), &record).await;
        Ok(record)
    }

    /// Records a `pending` message whose claimer is gone (it stopped between its claim and
    /// its outcome: a crash, a timeout) as `unknown`, reason `Interrupted`: its provider call
    /// may or may not have happened, so it is not sent again (DESIGN §3: an ambiguous send is
    /// never retried). It is counted as its claimer would have counted it: taken (targeted, or
    /// out of `queued` for a message released from a hold) and unknown; its frequency caps stay
    /// taken, as for any unknown outcome. When someone else settled it first, theirs is
    /// returned and nothing is counted.
    pub(crate) async fn interrupted(
        &self,
        ctx: &CampaignCtx,
        mut record: MessageRecord,
    ) -> Result<MessageRecord, StoreError> {
        debug_assert_eq!(record.outcome, OutcomeKind::Pending);
        // A message released from a hold keeps the reason it was held for (`QuietHours`,
        // `Throttled`) through its claim; a new claim has none.
        let slot = if record.reason.is_some() {
            Slot::Queued
        } else {
            Slot::New
        };
        record.outcome = OutcomeKind::Unknown;
        record.reason = Some(INTERRUPTED.into());
        record.detail = Some(format!(
            "the attempt that claimed this message at {} stopped before it recorded the \
             provider's answer; the message may or may not have been sent, so it is not sent \
             again",
            record.updated_at
        ));
        record.updated_at = self.clock.now();
        let delta = taken(slot).plus(CountDelta::one("unknown"));
        match self
            .store
            .update_message(&record, OutcomeKind::Pending, &delta)
            .await
        {
            Ok(()) => {
                tracing::warn!(message = %record.id, execution = %record.execution_id, "a claimed message was never settled; recorded as unknown");
                self.notify(ctx.webhook.as_ref(), &record).await;
                Ok(record)
            }
            Err(StoreError::Conflict(_)) => self
                .store
                .get_message(&record.id)
                .await?
                .ok_or(StoreError::Conflict(Conflict::RevisionMismatch)),
            Err(e) => Err(e),
        }
    }

    /// The checks before anything is written: profile, address, suppression, consent, quiet
    /// hours, rendering.
    async fn decide(
        &self,
        ctx: &CampaignCtx,
        work: &RecipientWork,
        record: &mut MessageRecord,
        slot: Slot,
        now: Timestamp,
        from: ProfileFrom,
    ) -> Result<Decision, StoreError> {
        let spec = &ctx.version.spec;
        let recipient = &work.recipient;
        let profile = if let Some(pid) = work.profile_id {
            let found = match from {
                ProfileFrom::Batch(read) => read,
                ProfileFrom::Store => self.store.get_profile(pid).await?,
            };
            match found {
                Some(p) => Some(p),
                None => {
                    return Ok(Decision::Exclude(
                        ExclusionReason::NoProfile,
                        format!(
                            "profile {pid} no longer exists (erased after it joined the audience)"
                        ),
                    ));
                }
            }
        } else if spec.high_throughput || recipient.recipient_type == RecipientType::External {
            None
        } else {
            match self.find_or_create_profile(ctx, recipient).await? {
                Ok(p) => Some(p),
                Err(detail) => return Ok(Decision::Exclude(ExclusionReason::NoProfile, detail)),
            }
        };
        let address = match address::resolve(
            spec.channel,
            recipient,
            profile.as_ref(),
            ctx.channel_config.as_ref(),
        ) {
            Ok(a) => a,
            Err((reason, detail)) => return Ok(Decision::Exclude(reason, detail)),
        };
        let address_key = address.key();
        let suppressed = self
            .store
            .get_suppression(spec.channel, &address_key)
            .await?
            .is_some();
        record.address = Some(address_key);
        if suppressed {
            return Ok(Decision::Exclude(
                ExclusionReason::Suppressed,
                format!("{} is on the suppression list", spec.channel),
            ));
        }
        let marketing = spec.campaign_type == CampaignType::Marketing;
        // Marketing rules read the recipient's profile; someone addressed directly (external,
        // high-throughput) is looked up by their address, so an unsubscribe always counts.
        let rules_profile = match (&profile, marketing) {
            (None, true) => self.profile_by_address(&address).await?,
            _ => None,
        };
        let profile_for_rules = profile.as_ref().or(rules_profile.as_ref());
        if marketing {
            match profile_for_rules.and_then(|p| p.consent.get(spec.channel)) {
                Some(crate::domain::ConsentValue::Out) => {
                    return Ok(Decision::Exclude(
                        ExclusionReason::ConsentOut,
                        format!("the profile opted out of {}", spec.channel),
                    ));
                }
                None if self.config.require_consent => {
                    return Ok(Decision::Exclude(
                        ExclusionReason::ConsentMissing,
                        format!(
                            "no {} consent recorded and this deployment requires it",
                            spec.channel
                        ),
                    ));
                }
                _ => {}
            }
            if slot == Slot::New
                && let Some(quiet) = ctx
                    .rule_set
                    .as_ref()
                    .and_then(|r| r.spec.quiet_hours.as_ref())
                && let Some(release_at) = quiet.release_at(
                    now,
                    &quiet.zone_for(profile_for_rules.and_then(|p| p.timezone.as_deref())),
                )
            {
                return Ok(match quiet.action {
                    QuietAction::Discard => Decision::Exclude(
                        ExclusionReason::QuietHours,
                        format!("quiet hours until {release_at}"),
                    ),
                    QuietAction::Queue => Decision::Hold(release_at),
                });
            }
        }
        let unsubscribe_url = (marketing && spec.channel == Channel::Email).then(|| {
            let claim = crate::domain::unsubscribe::UnsubscribeClaim {
                campaign: ctx.campaign.id,
                channel: spec.channel,
                address: address.key(),
                profile: profile_for_rules.map(|p| p.id),
            };
            format!(
                "{}/u/{}",
                self.config.public_base_url.trim_end_matches('/'),
                claim.sign(&self.config.unsubscribe_secret)
            )
        });
        let caps = match (marketing, ctx.rule_set.as_ref()) {
            (true, Some(rules)) => {
                let who = profile_for_rules
                    .map(|p| p.id.to_string())
                    .unwrap_or_else(|| format!("{}:{}", spec.channel, address.key()));
                rules
                    .spec
                    .caps
                    .iter()
                    .filter(|c| c.channel.is_none_or(|ch| ch == spec.channel))
                    .map(|c| {
                        let (key, expires_at) = c.counter(&who, now);
                        CapCounter {
                            key,
                            limit: c.limit,
                            expires_at,
                        }
                    })
                    .collect()
            }
            _ => vec![],
        };
        // The profile is not needed after the render: its attributes become the render data
        // without a copy.
        let (attributes, locale) = match profile {
            Some(p) => (p.attributes, p.locale),
            None => (Default::default(), None),
        };
        let rendered = match self.render(
            ctx,
            work,
            attributes,
            locale.as_deref(),
            &record.recipient,
            unsubscribe_url.as_deref(),
        ) {
            Ok(r) => r,
            Err(detail) => return Ok(Decision::Exclude(ExclusionReason::RenderError, detail)),
        };
        record.variant = Some(rendered.variant);
        record.locale = rendered.locale;
        Ok(Decision::Send(Box::new(Outgoing {
            address,
            message: rendered.message,
            unsubscribe_url,
            caps,
        })))
    }

    /// The profile holding an address as its email or phone identity.
    async fn profile_by_address(&self, address: &Address) -> Result<Option<Profile>, StoreError> {
        let identity = match address {
            Address::Email(e) => Identity::parse("email", e.as_str()),
            Address::Sms(p) => Identity::parse("phone", p.as_str()),
            Address::Push { .. } => return Ok(None),
        };
        match identity {
            Ok(i) => self.store.find_profile(&i).await,
            Err(_) => Ok(None),
        }
    }

    /// The stored profile of an `aep` recipient; created when the campaign allows it.
    async fn find_or_create_profile(
        &self,
        ctx: &CampaignCtx,
        recipient: &crate::domain::trigger::Recipient,
    ) -> Result<Result<Profile, String>, StoreError> {
        let identity = match Identity::parse(&recipient.namespace, &recipient.user_id) {
            Ok(i) => i,
            Err(e) => {
                return Ok(Err(format!(
                    "userId is not a valid {} identity: {}",
                    recipient.namespace, e.message
                )));
            }
        };
        if let Some(p) = self.store.find_profile(&identity).await? {
            return Ok(Ok(p));
        }
        if !ctx.version.spec.create_profiles {
            return Ok(Err(format!("no profile holds the identity {identity}")));
        }
        let now = self.clock.now();
        let profile = Profile {
            id: ProfileId::new(),
            identities: [(identity.namespace.clone(), identity.value.clone())]
                .into_iter()
                .collect(),
            attributes: Default::default(),
            consent: Default::default(),
            push_tokens: vec![],
            timezone: None,
            locale: None,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        match self
            .store
            .save_profile(&profile, None, std::slice::from_ref(&identity), &[])
            .await
        {
            Ok(()) => Ok(Ok(profile)),
            // Created concurrently by another trigger: use theirs.
            Err(StoreError::Conflict(_)) => Ok(self
                .store
                .find_profile(&identity)
                .await?
                .ok_or_else(|| format!("no profile holds the identity {identity}"))),
            Err(e) => Err(e),
        }
    }

    fn render(
        &self,
        ctx: &CampaignCtx,
        work: &RecipientWork,
        mut attributes: serde_json::Map<String, serde_json::Value>,
        locale: Option<&str>,
        key: &RecipientKey,
        unsubscribe_url: Option<&str>,
    ) -> Result<Rendered, String> {
        for (k, v) in work.recipient.profile.iter().flatten() {
            attributes.insert(k.clone(), v.clone());
        }
        let mut context = (*work.request_context).clone();
        for (k, v) in work.recipient.context.iter().flatten() {
            context.insert(k.clone(), v.clone());
        }
        let input = RenderInput {
            profile: serde_json::Value::Object(attributes),
            context: serde_json::Value::Object(context),
            campaign: &ctx.campaign_data,
            unsubscribe_url,
        };
        let selection = Selection {
            variant: None,
            bucket: Bucket::Recipient {
                campaign: ctx.campaign.id,
                key,
            },
            locale,
        };
        ctx.compiled
            .render(&selection, input)
            .map_err(|e| e.to_string())
    }

    /// Claims the message, takes the frequency caps, sends with throttling retries, records
    /// the outcome.
    async fn send(
        &self,
        ctx: &CampaignCtx,
        work: &RecipientWork,
        mut record: MessageRecord,
        slot: Slot,
        outgoing: Outgoing,
    ) -> Result<MessageRecord, StoreError> {
        let now = record.updated_at;
        // Claim: from here on this attempt owns the message.
        record.outcome = OutcomeKind::Pending;
        record.release_at = None;
        // Counted when it is settled, with its outcome.
        if let Err(existing) = self.take(&record, slot, &CountDelta::default()).await? {
            return Ok(existing);
        }
        let base = taken(slot);
        if !outgoing.caps.is_empty()
            && let Some(full) = self.store.increment_within(&outgoing.caps, now).await?
        {
            record.outcome = OutcomeKind::Excluded;
            record.reason = Some(ExclusionReason::FrequencyCap.as_str().into());
            record.detail = Some(format!(
                "frequency cap reached ({})",
                outgoing.caps[full]
                    .key
                    .rsplit('|')
                    .nth(1)
                    .unwrap_or("period")
            ));
            return self
                .settle(
                    ctx,
                    record,
                    base.plus(CountDelta::excluded(ExclusionReason::FrequencyCap)),
                )
                .await;
        }
        let Outgoing {
            address,
            message,
            unsubscribe_url,
            caps,
        } = outgoing;
        let result = self
            .deliver(ctx, &record, &address, message, unsubscribe_url)
            .await;
        record.updated_at = self.clock.now();
        let delta = match result {
            Ok(Accepted {
                provider_message_id,
            }) => {
                record.outcome = OutcomeKind::Sent;
                record.provider_message_id = Some(provider_message_id);
                CountDelta::one("sent")
            }
            Err(SendError::Rejected { reason }) => {
                record.outcome = OutcomeKind::Failed;
                record.reason = Some("Rejected".into());
                record.detail = Some(reason);
                CountDelta::one("failed")
            }
            Err(SendError::Ambiguous { detail }) => {
                record.outcome = OutcomeKind::Unknown;
                record.reason = Some("Ambiguous".into());
                record.detail = Some(detail);
                CountDelta::one("unknown")
            }
            Err(SendError::EndpointDisabled) => {
                self.store
                    .put_suppression(&Suppression {
                        channel: Channel::Push,
                        address: address.key(),
                        reason: SuppressionReason::PushEndpointDisabled,
                        note: Some("the SNS endpoint was disabled".into()),
                        created_at: record.updated_at,
                    })
                    .await?;
                record.outcome = OutcomeKind::Excluded;
                record.reason = Some(ExclusionReason::PushEndpointDisabled.as_str().into());
                record.detail =
                    Some("the push endpoint is disabled; the token is now suppressed".into());
                CountDelta::excluded(ExclusionReason::PushEndpointDisabled)
            }
            Err(SendError::Throttled { .. } | SendError::NotSent { .. }) => {
                // Never dropped: held for a later attempt by the scheduler tick.
                let release_at = record
                    .updated_at
                    .saturating_add(jiff::SignedDuration::from_secs(60))
                    .unwrap_or(record.updated_at);
                self.store
                    .hold(&HeldMessage {
                        message_id: record.id.clone(),
                        release_at,
                        work: work.clone(),
                    })
                    .await?;
                record.outcome = OutcomeKind::Queued;
                record.reason = Some("Throttled".into());
                record.detail = Some(format!(
                    "the provider kept throttling; retried at {release_at}"
                ));
                record.release_at = Some(release_at);
                CountDelta::one("queued")
            }
        };
        if record.outcome != OutcomeKind::Sent
            && record.outcome != OutcomeKind::Unknown
            && !caps.is_empty()
        {
            self.store.decrement(&caps).await?;
        }
        self.settle(ctx, record, base.plus(delta)).await
    }

    /// One provider call per attempt; throttling (and failures before the request left) are
    /// retried with exponential back-off up to the configured attempts. The provider request
    /// is built once, taking the rendered content.
    async fn deliver(
        &self,
        ctx: &CampaignCtx,
        record: &MessageRecord,
        address: &Address,
        message: RenderedMessage,
        unsubscribe_url: Option<String>,
    ) -> Result<Accepted, SendError> {
        let tags = MessageTags {
            message_id: record.id.clone(),
            execution_id: record.execution_id,
            campaign_id: record.campaign_id,
            campaign_version: record.campaign_version,
        };
        let envelope = self.envelope(ctx, tags, address, message, unsubscribe_url)?;
        let mut backoff = self.config.throttle_backoff;
        let mut attempt = 1;
        loop {
            let result = match &envelope {
                Envelope::Email(e) => self.delivery.send_email(e).await,
                Envelope::Sms(e) => self.delivery.send_sms(e).await,
                Envelope::Push(e) => self.delivery.send_push(e).await,
            };
            match result {
                Err(SendError::Throttled { retry_after })
                    if attempt < self.config.throttle_attempts =>
                {
                    tokio::time::sleep(retry_after.unwrap_or(backoff).max(backoff)).await;
                }
                Err(SendError::NotSent { .. }) if attempt < self.config.throttle_attempts => {
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
            attempt += 1;
            backoff = backoff.saturating_mul(2);
        }
    }

    /// The provider request for the address's channel.
    fn envelope(
        &self,
        ctx: &CampaignCtx,
        tags: MessageTags,
        address: &Address,
        message: RenderedMessage,
        unsubscribe_url: Option<String>,
    ) -> Result<Envelope, SendError> {
        let spec = &ctx.version.spec;
        let settings = ctx.channel_config.as_ref().map(|c| &c.spec.settings);
        match (address, message) {
            (Address::Email(to), RenderedMessage::Email(content)) => {
                let Some(ChannelSettings::Email(email)) = settings else {
                    return Err(SendError::Rejected {
                        reason: "the campaign's email channel configuration no longer exists"
                            .into(),
                    });
                };
                Ok(Envelope::Email(EmailEnvelope {
                    tags,
                    from_address: email.from_address.to_string(),
                    from_name: email.from_name.clone(),
                    reply_to: email.reply_to.as_ref().map(|r| r.to_string()),
                    to: to.to_string(),
                    configuration_set: email
                        .configuration_set
                        .clone()
                        .or_else(|| self.config.default_configuration_set.clone()),
                    list_unsubscribe: unsubscribe_url
                        .filter(|_| email.list_unsubscribe)
                        .map(|url| ListUnsubscribe { url }),
                    content,
                }))
            }
            (Address::Sms(to), RenderedMessage::Sms(sms)) => {
                let sms_settings = match settings {
                    Some(ChannelSettings::Sms(s)) => s.clone(),
                    _ => Default::default(),
                };
                Ok(Envelope::Sms(SmsEnvelope {
                    tags,
                    to: to.to_string(),
                    text: sms.text,
                    sms_type: match spec.campaign_type {
                        CampaignType::Transactional => {
                            crate::domain::channel_config::SmsType::Transactional
                        }
                        CampaignType::Marketing => {
                            crate::domain::channel_config::SmsType::Promotional
                        }
                    },
                    sender_id: sms_settings.sender_id,
                    origination_number: sms_settings.origination_number.map(|n| n.to_string()),
                }))
            }
            (
                Address::Push {
                    platform,
                    token,
                    platform_application_arn,
                },
                RenderedMessage::Push(push),
            ) => Ok(Envelope::Push(PushEnvelope {
                tags,
                platform: *platform,
                token: token.clone(),
                platform_application_arn: platform_application_arn.clone(),
                content: push,
            })),
            _ => Err(SendError::Rejected {
                reason: "the rendered content does not match the address's channel".into(),
            }),
        }
    }
}
