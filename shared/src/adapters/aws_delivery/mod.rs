//! Delivery through Amazon SES v2 (email) and Amazon SNS (SMS and mobile push).
//!
//! - Email: `SendEmail` with `Content.Raw` (the MIME from [`crate::adapters::mime`]),
//!   `Destination.ToAddresses` set to the one recipient (so the headers can never add one),
//!   the configuration set when the channel has one, and SES message tags
//!   ([`requests::email_tags`]) that the feedback function reads back from SES events.
//! - SMS: `Publish` to `PhoneNumber` with `AWS.SNS.SMS.SMSType` and, when configured,
//!   `AWS.SNS.SMS.SenderID` / `AWS.MM.SMS.OriginationNumber`.
//! - Push: `CreatePlatformEndpoint` for the token (SNS returns the existing endpoint for a
//!   token it knows; when it answers that the endpoint exists "with different attributes", the
//!   ARN is read from its message), then `GetEndpointAttributes`: `Enabled=false` is
//!   [`SendError::EndpointDisabled`] and nothing is published. A send never re-enables an
//!   endpoint: SNS disables one when APNs/FCM report the token invalid, and only a fresh
//!   registration of the token (a profile update) may bring it back. Then `Publish` with
//!   `TargetArn` and `MessageStructure=json` ([`requests::push_message`]).
//!
//! At most one provider call per message: the clients are rebuilt with SDK retries disabled
//! (whatever the caller configured), so a retry can only come from the pipeline, which knows
//! the outcome ([`classify()`]). Unless the caller set them, a connection must be established
//! within [`CONNECT_TIMEOUT`] and a call answered within [`SEND_ATTEMPT_TIMEOUT`]. For push, the two preparatory calls deliver nothing, so their
//! ambiguous failures are reported as `NotSent`.

pub mod classify;
mod opt_out;
pub mod probe;
pub mod requests;

use std::time::Duration;

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::error::{BuildError, ProvideErrorMetadata};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use aws_sdk_sns::types::MessageAttributeValue;

pub use classify::classify;
use probe::TransmitProbe;

use crate::adapters::mime;
use crate::ports::delivery::{
    Accepted, EmailEnvelope, EmailSender, PushEnvelope, PushSender, SendError, SmsEnvelope,
    SmsSender,
};

/// SES v2 and SNS senders behind the delivery ports. Cheap to clone (the SDK clients are).
#[derive(Clone, Debug)]
pub struct AwsDelivery {
    ses: aws_sdk_sesv2::Client,
    sns: aws_sdk_sns::Client,
    message_id_domain: String,
    webhook: crate::adapters::http_webhook::HttpWebhook,
}

impl AwsDelivery {
    /// Wraps the clients, rebuilt with SDK retries disabled. `message_id_domain` is the
    /// right-hand side of every `Message-ID` (usually the sending domain).
    pub fn new(
        ses: aws_sdk_sesv2::Client,
        sns: aws_sdk_sns::Client,
        message_id_domain: impl Into<String>,
    ) -> Self {
        let ses = aws_sdk_sesv2::Client::from_conf(
            ses.config()
                .to_builder()
                .retry_config(RetryConfig::disabled())
                .timeout_config(send_timeouts(ses.config().timeout_config()))
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            sns.config()
                .to_builder()
                .retry_config(RetryConfig::disabled())
                .timeout_config(send_timeouts(sns.config().timeout_config()))
                .build(),
        );
        Self {
            ses,
            sns,
            message_id_domain: message_id_domain.into(),
            webhook: crate::adapters::http_webhook::HttpWebhook::new(),
        }
    }

    /// Clients built from a loaded AWS configuration (region, credentials, endpoint).
    pub fn from_conf(conf: &aws_config::SdkConfig, message_id_domain: impl Into<String>) -> Self {
        Self::new(
            aws_sdk_sesv2::Client::new(conf),
            aws_sdk_sns::Client::new(conf),
            message_id_domain,
        )
    }

    /// The SES v2 client (retries disabled).
    pub fn ses(&self) -> &aws_sdk_sesv2::Client {
        &self.ses
    }

