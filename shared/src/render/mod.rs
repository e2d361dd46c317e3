//! Personalization with Handlebars.
//!
//! A campaign version is compiled once ([`CompiledCampaign::compile`], usually through the
//! bounded [`TemplateCache`]) and then rendered per recipient ([`CompiledCampaign::render`]).
//!
//! - Templates are Handlebars; AJO's `{%= expr %}` and `{%= expr ?: "fallback" %}` are
//!   translated first ([`ajo`]). Strict mode is off: a missing value renders as empty text.
//! - Email `html` is HTML-escaped; every other field (subject, preheader, text, SMS, push) is
//!   not. Triple-stash (`{{{x}}}`, `{{& x}}`) is refused at compile time, so no field ever
//!   outputs an unescaped value into HTML.
//! - Subject, preheader, push title, URL and sound never contain line breaks after rendering.
//! - Helpers: Handlebars' built-ins (`if`, `unless`, `each`, `with`, `lookup`, `eq`, `ne`,
//!   `gt`, `gte`, `lt`, `lte`, `and`, `or`, `not`, `len`) and Herald's ([`helpers`]).
//! - The template data is `{"profile", "context", "campaign", "unsubscribeUrl"}`.
//!
//! [`review`] holds the activation checks that need the template engine.

use handlebars::Handlebars;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::content::BASE_VARIANT;
use crate::domain::{
    CampaignId, CampaignSpec, CampaignVersion, EmailMessage, Finding, LocalizedMessage, Message,
    PushMessage, RecipientKey, SmsMessage,
};

pub mod ajo;
mod cache;
mod compile;
pub mod helpers;
mod inspect;
pub mod push;
pub mod review;
pub mod sms;
pub mod text;

pub use cache::TemplateCache;

/// What a template may read. `profile` is the stored attributes overridden by the trigger's
/// inline profile; `context` is recipient context over request context. Both are taken by
/// value: they become the template data as they are, without another copy.
pub struct RenderInput<'a> {
    pub profile: Value,
    pub context: Value,
    /// `{id, name, version, type, channel}`; build it with [`campaign_data`].
    pub campaign: &'a Value,
    pub unsubscribe_url: Option<&'a str>,
}

/// The `campaign` object templates see: `{id, name, version, type, channel}`.
pub fn campaign_data(version: &CampaignVersion) -> Value {
    serde_json::json!({
        "id": version.campaign_id.to_string(),
        "name": version.spec.name,
        "version": version.version,
        "type": version.spec.campaign_type.as_str(),
        "channel": version.spec.channel.as_str(),
    })
}

/// Which variant and locale to render.
#[derive(Clone, Debug, Default)]
pub struct Selection<'a> {
    /// Force a variant by name (`A` is the base content); otherwise `bucket` decides.
    pub variant: Option<&'a str>,
    pub bucket: Bucket<'a>,
    pub locale: Option<&'a str>,
}

/// The A/B bucket in `0..100` a recipient falls in: given, or [`variant_bucket`] of a
/// recipient, hashed only when a campaign with variants asks for it
/// ([`Content::variant_for_bucket`](crate::domain::content::Content::variant_for_bucket)).
#[derive(Clone, Copy, Debug)]
pub enum Bucket<'a> {
    Fixed(u32),
    Recipient {
        campaign: CampaignId,
        key: &'a RecipientKey,
    },
}

impl Default for Bucket<'_> {
    fn default() -> Self {
        Bucket::Fixed(0)
    }
}

