//! Personalization with Handlebars.
//!
//! INTEGRATION SKELETON: the public API below is fixed (services code against it); the bodies
//! are being written. Helper owning `render/` replaces every `unimplemented!`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::domain::{CampaignId, CampaignSpec, CampaignVersion, Finding};

pub mod review;

/// What a template may read. `profile` is the stored attributes overridden by the trigger's
/// inline profile; `context` is recipient context over request context.
pub struct RenderInput<'a> {
    pub profile: &'a Value,
    pub context: &'a Value,
    /// `{id, name, version, type, channel}`.
    pub campaign: &'a Value,
    pub unsubscribe_url: Option<&'a str>,
}

/// Which variant and locale to render.
#[derive(Clone, Debug, Default)]
pub struct Selection<'a> {
    /// Force a variant by name (`A` is the base content); otherwise `bucket` decides.
    pub variant: Option<&'a str>,
    /// Stable bucket in `0..100`, from [`variant_bucket`].
    pub bucket: u32,
    pub locale: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedSms {
    pub text: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    pub characters: usize,
    pub segments: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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
    pub apns: Value,
    /// The FCM v1 payload as SNS will send it.
    pub fcm: Value,
    /// Size in bytes of the larger of the two payloads.
    pub payload_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RenderedMessage {
    Email(RenderedEmail),
    Sms(RenderedSms),
    Push(RenderedPush),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub variant: String,
    /// The locale whose content was used; `None` for the default content.
    pub locale: Option<String>,
    #[serde(flatten)]
    pub message: RenderedMessage,
}

/// A template failed at render time (a helper got a bad argument, a strict lookup failed…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RenderError {
    pub field: String,
    pub message: String,
}

/// Every template of one campaign version, compiled once.
pub struct CompiledCampaign {
    _private: (),
}

impl CompiledCampaign {
    /// Compiles every templated field; the findings are `template-syntax` / `triple-stash`
    /// errors with the field path (`content.email.subject`, `content.locales.fr.email.html`…).
    pub fn compile(_spec: &CampaignSpec) -> Result<Self, Vec<Finding>> {
        unimplemented!("render: compile")
    }

    pub fn render(&self, _selection: &Selection<'_>, _input: &RenderInput<'_>) -> Result<Rendered, RenderError> {
        unimplemented!("render: render")
    }
}

/// A recipient's stable A/B bucket in `0..100` for a campaign.
pub fn variant_bucket(_campaign: CampaignId, _recipient_key: &str) -> u32 {
    unimplemented!("render: variant_bucket")
}

/// Compiled campaigns by `(campaign id, version)`; a version is compiled at most once while
/// cached. Bounded.
pub struct TemplateCache {
    _private: (),
}

impl TemplateCache {
    pub fn new(_capacity: usize) -> Self {
        unimplemented!("render: TemplateCache::new")
    }

    pub fn get_or_compile(&self, _version: &CampaignVersion) -> Result<Arc<CompiledCampaign>, Vec<Finding>> {
        unimplemented!("render: TemplateCache::get_or_compile")
    }
}
