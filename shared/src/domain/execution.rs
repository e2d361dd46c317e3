//! Executions and messages: what one accepted trigger did, recipient by recipient.
//!
//! An [`Execution`] is one accepted trigger of a campaign version. A [`MessageRecord`] is one
//! recipient on one channel, with a deterministic id ([`MessageId::derive`]) so that a retried
//! or redelivered piece of work finds the record it already wrote instead of sending again.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::campaign::Channel;
use super::ids::{AudienceId, CampaignId, ExecutionId};

/// Which endpoint accepted the trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ExecutionKind {
    Unitary,
    HighThroughput,
    Audience,
}

/// AJO's execution status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExecutionStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// Message counts by outcome, with exclusions also counted by reason. Kept as atomic
/// counters by the stores; `delivered`, `bounced` and `complained` are feedback about
/// messages already counted as `sent`, and `queued` counts messages waiting right now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    /// Audience executions: members paged into batches so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub planned: u64,
    /// Messages claimed (each recipient counts once, whatever its outcome).
    pub targeted: u64,
    pub sent: u64,
    pub excluded: u64,
    pub failed: u64,
    pub unknown: u64,
    pub queued: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub complained: u64,
    /// Soft bounces (SES `Transient` / `Undetermined`): counted once per message; the message
    /// stays `sent` (SES gave up, nothing is suppressed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub soft_bounced: u64,
    /// Transactional feedback webhook: events delivered, and failed attempts (each is retried).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub webhook_delivered: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub webhook_failures: u64,
    /// Exclusions by reason code (`NoProfile`, `Suppressed`…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded_by_reason: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counter name prefix of exclusions by reason: `excluded.NoProfile`.
pub const EXCLUDED_PREFIX: &str = "excluded.";

impl OutcomeCounts {
    /// Adds every count of `other` (the campaign report's total over versions).
    pub fn merge(&mut self, other: &OutcomeCounts) {
        let OutcomeCounts {
            planned,
            targeted,
            sent,
            excluded,
            failed,
            unknown,
            queued,
            delivered,
            bounced,
            complained,
            soft_bounced,
            webhook_delivered,
            webhook_failures,
            excluded_by_reason,
        } = other;
        for (mine, theirs) in [
            (&mut self.planned, planned),
            (&mut self.targeted, targeted),
            (&mut self.sent, sent),
            (&mut self.excluded, excluded),
            (&mut self.failed, failed),
            (&mut self.unknown, unknown),
            (&mut self.queued, queued),
            (&mut self.delivered, delivered),
            (&mut self.bounced, bounced),
            (&mut self.complained, complained),
            (&mut self.soft_bounced, soft_bounced),
            (&mut self.webhook_delivered, webhook_delivered),
            (&mut self.webhook_failures, webhook_failures),
        ] {
            *mine = mine.saturating_add(*theirs);
        }
        for (reason, n) in excluded_by_reason {
            let slot = self.excluded_by_reason.entry(reason.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
    }

    /// Builds counts from stored counters (`name → value`); unknown names are ignored.
    pub fn from_counters<'a>(counters: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let mut c = Self::default();
        for (name, n) in counters {
            c.add(name, n);
        }
        c
    }

    /// Adds `n` to the counter called `name`.
    pub fn add(&mut self, name: &str, n: i64) {
        if let Some(reason) = name.strip_prefix(EXCLUDED_PREFIX) {
            let slot = self
                .excluded_by_reason
                .entry(reason.to_string())
                .or_default();
            *slot = slot.saturating_add_signed(n);
            return;
        }
        let slot = match name {
            "planned" => &mut self.planned,
            "targeted" => &mut self.targeted,
            "sent" => &mut self.sent,
            "excluded" => &mut self.excluded,
            "failed" => &mut self.failed,
            "unknown" => &mut self.unknown,
            "queued" => &mut self.queued,
            "delivered" => &mut self.delivered,
            "bounced" => &mut self.bounced,
            "complained" => &mut self.complained,
            "softBounced" => &mut self.soft_bounced,
            "webhookDelivered" => &mut self.webhook_delivered,
            "webhookFailures" => &mut self.webhook_failures,
            _ => return,
        };
        *slot = slot.saturating_add_signed(n);
    }
}

/// A change to counters: `(name, signed amount)`. A queued message sent later moves one count
/// from `queued` to `sent`; an exclusion adds to `excluded` and `excluded.<Reason>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountDelta(pub Vec<(String, i64)>);

impl CountDelta {
    pub fn one(name: &str) -> Self {
        Self(vec![(name.to_string(), 1)])
    }

