//! The review checks: errors block activation, warnings do not. Every finding has a stable
//! `code`, the field it concerns and a message that tells the operator what to fix.
//!
//! Errors: `template-syntax`, `triple-stash`, `unknown-helper`, `unknown-variable-root`,
//! `high-throughput-profile-reference`, `missing-subject`, `missing-body`,
//! `missing-unsubscribe-link`, `push-payload-size` (when certain), `variant-weights`,
//! `missing-channel-config`, `channel-config-not-found`, `channel-config-channel-mismatch`,
//! `channel-config-category-mismatch`, `audience-not-found`, `rule-set-not-found`,
//! `schedule-end-before-start`, `schedule-ended`.
//!
//! Warnings: `sms-segments`, `push-payload-size` (when it depends on variables),
//! `missing-text-part`, `no-audience`, `default-variant-unused`, `ajo-syntax-unsupported`.
//!
//! Push payload size: the review builds the APNs and FCM payloads twice. With only the text
//! every render is sure to output (each field's top-level literal text, variables and blocks
//! dropped) it is a lower bound: over 4096 bytes, every send would fail, so it is an error.
//! With the templates as written it is an estimate: over 4096 bytes it is a warning, because
//! the real size depends on the values the variables take.

use std::collections::HashMap;

use jiff::Timestamp;

use super::compile::{self, ParsedField};
use super::helpers::{BUILTIN_HELPERS, HERALD_HELPERS};
use super::inspect::static_text;
use super::{push, sms};
use crate::domain::{
    CampaignSpec, CampaignType, CampaignVersion, ChannelConfig, EmailMessage, Message, PushMessage,
    ReviewReport,
};

/// Whether a referenced item exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The campaign does not reference one.
    NotReferenced,
    /// Referenced, but no such item is stored.
    Missing,
    Found(T),
}

pub struct ReviewContext<'a> {
    pub channel_config: Lookup<&'a ChannelConfig>,
    pub audience: Lookup<()>,
    pub rule_set: Lookup<()>,
    pub now: Timestamp,
}

/// SMS templates longer than this many segments get an `sms-segments` warning.
pub const MAX_SMS_SEGMENTS: usize = 3;

/// Reviews one version: errors block activation, warnings do not.
pub fn review(version: &CampaignVersion, ctx: &ReviewContext<'_>) -> ReviewReport {
    let spec = &version.spec;
    let mut report = ReviewReport {
        version: version.version,
        ..ReviewReport::default()
    };
    let parsed = compile::parse(&spec.content);
    report.errors.extend(parsed.errors.iter().cloned());
    let fields: HashMap<&str, &ParsedField> =
        parsed.fields.iter().map(|f| (f.path.as_str(), f)).collect();

    for f in &parsed.fields {
        template_checks(spec, f, &mut report);
    }
    for (prefix, message) in spec.content.all_messages() {
        match message {
            Message::Email(m) => email_checks(spec, &prefix, m, &fields, &mut report),
            Message::Sms(m) => {
                if m.text.trim().is_empty() {
                    report.error(
                        "missing-body",
                        format!("{prefix}sms.text"),
                        "the SMS has no text: write the message",
                    );
                } else {
                    sms_checks(&prefix, &m.text, &mut report);
                }
            }
            Message::Push(m) => push_checks(&prefix, m, &fields, &mut report),
        }
    }
    variant_checks(spec, &mut report);
    channel_config_checks(spec, ctx, &mut report);
    reference_checks(spec, ctx, &mut report);
    schedule_checks(spec, ctx.now, &mut report);
    report
}

fn template_checks(spec: &CampaignSpec, f: &ParsedField, r: &mut ReviewReport) {
    for h in &f.facts.unknown_helpers {
        let (name, block) = match h.what.strip_prefix('#') {
            Some(n) => (n, true),
            None => (h.what.as_str(), false),
        };
        let hint = if block {
            " (Mustache sections are not supported: use {{#if …}}, {{#each …}} or {{#with …}})"
        } else {
            ""
        };
        r.error(
            "unknown-helper",
            f.path.clone(),
            format!(
                "{} at {} calls a helper named {name:?}, which does not exist{hint}; helpers \
                 are {}, {}",
                if block {
                    format!("{{{{#{name} …}}}}")
                } else {
                    format!("{{{{{name} …}}}}")
                },
                h.at(),
                BUILTIN_HELPERS.join(", "),
                HERALD_HELPERS.join(", ")
            ),
        );
    }
    for u in &f.facts.unknown_roots {
        r.error(
            "unknown-variable-root",
            f.path.clone(),
            format!(
                "{{{{{}}}}} at {} reads a variable that does not exist: template variables \
                 start with profile., context., campaign. or are unsubscribeUrl (inside \
                 {{{{#each}}}} and {{{{#with}}}} use this.… or @root.…)",
                u.what,
                u.at()
            ),
        );
    }
    if spec.high_throughput && f.facts.roots.contains("profile") {
        r.error(
            "high-throughput-profile-reference",
            f.path.clone(),
            "this template reads profile.…, but a high-throughput campaign never looks up \
             profiles, so those values are always empty: take them from context.… (the \
             trigger payload) or turn highThroughput off",
        );
    }
    for tag in &f.unsupported_ajo {
        r.warning(
            "ajo-syntax-unsupported",
            f.path.clone(),
            format!(
                "{tag} is AJO syntax that Herald does not translate, so it would be sent as \
                 written: only {{%= path %}} and {{%= path ?: \"fallback\" %}} are translated; \
                 write the rest in Handlebars ({{{{#if profile.vip}}}}…{{{{/if}}}})"
            ),
        );
    }
}

