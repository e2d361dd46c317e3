//! Channel configurations (AJO's "surfaces"): who a message is from and how the provider sends
//! it, per channel and category (transactional or marketing).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::address::{EmailAddress, PhoneNumber};
use super::campaign::{CampaignType, Channel};
use super::error::{Problems, ValidationErrors};
use super::ids::ChannelConfigId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailSettings {
    pub from_address: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<EmailAddress>,
    /// SES configuration set that receives the delivery events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_set: Option<String>,
    /// Adds `List-Unsubscribe` headers (RFC 8058 one-click) to marketing mail.
    #[serde(default = "yes")]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub list_unsubscribe: bool,
}

fn yes() -> bool {
    true
}

/// The SNS SMS type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsType {
    Transactional,
    Promotional,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origination_number: Option<PhoneNumber>,
    /// Alphanumeric sender id (1–11 characters, at least one letter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSettings {
    /// SNS platform application ARN for APNs (iOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_platform_arn: Option<String>,
    /// SNS platform application ARN for the APNs sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_sandbox_platform_arn: Option<String>,
    /// SNS platform application ARN for Firebase Cloud Messaging (Android).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm_platform_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChannelSettings {
    Email(EmailSettings),
    Sms(SmsSettings),
    Push(PushSettings),
}

impl ChannelSettings {
    pub fn channel(&self) -> Channel {
        match self {
            ChannelSettings::Email(_) => Channel::Email,
            ChannelSettings::Sms(_) => Channel::Sms,
            ChannelSettings::Push(_) => Channel::Push,
        }
    }
}

/// What an operator writes to create or replace a channel configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "SpecWire")]
pub struct ChannelConfigSpec {
    pub name: String,
    /// Which kind of campaign may use it.
    pub category: CampaignType,
    #[serde(flatten)]
    pub settings: ChannelSettings,
}

impl ChannelConfigSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if self.name.trim().is_empty() {
            p.push("name", "a channel configuration needs a name");
        }
        match &self.settings {
            ChannelSettings::Email(e) => {
                if let Some(n) = &e.from_name
                    && n.contains(['\r', '\n'])
                {
                    p.push(
                        "email.fromName",
                        "the sender name may not contain line breaks",
                    );
                }
                if let Some(c) = &e.configuration_set
                    && (c.is_empty()
                        || !c
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
                {
                    p.push(
                        "email.configurationSet",
                        "a configuration set name uses letters, digits, - and _ only",
                    );
                }
            }
            ChannelSettings::Sms(s) => {
                if let Some(id) = &s.sender_id
                    && !(1..=11).contains(&id.len())
                        | !id.chars().all(|c| c.is_ascii_alphanumeric())
                        | !id.chars().any(|c| c.is_ascii_alphabetic())
                {
                    p.push(
                        "sms.senderId",
                        "a sender id is 1–11 letters or digits with at least one letter",
                    );
                }
            }
            ChannelSettings::Push(s) => {
                for (field, arn) in [
                    ("push.apnsPlatformArn", &s.apns_platform_arn),
                    ("push.apnsSandboxPlatformArn", &s.apns_sandbox_platform_arn),
                    ("push.fcmPlatformArn", &s.fcm_platform_arn),
                ] {
                    if let Some(a) = arn
                        && !a.starts_with("arn:")
                    {
                        p.push(field, format!("{a:?} is not an ARN"));
                    }
                }
                if s.apns_platform_arn.is_none()
                    && s.apns_sandbox_platform_arn.is_none()
                    && s.fcm_platform_arn.is_none()
                {
                    p.push(
                        "push",
                        "a push configuration needs at least one platform application ARN",
                    );
                }
            }
        }
        p.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "StoredWire")]
pub struct ChannelConfig {
    pub id: ChannelConfigId,
    #[serde(flatten)]
    pub spec: ChannelConfigSpec,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl ChannelConfig {
    pub fn channel(&self) -> Channel {
        self.spec.settings.channel()
    }

    /// The SNS SMS type for a campaign of this configuration's category.
    pub fn sms_type(&self) -> SmsType {
        match self.spec.category {
            CampaignType::Transactional => SmsType::Transactional,
            CampaignType::Marketing => SmsType::Promotional,
        }
    }
}

// Wire forms: `#[serde(flatten)]` cannot refuse unknown keys, so input names every key and
// refuses the rest (a misspelt `"fromAdress"` block is an error, not silently dropped). The
// stored form is read leniently.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecWire {
    name: String,
    category: CampaignType,
    email: Option<EmailSettings>,
    sms: Option<SmsSettings>,
    push: Option<PushSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredWire {
    id: ChannelConfigId,
    name: String,
    category: CampaignType,
    email: Option<EmailSettings>,
    sms: Option<SmsSettings>,
    push: Option<PushSettings>,
    revision: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn one_setting(
    email: Option<EmailSettings>,
    sms: Option<SmsSettings>,
    push: Option<PushSettings>,
) -> Result<ChannelSettings, String> {
    match (email, sms, push) {
        (Some(e), None, None) => Ok(ChannelSettings::Email(e)),
        (None, Some(s), None) => Ok(ChannelSettings::Sms(s)),
        (None, None, Some(p)) => Ok(ChannelSettings::Push(p)),
        (None, None, None) => Err("a channel configuration needs one of email, sms or push".into()),
        _ => Err("a channel configuration has exactly one of email, sms or push".into()),
    }
}

impl TryFrom<SpecWire> for ChannelConfigSpec {
    type Error = String;
    fn try_from(w: SpecWire) -> Result<Self, String> {
        Ok(Self {
            name: w.name,
            category: w.category,
            settings: one_setting(w.email, w.sms, w.push)?,
        })
    }
}

impl TryFrom<StoredWire> for ChannelConfig {
    type Error = String;
    fn try_from(w: StoredWire) -> Result<Self, String> {
        Ok(Self {
            id: w.id,
            spec: ChannelConfigSpec {
                name: w.name,
                category: w.category,
                settings: one_setting(w.email, w.sms, w.push)?,
            },
            revision: w.revision,
            created_at: w.created_at,
            updated_at: w.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_misspelt_key_is_refused_and_a_stored_config_reads_back() {
        let typo = json!({"name": "m", "category": "marketing", "emial": {"fromAddress": "a@example.com"}});
        assert!(
            serde_json::from_value::<ChannelConfigSpec>(typo)
                .unwrap_err()
                .to_string()
                .contains("emial")
        );
        let spec: ChannelConfigSpec = serde_json::from_value(
            json!({"name": "m", "category": "marketing", "sms": {"senderId": "Herald"}}),
        )
        .unwrap();
        let now = Timestamp::UNIX_EPOCH;
        let stored = ChannelConfig {
            id: ChannelConfigId::new(),
            spec,
            revision: 3,
            created_at: now,
            updated_at: now,
        };
        let back: ChannelConfig =
            serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
        assert_eq!(back, stored);
    }
}