    /// The SNS client (retries disabled).
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        &self.sns
    }

    pub fn message_id_domain(&self) -> &str {
        &self.message_id_domain
    }

    async fn email(&self, email: &EmailEnvelope) -> Result<Accepted, SendError> {
        let raw =
            mime::build_email(email, &self.message_id_domain).map_err(|e| SendError::Rejected {
                reason: format!("the email could not be built: {e}"),
            })?;
        let message = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(unbuilt("SendEmail"))?;
        let mut request = self
            .ses
            .send_email()
            .from_email_address(&email.from_address)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(message).build())
            .set_configuration_set_name(email.configuration_set.clone());
        for (name, value) in requests::email_tags(&email.tags) {
            let tag = MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(unbuilt("SendEmail"))?;
            request = request.email_tags(tag);
        }
        let probe = TransmitProbe::new();
        let out = request
            .customize()
            .interceptor(probe.clone())
            .send()
            .await
            .map_err(|e| classify(&e, probe.transmitted()))?;
        Ok(accepted(out.message_id, "SES SendEmail", &email.tags))
    }

    async fn sms(&self, sms: &SmsEnvelope) -> Result<Accepted, SendError> {
        let mut request = self.sns.publish().phone_number(&sms.to).message(&sms.text);
        for (name, value) in requests::sms_attributes(sms) {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(unbuilt("Publish"))?;
            request = request.message_attributes(name, attribute);
        }
        let probe = TransmitProbe::new();
        let out = request
            .customize()
            .interceptor(probe.clone())
            .send()
            .await
            .map_err(|e| classify(&e, probe.transmitted()))?;
        Ok(accepted(out.message_id, "SNS Publish (SMS)", &sms.tags))
    }

    async fn push(&self, push: &PushEnvelope) -> Result<Accepted, SendError> {
        let endpoint = self.enabled_endpoint(push).await?;
        let probe = TransmitProbe::new();
        let out = self
            .sns
            .publish()
            .target_arn(&endpoint)
            .message_structure("json")
            .message(requests::push_message(push.platform, &push.content))
            .customize()
            .interceptor(probe.clone())
            .send()
            .await
            .map_err(|e| classify(&e, probe.transmitted()))?;
        Ok(accepted(out.message_id, "SNS Publish (push)", &push.tags))
    }

    /// The platform endpoint for the token, created or reused; `EndpointDisabled` when SNS
    /// has disabled it.
    async fn enabled_endpoint(&self, push: &PushEnvelope) -> Result<String, SendError> {
        let probe = TransmitProbe::new();
        let created = self
            .sns
            .create_platform_endpoint()
            .platform_application_arn(&push.platform_application_arn)
            .token(&push.token)
            .customize()
            .interceptor(probe.clone())
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.endpoint_arn.ok_or_else(|| SendError::NotSent {
                detail: "SNS CreatePlatformEndpoint returned no EndpointArn".into(),
            })?,
            Err(e) => match e
                .as_service_error()
                .and_then(|s| s.message())
                .and_then(requests::existing_endpoint_arn)
            {
                Some(arn) => arn.to_string(),
                None => {
                    return Err(before_publish(
                        "CreatePlatformEndpoint",
                        classify(&e, probe.transmitted()),
                    ));
                }
            },
        };
        let probe = TransmitProbe::new();
        let attributes = self
            .sns
            .get_endpoint_attributes()
            .endpoint_arn(&arn)
            .customize()
            .interceptor(probe.clone())
            .send()
            .await
            .map_err(|e| {
                before_publish("GetEndpointAttributes", classify(&e, probe.transmitted()))
            })?;
        let disabled = attributes
            .attributes()
            .and_then(|a| a.get("Enabled"))
            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
        if disabled {
            return Err(SendError::EndpointDisabled);
        }
        Ok(arn)
    }
}

/// How long one provider call may take before it is given up as `Ambiguous`, unless the
/// clients passed in already set an attempt timeout: SES and SNS answer in well under a
/// second, and a hung call must not hold a trigger (a Lambda with a 29 s limit) until it dies.
pub const SEND_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long establishing a connection may take (a connect timeout is `NotSent`), unless set.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The caller's timeouts, with [`CONNECT_TIMEOUT`] and [`SEND_ATTEMPT_TIMEOUT`] where it set
/// none.
fn send_timeouts(current: Option<&TimeoutConfig>) -> TimeoutConfig {
    let defaults = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(SEND_ATTEMPT_TIMEOUT);
    match current {
        Some(c) => c.to_builder().take_unset_from(defaults).build(),
        None => defaults.build(),
    }
}

/// A request the SDK refused to build: nothing was sent.
fn unbuilt(operation: &'static str) -> impl Fn(BuildError) -> SendError {
    move |e| SendError::NotSent {
        detail: format!("the {operation} request could not be built: {e}"),
    }
}

/// A preparatory call (endpoint lookup) delivers nothing: an ambiguous failure there is
/// `NotSent`, and the operation is named in the detail.
fn before_publish(operation: &str, error: SendError) -> SendError {
    match error {
        SendError::Ambiguous { detail } | SendError::NotSent { detail } => SendError::NotSent {
            detail: format!("SNS {operation}: {detail}"),
        },
        SendError::Rejected { reason } => SendError::Rejected {
            reason: format!("SNS {operation}: {reason}"),
        },
        other => other,
    }
}

/// The provider accepted the request. A missing id (never seen in practice) is logged and
/// left empty: the message was sent, only its feedback cannot be matched by provider id (SES
/// events still carry Herald's tags).
fn accepted(
    id: Option<String>,
    operation: &str,
    tags: &crate::ports::delivery::MessageTags,
) -> Accepted {
    let provider_message_id = id.unwrap_or_else(|| {
        tracing::warn!(message_id = %tags.message_id, operation, "provider accepted without a message id");
        String::new()
    });
    tracing::debug!(message_id = %tags.message_id, provider_message_id, operation, "sent");
    Accepted {
        provider_message_id,
    }
}

impl EmailSender for AwsDelivery {
    fn send_email(
        &self,
        email: &EmailEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.email(email)
    }
}

impl SmsSender for AwsDelivery {
    fn send_sms(
        &self,
        sms: &SmsEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.sms(sms)
    }
}

impl PushSender for AwsDelivery {
    fn send_push(
        &self,
        push: &PushEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.push(push)
    }
}

/// The feedback webhook goes out over HTTPS like any other request of the function.
impl crate::ports::WebhookSender for AwsDelivery {
    async fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(), crate::ports::WebhookError> {
        self.webhook.post(url, body, headers).await
    }
}