fn email_checks(
    spec: &CampaignSpec,
    prefix: &str,
    m: &EmailMessage,
    fields: &HashMap<&str, &ParsedField>,
    r: &mut ReviewReport,
) {
    if m.subject.trim().is_empty() {
        r.error(
            "missing-subject",
            format!("{prefix}email.subject"),
            "the email has no subject: write one (it may use variables such as \
             {{profile.firstName}})",
        );
    }
    let html_path = format!("{prefix}email.html");
    if m.html.trim().is_empty() {
        r.error(
            "missing-body",
            html_path.clone(),
            "the email has no HTML body: write the message in html",
        );
    } else if spec.campaign_type == CampaignType::Marketing
        && let Some(f) = fields.get(html_path.as_str())
        && f.template.is_some()
        && !f.facts.roots.contains("unsubscribeUrl")
    {
        r.error(
            "missing-unsubscribe-link",
            html_path.clone(),
            "a marketing email must let its recipient unsubscribe: add a link such as \
             <a href=\"{{unsubscribeUrl}}\">Unsubscribe</a> to the HTML",
        );
    }
    if m.text.is_none() && !m.html.trim().is_empty() {
        r.warning(
            "missing-text-part",
            format!("{prefix}email.text"),
            "no plain-text part: it will be derived from the rendered HTML at send time; \
             check it in a preview and write text if it does not read well",
        );
    }
}

fn sms_checks(prefix: &str, text: &str, r: &mut ReviewReport) {
    let info = sms::segment_info(text);
    if info.segments > MAX_SMS_SEGMENTS {
        let unit = if info.encoding == sms::GSM7 {
            "septets"
        } else {
            "UTF-16 units"
        };
        let why = if info.encoding == sms::UCS2 {
            " (a character outside the GSM-7 alphabet, such as an emoji or a curly quote, \
             makes the whole message UCS-2, with 70 characters per message instead of 160)"
        } else {
            ""
        };
        r.warning(
            "sms-segments",
            format!("{prefix}sms.text"),
            format!(
                "the SMS template is {} {unit} in {}, {} segments{why}, counted on the \
                 template with its variables as written (the rendered text may be longer or \
                 shorter); each segment is billed as one SMS: shorten it to at most {} \
                 segments",
                info.units, info.encoding, info.segments, MAX_SMS_SEGMENTS
            ),
        );
    }
}

fn push_checks(
    prefix: &str,
    m: &PushMessage,
    fields: &HashMap<&str, &ParsedField>,
    r: &mut ReviewReport,
) {
    let body_path = format!("{prefix}push.body");
    if m.body.trim().is_empty() {
        r.error(
            "missing-body",
            body_path.clone(),
            "the push notification has no body: write the message",
        );
    }
    // The payload with the templates as written (an estimate) …
    let as_written = push::payloads(&push::PushParts {
        title: m.title.as_deref(),
        body: &m.body,
        url: m.url.as_deref(),
        image_url: m.image_url.as_deref(),
        data: &m.data,
        badge: m.badge,
        sound: m.sound.as_deref(),
    })
    .bytes;
    // … and with only the text every render outputs (a lower bound).
    let fixed = |field: &str| -> String {
        fields
            .get(format!("{prefix}{field}").as_str())
            .and_then(|f| f.template.as_ref())
            .map(static_text)
            .unwrap_or_default()
    };
    let title = m.title.as_ref().map(|_| fixed("push.title"));
    let url = m.url.as_ref().map(|_| fixed("push.url"));
    let image_url = m.image_url.as_ref().map(|_| fixed("push.imageUrl"));
    let sound = m.sound.as_ref().map(|_| fixed("push.sound"));
    let data = m
        .data
        .keys()
        .map(|k| (k.clone(), fixed(&format!("push.data.{k}"))))
        .collect();
    let minimum = push::payloads(&push::PushParts {
        title: title.as_deref(),
        body: &fixed("push.body"),
        url: url.as_deref(),
        image_url: image_url.as_deref(),
        data: &data,
        badge: m.badge,
        sound: sound.as_deref(),
    })
    .bytes;
    let limit = push::MAX_PAYLOAD_BYTES;
    if minimum > limit {
        r.error(
            "push-payload-size",
            body_path,
            format!(
                "the push payload is at least {minimum} bytes even with every variable empty, \
                 over the {limit}-byte limit of APNs and FCM, so every send would fail: \
                 shorten the body, title or data"
            ),
        );
    } else if as_written > limit {
        r.warning(
            "push-payload-size",
            body_path,
            format!(
                "the push payload built from the templates as written is {as_written} bytes, \
                 over the {limit}-byte limit of APNs and FCM; the real size depends on the \
                 values of the variables, and a message over the limit fails: shorten the \
                 body, title or data"
            ),
        );
    }
}

