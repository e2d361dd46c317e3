//! The raw MIME message for an [`EmailEnvelope`]: what SES v2 gets as `Content.Raw` and what
//! the local outbox writes as `<message-id>.eml`, byte for byte the same builder.
//!
//! The message is `multipart/alternative` with a `text/plain` and a `text/html` part (UTF-8;
//! mail-builder picks quoted-printable or base64 per part). Headers, each written once:
//! `From` (display name as an RFC 2047 encoded word when not ASCII), `To`, `Reply-To` (when
//! set), `Subject` (encoded when not ASCII), `Date`, `Message-ID: <{message id}@{domain}>`,
//! `MIME-Version`, `X-Herald-Message-Id`, `X-Herald-Campaign-Id`, and on marketing mail
//! `List-Unsubscribe: <url>` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
//! (RFC 8058).
//!
//! No header can be injected: every value that becomes a header is refused when it contains
//! CR, LF or NUL ([`MimeError::LineBreak`]), addresses must be a plain `local@domain`
//! ([`MimeError::Address`]), and the unsubscribe URL must be an `http(s)` URL without spaces
//! or angle brackets ([`MimeError::Url`]). The renderer already strips line breaks from
//! subjects; this is the last line of defence, not the first.
//!
//! The preheader, when there is one, becomes a hidden first element of the HTML body (right
//! after `<body …>`, or at the very start when the HTML has no `<body>` tag), HTML-escaped.

use std::borrow::Cow;

use jiff::Timestamp;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::url::URL;

use crate::ports::delivery::EmailEnvelope;

/// Herald's own message id (32 hex digits), for tracing a raw message back.
pub const HERALD_MESSAGE_ID_HEADER: &str = "X-Herald-Message-Id";
/// The campaign the message belongs to.
pub const HERALD_CAMPAIGN_ID_HEADER: &str = "X-Herald-Campaign-Id";
/// RFC 8058's fixed `List-Unsubscribe-Post` value.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Why a message could not be built. Every variant is permanent for the message: sending it
/// again would fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("the {header} header value contains a line break or NUL, which could inject headers")]
    LineBreak { header: &'static str },
    #[error("the {header} address {value:?} is not a plain local@domain address")]
    Address { header: &'static str, value: String },
    #[error("the List-Unsubscribe URL {value:?} is not an http(s) URL without spaces or <>")]
    Url { value: String },
    #[error("the Message-ID domain {value:?} is not a plain domain name")]
    Domain { value: String },
    #[error("the MIME message could not be written")]
    Write(#[source] std::io::Error),
}

/// Builds the raw message, dated now.
pub fn build_email(
    envelope: &EmailEnvelope,
    message_id_domain: &str,
) -> Result<Vec<u8>, MimeError> {
    build_email_at(envelope, message_id_domain, Timestamp::now())
}

/// Builds the raw message with a given `Date` (tests and the outbox use a fixed clock).
pub fn build_email_at(
    envelope: &EmailEnvelope,
    message_id_domain: &str,
    date: Timestamp,
) -> Result<Vec<u8>, MimeError> {
    let content = &envelope.content;
    let from_name = envelope
        .from_name
        .as_deref()
        .filter(|n| !n.trim().is_empty());
    if let Some(name) = from_name {
        single_line("From", name)?;
    }
    let from = address("From", &envelope.from_address)?;
    let to = address("To", &envelope.to)?;
    let reply_to = envelope
        .reply_to
        .as_deref()
        .map(|r| address("Reply-To", r))
        .transpose()?;
    single_line("Subject", &content.subject)?;
    let domain = domain(message_id_domain)?;
    let message_id = envelope.tags.message_id.as_str();
    single_line("Message-ID", message_id)?;
    let campaign_id = envelope.tags.campaign_id.to_string();
    let unsubscribe = envelope
        .list_unsubscribe
        .as_ref()
        .map(|u| unsubscribe_url(&u.url))
        .transpose()?;

    let mut builder = MessageBuilder::new()
        .from(Address::new_address(from_name, from))
        .to(Address::new_address(None::<&str>, to));
    if let Some(r) = reply_to {
        builder = builder.reply_to(Address::new_address(None::<&str>, r));
    }
    builder = builder
        .subject(Text::new(content.subject.as_str()))
        .date(Date::new(date.as_second()))
        .message_id(MessageId::new(format!("{message_id}@{domain}")))
        .header(HERALD_MESSAGE_ID_HEADER, Raw::new(message_id))
        .header(HERALD_CAMPAIGN_ID_HEADER, Raw::new(campaign_id));
    if let Some(url) = unsubscribe {
        builder = builder
            .header("List-Unsubscribe", URL::new(url))
            .header("List-Unsubscribe-Post", Raw::new(ONE_CLICK));
    }
    let html = with_preheader(&content.html, content.preheader.as_deref());
    builder
        .text_body(content.text.as_str())
        .html_body(html)
        .write_to_vec()
        .map_err(MimeError::Write)
}

/// CR, LF and NUL end or corrupt a header line; nothing that becomes a header may hold them.
fn single_line(header: &'static str, value: &str) -> Result<(), MimeError> {
    if value.contains(['\r', '\n', '\0']) {
        Err(MimeError::LineBreak { header })
    } else {
        Ok(())
    }
}

/// A bare `local@domain`: no display name, comment, list separator, quote, bracket or space,
/// so the value cannot add recipients or break out of the angle brackets it is written in.
fn address<'a>(header: &'static str, value: &'a str) -> Result<&'a str, MimeError> {
    single_line(header, value)?;
    let bad = || MimeError::Address {
        header,
        value: value.to_string(),
    };
    let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
    let forbidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>' | ',' | ';' | '"' | '(' | ')' | '\\' | '[' | ']'
            )
    };
    if local.is_empty() || domain.is_empty() || value.chars().any(forbidden) || domain.contains(':')
    {
        return Err(bad());
    }
    Ok(value)
}

fn domain(value: &str) -> Result<&str, MimeError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if ok {
        Ok(value)
    } else {
        Err(MimeError::Domain {
            value: value.to_string(),
        })
    }
}

fn unsubscribe_url(value: &str) -> Result<&str, MimeError> {
    single_line("List-Unsubscribe", value)?;
    let lower = value.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let chars_ok = !value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    if scheme_ok && chars_ok {
        Ok(value)
    } else {
        Err(MimeError::Url {
            value: value.to_string(),
        })
    }
}

/// The HTML body with the preheader as a hidden first element.
fn with_preheader<'a>(html: &'a str, preheader: Option<&str>) -> Cow<'a, str> {
    let Some(pre) = preheader.map(str::trim).filter(|p| !p.is_empty()) else {
        return Cow::Borrowed(html);
    };
    let hidden = format!(
        "<div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">{}</div>",
        escape_html(pre)
    );
    let at = body_open_end(html).unwrap_or(0);
    let mut out = String::with_capacity(html.len() + hidden.len());
    out.push_str(&html[..at]);
    out.push_str(&hidden);
    out.push_str(&html[at..]);
    Cow::Owned(out)
}

/// The byte index just after the `<body …>` tag, when the HTML has one.
fn body_open_end(html: &str) -> Option<usize> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<body") {
        let start = from + i;
        let next = lower.as_bytes().get(start + 5).copied();
        if matches!(next, Some(b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'/')) {
            return lower[start..].find('>').map(|end| start + end + 1);
        }
        from = start + 5;
    }
    None
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
