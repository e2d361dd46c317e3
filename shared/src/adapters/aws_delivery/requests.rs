//! The request contents, as plain data: SES message tags, SNS SMS attributes, the SNS push
//! message structure, and reading an endpoint ARN out of SNS's "already exists" answer. Kept
//! apart from the SDK calls so they are unit-tested exactly.

use serde_json::{Map, Value};

use crate::domain::channel_config::SmsType;
use crate::domain::profile::PushPlatform;
use crate::ports::delivery::{MessageTags, SmsEnvelope};
use crate::render::RenderedPush;

/// SES message tag carrying Herald's message id (32 hex digits).
pub const TAG_MESSAGE_ID: &str = "herald-message-id";
/// SES message tag carrying the execution id (a UUID).
pub const TAG_EXECUTION_ID: &str = "herald-execution-id";
/// SES message tag carrying the campaign id (a UUID).
pub const TAG_CAMPAIGN_ID: &str = "herald-campaign-id";
/// SES message tag carrying the campaign version (decimal).
pub const TAG_CAMPAIGN_VERSION: &str = "herald-campaign-version";

/// SNS SMS attribute names (Publish `MessageAttributes`).
pub const SMS_TYPE: &str = "AWS.SNS.SMS.SMSType";
pub const SMS_SENDER_ID: &str = "AWS.SNS.SMS.SenderID";
pub const SMS_ORIGINATION_NUMBER: &str = "AWS.MM.SMS.OriginationNumber";

/// The SES tags for a message, in a fixed order. Values only keep SES's allowed characters
/// (`[A-Za-z0-9_-]`); ids and versions never contain others, so nothing is lost in practice.
pub fn email_tags(tags: &MessageTags) -> Vec<(&'static str, String)> {
    vec![
        (TAG_MESSAGE_ID, tag_value(tags.message_id.as_str())),
        (TAG_EXECUTION_ID, tag_value(&tags.execution_id.to_string())),
        (TAG_CAMPAIGN_ID, tag_value(&tags.campaign_id.to_string())),
        (TAG_CAMPAIGN_VERSION, tags.campaign_version.to_string()),
    ]
}

/// Replaces every character SES refuses in a tag value with `_`.
pub fn tag_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The SNS `MessageAttributes` of an SMS (all of data type `String`), in a fixed order.
pub fn sms_attributes(sms: &SmsEnvelope) -> Vec<(&'static str, String)> {
    let sms_type = match sms.sms_type {
        SmsType::Transactional => "Transactional",
        SmsType::Promotional => "Promotional",
    };
    let mut out = vec![(SMS_TYPE, sms_type.to_string())];
    if let Some(s) = sms.sender_id.as_deref().filter(|s| !s.is_empty()) {
        out.push((SMS_SENDER_ID, s.to_string()));
    }
    if let Some(n) = sms.origination_number.as_deref().filter(|s| !s.is_empty()) {
        out.push((SMS_ORIGINATION_NUMBER, n.to_string()));
    }
    out
}

/// The key SNS expects for a platform in a JSON message structure.
pub fn platform_key(platform: PushPlatform) -> &'static str {
    match platform {
        PushPlatform::Apns => "APNS",
        PushPlatform::ApnsSandbox => "APNS_SANDBOX",
        PushPlatform::Fcm => "GCM",
    }
}

/// The `Message` for `Publish` with `MessageStructure=json`:
/// `{"default": body, "<platform key>": "<payload JSON as a string>"}`.
pub fn push_message(platform: PushPlatform, content: &RenderedPush) -> String {
    let payload = match platform {
        PushPlatform::Apns | PushPlatform::ApnsSandbox => content.apns.as_str(),
        PushPlatform::Fcm => content.fcm.as_str(),
    };
    let mut m = Map::new();
    m.insert("default".into(), Value::String(content.body.clone()));
    m.insert(
        platform_key(platform).into(),
        Value::String(payload.to_string()),
    );
    Value::Object(m).to_string()
}