fn variant_checks(spec: &CampaignSpec, r: &mut ReviewReport) {
    let content = &spec.content;
    if content.variants.is_empty() {
        return;
    }
    let total: u32 = content.variants.iter().map(|v| v.weight).sum();
    if total > 100 {
        r.error(
            "variant-weights",
            "content.variants",
            format!(
                "variant weights add up to {total}%, more than 100%: lower them (the base \
                 content, variant A, gets what they leave of 100%)"
            ),
        );
    } else if content.base_weight() == 0 {
        r.warning(
            "default-variant-unused",
            "content.variants",
            "variant weights add up to 100%, so the base content (variant A) is never sent \
             unless a variant is forced: lower a weight if A should take part in the test",
        );
    }
}

fn channel_config_checks(spec: &CampaignSpec, ctx: &ReviewContext<'_>, r: &mut ReviewReport) {
    match ctx.channel_config {
        Lookup::NotReferenced => r.error(
            "missing-channel-config",
            "channelConfigId",
            format!(
                "choose a {} channel configuration for {} messages: it sets the sender and \
                 how the provider sends them",
                spec.channel, spec.campaign_type
            ),
        ),
        Lookup::Missing => r.error(
            "channel-config-not-found",
            "channelConfigId",
            format!(
                "channel configuration {} does not exist (it may have been deleted): choose \
                 another one",
                spec.channel_config_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            ),
        ),
        Lookup::Found(c) => {
            if c.channel() != spec.channel {
                r.error(
                    "channel-config-channel-mismatch",
                    "channelConfigId",
                    format!(
                        "channel configuration {:?} is for {} but this campaign sends {}: \
                         choose a {} configuration",
                        c.spec.name,
                        c.channel(),
                        spec.channel,
                        spec.channel
                    ),
                );
            }
            if c.spec.category != spec.campaign_type {
                r.error(
                    "channel-config-category-mismatch",
                    "channelConfigId",
                    format!(
                        "channel configuration {:?} is for {} messages but this is a {} \
                         campaign: choose a {} configuration (the category decides the SMS \
                         type and unsubscribe handling)",
                        c.spec.name, c.spec.category, spec.campaign_type, spec.campaign_type
                    ),
                );
            }
        }
    }
}

fn reference_checks(spec: &CampaignSpec, ctx: &ReviewContext<'_>, r: &mut ReviewReport) {
    match ctx.audience {
        Lookup::Missing => r.error(
            "audience-not-found",
            "audience.id",
            format!(
                "audience {} does not exist (it may have been deleted): choose another one",
                spec.audience
                    .as_ref()
                    .map(|a| a.id.to_string())
                    .unwrap_or_default()
            ),
        ),
        Lookup::NotReferenced if spec.campaign_type == CampaignType::Marketing => r.warning(
            "no-audience",
            "audience",
            "this marketing campaign has no audience: it can only be triggered for individual \
             recipients (unitary executions); set an audience to send it to a group",
        ),
        _ => {}
    }
    if ctx.rule_set == Lookup::Missing {
        r.error(
            "rule-set-not-found",
            "ruleSetId",
            format!(
                "rule set {} does not exist (it may have been deleted): choose another one or \
                 remove ruleSetId",
                spec.rule_set_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            ),
        );
    }
}

fn schedule_checks(spec: &CampaignSpec, now: Timestamp, r: &mut ReviewReport) {
    let s = &spec.schedule;
    if let (Some(start), Some(end)) = (s.start_at, s.end_at)
        && end <= start
    {
        r.error(
            "schedule-end-before-start",
            "schedule.endAt",
            format!(
                "the schedule ends ({end}) before it starts ({start}): move endAt after startAt"
            ),
        );
    }
    if let Some(end) = s.end_at
        && end <= now
    {
        r.error(
            "schedule-ended",
            "schedule.endAt",
            format!("the schedule ended at {end}: move endAt into the future or remove it"),
        );
    }
}

#[cfg(test)]
mod tests;
