//! Parsing every templated field of a campaign's content, shared by compilation and review.

use handlebars::TemplateErrorReason;
use handlebars::template::Template;

use super::ajo;
use super::inspect::{Facts, inspect};
use crate::domain::{Content, Finding};

/// One templated field, parsed.
pub(crate) struct ParsedField {
    /// Full field path, such as `content.locales.fr.email.html`.
    pub(crate) path: String,
    /// Whether its output is HTML (email `html`): values are HTML-escaped.
    pub(crate) html: bool,
    /// `None` when the template does not compile.
    pub(crate) template: Option<Template>,
    pub(crate) facts: Facts,
    /// AJO-looking tags left untranslated.
    pub(crate) unsupported_ajo: Vec<String>,
}

pub(crate) struct Parsed {
    pub(crate) fields: Vec<ParsedField>,
    /// `template-syntax` and `triple-stash` errors.
    pub(crate) errors: Vec<Finding>,
}

/// Whether a message field holds HTML.
pub(crate) fn is_html_field(field: &str) -> bool {
    field == "email.html"
}

/// Parses every templated field of every message (base, locales, variants).
pub(crate) fn parse(content: &Content) -> Parsed {
    let mut fields = Vec::new();
    let mut errors = Vec::new();
    for (prefix, message) in content.all_messages() {
        for (field, source) in message.fields() {
            let path = format!("{prefix}{field}");
            let translation = ajo::translate(source);
            let translated = translation.text.as_ref() != source;
            let compiled = compile_one(&translation.text, &path);
            let (template, facts) = match compiled {
                Ok(t) => {
                    let facts = inspect(&t);
                    for u in &facts.unescaped {
                        errors.push(Finding::new(
                            "triple-stash",
                            path.clone(),
                            format!(
                                "{} at {} writes a value without escaping, which Herald \
                                 refuses; use double braces {{{{…}}}} instead (email HTML is \
                                 escaped for you, other fields are never escaped)",
                                u.what,
                                u.at()
                            ),
                        ));
                    }
                    for p in &facts.partials {
                        errors.push(Finding::new(
                            "template-syntax",
                            path.clone(),
                            format!(
                                "{} at {}: partials and decorators are not supported; write \
                                 the content in the template itself",
                                p.what,
                                p.at()
                            ),
                        ));
                    }
                    (Some(t), facts)
                }
                Err(message) => {
                    let note = if translated {
                        " (positions are in the template after AJO {%= %} expressions were \
                         rewritten as Handlebars)"
                    } else {
                        ""
                    };
                    errors.push(Finding::new(
                        "template-syntax",
                        path.clone(),
                        format!("the template does not compile: {message}{note}"),
                    ));
                    (None, Facts::default())
                }
            };
            fields.push(ParsedField {
                path,
                html: is_html_field(&field),
                template,
                facts,
                unsupported_ajo: translation.unsupported,
            });
        }
    }
    Parsed { fields, errors }
}

/// Compiles one template; the error is a message with the line and column.
fn compile_one(source: &str, name: &str) -> Result<Template, String> {
    // The parser has internal `unwrap`s; a template must never bring the process down.
    let result = std::panic::catch_unwind(|| Template::compile_with_name(source, name.to_string()));
    match result {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => {
            let reason = explain(e.reason());
            Err(match e.pos() {
                Some((line, column)) => format!("line {line}, column {column}: {reason}"),
                None => reason,
            })
        }
        Err(_) => Err("the template could not be parsed".to_string()),
    }
}

/// The parser's reason in words an operator can act on.
fn explain(reason: &TemplateErrorReason) -> String {
    match reason {
        TemplateErrorReason::InvalidSyntax(detail) => {
            if detail.contains("helper_block_end") {
                "a {{#…}} block is not closed: add its {{/…}} (for example {{#if profile.vip}}…\
                 {{/if}})"
                    .to_string()
            } else if detail.contains("trailing_tilde_to_omit_whitespace") {
                "an expression is not closed: every {{ needs its }}".to_string()
            } else {
                "invalid Handlebars syntax: check that every {{ has its }} and every {{#…}} \
                 block its {{/…}}"
                    .to_string()
            }
        }
        TemplateErrorReason::MismatchingClosedHelper(open, close) => format!(
            "the block {{{{#{open}}}}} is closed by {{{{/{close}}}}}: close it with \
             {{{{/{open}}}}}"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_explained_in_plain_words() {
        let e = compile_one("Hi {{#if profile.vip}}VIP", "t").expect_err("unclosed block");
        assert_eq!(
            e,
            "line 1, column 26: a {{#…}} block is not closed: add its {{/…}} (for example \
             {{#if profile.vip}}…{{/if}})"
        );
        let e = compile_one("Hi {{profile.name", "t").expect_err("unclosed expression");
        assert!(e.contains("every {{ needs its }}"), "{e}");
        let e = compile_one("{{#if a}}x{{/each}}", "t").expect_err("mismatch");
        assert!(
            e.contains("the block {{#if}} is closed by {{/each}}"),
            "{e}"
        );
    }
}