impl Bucket<'_> {
    pub fn value(self) -> u32 {
        match self {
            Bucket::Fixed(b) => b,
            Bucket::Recipient { campaign, key } => variant_bucket(campaign, &key.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RenderedSms {
    pub text: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// Unicode characters (scalar values) in `text`.
    pub characters: usize,
    pub segments: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RenderedPush {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    pub data: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// The APNs payload (`{"aps": …}`) as SNS will send it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub apns: push::PayloadJson,
    /// The FCM v1 payload as SNS will send it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fcm: push::PayloadJson,
    /// Size in bytes of the larger of the two payloads.
    pub payload_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RenderedMessage {
    Email(RenderedEmail),
    Sms(RenderedSms),
    Push(RenderedPush),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub variant: String,
    /// The locale whose content was used; `None` for the default content.
    pub locale: Option<String>,
    #[serde(flatten)]
    pub message: RenderedMessage,
}

/// A template failed at render time (a helper got a bad argument, a required field rendered
/// empty…). `field` is the full field path (`content.variants[0].email.subject`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{field}: {message}")]
pub struct RenderError {
    pub field: String,
    pub message: String,
}

impl RenderError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    fn from_handlebars(field: String, e: &handlebars::RenderError) -> Self {
        let message = match (e.line_no, e.column_no) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", e.reason()),
            _ => e.reason().to_string(),
        };
        Self { field, message }
    }
}

/// Every template of one campaign version, compiled once. Cheap to share (`Send + Sync`).
pub struct CompiledCampaign {
    content: crate::domain::Content,
    /// Email `html` templates: values are HTML-escaped.
    html: Handlebars<'static>,
    /// Every other field: no escaping.
    plain: Handlebars<'static>,
}

fn registry(html: bool) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    if !html {
        h.register_escape_fn(handlebars::no_escape);
    }
    helpers::register(&mut h);
    h
}

impl CompiledCampaign {
    /// Compiles every templated field; the findings are `template-syntax` / `triple-stash`
    /// errors with the field path (`content.email.subject`, `content.locales.fr.email.html`…).
    pub fn compile(spec: &CampaignSpec) -> Result<Self, Vec<Finding>> {
        let parsed = compile::parse(&spec.content);
        if !parsed.errors.is_empty() {
            return Err(parsed.errors);
        }
        let mut html = registry(true);
        let mut plain = registry(false);
        for f in parsed.fields {
            if let Some(t) = f.template {
                if f.html {
                    html.register_template(&f.path, t);
                } else {
                    plain.register_template(&f.path, t);
                }
            }
        }
        Ok(Self {
            content: spec.content.clone(),
            html,
            plain,
        })
    }

    /// Renders the selected variant and locale for one recipient. Either every field renders
    /// or the whole message is an error: a required field (email subject and html, SMS text,
    /// push body) that renders empty is an error too, and so is a push notification whose
    /// payload is over 4096 bytes (APNs and FCM would refuse it).
    pub fn render(
        &self,
        selection: &Selection<'_>,
        input: RenderInput<'_>,
    ) -> Result<Rendered, RenderError> {
        let (variant, block, prefix) = self.pick_variant(selection)?;
        let (message, locale) = block.for_locale(selection.locale);
        let prefix = match locale {
            Some(k) => format!("{prefix}locales.{k}."),
            None => prefix,
        };
        // The data is built as a JSON value directly: `Context::wraps` would serialize it into
        // a second copy.
        let mut data = serde_json::Map::with_capacity(4);
        data.insert("profile".into(), input.profile);
        data.insert("context".into(), input.context);
        data.insert("campaign".into(), input.campaign.clone());
        if let Some(url) = input.unsubscribe_url {
            data.insert("unsubscribeUrl".into(), Value::String(url.to_string()));
        }
        let ctx = handlebars::Context::from(Value::Object(data));
        let r = FieldRenderer {
            campaign: self,
            ctx: &ctx,
            prefix: &prefix,
        };
        let message = match message {
            Message::Email(m) => RenderedMessage::Email(r.email(m)?),
            Message::Sms(m) => RenderedMessage::Sms(r.sms(m)?),
            Message::Push(m) => RenderedMessage::Push(r.push(m)?),
        };
        Ok(Rendered {
            variant: variant.to_string(),
            locale: locale.map(str::to_string),
            message,
        })
    }

    /// The variant's name, content and field-path prefix.
    fn pick_variant(
        &self,
        selection: &Selection<'_>,
    ) -> Result<(&str, &LocalizedMessage, String), RenderError> {
        let content = &self.content;
        let (name, block) = match selection.variant {
            Some(wanted) => {
                let block = content.variant_named(wanted).ok_or_else(|| {
                    let mut names = vec![BASE_VARIANT.to_string()];
                    names.extend(content.variants.iter().map(|v| v.name.clone()));
                    RenderError::new(
                        "variant",
                        format!(
                            "there is no variant named {wanted:?}; this campaign has {}",
                            names.join(", ")
                        ),
                    )
                })?;
                let name = if std::ptr::eq(block, &content.base) {
                    BASE_VARIANT
                } else {
                    content
                        .variants
                        .iter()
                        .find(|v| std::ptr::eq(&v.content, block))
                        .map_or(BASE_VARIANT, |v| v.name.as_str())
                };
                (name, block)
            }
            None => content.variant_for_bucket(|| selection.bucket.value()),
        };
        let prefix = match content
            .variants
            .iter()
            .position(|v| std::ptr::eq(&v.content, block))
        {
            Some(i) => format!("content.variants[{i}]."),
            None => "content.".to_string(),
        };
        Ok((name, block, prefix))
    }
}

struct FieldRenderer<'a> {
    campaign: &'a CompiledCampaign,
    ctx: &'a handlebars::Context,
    prefix: &'a str,
}

impl FieldRenderer<'_> {
    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn render(&self, field: &str) -> Result<String, RenderError> {
        let path = self.path(field);
        let registry = if compile::is_html_field(field) {
            &self.campaign.html
        } else {
            &self.campaign.plain
        };
        registry
            .render_with_context(&path, self.ctx)
            .map_err(|e| RenderError::from_handlebars(path, &e))
    }

    fn required(&self, field: &str, value: String) -> Result<String, RenderError> {
        if value.trim().is_empty() {
            Err(RenderError::new(
                self.path(field),
                "rendered as empty text for this recipient: a variable it uses is probably \
                 missing; give it a fallback with {{default … \"…\"}}",
            ))
        } else {
            Ok(value)
        }
    }

    /// Renders an optional one-line field; empty output becomes `None`.
    fn optional_line(&self, field: &str, present: bool) -> Result<Option<String>, RenderError> {
        if !present {
            return Ok(None);
        }
        let v = one_line(self.render(field)?);
        Ok((!v.is_empty()).then_some(v))
    }

    fn email(&self, m: &EmailMessage) -> Result<RenderedEmail, RenderError> {
        let subject = self.required("email.subject", one_line(self.render("email.subject")?))?;
        let html = self.required("email.html", self.render("email.html")?)?;
        let preheader = self.optional_line("email.preheader", m.preheader.is_some())?;
        let explicit_text = match &m.text {
            Some(_) => Some(self.render("email.text")?).filter(|t| !t.trim().is_empty()),
            None => None,
        };
        let text = explicit_text.unwrap_or_else(|| text::html_to_text(&html));
        Ok(RenderedEmail {
            subject,
            html,
            text,
            preheader,
        })
    }

    fn sms(&self, _m: &SmsMessage) -> Result<RenderedSms, RenderError> {
        let text = self
            .required("sms.text", self.render("sms.text")?)?
            .trim()
            .to_string();
        let info = sms::segment_info(&text);
        Ok(RenderedSms {
            text,
            encoding: info.encoding,
            characters: info.characters,
            segments: info.segments,
        })
    }

    fn push(&self, m: &PushMessage) -> Result<RenderedPush, RenderError> {
        let body = self
            .required("push.body", self.render("push.body")?)?
            .trim()
            .to_string();
        let title = self.optional_line("push.title", m.title.is_some())?;
        let url = self.optional_line("push.url", m.url.is_some())?;
        let image_url = self.optional_line("push.imageUrl", m.image_url.is_some())?;
        let sound = self.optional_line("push.sound", m.sound.is_some())?;
        let mut data = std::collections::BTreeMap::new();
        for k in m.data.keys() {
            data.insert(k.clone(), self.render(&format!("push.data.{k}"))?);
        }
        let p = push::payloads(&push::PushParts {
            title: title.as_deref(),
            body: &body,
            url: url.as_deref(),
            image_url: image_url.as_deref(),
            data: &data,
            badge: m.badge,
            sound: sound.as_deref(),
        });
        if p.bytes > push::MAX_PAYLOAD_BYTES {
            return Err(RenderError::new(
                self.path("push.body"),
                format!(
                    "the rendered notification payload is {} bytes, over the {}-byte limit of \
                     APNs and FCM: shorten the body, title or data, or the values they use",
                    p.bytes,
                    push::MAX_PAYLOAD_BYTES
                ),
            ));
        }
        Ok(RenderedPush {
            title,
            body,
            url,
            image_url,
            data,
            badge: m.badge,
            sound,
            apns: p.apns,
            fcm: p.fcm,
            payload_bytes: p.bytes,
        })
    }
}

