//! The feedback webhook of transactional campaigns: where Herald reports every message's
//! outcome (sent, excluded, failed, unknown, delivered, bounced, complained), signed so the
//! receiver can tell the request came from this Herald.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::campaign::Channel;
use super::error::{Problems, ValidationErrors};
use super::execution::{MessageId, MessageRecord, OutcomeKind, RecipientKey};
use super::ids::{CampaignId, ExecutionId};

/// The record key of the deployment's feedback webhook.
pub const FEEDBACK_WEBHOOK: &str = "feedback";
/// Shortest accepted signing secret.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSpec {
    /// Where events are POSTed (`https://`, or `http://` for local receivers).
    pub url: String,
    /// Signs every request (`X-Herald-Signature`); at least 16 characters.
    pub secret: String,
    /// Pause deliveries without forgetting the configuration.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl WebhookSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        let url = self.url.trim();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .unwrap_or("");
        if !scheme_ok || host.is_empty() || url.contains(char::is_whitespace) {
            p.push("url", format!("{url:?} is not an http(s) URL"));
        }
        if self.secret.chars().count() < MIN_SECRET_LEN {
            p.push(
                "secret",
                format!("the signing secret needs at least {MIN_SECRET_LEN} characters"),
            );
        }
        p.finish()
    }
}

/// The stored webhook configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Always `feedback`.
    pub id: String,
    #[serde(flatten)]
    pub spec: WebhookSpec,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// One event, as POSTed (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Unique per message and outcome: receivers deduplicate on it (delivery is at least once).
    pub event_id: String,
    pub message_id: MessageId,
    pub execution_id: ExecutionId,
    pub campaign_id: CampaignId,
    pub campaign_version: u32,
    pub channel: Channel,
    pub recipient: RecipientKey,
    pub outcome: OutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: Timestamp,
}

impl WebhookEvent {
    pub fn of(m: &MessageRecord) -> Self {
        Self {
            event_id: format!("{}.{}", m.id, m.outcome.as_str()),
            message_id: m.id.clone(),
            execution_id: m.execution_id,
            campaign_id: m.campaign_id,
            campaign_version: m.campaign_version,
            channel: m.channel,
            recipient: m.recipient.clone(),
            outcome: m.outcome,
            reason: m.reason.clone(),
            detail: m.detail.clone(),
            provider_message_id: m.provider_message_id.clone(),
            occurred_at: m.updated_at,
        }
    }
}

/// The `X-Herald-Signature` header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`. Receivers recompute it with the shared secret and reject old timestamps.
pub fn signature(secret: &str, timestamp: Timestamp, body: &str) -> String {
    let t = timestamp.as_second();
    let hex = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map(|mut m| {
            m.update(format!("{t}.{body}").as_bytes());
            hex::encode(m.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_need_an_http_url_and_a_long_enough_secret() {
        let ok = WebhookSpec {
            url: "https://hooks.example.com/herald".into(),
            secret: "0123456789abcdef".into(),
            enabled: true,
        };
        ok.validate().unwrap();
        let bad = WebhookSpec {
            url: "ftp://x".into(),
            secret: "short".into(),
            enabled: true,
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 2);
    }

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_body() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let sig = signature("0123456789abcdef", t, "{}");
        assert!(sig.starts_with("t=1767225600,v1="), "{sig}");
        assert_eq!(sig.len(), "t=1767225600,v1=".len() + 64);
        assert_ne!(sig, signature("0123456789abcdeX", t, "{}"));
        assert_ne!(sig, signature("0123456789abcdef", t, "{ }"));
    }
}