    pub fn moved(from: &str, to: &str) -> Self {
        Self(vec![(from.to_string(), -1), (to.to_string(), 1)])
    }

    /// An exclusion: `excluded` and `excluded.<reason>`.
    pub fn excluded(reason: ExclusionReason) -> Self {
        Self(vec![
            ("excluded".into(), 1),
            (format!("{EXCLUDED_PREFIX}{}", reason.as_str()), 1),
        ])
    }

    pub fn plus(mut self, other: CountDelta) -> Self {
        self.0.extend(other.0);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, n)| *n == 0)
    }

    pub fn apply(&self, counts: &mut OutcomeCounts) {
        for (f, n) in &self.0 {
            counts.add(f, *n);
        }
    }
}

/// Whose counters: one execution's, or one campaign version's (the campaign report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountScope {
    Execution(ExecutionId),
    CampaignVersion(CampaignId, u32),
}

impl CountScope {
    /// The counters a message counts in: its execution's and its campaign version's.
    pub fn of_message(message: &MessageRecord) -> [CountScope; 2] {
        [
            CountScope::Execution(message.execution_id),
            CountScope::CampaignVersion(message.campaign_id, message.campaign_version),
        ]
    }
}

/// One accepted trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: ExecutionId,
    pub kind: ExecutionKind,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    /// The caller's request id (AJO `requestId`).
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<AudienceId>,
    pub status: ExecutionStatus,
    /// Request-level context, kept for audience batches processed later.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub context: serde_json::Value,
    pub created_at: Timestamp,
    pub created_by: String,
    pub modified_at: Timestamp,
    /// Audience planning progress: the member cursor to continue from, `None` when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_cursor: Option<String>,
    pub revision: u64,
}

/// Deterministic message id: `hex(sha256(execution id, recipient key, channel))`, 32 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    pub fn derive(execution: ExecutionId, recipient: &RecipientKey, channel: Channel) -> Self {
        let mut h = Sha256::new();
        h.update(execution.as_uuid().as_bytes());
        h.update([0]);
        h.update(recipient.namespace.as_bytes());
        h.update([0]);
        h.update(recipient.user_id.as_bytes());
        h.update([0]);
        h.update(channel.as_str().as_bytes());
        let digest = h.finalize();
        Self(hex::encode(&digest[..16]))
    }

    /// Reads a stored or provider-tagged id back (32 lowercase hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a message is for, as the trigger named them: `(namespace, userId)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecipientKey {
    pub namespace: String,
    pub user_id: String,
}

impl fmt::Display for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.user_id)
    }
}

/// Why a recipient got no message. Stable codes, part of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExclusionReason {
    /// No stored profile for the identity and the campaign does not create profiles.
    NoProfile,
    /// No address for the channel (no email/phone identity, no channelData, no push token).
    NoAddress,
    /// The address is not a valid email address / E.164 number / push token.
    InvalidAddress,
    /// The address is on the suppression list.
    Suppressed,
    /// Marketing: the profile opted out of the channel.
    ConsentOut,
    /// Marketing: no consent recorded and the deployment requires explicit consent.
    ConsentMissing,
    /// Marketing: a frequency cap of the rule set is reached.
    FrequencyCap,
    /// Marketing: inside quiet hours with action `discard`.
    QuietHours,
    /// The content failed to render for this recipient.
    RenderError,
    /// The push endpoint is disabled (uninstalled app, expired token).
    PushEndpointDisabled,
    /// The message waited (quiet hours, throttling) and its campaign stopped meanwhile.
    CampaignNotLive,
}

impl ExclusionReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoProfile => "NoProfile",
            Self::NoAddress => "NoAddress",
            Self::InvalidAddress => "InvalidAddress",
            Self::Suppressed => "Suppressed",
            Self::ConsentOut => "ConsentOut",
            Self::ConsentMissing => "ConsentMissing",
            Self::FrequencyCap => "FrequencyCap",
            Self::QuietHours => "QuietHours",
            Self::RenderError => "RenderError",
            Self::PushEndpointDisabled => "PushEndpointDisabled",
            Self::CampaignNotLive => "CampaignNotLive",
        }
    }
}

/// Where a message stands. `Pending` is the claimed state between the claim and the provider's
/// answer; a record left `Pending` (a crash mid-send) is treated as `Unknown` by readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum OutcomeKind {
    Pending,
    Sent,
    Excluded,
    Failed,
    Unknown,
    Queued,
    Delivered,
    Bounced,
    Complained,
}

