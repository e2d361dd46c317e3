//! Provider notifications the feedback function reads from SNS, as pure data:
//!
//! - **SES events** published by a configuration set's SNS event destination (`eventType`), and
//!   SES feedback notifications of an identity (`notificationType`, same body without tags).
//!   [`SesEvent::interpret`] turns one into what Herald records: one [`SesNotice`] per
//!   delivered, bounced or complained recipient; other event types (`Send`, `Reject`,
//!   `DeliveryDelay`, `Rendering Failure`, `Open`, `Click`, `Subscription`, SES's
//!   `AmazonSnsSubscriptionSucceeded` test message) are [`SesInterpretation::Ignored`].
//! - **SNS platform application events** (`EventEndpointUpdated`, `EventEndpointDeleted`,
//!   `EventDeliveryFailure` topics of a push platform application): a JSON object with
//!   `EventType` and `EndpointArn`. [`PushEndpointEvent::change`] says whether it proves the
//!   endpoint disabled, proves nothing, or leaves the endpoint's state to be looked up.
//!
//! [`parse`] tells the shapes apart. Everything here is lenient where AWS's documents vary
//! (absent optional objects, timestamps with or without fractions, `"false"` or `false`), and
//! strict where Herald depends on a value (the SES message id, the recipients).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// One notification carried in an SNS message's `Message`.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderNotification {
    Ses(Box<SesEvent>),
    PushEndpoint(PushEndpointEvent),
}

/// Why a `Message` was not understood. The feedback function logs it and skips the record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("the message is not a JSON object: {0}")]
    NotJson(String),
    #[error(
        "the message is neither an SES event (eventType / notificationType) nor an SNS platform application event (EventType with EndpointArn)"
    )]
    Unrecognized,
    #[error("malformed {what}: {detail}")]
    Malformed { what: String, detail: String },
}

impl NotificationError {
    fn malformed(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Malformed {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Reads an SNS `Message`: an SES event or notification, or a push platform event.
pub fn parse(message: &str) -> Result<ProviderNotification, NotificationError> {
    let value: Value =
        serde_json::from_str(message).map_err(|e| NotificationError::NotJson(e.to_string()))?;
    let Value::Object(object) = &value else {
        return Err(NotificationError::NotJson(
            "a JSON value that is not an object".into(),
        ));
    };
    if object.contains_key("eventType") || object.contains_key("notificationType") {
        let event: SesEvent = serde_json::from_value(value)
            .map_err(|e| NotificationError::malformed("SES event", e.to_string()))?;
        return Ok(ProviderNotification::Ses(Box::new(event)));
    }
    if object.contains_key("EventType") && object.contains_key("EndpointArn") {
        return PushEndpointEvent::from_object(object).map(ProviderNotification::PushEndpoint);
    }
    Err(NotificationError::Unrecognized)
}

/// An SES event record (event publishing) or feedback notification (identity notifications).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesEvent {
    /// `Bounce`, `Complaint`, `Delivery`, `Send`, `Reject`, `DeliveryDelay`, `Rendering
    /// Failure`, `Open`, `Click`, `Subscription` (`notificationType` in identity notifications).
    #[serde(alias = "notificationType")]
    pub event_type: String,
    /// Absent only from SES's subscription test message.
    #[serde(default)]
    pub mail: Option<SesMail>,
    #[serde(default)]
    pub bounce: Option<SesBounce>,
    #[serde(default)]
    pub complaint: Option<SesComplaint>,
    #[serde(default)]
    pub delivery: Option<SesDelivery>,
}

/// The `mail` object: which message the event is about.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesMail {
    /// The id SES returned from `SendEmail`: Herald's provider message id.
    pub message_id: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub destination: Vec<String>,
    /// Message tags (event publishing only): `name → [values]`, including Herald's
    /// `herald-message-id` and SES's own `ses:configuration-set`.
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesBounce {
    /// `Permanent`, `Transient` or `Undetermined`.
    pub bounce_type: String,
    #[serde(default)]
    pub bounce_sub_type: Option<String>,
    pub bounced_recipients: Vec<SesRecipient>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub feedback_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesComplaint {
    pub complained_recipients: Vec<SesRecipient>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub feedback_id: Option<String>,
    /// `abuse`, `fraud`, `not-spam`… when the mailbox provider sent a feedback report.
    #[serde(default)]
    pub complaint_feedback_type: Option<String>,
    #[serde(default)]
    pub complaint_sub_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesDelivery {
    pub recipients: Vec<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub smtp_response: Option<String>,
}

/// A bounced or complaining recipient.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesRecipient {
    pub email_address: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub diagnostic_code: Option<String>,
}

/// What an SES event says happened to one recipient of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SesOutcome {
    Delivered,
    /// `permanent`: `bounceType` `Permanent` (a hard bounce); `Transient` and `Undetermined`
    /// are soft.
    Bounced {
        permanent: bool,
    },
    Complained,
}

/// One recipient's feedback about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SesNotice {
    pub provider_message_id: String,
    pub outcome: SesOutcome,
    pub address: String,
    pub occurred_at: Timestamp,
    /// The bounce type and sub-type, SMTP status and diagnostic, or complaint type.
    pub detail: Option<String>,
}

/// What Herald does with an SES event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SesInterpretation {
    /// Record these (one per recipient).
    Notices(Vec<SesNotice>),
    /// An event type Herald does not act on, named.
    Ignored(String),
}

