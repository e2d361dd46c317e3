//! Message content per channel, with optional locales and A/B variants.
//!
//! JSON shape (the channel key names the content's channel):
//! ```json
//! { "email": {"subject": "Hi {{profile.firstName}}", "html": "<p>…</p>"},
//!   "locales": {"fr": {"email": {"subject": "Salut", "html": "…"}}},
//!   "variants": [{"name": "B", "weight": 30, "email": {…}, "locales": {…}}] }
//! ```
//! The top-level content is variant `A`; its share is `100 - sum(variant weights)` percent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::campaign::Channel;
use super::error::{Problems, ValidationErrors};

/// Email content. Empty fields are allowed in drafts; review reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailMessage {
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub html: String,
    /// Plain-text part; derived from `html` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsMessage {
    #[serde(default)]
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub body: String,
    /// Deep link or URL opened on tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Custom key/value data delivered with the notification (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
}

/// The content of one message on one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Message {
    Email(EmailMessage),
    Sms(SmsMessage),
    Push(PushMessage),
}

impl Message {
    pub fn channel(&self) -> Channel {
        match self {
            Message::Email(_) => Channel::Email,
            Message::Sms(_) => Channel::Sms,
            Message::Push(_) => Channel::Push,
        }
    }

    /// Every templated field of this message as `(field path, template source)`.
    pub fn fields(&self) -> Vec<(String, &str)> {
        match self {
            Message::Email(m) => {
                let mut v = vec![
                    ("email.subject".to_string(), m.subject.as_str()),
                    ("email.html".to_string(), m.html.as_str()),
                ];
                if let Some(t) = &m.text {
                    v.push(("email.text".into(), t));
                }
                if let Some(p) = &m.preheader {
                    v.push(("email.preheader".into(), p));
                }
                v
            }
            Message::Sms(m) => vec![("sms.text".into(), m.text.as_str())],
            Message::Push(m) => {
                let mut v = vec![("push.body".to_string(), m.body.as_str())];
                for (name, f) in [
                    ("title", &m.title),
                    ("url", &m.url),
                    ("imageUrl", &m.image_url),
                    ("sound", &m.sound),
                ] {
                    if let Some(f) = f {
                        v.push((format!("push.{name}"), f.as_str()));
                    }
                }
                for (k, val) in &m.data {
                    v.push((format!("push.data.{k}"), val.as_str()));
                }
                v
            }
        }
    }
}

/// A message in a default language plus translations keyed by locale (`fr`, `pt-BR`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "LocalizedWire")]
pub struct LocalizedMessage {
    #[serde(flatten)]
    pub message: Message,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub locales: BTreeMap<String, Message>,
}

impl LocalizedMessage {
    /// The message for a recipient locale: exact match, then the language part, then the default.
    pub fn for_locale(&self, locale: Option<&str>) -> (&Message, Option<&str>) {
        if let Some(wanted) = locale {
            if let Some((k, m)) = self
                .locales
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(wanted))
            {
                return (m, Some(k.as_str()));
            }
            let lang = wanted.split(['-', '_']).next().unwrap_or(wanted);
            if let Some((k, m)) = self
                .locales
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(lang))
            {
                return (m, Some(k.as_str()));
            }
        }
        (&self.message, None)
    }

    /// Every message in this block as `(field prefix, message)`.
    pub fn all(&self) -> Vec<(String, &Message)> {
        let mut v = vec![(String::new(), &self.message)];
        for (k, m) in &self.locales {
            v.push((format!("locales.{k}."), m));
        }
        v
    }
}

/// An A/B variant: a name, a weight in percent, and its own content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "VariantWire")]
pub struct Variant {
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub weight: u32,
    #[serde(flatten)]
    pub content: LocalizedMessage,
}

