//! Delivery ports: what the pipeline hands to a provider (SES, SNS, or the local outbox).
//!
//! The pipeline has already rendered, checked and claimed the message; a sender makes exactly
//! one provider call per call to it and classifies the answer, so the pipeline can apply the
//! delivery semantics: throttling is retried, an ambiguous outcome is recorded `unknown` and
//! never resent, a permanent refusal is `failed`.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::channel_config::SmsType;
use crate::domain::profile::PushPlatform;
use crate::domain::{CampaignId, ExecutionId, MessageId};
use crate::render::{RenderedEmail, RenderedPush};

/// Identifies a message to the provider (SES message tags, SNS attributes), so feedback events
/// can be traced back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTags {
    pub message_id: MessageId,
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
}

/// RFC 8058 one-click unsubscribe for marketing mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUnsubscribe {
    /// HTTPS URL that accepts `POST` with `List-Unsubscribe=One-Click`.
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailEnvelope {
    pub tags: MessageTags,
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub to: String,
    /// SES configuration set receiving the delivery events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_set: Option<String>,
    /// Set on marketing mail: adds `List-Unsubscribe` and `List-Unsubscribe-Post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_unsubscribe: Option<ListUnsubscribe>,
    pub content: RenderedEmail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmsEnvelope {
    pub tags: MessageTags,
    /// E.164.
    pub to: String,
    pub text: String,
    pub sms_type: SmsType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origination_number: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushEnvelope {
    pub tags: MessageTags,
    pub platform: PushPlatform,
    pub token: String,
    /// The SNS platform application for `platform` (from the channel configuration).
    pub platform_application_arn: String,
    pub content: RenderedPush,
}

/// The provider accepted the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub provider_message_id: String,
}

/// Why a send did not produce an accepted message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Rate exceeded (SES `TooManyRequests`/max send rate, SNS `Throttling`): nothing was sent;
    /// retry after the hint, never drop.
    #[error("throttled by the provider")]
    Throttled { retry_after: Option<Duration> },
    /// The provider refused this message for good (bad address, message rejected, account
    /// paused…): record `failed` with the reason.
    #[error("rejected by the provider: {reason}")]
    Rejected { reason: String },
    /// The push endpoint is disabled: suppress the token, record `excluded`.
    #[error("the push endpoint is disabled")]
    EndpointDisabled,
    /// Failed before the request left (connection refused, DNS, signing): nothing was sent,
    /// safe to retry.
    #[error("the provider could not be reached: {detail}")]
    NotSent { detail: String },
    /// The request may have reached the provider (timeout, 5xx after sending, dropped
    /// connection): record `unknown`, never resend automatically.
    #[error("the provider's answer was lost: {detail}")]
    Ambiguous { detail: String },
}

pub trait EmailSender: Send + Sync {
    fn send_email(
        &self,
        email: &EmailEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send;
}

pub trait SmsSender: Send + Sync {
    fn send_sms(
        &self,
        sms: &SmsEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send;
}

pub trait PushSender: Send + Sync {
    fn send_push(
        &self,
        push: &PushEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send;
}

/// Everything that leaves Herald: every channel's sender and the feedback webhook.
pub trait Delivery:
    EmailSender + SmsSender + PushSender + super::WebhookSender + Clone + 'static
{
}

impl<T> Delivery for T where
    T: EmailSender + SmsSender + PushSender + super::WebhookSender + Clone + 'static
{
}