/// The endpoint ARN in SNS's `InvalidParameter` answer to `CreatePlatformEndpoint` when an
/// endpoint with the same token exists with other attributes: "… Endpoint arn:aws:sns:…
/// already exists with the same Token, but different attributes."
pub fn existing_endpoint_arn(message: &str) -> Option<&str> {
    if !message.contains("already exists") {
        return None;
    }
    message
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ',' | '"' | '\'' | '(' | ')')))
        .find(|w| w.starts_with("arn:") && w.contains(":endpoint/"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::domain::{CampaignId, ExecutionId, MessageId};
    use crate::render::push::PayloadJson;

    fn tags() -> MessageTags {
        MessageTags {
            message_id: MessageId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            execution_id: ExecutionId::parse("0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7b").unwrap(),
            campaign_id: CampaignId::parse("0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c").unwrap(),
            campaign_version: 12,
        }
    }

    fn sms(sms_type: SmsType, sender: Option<&str>, origin: Option<&str>) -> SmsEnvelope {
        SmsEnvelope {
            tags: tags(),
            to: "+14155550100".into(),
            text: "Hi".into(),
            sms_type,
            sender_id: sender.map(str::to_string),
            origination_number: origin.map(str::to_string),
        }
    }

    #[test]
    fn email_tags_carry_message_execution_campaign_and_version_in_ses_charset() {
        let t = email_tags(&tags());
        assert_eq!(
            t,
            vec![
                (
                    TAG_MESSAGE_ID,
                    "0123456789abcdef0123456789abcdef".to_string()
                ),
                (
                    TAG_EXECUTION_ID,
                    "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7b".to_string()
                ),
                (
                    TAG_CAMPAIGN_ID,
                    "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c".to_string()
                ),
                (TAG_CAMPAIGN_VERSION, "12".to_string()),
            ]
        );
        for (name, value) in &t {
            for s in [*name, value.as_str()] {
                assert!(
                    s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn a_tag_value_loses_characters_ses_refuses() {
        assert_eq!(tag_value("a.b c@d"), "a_b_c_d");
    }

    #[test]
    fn sms_type_follows_the_envelope_and_sender_attributes_appear_only_when_set() {
        assert_eq!(
            sms_attributes(&sms(SmsType::Transactional, None, None)),
            vec![(SMS_TYPE, "Transactional".to_string())]
        );
        assert_eq!(
            sms_attributes(&sms(
                SmsType::Promotional,
                Some("HERALD"),
                Some("+18005550100")
            )),
            vec![
                (SMS_TYPE, "Promotional".to_string()),
                (SMS_SENDER_ID, "HERALD".to_string()),
                (SMS_ORIGINATION_NUMBER, "+18005550100".to_string()),
            ]
        );
    }

    fn push() -> RenderedPush {
        RenderedPush {
            title: Some("Shipped".into()),
            body: "On its way".into(),
            url: None,
            image_url: None,
            data: BTreeMap::new(),
            badge: None,
            sound: None,
            apns: PayloadJson::new(
                &json!({"aps": {"alert": {"title": "Shipped", "body": "On its way"}}}),
            ),
            fcm: PayloadJson::new(
                &json!({"fcmV1Message": {"message": {"notification": {"body": "On its way"}}}}),
            ),
            payload_bytes: 80,
        }
    }

    #[test]
    fn the_push_message_has_the_default_and_only_the_platforms_payload_as_a_string() {
        for (platform, key, payload) in [
            (PushPlatform::Apns, "APNS", push().apns.value()),
            (
                PushPlatform::ApnsSandbox,
                "APNS_SANDBOX",
                push().apns.value(),
            ),
            (PushPlatform::Fcm, "GCM", push().fcm.value()),
        ] {
            let m: Value = serde_json::from_str(&push_message(platform, &push())).unwrap();
            let obj = m.as_object().unwrap();
            assert_eq!(obj.len(), 2, "{m}");
            assert_eq!(obj["default"], "On its way");
            let inner: Value = serde_json::from_str(obj[key].as_str().unwrap()).unwrap();
            assert_eq!(inner, payload);
        }
    }

    #[test]
    fn the_existing_endpoint_arn_is_read_from_snss_answer() {
        let msg = "Invalid parameter: Token Reason: Endpoint \
                   arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/5e3e9847-3183-3f18-a7e8-671c3a57d4b3 \
                   already exists with the same Token, but different attributes.";
        assert_eq!(
            existing_endpoint_arn(msg),
            Some(
                "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/5e3e9847-3183-3f18-a7e8-671c3a57d4b3"
            )
        );
        assert_eq!(existing_endpoint_arn("Invalid parameter: Token"), None);
    }
}
