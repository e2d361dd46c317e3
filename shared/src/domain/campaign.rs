//! Campaigns: the definition an operator writes ([`CampaignSpec`]), its stored versions
//! ([`CampaignVersion`]) and the campaign record that carries the lifecycle ([`Campaign`]).

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::content::Content;
use super::error::{Problems, ValidationErrors};
use super::ids::{AudienceId, CampaignId, ChannelConfigId, RuleSetId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the provider reports on each message afterwards: SES publishes deliveries,
    /// bounces and complaints of an email. SNS publishes nothing per SMS or push message (SMS
    /// delivery status goes to CloudWatch Logs; push platform events are about endpoints).
    pub fn has_message_feedback(self) -> bool {
        matches!(self, Channel::Email)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transactional messages are expected by the recipient (a password reset) and bypass consent,
/// caps and quiet hours; marketing messages respect all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CampaignType {
    Transactional,
    Marketing,
}

impl CampaignType {
    pub fn as_str(&self) -> &'static str {
        match self {
            CampaignType::Transactional => "transactional",
            CampaignType::Marketing => "marketing",
        }
    }
}

impl fmt::Display for CampaignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Live,
    Stopped,
    Completed,
    Archived,
}

impl CampaignStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Live => "live",
            CampaignStatus::Stopped => "stopped",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Archived => "archived",
        }
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a campaign may execute. Both ends optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub start_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub end_at: Option<Timestamp>,
}

impl Schedule {
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start_at.is_none_or(|s| s <= now) && self.end_at.is_none_or(|e| now < e)
    }
}

/// The audience a marketing campaign targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceRef {
    pub id: AudienceId,
}

/// Lowest and highest campaign rate limit, messages per second.
pub const RATE_LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=2000;

/// What an operator writes: everything that defines a campaign version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(rename = "type")]
    pub campaign_type: CampaignType,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_config_id: Option<ChannelConfigId>,
    pub content: Content,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceRef>,
    #[serde(default, skip_serializing_if = "is_default_schedule")]
    pub schedule: Schedule,
    /// Messages per second, 1–2000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2000))]
    pub rate_limit: Option<u32>,
    /// Transactional only: personalization from the trigger's context alone, no profile lookup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub high_throughput: bool,
    /// Create a profile when an `aep` recipient names an identity Herald does not know (AJO's
    /// "profile creation at campaign execution"); otherwise such a recipient is excluded
    /// `NoProfile`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_profiles: bool,
    /// Marketing only: frequency caps and quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set_id: Option<RuleSetId>,
}

fn is_default_schedule(s: &Schedule) -> bool {
    s == &Schedule::default()
}

impl CampaignSpec {
    /// Structural checks done on every write (a draft may be incomplete, but never incoherent).
    /// Completeness and template checks are the review's job.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if self.name.trim().is_empty() {
            p.push("name", "a campaign needs a name");
        } else if self.name.chars().count() > 256 {
            p.push("name", "a campaign name is at most 256 characters");
        }
        if let Some(r) = self.rate_limit
            && !RATE_LIMIT_RANGE.contains(&r)
        {
            p.push(
                "rateLimit",
                format!(
                    "rateLimit is messages per second from {} to {}, not {r}",
                    RATE_LIMIT_RANGE.start(),
                    RATE_LIMIT_RANGE.end()
                ),
            );
        }
        if self.high_throughput && self.campaign_type != CampaignType::Transactional {
            p.push(
                "highThroughput",
                "only transactional campaigns can be high-throughput",
            );
        }
        if self.rule_set_id.is_some() && self.campaign_type != CampaignType::Marketing {
            p.push("ruleSetId", "rule sets apply to marketing campaigns only");
        }
        if let Err(e) = self.content.validate(self.channel) {
            for err in e.0 {
                p.add(err);
            }
        }
        p.finish()
    }
}

/// One stored version of a campaign's definition. Versions are numbered from 1; a version that
/// has been activated is never changed again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignVersion {
    pub campaign_id: CampaignId,
    pub version: u32,
    pub spec: CampaignSpec,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub activated_at: Option<Timestamp>,
}

/// The campaign record: identity, lifecycle status, which version is live and which is a draft.
/// `revision` increases on every write and guards concurrent updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    #[serde(rename = "type")]
    pub campaign_type: CampaignType,
    pub channel: Channel,
    pub status: CampaignStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_version: Option<u32>,
    pub latest_version: u32,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated_from: Option<CampaignId>,
}