/// SES event types that carry no outcome Herald records.
const IGNORED_SES_TYPES: [&str; 9] = [
    "Send",
    "Reject",
    "DeliveryDelay",
    "Rendering Failure",
    "RenderingFailure",
    "Open",
    "Click",
    "Subscription",
    "AmazonSnsSubscriptionSucceeded",
];

/// Reads an SES timestamp (`2017-08-05T00:41:02.669Z`); `None` when absent or unreadable.
fn timestamp(text: Option<&str>) -> Option<Timestamp> {
    text.and_then(|t| t.trim().parse().ok())
}

impl SesEvent {
    /// The value of a message tag (the first, SES gives each as a list).
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.mail
            .as_ref()?
            .tags
            .get(name)?
            .first()
            .map(String::as_str)
    }

    /// The provider message id, when the event names one.
    pub fn message_id(&self) -> Option<&str> {
        self.mail
            .as_ref()
            .map(|m| m.message_id.as_str())
            .filter(|id| !id.trim().is_empty())
    }

    /// Turns the event into notices. `received_at` (the SNS message's time) stands in for an
    /// event without a readable timestamp. An event of a type Herald records that lacks its
    /// message id, its detail object or any recipient is malformed.
    pub fn interpret(
        &self,
        received_at: Timestamp,
    ) -> Result<SesInterpretation, NotificationError> {
        let kind = self.event_type.as_str();
        if IGNORED_SES_TYPES.contains(&kind) {
            return Ok(SesInterpretation::Ignored(kind.to_string()));
        }
        let what = || format!("SES {kind} event");
        let missing = |field: &str| NotificationError::malformed(what(), format!("no {field}"));
        if !matches!(kind, "Bounce" | "Complaint" | "Delivery") {
            return Err(NotificationError::malformed(
                what(),
                "an event type SES does not publish",
            ));
        }
        let id = self.message_id().ok_or_else(|| missing("mail.messageId"))?;
        let mail_time = self
            .mail
            .as_ref()
            .and_then(|m| timestamp(m.timestamp.as_deref()));
        let when = |t: Option<&String>| {
            timestamp(t.map(String::as_str))
                .or(mail_time)
                .unwrap_or(received_at)
        };
        let notice = |outcome, address: &str, occurred_at, detail| SesNotice {
            provider_message_id: id.to_string(),
            outcome,
            address: address.trim().to_string(),
            occurred_at,
            detail,
        };
        let notices: Vec<SesNotice> = match kind {
            "Bounce" => {
                let b = self.bounce.as_ref().ok_or_else(|| missing("bounce"))?;
                let permanent = b.bounce_type.eq_ignore_ascii_case("Permanent");
                let at = when(b.timestamp.as_ref());
                b.bounced_recipients
                    .iter()
                    .map(|r| {
                        let detail = [
                            Some(b.bounce_type.as_str()),
                            b.bounce_sub_type.as_deref(),
                            r.status.as_deref(),
                            r.diagnostic_code.as_deref(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" / ");
                        notice(
                            SesOutcome::Bounced { permanent },
                            &r.email_address,
                            at,
                            Some(detail),
                        )
                    })
                    .collect()
            }
            "Complaint" => {
                let c = self
                    .complaint
                    .as_ref()
                    .ok_or_else(|| missing("complaint"))?;
                let at = when(c.timestamp.as_ref());
                let detail = c
                    .complaint_feedback_type
                    .clone()
                    .or_else(|| c.complaint_sub_type.clone());
                c.complained_recipients
                    .iter()
                    .map(|r| notice(SesOutcome::Complained, &r.email_address, at, detail.clone()))
                    .collect()
            }
            _ => {
                let d = self.delivery.as_ref().ok_or_else(|| missing("delivery"))?;
                let at = when(d.timestamp.as_ref());
                d.recipients
                    .iter()
                    .map(|r| notice(SesOutcome::Delivered, r, at, d.smtp_response.clone()))
                    .collect()
            }
        };
        if notices.is_empty() || notices.iter().any(|n| n.address.is_empty()) {
            return Err(NotificationError::malformed(
                what(),
                "no recipient, or a recipient without an address",
            ));
        }
        Ok(SesInterpretation::Notices(notices))
    }
}

