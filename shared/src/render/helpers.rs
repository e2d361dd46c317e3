//! Template helpers beyond Handlebars' built-ins.
//!
//! Every helper returns a value (so it composes in subexpressions, and its output is escaped
//! like any other value in email HTML). A missing or `null` input renders as empty text; a
//! helper called with missing parameters or arguments of the wrong kind is a render error.
//!
//! | helper | example | result |
//! | --- | --- | --- |
//! | `default` | `{{default profile.name "there"}}` | the value when present and non-empty, else the fallback |
//! | `upper`, `lower` | `{{upper profile.city}}` | case-mapped text |
//! | `capitalize` | `{{capitalize profile.name}}` | first letter upper-cased |
//! | `trim` | `{{trim context.code}}` | surrounding whitespace removed |
//! | `truncate` | `{{truncate context.title 20}}` | at most 20 characters, then `…` when cut |
//! | `formatDate` | `{{formatDate context.when "%Y-%m-%d %H:%M" "Europe/Paris"}}` | a timestamp (RFC 3339, or Unix seconds) or a date (`2024-05-01`) formatted with strftime, optionally in an IANA time zone |
//! | `formatNumber` | `{{formatNumber context.total 2 thousands="," point="."}}` | fixed decimals, optional grouping and decimal point |
//! | `json` | `{{json context.items}}` | the value as JSON |

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

/// Built-in helpers kept from Handlebars (`log` is removed: it would write personal data to
/// the logs).
pub(crate) const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// Helpers registered by Herald.
pub(crate) const HERALD_HELPERS: &[&str] = &[
    "default",
    "upper",
    "lower",
    "capitalize",
    "trim",
    "truncate",
    "formatDate",
    "formatNumber",
    "json",
];

pub(crate) fn is_helper(name: &str) -> bool {
    BUILTIN_HELPERS.contains(&name) || HERALD_HELPERS.contains(&name)
}

/// Registers Herald's helpers and removes the ones Herald does not offer.
pub(crate) fn register(h: &mut Handlebars<'static>) {
    h.unregister_helper("log");
    h.register_helper("default", Box::new(DefaultHelper));
    for (name, f) in [
        ("upper", upper as fn(&str) -> String),
        ("lower", lower),
        ("capitalize", capitalize),
        ("trim", trim),
    ] {
        h.register_helper(name, Box::new(TextHelper { name, f }));
    }
    h.register_helper("truncate", Box::new(TruncateHelper));
    h.register_helper("formatDate", Box::new(FormatDateHelper));
    h.register_helper("formatNumber", Box::new(FormatNumberHelper));
    h.register_helper("json", Box::new(JsonHelper));
}

fn other(msg: String) -> RenderError {
    RenderErrorReason::Other(msg).into()
}

fn param<'a>(h: &'a Helper<'_>, helper: &'static str, i: usize) -> Result<&'a Value, RenderError> {
    h.param(i)
        .map(|p| p.value())
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex(helper, i).into())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Text of a scalar; `None` for null/missing; an error for lists and objects.
fn scalar_text(helper: &str, v: &Value) -> Result<Option<String>, RenderError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other_value => Err(other(format!(
            "{helper} expects text, got {}",
            kind(other_value)
        ))),
    }
}

fn derived<'rc>(v: Value) -> Result<ScopedJson<'rc>, RenderError> {
    Ok(ScopedJson::Derived(v))
}

/// Whether `default` should fall back: missing, null, empty or blank text, empty list/object.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

struct DefaultHelper;

impl HelperDef for DefaultHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let value = param(h, "default", 0)?;
        let fallback = param(h, "default", 1)?;
        derived(if is_blank(value) {
            fallback.clone()
        } else {
            value.clone()
        })
    }
}

fn upper(s: &str) -> String {
    s.to_uppercase()
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn trim(s: &str) -> String {
    s.trim().to_string()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

struct TextHelper {
    name: &'static str,
    f: fn(&str) -> String,
}

impl HelperDef for TextHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let v = param(h, self.name, 0)?;
        let text = scalar_text(self.name, v)?.unwrap_or_default();
        derived(Value::String((self.f)(&text)))
    }
}

