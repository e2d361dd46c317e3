//! Audiences: a static list of profile ids, or a rule over profile attributes. Members are
//! always read in pages.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Problems, ValidationErrors};
use super::ids::AudienceId;
use super::profile::Profile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
    In,
    Contains,
}

/// One condition on a profile attribute; `attribute` is a dotted path into the attributes
/// (`address.city`), or one of `locale`, `timezone`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    pub attribute: String,
    pub op: Operator,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Match {
    #[default]
    All,
    Any,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceRule {
    #[serde(default)]
    pub r#match: Match,
    pub conditions: Vec<Condition>,
}

fn lookup<'a>(profile: &'a Profile, path: &str) -> Option<std::borrow::Cow<'a, Value>> {
    match path {
        "locale" => {
            return profile
                .locale
                .as_ref()
                .map(|l| std::borrow::Cow::Owned(Value::String(l.clone())));
        }
        "timezone" => {
            return profile
                .timezone
                .as_ref()
                .map(|l| std::borrow::Cow::Owned(Value::String(l.clone())));
        }
        _ => {}
    }
    let mut parts = path.split('.');
    let mut cur = profile.attributes.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(std::borrow::Cow::Borrowed(cur))
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Condition {
    pub fn matches(&self, profile: &Profile) -> bool {
        use std::cmp::Ordering::*;
        let found = lookup(profile, &self.attribute);
        match (self.op, found.as_deref()) {
            (Operator::Exists, v) => v.is_some_and(|v| !v.is_null()),
            (Operator::NotExists, v) => v.is_none_or(Value::is_null),
            (_, None) => false,
            (Operator::Eq, Some(v)) => v == &self.value,
            (Operator::Ne, Some(v)) => v != &self.value,
            (Operator::Gt, Some(v)) => compare(v, &self.value) == Some(Greater),
            (Operator::Gte, Some(v)) => matches!(compare(v, &self.value), Some(Greater | Equal)),
            (Operator::Lt, Some(v)) => compare(v, &self.value) == Some(Less),
            (Operator::Lte, Some(v)) => matches!(compare(v, &self.value), Some(Less | Equal)),
            (Operator::In, Some(v)) => self.value.as_array().is_some_and(|a| a.contains(v)),
            (Operator::Contains, Some(Value::Array(a))) => a.contains(&self.value),
            (Operator::Contains, Some(Value::String(s))) => {
                self.value.as_str().is_some_and(|n| s.contains(n))
            }
            (Operator::Contains, Some(_)) => false,
        }
    }
}

impl AudienceRule {
    pub fn matches(&self, profile: &Profile) -> bool {
        match self.r#match {
            Match::All => self.conditions.iter().all(|c| c.matches(profile)),
            Match::Any => self.conditions.iter().any(|c| c.matches(profile)),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if self.conditions.is_empty() {
            p.push("rule.conditions", "a rule needs at least one condition");
        }
        for (i, c) in self.conditions.iter().enumerate() {
            if c.attribute.trim().is_empty() {
                p.push(
                    format!("rule.conditions[{i}].attribute"),
                    "name the attribute to test",
                );
            }
            let needs_value = !matches!(c.op, Operator::Exists | Operator::NotExists);
            if needs_value && c.value.is_null() {
                p.push(
                    format!("rule.conditions[{i}].value"),
                    "this operator needs a value",
                );
            }
            if c.op == Operator::In && !c.value.is_array() {
                p.push(
                    format!("rule.conditions[{i}].value"),
                    "`in` takes an array of values",
                );
            }
        }
        p.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum AudienceKind {
    /// Members are added and removed explicitly.
    Static,
    /// Members are the profiles matching the rule at execution time.
    Rule { rule: AudienceRule },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "SpecWire")]
pub struct AudienceSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(flatten)]
    pub kind: AudienceKind,
}

impl AudienceSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if self.name.trim().is_empty() {
            p.push("name", "an audience needs a name");
        }
        if let AudienceKind::Rule { rule } = &self.kind
            && let Err(e) = rule.validate()
        {
            for err in e.0 {
                p.add(err);
            }
        }
        p.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "StoredWire")]
pub struct Audience {
    pub id: AudienceId,
    #[serde(flatten)]
    pub spec: AudienceSpec,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

// Wire forms: `#[serde(flatten)]` cannot refuse unknown keys, so input names every key and
// refuses the rest; the stored form is read leniently.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum KindTag {
    Static,
    Rule,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecWire {
    name: String,
    #[serde(default)]
    description: String,
    kind: KindTag,
    rule: Option<AudienceRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredWire {
    id: AudienceId,
    name: String,
    #[serde(default)]
    description: String,
    kind: KindTag,
    rule: Option<AudienceRule>,
    revision: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn kind_of(tag: KindTag, rule: Option<AudienceRule>) -> Result<AudienceKind, String> {
    match (tag, rule) {
        (KindTag::Static, None) => Ok(AudienceKind::Static),
        (KindTag::Static, Some(_)) => {
            Err("a static audience has no rule; use \"kind\": \"rule\"".into())
        }
        (KindTag::Rule, Some(rule)) => Ok(AudienceKind::Rule { rule }),
        (KindTag::Rule, None) => Err("a rule audience needs a \"rule\"".into()),
    }
}

impl TryFrom<SpecWire> for AudienceSpec {
    type Error = String;
    fn try_from(w: SpecWire) -> Result<Self, String> {
        Ok(Self {
            name: w.name,
            description: w.description,
            kind: kind_of(w.kind, w.rule)?,
        })
    }
}

impl TryFrom<StoredWire> for Audience {
    type Error = String;
    fn try_from(w: StoredWire) -> Result<Self, String> {
        Ok(Self {
            id: w.id,
            spec: AudienceSpec {
                name: w.name,
                description: w.description,
                kind: kind_of(w.kind, w.rule)?,
            },
            revision: w.revision,
            created_at: w.created_at,
            updated_at: w.updated_at,
        })
    }
}

/// Most members added or removed in one call.
pub const MAX_MEMBERS_PER_CALL: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audience_specs_refuse_unknown_keys_and_mismatched_rules() {
        let typo = json!({"name": "a", "kind": "static", "descripton": "x"});
        assert!(
            serde_json::from_value::<AudienceSpec>(typo)
                .unwrap_err()
                .to_string()
                .contains("descripton")
        );
        assert!(
            serde_json::from_value::<AudienceSpec>(json!({"name": "a", "kind": "rule"})).is_err()
        );
        let spec: AudienceSpec = serde_json::from_value(
            json!({"name": "a", "kind": "rule", "rule": {"conditions": [{"attribute": "n", "op": "gt", "value": 1}]}}),
        )
        .unwrap();
        let now = Timestamp::UNIX_EPOCH;
        let stored = Audience {
            id: AudienceId::new(),
            spec,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        let back: Audience =
            serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
        assert_eq!(back, stored);
    }
}