/// An SNS platform application event about one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEndpointEvent {
    /// `EndpointCreated`, `EndpointUpdated`, `EndpointDeleted` or `DeliveryFailure`.
    pub event_type: String,
    pub endpoint_arn: String,
    /// The device token, when the event carries it (`Token`, or `Attributes.Token`).
    pub token: Option<String>,
    /// Whether the endpoint is enabled, when the event says (`Enabled` or
    /// `Attributes.Enabled`, as `"false"` or `false`).
    pub enabled: Option<bool>,
    /// `DeliveryFailure` only: `EndpointDisabled`, `InvalidPlatformToken`…
    pub failure_type: Option<String>,
    pub failure_message: Option<String>,
    pub time: Option<Timestamp>,
}

/// What a push endpoint event means for the token's suppression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEndpointChange {
    /// The endpoint is disabled (or its token invalid): suppress the token. `token` when the
    /// event carries it; otherwise it must be looked up by endpoint ARN.
    Disabled { token: Option<String> },
    /// The event does not say whether the endpoint is still enabled: look it up.
    LookUp,
    /// Nothing to do (an endpoint created or enabled; a deletion that does not say the
    /// endpoint was disabled — Herald recreates a deleted endpoint at the next send).
    Irrelevant,
}

/// `DeliveryFailure` failure types that mean the token is dead.
const DEAD_TOKEN_FAILURES: [&str; 3] = ["EndpointDisabled", "InvalidPlatformToken", "Unregistered"];

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn flag_of(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl PushEndpointEvent {
    fn from_object(object: &serde_json::Map<String, Value>) -> Result<Self, NotificationError> {
        let what = "SNS platform application event";
        let event_type = text_of(object.get("EventType"))
            .ok_or_else(|| NotificationError::malformed(what, "EventType is not a string"))?;
        let endpoint_arn = text_of(object.get("EndpointArn"))
            .ok_or_else(|| NotificationError::malformed(what, "EndpointArn is not a string"))?;
        let attributes = object.get("Attributes").and_then(Value::as_object);
        let field = |name: &str| {
            object
                .get(name)
                .or_else(|| attributes.and_then(|a| a.get(name)))
        };
        Ok(Self {
            event_type,
            endpoint_arn,
            token: text_of(field("Token")),
            enabled: flag_of(field("Enabled")),
            failure_type: text_of(object.get("FailureType")),
            failure_message: text_of(object.get("FailureMessage")),
            time: text_of(object.get("Time")).and_then(|t| t.parse().ok()),
        })
    }

    pub fn change(&self) -> PushEndpointChange {
        let disabled = || PushEndpointChange::Disabled {
            token: self.token.clone(),
        };
        match (self.event_type.as_str(), self.enabled) {
            (_, Some(false)) => disabled(),
            ("EndpointUpdated", None) => PushEndpointChange::LookUp,
            ("DeliveryFailure", _)
                if self
                    .failure_type
                    .as_deref()
                    .is_some_and(|t| DEAD_TOKEN_FAILURES.contains(&t)) =>
            {
                disabled()
            }
            // A permanent delivery failure of another kind: SNS may have disabled it.
            ("DeliveryFailure", _) => PushEndpointChange::LookUp,
            _ => PushEndpointChange::Irrelevant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The bounce record of the SES developer guide ("Examples of event data that Amazon SES
    /// publishes to Amazon SNS"), with Herald's tags.
    const BOUNCE: &str = r#"{
      "eventType": "Bounce",
      "bounce": {
        "bounceType": "Permanent", "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "recipient@example.com", "action": "failed",
                               "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com"
      },
      "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z",
        "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": false,
        "headers": [{"name": "From", "value": "Sender Name <sender@example.com>"}],
        "commonHeaders": {"from": ["Sender Name <sender@example.com>"], "to": ["recipient@example.com"],
                          "messageId": "EXAMPLE7c191be45", "subject": "Message sent from Amazon SES"},
        "tags": {"ses:configuration-set": ["ConfigSet"], "herald-message-id": ["0123456789abcdef0123456789abcdef"]}
      }
    }"#;

    fn ses(message: &str) -> SesEvent {
        match parse(message).unwrap() {
            ProviderNotification::Ses(e) => *e,
            other => panic!("not an SES event: {other:?}"),
        }
    }

    #[test]
    fn a_permanent_bounce_is_a_hard_bounce_of_each_bounced_recipient() {
        let event = ses(BOUNCE);
        assert_eq!(
            event.tag("herald-message-id"),
            Some("0123456789abcdef0123456789abcdef")
        );
        let SesInterpretation::Notices(notices) =
            event.interpret(t("2030-01-01T00:00:00Z")).unwrap()
        else {
            panic!("a bounce is recorded");
        };
        assert_eq!(
            notices,
            vec![SesNotice {
                provider_message_id: "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
                    .into(),
                outcome: SesOutcome::Bounced { permanent: true },
                address: "recipient@example.com".into(),
                occurred_at: t("2017-08-05T00:41:02.669Z"),
                detail: Some("Permanent / General / 5.1.1 / smtp; 550 5.1.1 user unknown".into()),
            }]
        );
    }

    #[test]
    fn transient_and_undetermined_bounces_are_soft() {
        for kind in ["Transient", "Undetermined"] {
            let event = ses(&BOUNCE.replace("\"Permanent\"", &format!("\"{kind}\"")));
            let SesInterpretation::Notices(n) = event.interpret(Timestamp::UNIX_EPOCH).unwrap()
            else {
                panic!("recorded");
            };
            assert_eq!(
                n[0].outcome,
                SesOutcome::Bounced { permanent: false },
                "{kind}"
            );
        }
    }

    #[test]
    fn an_identity_notification_reads_like_an_event_without_tags() {
        let message = r#"{"notificationType": "Complaint",
          "complaint": {"userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": "recipient@example.com"}, {"emailAddress": "other@example.com"}],
            "complaintFeedbackType": "abuse", "arrivalDate": "2016-01-27T14:59:38.237Z",
            "timestamp": "2016-01-27T14:59:38.237Z", "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"},
          "mail": {"timestamp": "2016-01-27T14:59:38.237Z", "messageId": "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
            "source": "john@example.com", "destination": ["recipient@example.com", "other@example.com"]}}"#;
        let event = ses(message);
        assert_eq!(event.tag("herald-message-id"), None);
        let SesInterpretation::Notices(n) = event.interpret(Timestamp::UNIX_EPOCH).unwrap() else {
            panic!("recorded");
        };
        assert_eq!(n.len(), 2);
        assert!(n.iter().all(|n| n.outcome == SesOutcome::Complained));
        assert_eq!(n[1].address, "other@example.com");
        assert_eq!(n[0].detail.as_deref(), Some("abuse"));
    }

    #[test]
    fn a_delivery_names_each_recipient_and_falls_back_to_the_mail_time() {
        let message = r#"{"eventType": "Delivery",
          "mail": {"timestamp": "2016-10-19T23:20:52.240Z", "messageId": "EXAMPLE7c191be45", "destination": ["recipient@example.com"]},
          "delivery": {"processingTimeMillis": 546, "recipients": ["recipient@example.com"],
                       "smtpResponse": "250 ok:  Message 64111812 accepted", "reportingMTA": "a8-70.smtp-out.amazonses.com"}}"#;
        let SesInterpretation::Notices(n) = ses(message).interpret(Timestamp::UNIX_EPOCH).unwrap()
        else {
            panic!("recorded");
        };
        assert_eq!(n[0].outcome, SesOutcome::Delivered);
        assert_eq!(n[0].occurred_at, t("2016-10-19T23:20:52.240Z"));
    }

    #[test]
    fn event_types_without_an_outcome_are_ignored_by_name() {
        for kind in [
            "Send",
            "Reject",
            "DeliveryDelay",
            "Rendering Failure",
            "Open",
            "Click",
        ] {
            let message = format!(r#"{{"eventType": "{kind}", "mail": {{"messageId": "x"}}}}"#);
            assert_eq!(
                ses(&message).interpret(Timestamp::UNIX_EPOCH).unwrap(),
                SesInterpretation::Ignored(kind.into())
            );
        }
        let test_message = r#"{"notificationType":"AmazonSnsSubscriptionSucceeded","message":"You have successfully subscribed your Amazon SNS topic to receive notifications."}"#;
        assert!(matches!(
            ses(test_message).interpret(Timestamp::UNIX_EPOCH),
            Ok(SesInterpretation::Ignored(_))
        ));
    }

    #[test]
    fn malformed_and_foreign_messages_are_refused_with_a_reason() {
        assert!(matches!(
            parse("not json"),
            Err(NotificationError::NotJson(_))
        ));
        assert!(matches!(
            parse("[1, 2]"),
            Err(NotificationError::NotJson(_))
        ));
        assert_eq!(
            parse(r#"{"hello": "world"}"#),
            Err(NotificationError::Unrecognized)
        );
        assert!(matches!(
            parse(r#"{"eventType": "Bounce", "mail": {"messageId": 7}}"#),
            Err(NotificationError::Malformed { .. })
        ));
        let no_bounce = r#"{"eventType": "Bounce", "mail": {"messageId": "m-1"}}"#;
        assert!(matches!(
            ses(no_bounce).interpret(Timestamp::UNIX_EPOCH),
            Err(NotificationError::Malformed { .. })
        ));
        let no_recipient = r#"{"eventType": "Bounce", "mail": {"messageId": "m-1"},
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}}"#;
        assert!(ses(no_recipient).interpret(Timestamp::UNIX_EPOCH).is_err());
        let no_id = r#"{"eventType": "Delivery", "mail": {"messageId": " "},
            "delivery": {"recipients": ["a@example.com"]}}"#;
        assert!(ses(no_id).interpret(Timestamp::UNIX_EPOCH).is_err());
    }

    fn push(message: &str) -> PushEndpointEvent {
        match parse(message).unwrap() {
            ProviderNotification::PushEndpoint(e) => e,
            other => panic!("not a push event: {other:?}"),
        }
    }

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/herald/5e3e9847-3183-3f18-a7e8-671c3a57d4b3";

    #[test]
    fn an_endpoint_update_that_disables_it_suppresses_the_token_it_names() {
        let e = push(&format!(
            r#"{{"EndpointArn": "{ARN}", "EventType": "EndpointUpdated", "Resource": "arn:aws:sns:us-east-1:123456789012:app/GCM/herald",
                "Service": "SNS", "Time": "2026-11-27T10:15:00.000Z", "Type": "Notification",
                "Attributes": {{"Enabled": "false", "Token": "fcm-token-1"}}}}"#
        ));
        assert_eq!(e.enabled, Some(false));
        assert_eq!(e.time, Some(t("2026-11-27T10:15:00Z")));
        assert_eq!(
            e.change(),
            PushEndpointChange::Disabled {
                token: Some("fcm-token-1".into())
            }
        );
    }

    #[test]
    fn an_endpoint_update_that_does_not_say_what_changed_is_looked_up() {
        let e = push(&format!(
            r#"{{"EndpointArn": "{ARN}", "EventType": "EndpointUpdated", "Service": "SNS"}}"#
        ));
        assert_eq!(e.change(), PushEndpointChange::LookUp);
        let enabled = push(&format!(
            r#"{{"EndpointArn": "{ARN}", "EventType": "EndpointUpdated", "Enabled": true}}"#
        ));
        assert_eq!(enabled.change(), PushEndpointChange::Irrelevant);
    }

    #[test]
    fn delivery_failures_of_dead_tokens_suppress_and_others_are_looked_up() {
        let dead = push(&format!(
            r#"{{"DeliveryAttempts": 1, "EndpointArn": "{ARN}", "EventType": "DeliveryFailure",
                "FailureMessage": "Endpoint is disabled", "FailureType": "EndpointDisabled",
                "MessageId": "9c3a8b2e-0c1f-5d2e-9a11-1d2f3e4a5b6c", "Resource": "arn:aws:sns:us-east-1:123456789012:app/GCM/herald",
                "Service": "SNS", "Time": "2026-11-27T10:15:00.000Z"}}"#
        ));
        assert_eq!(dead.change(), PushEndpointChange::Disabled { token: None });
        let other = push(&format!(
            r#"{{"EndpointArn": "{ARN}", "EventType": "DeliveryFailure", "FailureType": "MessageTooLong"}}"#
        ));
        assert_eq!(other.change(), PushEndpointChange::LookUp);
    }

    #[test]
    fn created_and_plainly_deleted_endpoints_change_nothing() {
        for kind in ["EndpointCreated", "EndpointDeleted"] {
            let e = push(&format!(
                r#"{{"EndpointArn": "{ARN}", "EventType": "{kind}"}}"#
            ));
            assert_eq!(e.change(), PushEndpointChange::Irrelevant, "{kind}");
        }
        let deleted_disabled = push(&format!(
            r#"{{"EndpointArn": "{ARN}", "EventType": "EndpointDeleted", "Enabled": "false", "Token": "tok"}}"#
        ));
        assert_eq!(
            deleted_disabled.change(),
            PushEndpointChange::Disabled {
                token: Some("tok".into())
            }
        );
        assert!(matches!(
            parse(r#"{"EndpointArn": 5, "EventType": "EndpointUpdated"}"#),
            Err(NotificationError::Malformed { .. })
        ));
    }
}