impl OutcomeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Excluded => "excluded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
        }
    }

    /// The counter this outcome is counted under (`Pending` is not counted).
    pub fn counter(&self) -> Option<&'static str> {
        match self {
            Self::Pending => None,
            other => Some(other.as_str()),
        }
    }
}

/// One recipient on one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub id: MessageId,
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    pub channel: Channel,
    pub recipient: RecipientKey,
    /// The normalized address used (email, E.164 number, push token), when one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub outcome: OutcomeKind,
    /// Exclusion reason code (`Suppressed`…), or the outcome's cause (`Throttled`, a bounce
    /// type…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail: what exactly was missing, the provider's message…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// True for transactional campaigns: consent, caps and quiet hours were not applied.
    #[serde(default)]
    pub rules_bypassed: bool,
    /// For `queued`: when the message will be released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub release_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl MessageRecord {
    /// The provider message id by which feedback events find this message: its provider id,
    /// when its channel has per-message feedback ([`Channel::has_message_feedback`]). Stores
    /// make only these findable (an SMS or push message's id would cost a lookup entry that
    /// no event ever reads).
    pub fn feedback_id(&self) -> Option<&str> {
        self.provider_message_id
            .as_deref()
            .filter(|_| self.channel.has_message_feedback())
    }
}

/// One recipient's work: everything the pipeline needs to process them, kept when a message
/// must wait (quiet hours) and carried by audience batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientWork {
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    pub recipient: super::trigger::Recipient,
    /// The trigger's context, shared by every member of an audience batch.
    #[serde(default, skip_serializing_if = "no_context")]
    pub request_context: Arc<serde_json::Map<String, serde_json::Value>>,
    /// Audience members are named by their stored profile id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<super::ids::ProfileId>,
}

fn no_context(context: &Arc<serde_json::Map<String, serde_json::Value>>) -> bool {
    context.is_empty()
}

/// A message held until `release_at` (quiet hours with action `queue`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldMessage {
    pub message_id: MessageId,
    pub release_at: Timestamp,
    pub work: RecipientWork,
}

/// A slice of an audience execution: member profile ids to process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceBatch {
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    /// Position of this batch in the execution (0, 1, 2…).
    pub sequence: u64,
    pub members: Vec<super::ids::ProfileId>,
}

/// AJO's schedule status, plus `Cancelled` for a schedule deleted before it fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ScheduleStatus {
    Scheduled,
    Triggered,
    Cancelled,
}

/// An audience execution to start at `execute_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledExecution {
    pub id: super::ids::ScheduleId,
    pub campaign_id: CampaignId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<AudienceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
    pub execute_at: Timestamp,
    pub status: ScheduleStatus,
    /// The execution it started, once `Triggered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<ExecutionId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_deterministic_and_differ_by_recipient_and_channel() {
        let e = ExecutionId::new();
        let ann = RecipientKey {
            namespace: "email".into(),
            user_id: "ann@example.com".into(),
        };
        let bob = RecipientKey {
            namespace: "email".into(),
            user_id: "bob@example.com".into(),
        };
        let a1 = MessageId::derive(e, &ann, Channel::Email);
        assert_eq!(a1, MessageId::derive(e, &ann, Channel::Email));
        assert_ne!(a1, MessageId::derive(e, &bob, Channel::Email));
        assert_ne!(a1, MessageId::derive(e, &ann, Channel::Sms));
        assert_ne!(
            a1,
            MessageId::derive(ExecutionId::new(), &ann, Channel::Email)
        );
        assert_eq!(MessageId::parse(a1.as_str()), Some(a1.clone()));
        assert_eq!(a1.as_str().len(), 32);
    }

    #[test]
    fn a_count_delta_moves_a_message_from_queued_to_sent_and_counts_exclusions_by_reason() {
        let mut c = OutcomeCounts {
            queued: 1,
            ..Default::default()
        };
        CountDelta::moved("queued", "sent").apply(&mut c);
        assert_eq!((c.queued, c.sent), (0, 1));
        CountDelta::excluded(ExclusionReason::Suppressed).apply(&mut c);
        assert_eq!(c.excluded, 1);
        assert_eq!(c.excluded_by_reason["Suppressed"], 1);
        let rebuilt = OutcomeCounts::from_counters([
            ("sent", 1),
            ("excluded", 1),
            ("excluded.Suppressed", 1),
            ("bogus", 5),
        ]);
        assert_eq!(rebuilt, c);
    }
}