fn non_negative_integer(helper: &str, what: &str, v: &Value) -> Result<u64, RenderError> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        let shown = match v {
            Value::String(s) => format!("{s:?}"),
            v => v.to_string(),
        };
        other(format!(
            "{helper} expects {what} as a whole number ≥ 0, got {shown}"
        ))
    })
}

struct TruncateHelper;

impl HelperDef for TruncateHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let v = param(h, "truncate", 0)?;
        let n = non_negative_integer("truncate", "the length", param(h, "truncate", 1)?)?;
        let text = scalar_text("truncate", v)?.unwrap_or_default();
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if text.chars().count() <= n {
            return derived(Value::String(text));
        }
        let mut cut: String = text.chars().take(n).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        derived(Value::String(cut))
    }
}

/// A parsed date input: an instant, or a calendar date without time.
enum DateInput {
    Instant(jiff::Timestamp),
    Date(jiff::civil::Date),
    DateTime(jiff::civil::DateTime),
}

fn parse_date(v: &Value) -> Result<Option<DateInput>, RenderError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = s.parse::<jiff::Timestamp>() {
                return Ok(Some(DateInput::Instant(t)));
            }
            if let Ok(d) = s.parse::<jiff::civil::Date>()
                && !s.contains(['T', 't', ' '])
            {
                return Ok(Some(DateInput::Date(d)));
            }
            if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
                return Ok(Some(DateInput::DateTime(dt)));
            }
            Err(other(format!(
                "formatDate expects an RFC 3339 timestamp (2024-05-01T09:30:00Z) or a date \
                 (2024-05-01), got {s:?}"
            )))
        }
        Value::Number(n) => {
            let t = n
                .as_i64()
                .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
                .ok_or_else(|| {
                    other(format!(
                        "formatDate expects Unix seconds as a whole number, got {n}"
                    ))
                })?;
            Ok(Some(DateInput::Instant(t)))
        }
        v => Err(other(format!(
            "formatDate expects a timestamp or a date, got {}",
            kind(v)
        ))),
    }
}

struct FormatDateHelper;

impl HelperDef for FormatDateHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let input = param(h, "formatDate", 0)?;
        let format = match param(h, "formatDate", 1)? {
            Value::String(f) => f.as_str(),
            v => {
                return Err(other(format!(
                    "formatDate expects a format such as \"%Y-%m-%d\" as its second argument, \
                     got {}",
                    kind(v)
                )));
            }
        };
        let zone = match h.param(2).map(|p| p.value()) {
            None | Some(Value::Null) => None,
            Some(Value::String(z)) if z.trim().is_empty() => None,
            Some(Value::String(z)) => Some(jiff::tz::TimeZone::get(z.trim()).map_err(|_| {
                other(format!(
                    "formatDate: {z:?} is not an IANA time zone (such as \"Europe/Paris\")"
                ))
            })?),
            Some(v) => {
                return Err(other(format!(
                    "formatDate expects a time zone name as its third argument, got {}",
                    kind(v)
                )));
            }
        };
        let Some(input) = parse_date(input)? else {
            return derived(Value::String(String::new()));
        };
        let formatted = match input {
            DateInput::Instant(t) => {
                let zone = zone.unwrap_or(jiff::tz::TimeZone::UTC);
                let zoned = t.to_zoned_datetime(zone);
                jiff::fmt::strtime::format(format, &zoned)
            }
            DateInput::Date(d) => jiff::fmt::strtime::format(format, d),
            DateInput::DateTime(dt) => jiff::fmt::strtime::format(format, dt),
        }
        .map_err(|e| other(format!("formatDate cannot apply format {format:?}: {e}")))?;
        derived(Value::String(formatted))
    }
}

struct FormatNumberHelper;

fn hash_text<'a>(h: &'a Helper<'_>, key: &str) -> Result<Option<&'a str>, RenderError> {
    match h.hash_get(key).map(|p| p.value()) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(v) => Err(other(format!(
            "formatNumber expects {key}=\"…\" to be text, got {}",
            kind(v)
        ))),
    }
}

fn group_thousands(int: &str, sep: &str) -> String {
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int),
    };
    let mut out = String::with_capacity(int.len() + digits.len() / 3 * sep.len());
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

