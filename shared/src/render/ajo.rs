//! Adobe Journey Optimizer's expression syntax, translated to Handlebars before compiling.
//!
//! Two forms are accepted:
//! - `{%= profile.person.firstName %}` becomes `{{profile.person.firstName}}`;
//! - `{%= expr ?: "fallback" %}` (or `'fallback'`, a number, `true`/`false`/`null` or another
//!   path) becomes `{{default expr "fallback"}}`.
//!
//! Anything else that starts with `{%` (AJO's `{%#if %}` blocks, arithmetic, function calls) is
//! left untouched and reported in [`Translation::unsupported`], so the review can tell the
//! operator that it would be sent as literal text.

use std::borrow::Cow;

/// The result of [`translate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation<'a> {
    /// The template with every supported AJO expression rewritten.
    pub text: Cow<'a, str>,
    /// AJO-looking tags that were left as they are (at most 60 characters of each).
    pub unsupported: Vec<String>,
}

/// Rewrites the supported AJO expressions of a template into Handlebars.
pub fn translate(src: &str) -> Translation<'_> {
    if !src.contains("{%") {
        return Translation {
            text: Cow::Borrowed(src),
            unsupported: Vec::new(),
        };
    }
    let mut out = String::with_capacity(src.len());
    let mut unsupported = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        if let Some(inner_and_after) = tag.strip_prefix("{%=")
            && let Some(end) = find_close(inner_and_after)
        {
            let inner = &inner_and_after[..end];
            let whole = &tag[..3 + end + 2];
            match translate_expression(inner) {
                Some(hbs) => out.push_str(&hbs),
                None => {
                    out.push_str(whole);
                    unsupported.push(snippet(whole));
                }
            }
            rest = &inner_and_after[end + 2..];
            continue;
        }
        let shown = match find_close(&tag[2..]) {
            Some(end) => &tag[..2 + end + 2],
            None => tag,
        };
        unsupported.push(snippet(shown));
        out.push_str("{%");
        rest = &tag[2..];
    }
    out.push_str(rest);
    Translation {
        text: Cow::Owned(out),
        unsupported,
    }
}

fn snippet(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// Byte offset of the closing `%}` in `s`, ignoring any inside a quoted string.
fn find_close(s: &str) -> Option<usize> {
    find_unquoted(s, *b"%}")
}

/// Byte offset of the Elvis operator `?:` outside quotes.
fn find_elvis(s: &str) -> Option<usize> {
    find_unquoted(s, *b"?:")
}

/// Byte offset of the two-byte `token` in `s`, skipping quoted strings (with `\` escapes).
fn find_unquoted(s: &str, token: [u8; 2]) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'\'' {
                    quote = Some(b);
                } else if b == token[0] && bytes.get(i + 1) == Some(&token[1]) {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn translate_expression(inner: &str) -> Option<String> {
    let inner = inner.trim();
    match find_elvis(inner) {
        None => is_path(inner).then(|| format!("{{{{{inner}}}}}")),
        Some(at) => {
            let expr = inner[..at].trim();
            let fallback = inner[at + 2..].trim();
            if !is_path(expr) {
                return None;
            }
            let fallback = fallback_literal(fallback)?;
            Some(format!("{{{{default {expr} {fallback}}}}}"))
        }
    }
}

/// A dotted path such as `profile.person.name.firstName` (no spaces, operators or calls).
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '/'])
        && !s.ends_with(['.', '/'])
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '@' | '-' | '/'))
        && !matches!(s, "else" | "as")
}

/// The fallback as a Handlebars parameter: strings become double-quoted JSON strings.
fn fallback_literal(s: &str) -> Option<String> {
    if let Some(quote) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let body = s.strip_prefix(quote)?.strip_suffix(quote)?;
        let mut value = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n) if n == quote || n == '\\' => value.push(n),
                    Some(n) => {
                        value.push('\\');
                        value.push(n);
                    }
                    None => return None,
                }
            } else if c == quote {
                // An unescaped quote inside: not a single string literal.
                return None;
            } else {
                value.push(c);
            }
        }
        return serde_json::to_string(&value).ok();
    }
    if matches!(s, "true" | "false" | "null") || s.parse::<f64>().is_ok_and(f64::is_finite) {
        return Some(s.to_string());
    }
    is_path(s).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(s: &str) -> String {
        translate(s).text.into_owned()
    }

    #[test]
    fn a_plain_expression_becomes_a_mustache() {
        assert_eq!(
            tr("Hi {%= profile.person.name.firstName %}!"),
            "Hi {{profile.person.name.firstName}}!"
        );
        assert_eq!(tr("{%=context.code%}"), "{{context.code}}");
    }

    #[test]
    fn an_elvis_fallback_becomes_the_default_helper() {
        assert_eq!(
            tr(r#"Hi {%= profile.firstName ?: "there" %}"#),
            r#"Hi {{default profile.firstName "there"}}"#
        );
        assert_eq!(
            tr("Hi {%= profile.firstName?:'friend' %}"),
            r#"Hi {{default profile.firstName "friend"}}"#
        );
    }

    #[test]
    fn quotes_inside_a_fallback_are_escaped_for_handlebars() {
        assert_eq!(
            tr(r#"{%= profile.a ?: 'it\'s "you"' %}"#),
            r#"{{default profile.a "it's \"you\""}}"#
        );
        assert_eq!(
            tr(r#"{%= profile.a ?: "50%} off" %}"#),
            r#"{{default profile.a "50%} off"}}"#
        );
    }

    #[test]
    fn numbers_and_paths_are_accepted_as_fallbacks() {
        assert_eq!(tr("{%= context.n ?: 0 %}"), "{{default context.n 0}}");
        assert_eq!(
            tr("{%= profile.nick ?: profile.firstName %}"),
            "{{default profile.nick profile.firstName}}"
        );
    }

    #[test]
    fn unsupported_tags_are_left_untouched_and_reported() {
        let t = translate("{%#if profile.vip %}VIP{%/if%} {%= profile.a + 1 %} {% x");
        assert_eq!(
            t.text,
            "{%#if profile.vip %}VIP{%/if%} {%= profile.a + 1 %} {% x"
        );
        assert_eq!(
            t.unsupported,
            vec![
                "{%#if profile.vip %}",
                "{%/if%}",
                "{%= profile.a + 1 %}",
                "{% x"
            ]
        );
    }

    #[test]
    fn text_without_ajo_syntax_is_borrowed_unchanged() {
        let t = translate("Hello {{profile.name}} 100%");
        assert!(matches!(t.text, Cow::Borrowed(_)));
        assert!(t.unsupported.is_empty());
    }

    #[test]
    fn multi_byte_text_around_expressions_is_kept() {
        assert_eq!(
            tr("Olá {%= profile.nome ?: \"você\" %} 👋"),
            "Olá {{default profile.nome \"você\"}} 👋"
        );
    }
}
