//! Trigger requests as the execution API receives them (AJO's Interactive Message Execution
//! API bodies), and their limits.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Problems, ValidationErrors};
use super::profile::PushPlatform;

/// Most recipients in one unitary or high-throughput call.
pub const MAX_RECIPIENTS: usize = 20;
/// Largest serialized context (request context plus every recipient context).
pub const MAX_CONTEXT_BYTES: usize = 200 * 1024;
/// Largest request body of the execution API.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest `requestId`.
pub const MAX_REQUEST_ID_LEN: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RecipientType {
    /// A profile Herald stores, found by `namespace` + `userId`.
    Aep,
    /// Someone Herald need not know: addressed by `channelData` (or a `userId` that is the
    /// address itself), personalized by the inline `profile`.
    External,
}

/// A push destination given inline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushInfo {
    pub token: String,
    pub platform: PushPlatform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// Addresses given in the trigger; they override stored ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_info: Option<PushInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipient {
    #[serde(rename = "type")]
    pub recipient_type: RecipientType,
    pub user_id: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<ChannelData>,
    /// Attributes that override the stored profile's for this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub profile: Option<Map<String, Value>>,
    /// Context that overrides the request context for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Map<String, Value>>,
    /// Accepted for AJO compatibility; Herald has one profile store and ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy_name: Option<String>,
    /// Accepted for AJO compatibility; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy_schema: Option<String>,
}

/// `POST /im/executions/unitary` and `/highthroughput`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnitaryRequest {
    pub request_id: String,
    pub campaign_id: String,
    pub recipients: Vec<Recipient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AudienceSelector {
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecuteAt {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub execute_at: Timestamp,
}

/// `POST /im/executions/audience`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub campaign_id: String,
    /// Default: the campaign's own audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ExecuteAt>,
}

fn json_len(v: &impl Serialize) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

fn check_request_id(p: &mut Problems, id: &str) {
    if id.trim().is_empty() {
        p.push(
            "requestId",
            "requestId is required: a unique id per trigger, reused only to retry it",
        );
    } else if id.len() > MAX_REQUEST_ID_LEN {
        p.push(
            "requestId",
            format!("requestId is at most {MAX_REQUEST_ID_LEN} characters"),
        );
    }
}

impl UnitaryRequest {
    /// Limits and shape: 1–20 recipients with unique `(namespace, userId)`, only `external`
    /// recipients when `external_only` (high-throughput), contexts within 200 KB.
    pub fn validate(&self, external_only: bool) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        check_request_id(&mut p, &self.request_id);
        if self.campaign_id.trim().is_empty() {
            p.push("campaignId", "campaignId is required");
        }
        match self.recipients.len() {
            0 => p.push("recipients", "at least one recipient is required"),
            n if n > MAX_RECIPIENTS => p.push(
                "recipients",
                format!("at most {MAX_RECIPIENTS} recipients per call, not {n}; use an audience execution for more"),
            ),
            _ => {}
        }
        let mut seen = BTreeSet::new();
        for (i, r) in self.recipients.iter().enumerate() {
            if r.user_id.trim().is_empty() {
                p.push(format!("recipients[{i}].userId"), "userId is required");
            }
            if r.namespace.trim().is_empty() {
                p.push(
                    format!("recipients[{i}].namespace"),
                    "namespace is required",
                );
            }
            if !seen.insert((r.namespace.to_ascii_lowercase(), r.user_id.clone())) {
                p.push(
                    format!("recipients[{i}].userId"),
                    format!(
                        "userId {:?} appears twice; userIds are unique per call",
                        r.user_id
                    ),
                );
            }
            if external_only && r.recipient_type != RecipientType::External {
                p.push(
                    format!("recipients[{i}].type"),
                    "high-throughput executions take external recipients only (personalization from the trigger alone)",
                );
            }
        }
        let context_bytes = self.context.as_ref().map(json_len).unwrap_or(0)
            + self
                .recipients
                .iter()
                .filter_map(|r| r.context.as_ref())
                .map(json_len)
                .sum::<usize>();
        if context_bytes > MAX_CONTEXT_BYTES {
            p.push(
                "context",
                format!("contexts add up to {context_bytes} bytes; the limit is {MAX_CONTEXT_BYTES} bytes (200 KB)"),
            );
        }
        p.finish()
    }
}

impl AudienceRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if let Some(id) = &self.request_id {
            check_request_id(&mut p, id);
        }
        if self.campaign_id.trim().is_empty() {
            p.push("campaignId", "campaignId is required");
        }
        if self.context.as_ref().map(json_len).unwrap_or(0) > MAX_CONTEXT_BYTES {
            p.push(
                "context",
                format!("the context is over the limit of {MAX_CONTEXT_BYTES} bytes (200 KB)"),
            );
        }
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unitary(v: Value) -> UnitaryRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_ajo_sample_body_parses_and_validates() {
        let r = unitary(json!({
            "requestId": "3126743632163793", "campaignId": "10e2583b-4d1d-4b57-bd6e-fdc79405d67d",
            "recipients": [{"type": "aep", "namespace": "phone", "userId": "test@gmail.com",
                            "channelData": {"mobilePhoneNumber": "1234567890"},
                            "context": {"product": {"name": "Jackets"}, "offerCode": "THANKSGIVING"}}]
        }));
        r.validate(false).unwrap();
    }

    #[test]
    fn duplicate_user_ids_too_many_recipients_and_aep_recipients_on_high_throughput_are_refused() {
        let one = json!({"type": "aep", "namespace": "email", "userId": "a@example.com"});
        let dup = unitary(json!({"requestId": "r", "campaignId": "c", "recipients": [one, one]}));
        assert!(
            dup.validate(false)
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
        let many: Vec<Value> = (0..21).map(|i| json!({"type": "external", "namespace": "email", "userId": format!("u{i}@example.com")})).collect();
        let big = unitary(json!({"requestId": "r", "campaignId": "c", "recipients": many}));
        assert!(
            big.validate(false)
                .unwrap_err()
                .to_string()
                .contains("at most 20")
        );
        let ht = unitary(json!({"requestId": "r", "campaignId": "c", "recipients": [one]}));
        assert!(
            ht.validate(true)
                .unwrap_err()
                .to_string()
                .contains("external recipients only")
        );
        assert!(
            serde_json::from_value::<UnitaryRequest>(
                json!({"requestId": "r", "campaignId": "c", "recipients": [], "extra": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn contexts_over_200_kb_are_refused() {
        let big = "x".repeat(MAX_CONTEXT_BYTES);
        let r = unitary(
            json!({"requestId": "r", "campaignId": "c", "context": {"blob": big},
                               "recipients": [{"type": "external", "namespace": "email", "userId": "a@example.com"}]}),
        );
        assert!(
            r.validate(false)
                .unwrap_err()
                .to_string()
                .contains("200 KB")
        );
    }
}