impl HelperDef for FormatNumberHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let v = param(h, "formatNumber", 0)?;
        let decimals = match h.param(1).map(|p| p.value()) {
            None => None,
            Some(d) => {
                let d = non_negative_integer("formatNumber", "the number of decimals", d)?;
                if d > 20 {
                    return Err(other(format!(
                        "formatNumber takes at most 20 decimals, not {d}"
                    )));
                }
                Some(d as usize)
            }
        };
        let thousands = hash_text(h, "thousands")?.unwrap_or("");
        let point = hash_text(h, "point")?.unwrap_or(".");
        let text = match v {
            Value::Null => return derived(Value::String(String::new())),
            Value::String(s) if s.trim().is_empty() => {
                return derived(Value::String(String::new()));
            }
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            v => {
                return Err(other(format!(
                    "formatNumber expects a number, got {}",
                    kind(v)
                )));
            }
        };
        let is_integer = !text.is_empty()
            && text
                .strip_prefix('-')
                .unwrap_or(&text)
                .chars()
                .all(|c| c.is_ascii_digit());
        let formatted = if is_integer && decimals.is_none_or(|d| d == 0) {
            text
        } else if is_integer {
            format!("{text}.{}", "0".repeat(decimals.unwrap_or(0)))
        } else {
            let x: f64 = text
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| other(format!("formatNumber expects a number, got {text:?}")))?;
            match decimals {
                Some(d) => format!("{x:.d$}"),
                None => x.to_string(),
            }
        };
        let (int, frac) = match formatted.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (formatted.as_str(), None),
        };
        let mut out = if thousands.is_empty() {
            int.to_string()
        } else {
            group_thousands(int, thousands)
        };
        if let Some(f) = frac {
            out.push_str(point);
            out.push_str(f);
        }
        derived(Value::String(out))
    }
}

struct JsonHelper;