/// A campaign's content: the default (variant `A`) plus optional variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "ContentWire")]
pub struct Content {
    #[serde(flatten)]
    pub base: LocalizedMessage,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

/// The name of the default variant.
pub const BASE_VARIANT: &str = "A";

// How content arrives on the wire. `#[serde(flatten)]` cannot refuse unknown keys, so the wire
// forms name every key and refuse the rest: a typo (`"varaints"`) or a second channel key is an
// error, never silently dropped.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocalizedWire {
    email: Option<EmailMessage>,
    sms: Option<SmsMessage>,
    push: Option<PushMessage>,
    #[serde(default)]
    locales: BTreeMap<String, Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VariantWire {
    name: String,
    weight: u32,
    email: Option<EmailMessage>,
    sms: Option<SmsMessage>,
    push: Option<PushMessage>,
    #[serde(default)]
    locales: BTreeMap<String, Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContentWire {
    email: Option<EmailMessage>,
    sms: Option<SmsMessage>,
    push: Option<PushMessage>,
    #[serde(default)]
    locales: BTreeMap<String, Message>,
    #[serde(default)]
    variants: Vec<Variant>,
}

/// Exactly one channel key.
fn one_message(
    email: Option<EmailMessage>,
    sms: Option<SmsMessage>,
    push: Option<PushMessage>,
) -> Result<Message, String> {
    match (email, sms, push) {
        (Some(e), None, None) => Ok(Message::Email(e)),
        (None, Some(s), None) => Ok(Message::Sms(s)),
        (None, None, Some(p)) => Ok(Message::Push(p)),
        (None, None, None) => Err("content needs one channel key: email, sms or push".into()),
        _ => Err(
            "content has more than one channel key; keep the one matching the campaign's channel"
                .into(),
        ),
    }
}

impl TryFrom<LocalizedWire> for LocalizedMessage {
    type Error = String;
    fn try_from(w: LocalizedWire) -> Result<Self, String> {
        Ok(Self {
            message: one_message(w.email, w.sms, w.push)?,
            locales: w.locales,
        })
    }
}

impl TryFrom<VariantWire> for Variant {
    type Error = String;
    fn try_from(w: VariantWire) -> Result<Self, String> {
        let message = one_message(w.email, w.sms, w.push)
            .map_err(|e| format!("variant {:?}: {e}", w.name))?;
        Ok(Self {
            name: w.name,
            weight: w.weight,
            content: LocalizedMessage {
                message,
                locales: w.locales,
            },
        })
    }
}

impl TryFrom<ContentWire> for Content {
    type Error = String;
    fn try_from(w: ContentWire) -> Result<Self, String> {
        Ok(Self {
            base: LocalizedMessage {
                message: one_message(w.email, w.sms, w.push)?,
                locales: w.locales,
            },
            variants: w.variants,
        })
    }
}

impl Content {
    /// The base variant's share in percent.
    pub fn base_weight(&self) -> u32 {
        100u32.saturating_sub(self.variants.iter().map(|v| v.weight).sum())
    }

    /// Every message with its field-path prefix (`content.`, `content.locales.fr.`,
    /// `content.variants[0].`…).
    pub fn all_messages(&self) -> Vec<(String, &Message)> {
        let mut out: Vec<(String, &Message)> = self
            .base
            .all()
            .into_iter()
            .map(|(p, m)| (format!("content.{p}"), m))
            .collect();
        for (i, v) in self.variants.iter().enumerate() {
            out.extend(
                v.content
                    .all()
                    .into_iter()
                    .map(|(p, m)| (format!("content.variants[{i}].{p}"), m)),
            );
        }
        out
    }

    /// Picks a variant from a stable bucket in `0..100`. The bucket is asked for only when
    /// there are variants to choose between: without them every bucket gets the base content.
    pub fn variant_for_bucket(&self, bucket: impl FnOnce() -> u32) -> (&str, &LocalizedMessage) {
        if self.variants.is_empty() {
            return (BASE_VARIANT, &self.base);
        }
        let bucket = bucket();
        let mut edge = self.base_weight();
        if bucket < edge {
            return (BASE_VARIANT, &self.base);
        }
        for v in &self.variants {
            edge += v.weight;
            if bucket < edge {
                return (&v.name, &v.content);
            }
        }
        (BASE_VARIANT, &self.base)
    }

    /// The variant with the given name (`A` is the base content).
    pub fn variant_named(&self, name: &str) -> Option<&LocalizedMessage> {
        if name == BASE_VARIANT {
            return Some(&self.base);
        }
        self.variants
            .iter()
            .find(|v| v.name == name)
            .map(|v| &v.content)
    }

    /// Structural checks done on every write: channel agreement, variant names and weights.
    pub fn validate(&self, channel: Channel) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        for (path, m) in self.all_messages() {
            if m.channel() != channel {
                p.push(
                    path.trim_end_matches('.').to_string(),
                    format!(
                        "content is for channel {} but the campaign's channel is {}",
                        m.channel(),
                        channel
                    ),
                );
            }
        }
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        if total > 100 {
            p.push(
                "content.variants",
                format!("variant weights add up to {total}%, more than 100%"),
            );
        }
        let mut names = std::collections::BTreeSet::from([BASE_VARIANT.to_string()]);
        for (i, v) in self.variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                p.push(
                    format!("content.variants[{i}].name"),
                    "a variant needs a name",
                );
            } else if !names.insert(v.name.clone()) {
                p.push(
                    format!("content.variants[{i}].name"),
                    format!(
                        "variant name {:?} is used twice (\"A\" is the default content)",
                        v.name
                    ),
                );
            }
        }
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_round_trips_through_its_wire_form() {
        let v = json!({"email": {"subject": "s", "html": "h"},
                       "locales": {"fr": {"email": {"subject": "t", "html": "h"}}},
                       "variants": [{"name": "B", "weight": 30, "email": {"subject": "b", "html": "h"}}]});
        let c: Content = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.base_weight(), 70);
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
    }

    #[test]
    fn a_misspelt_key_or_a_second_channel_is_refused_not_dropped() {
        let typo = json!({"email": {"subject": "s", "html": "h"}, "varaints": []});
        assert!(
            serde_json::from_value::<Content>(typo)
                .unwrap_err()
                .to_string()
                .contains("varaints")
        );
        let two = json!({"email": {"subject": "s", "html": "h"}, "sms": {"text": "t"}});
        assert!(
            serde_json::from_value::<Content>(two)
                .unwrap_err()
                .to_string()
                .contains("more than one channel")
        );
        let none = json!({"locales": {}});
        assert!(serde_json::from_value::<Content>(none).is_err());
        let bad_variant = json!({"sms": {"text": "t"}, "variants": [{"name": "B", "weight": 5, "sms": {"text": "x"}, "colour": 1}]});
        assert!(
            serde_json::from_value::<Content>(bad_variant)
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
    }
}