/// Replaces every run of line breaks (CR, LF, NEL, LS, PS) with one space and trims: the
/// result can go into a mail header or a notification title. A value that is already one
/// trimmed line is returned as it is, without a copy.
pub fn one_line(s: String) -> String {
    const BREAKS: [char; 5] = ['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}'];
    if !s.contains(BREAKS) {
        return if s.trim().len() == s.len() {
            s
        } else {
            s.trim().to_string()
        };
    }
    let mut out = String::with_capacity(s.len());
    let mut in_break = false;
    for c in s.chars() {
        if BREAKS.contains(&c) {
            if !in_break {
                out.push(' ');
                in_break = true;
            }
        } else {
            out.push(c);
            in_break = false;
        }
    }
    out.trim().to_string()
}

/// A recipient's stable A/B bucket in `0..100` for a campaign.
///
/// The bucket is the first 8 bytes (big-endian) of SHA-256 over the campaign id's 16 bytes
/// followed by the recipient key's UTF-8 bytes, modulo 100. It depends on nothing else, so a
/// recipient lands in the same bucket in every process, on every machine and in every Herald
/// version (a unit test pins known values); changing this function would reshuffle live A/B
/// tests and must never happen.
pub fn variant_bucket(campaign: CampaignId, recipient_key: &str) -> u32 {
    let mut h = Sha256::new();
    h.update(campaign.as_uuid().as_bytes());
    h.update(recipient_key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The remainder is below 100, so the conversion cannot fail.
    u32::try_from(u64::from_be_bytes(first) % 100).unwrap_or(0)
}

#[cfg(test)]
mod tests;