impl HelperDef for JsonHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let v = param(h, "json", 0)?;
        derived(Value::String(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(tpl: &str, data: Value) -> Result<String, String> {
        let mut h = Handlebars::new();
        h.register_escape_fn(handlebars::no_escape);
        register(&mut h);
        h.render_template(tpl, &data).map_err(|e| e.to_string())
    }

    #[test]
    fn default_uses_the_value_when_present_and_the_fallback_otherwise() {
        let tpl = r#"Hi {{default profile.name "there"}}"#;
        assert_eq!(
            render(tpl, json!({"profile": {"name": "Ada"}})).unwrap(),
            "Hi Ada"
        );
        assert_eq!(
            render(tpl, json!({"profile": {"name": " "}})).unwrap(),
            "Hi there"
        );
        assert_eq!(render(tpl, json!({"profile": {}})).unwrap(), "Hi there");
        assert_eq!(render(tpl, json!({})).unwrap(), "Hi there");
        assert_eq!(
            render("{{default context.n 5}}", json!({"context": {"n": 0}})).unwrap(),
            "0"
        );
    }

    #[test]
    fn default_without_a_fallback_is_a_render_error() {
        let e = render("{{default profile.name}}", json!({})).unwrap_err();
        assert!(e.contains("param at index 1"), "{e}");
    }

    #[test]
    fn text_helpers_change_case_and_trim() {
        let d = json!({"p": {"s": "  élan vital ", "n": 42}});
        assert_eq!(render("{{upper p.s}}", d.clone()).unwrap(), "  ÉLAN VITAL ");
        assert_eq!(
            render("{{lower (upper p.s)}}", d.clone()).unwrap(),
            "  élan vital "
        );
        assert_eq!(
            render("{{capitalize (trim p.s)}}", d.clone()).unwrap(),
            "Élan vital"
        );
        assert_eq!(render("{{upper p.n}}", d.clone()).unwrap(), "42");
        assert_eq!(render("[{{upper p.missing}}]", d).unwrap(), "[]");
    }

    #[test]
    fn a_text_helper_given_an_object_is_a_render_error() {
        let e = render("{{upper p}}", json!({"p": {"a": 1}})).unwrap_err();
        assert!(e.contains("upper expects text, got an object"), "{e}");
    }

    #[test]
    fn truncate_cuts_at_n_characters_and_appends_an_ellipsis() {
        let d = json!({"t": "Hello wonderful world"});
        assert_eq!(render("{{truncate t 5}}", d.clone()).unwrap(), "Hello…");
        assert_eq!(render("{{truncate t 6}}", d.clone()).unwrap(), "Hello…");
        assert_eq!(
            render("{{truncate t 50}}", d.clone()).unwrap(),
            "Hello wonderful world"
        );
        assert_eq!(
            render("{{truncate \"😀😀😀\" 2}}", d.clone()).unwrap(),
            "😀😀…"
        );
        let e = render("{{truncate t \"many\"}}", d).unwrap_err();
        assert!(
            e.contains("truncate expects the length as a whole number"),
            "{e}"
        );
    }

    #[test]
    fn format_date_formats_timestamps_in_a_zone_and_plain_dates() {
        let d = json!({"c": {"when": "2024-05-01T22:30:00Z", "day": "2024-12-25", "unix": 0}});
        assert_eq!(
            render(r#"{{formatDate c.when "%Y-%m-%d %H:%M"}}"#, d.clone()).unwrap(),
            "2024-05-01 22:30"
        );
        assert_eq!(
            render(
                r#"{{formatDate c.when "%Y-%m-%d %H:%M %Z" "Europe/Paris"}}"#,
                d.clone()
            )
            .unwrap(),
            "2024-05-02 00:30 CEST"
        );
        assert_eq!(
            render(r#"{{formatDate c.day "%d/%m/%Y"}}"#, d.clone()).unwrap(),
            "25/12/2024"
        );
        assert_eq!(
            render(r#"{{formatDate c.unix "%Y"}}"#, d.clone()).unwrap(),
            "1970"
        );
        assert_eq!(
            render(r#"[{{formatDate c.missing "%Y"}}]"#, d).unwrap(),
            "[]"
        );
    }

    #[test]
    fn format_date_with_a_bad_date_zone_or_format_is_a_render_error() {
        let d =
            json!({"c": {"when": "2024-05-01T22:30:00Z", "bad": "yesterday", "day": "2024-12-25"}});
        let e = render(r#"{{formatDate c.bad "%Y"}}"#, d.clone()).unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        let e = render(r#"{{formatDate c.when "%Y" "Mars/Olympus"}}"#, d.clone()).unwrap_err();
        assert!(e.contains("not an IANA time zone"), "{e}");
        let e = render(r#"{{formatDate c.day "%H:%M"}}"#, d.clone()).unwrap_err();
        assert!(e.contains("cannot apply format"), "{e}");
        let e = render(r#"{{formatDate c.when}}"#, d).unwrap_err();
        assert!(e.contains("param at index 1"), "{e}");
    }

    #[test]
    fn format_number_fixes_decimals_and_groups_thousands() {
        let d = json!({"n": 1234567.891, "i": -1234567, "s": "42.5", "z": 3});
        assert_eq!(
            render("{{formatNumber n 2}}", d.clone()).unwrap(),
            "1234567.89"
        );
        assert_eq!(
            render(r#"{{formatNumber n 2 thousands="," }}"#, d.clone()).unwrap(),
            "1,234,567.89"
        );
        assert_eq!(
            render(r#"{{formatNumber n 1 thousands="." point=","}}"#, d.clone()).unwrap(),
            "1.234.567,9"
        );
        assert_eq!(
            render(r#"{{formatNumber i thousands=" "}}"#, d.clone()).unwrap(),
            "-1 234 567"
        );
        assert_eq!(render("{{formatNumber s 2}}", d.clone()).unwrap(), "42.50");
        assert_eq!(render("{{formatNumber z 2}}", d.clone()).unwrap(), "3.00");
        assert_eq!(render("{{formatNumber z}}", d.clone()).unwrap(), "3");
        let e = render("{{formatNumber \"abc\" 2}}", d).unwrap_err();
        assert!(e.contains("formatNumber expects a number"), "{e}");
    }

    #[test]
    fn json_writes_the_value_as_json() {
        assert_eq!(
            render("{{json c}}", json!({"c": {"a": [1, "x"]}})).unwrap(),
            r#"{"a":[1,"x"]}"#
        );
    }

    #[test]
    fn the_log_helper_is_not_available() {
        let mut h = Handlebars::new();
        register(&mut h);
        let e = h
            .render_template("{{log profile.email}}", &json!({}))
            .unwrap_err();
        assert!(e.to_string().contains("Helper not found log"), "{e}");
    }
}
