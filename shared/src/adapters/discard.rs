//! The discard sink: `herald serve --delivery discard`, and the delivery of the benchmarks.
//!
//! Every send does the work a provider call starts with — the raw MIME message SES would
//! receive, the SNS SMS attributes, the SNS push `Message` JSON — then drops it and counts it.
//! Nothing is written and nothing leaves the machine, so a benchmark measures Herald and not
//! the disk or a provider. Every send is `Accepted` with the provider message id
//! `discard-<message-id>`. The feedback webhook stays real (it is not a message channel).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::adapters::aws_delivery::requests::{push_message, sms_attributes};
use crate::adapters::http_webhook::HttpWebhook;
use crate::adapters::mime;
use crate::ports::delivery::{
    Accepted, EmailEnvelope, EmailSender, MessageTags, PushEnvelope, PushSender, SendError,
    SmsEnvelope, SmsSender,
};
use crate::ports::{WebhookError, WebhookSender};

/// The `Message-ID` domain of discarded mail.
pub const MESSAGE_ID_DOMAIN: &str = "discard.herald.localhost";

/// What a [`Discard`] sink has dropped so far (shared by its clones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscardCounts {
    pub email: u64,
    pub sms: u64,
    pub push: u64,
    /// Bytes of the provider payloads built (raw MIME, SMS text, push `Message`).
    pub bytes: u64,
}

impl DiscardCounts {
    pub fn messages(&self) -> u64 {
        self.email + self.sms + self.push
    }
}

#[derive(Default)]
struct Counters {
    email: AtomicU64,
    sms: AtomicU64,
    push: AtomicU64,
    bytes: AtomicU64,
}

/// Builds each provider payload, counts it, drops it.
#[derive(Clone, Default)]
pub struct Discard {
    counters: Arc<Counters>,
    webhook: HttpWebhook,
}

impl Discard {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counts(&self) -> DiscardCounts {
        DiscardCounts {
            email: self.counters.email.load(Ordering::Relaxed),
            sms: self.counters.sms.load(Ordering::Relaxed),
            push: self.counters.push.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
        }
    }

    fn accept(&self, counter: &AtomicU64, bytes: usize, tags: &MessageTags) -> Accepted {
        counter.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        Accepted {
            provider_message_id: format!("discard-{}", tags.message_id),
        }
    }
}

impl EmailSender for Discard {
    async fn send_email(&self, email: &EmailEnvelope) -> Result<Accepted, SendError> {
        // A message SES would refuse is refused here too, as the outbox does.
        let raw = mime::build_email(email, MESSAGE_ID_DOMAIN).map_err(|e| SendError::Rejected {
            reason: e.to_string(),
        })?;
        Ok(self.accept(&self.counters.email, raw.len(), &email.tags))
    }
}

impl SmsSender for Discard {
    async fn send_sms(&self, sms: &SmsEnvelope) -> Result<Accepted, SendError> {
        let attributes = sms_attributes(sms);
        let bytes = sms.text.len() + attributes.iter().map(|(_, v)| v.len()).sum::<usize>();
        Ok(self.accept(&self.counters.sms, bytes, &sms.tags))
    }
}

impl PushSender for Discard {
    async fn send_push(&self, push: &PushEnvelope) -> Result<Accepted, SendError> {
        let message = push_message(push.platform, &push.content);
        Ok(self.accept(&self.counters.push, message.len(), &push.tags))
    }
}

impl WebhookSender for Discard {
    async fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(), WebhookError> {
        self.webhook.post(url, body, headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use crate::domain::channel_config::SmsType;
    use crate::domain::{CampaignId, ExecutionId, MessageId, RecipientKey};
    use crate::render::RenderedEmail;

    fn tags() -> MessageTags {
        let execution_id = ExecutionId::new();
        let key = RecipientKey {
            namespace: "email".into(),
            user_id: "ann@example.com".into(),
        };
        MessageTags {
            message_id: MessageId::derive(execution_id, &key, Channel::Email),
            execution_id,
            campaign_id: CampaignId::new(),
            campaign_version: 1,
        }
    }

    fn email(to: &str) -> EmailEnvelope {
        EmailEnvelope {
            tags: tags(),
            from_address: "news@example.com".into(),
            from_name: Some("News".into()),
            reply_to: None,
            to: to.into(),
            configuration_set: None,
            list_unsubscribe: None,
            content: RenderedEmail {
                subject: "Hello".into(),
                html: "<p>Hi Ann</p>".into(),
                text: "Hi Ann".into(),
                preheader: None,
            },
        }
    }

    #[tokio::test]
    async fn an_email_is_built_counted_and_accepted_under_a_discard_id() {
        let sink = Discard::new();
        let e = email("ann@example.com");
        let accepted = sink.send_email(&e).await.unwrap();
        assert_eq!(
            accepted.provider_message_id,
            format!("discard-{}", e.tags.message_id)
        );
        let counts = sink.clone().counts();
        assert_eq!((counts.email, counts.messages()), (1, 1));
        assert!(counts.bytes > 100, "the raw MIME was built: {counts:?}");
    }

    #[tokio::test]
    async fn an_email_mime_refuses_is_rejected_and_not_counted() {
        let sink = Discard::new();
        let err = sink.send_email(&email("not an address")).await.unwrap_err();
        assert!(matches!(err, SendError::Rejected { .. }), "{err:?}");
        assert_eq!(sink.counts(), DiscardCounts::default());
    }

    #[tokio::test]
    async fn sms_is_counted_with_its_bytes() {
        let sink = Discard::new();
        let sms = SmsEnvelope {
            tags: tags(),
            to: "+14155552671".into(),
            text: "Your code is 1234".into(),
            sms_type: SmsType::Transactional,
            sender_id: None,
            origination_number: None,
        };
        sink.send_sms(&sms).await.unwrap();
        sink.send_sms(&sms).await.unwrap();
        let counts = sink.counts();
        assert_eq!(counts.sms, 2);
        assert!(counts.bytes >= 2 * sms.text.len() as u64, "{counts:?}");
    }
}
