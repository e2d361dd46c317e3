//! What the outbox stores per message: `<message-id>.json`, one [`OutboxEntry`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::simulator::SimulatorMailbox;
use crate::domain::channel_config::SmsType;
use crate::domain::profile::PushPlatform;
use crate::domain::{CampaignId, ExecutionId, MessageId};
use crate::render::{RenderedEmail, RenderedPush};

/// One stored message: who, what, when, and the rendered content. Serialized as camelCase
/// JSON with a `channel` field (`email` | `sms` | `push`) and that channel's fields beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    pub message_id: MessageId,
    /// `outbox-<message id>`: the provider message id the send returned.
    pub provider_message_id: String,
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub message: OutboxMessage,
    /// The SES mailbox-simulator mailbox the recipient is, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<SimulatorMailbox>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "channel", rename_all = "camelCase")]
pub enum OutboxMessage {
    Email(OutboxEmail),
    Sms(OutboxSms),
    Push(OutboxPush),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutboxEmail {
    pub to: String,
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_set: Option<String>,
    /// The one-click unsubscribe URL of marketing mail (`List-Unsubscribe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_unsubscribe: Option<String>,
    /// `subject`, `html`, `text`, `preheader`.
    #[serde(flatten)]
    pub content: RenderedEmail,
    /// The file name of the raw MIME message beside this entry (`<message id>.eml`).
    pub eml_file: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutboxSms {
    /// E.164.
    pub to: String,
    pub text: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    pub segments: usize,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub sms_type: SmsType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origination_number: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutboxPush {
    pub platform: PushPlatform,
    pub token: String,
    pub platform_application_arn: String,
    /// `title`, `body`, `url`, `imageUrl`, `data`, `badge`, `sound`, and the `apns` / `fcm`
    /// payloads.
    #[serde(flatten)]
    pub content: RenderedPush,
}
