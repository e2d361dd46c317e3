//! Reading `template.yaml`: resources by type, CloudFormation intrinsics in short and long form,
//! and function properties merged with `Globals.Function` the way SAM merges them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

pub const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";
pub const LOG_GROUP: &str = "AWS::Logs::LogGroup";
pub const ALARM: &str = "AWS::CloudWatch::Alarm";
pub const QUEUE: &str = "AWS::SQS::Queue";
pub const EVENT_SOURCE_MAPPING: &str = "AWS::Lambda::EventSourceMapping";
pub const HTTP_API: &str = "AWS::ApiGatewayV2::Api";
pub const ROUTE: &str = "AWS::ApiGatewayV2::Route";
pub const INTEGRATION: &str = "AWS::ApiGatewayV2::Integration";
pub const AUTHORIZER: &str = "AWS::ApiGatewayV2::Authorizer";
pub const TABLE: &str = "HeraldTable";
/// The condition under which routes use the JWT authorizer instead of IAM.
pub const JWT_CONDITION: &str = "UseJwt";
/// The parameter that alarms notify when it is set.
pub const ALARM_TOPIC_PARAMETER: &str = "AlarmTopicArn";
/// Lambda's guidance for SQS event sources: visibility timeout ≥ 6 × function timeout.
pub const VISIBILITY_TIMEOUT_FACTOR: u64 = 6;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

pub fn resources(template: &Value) -> BTreeMap<String, &Value> {
    let map = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("template.yaml has a Resources mapping");
    map.iter()
        .map(|(k, v)| {
            let name = k.as_str().expect("resource logical ids are strings");
            (name.to_owned(), v)
        })
        .collect()
}

pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .collect()
}

pub fn resource_type<'a>(template: &'a Value, name: &str) -> Option<&'a str> {
    template
        .get("Resources")
        .and_then(|r| r.get(name))
        .and_then(|r| r.get("Type"))
        .and_then(Value::as_str)
}

pub fn functions(template: &Value) -> Vec<(String, &Value)> {
    let functions = resources_of_type(template, SERVERLESS_FUNCTION);
    assert!(
        !functions.is_empty(),
        "template.yaml declares no {SERVERLESS_FUNCTION}"
    );
    functions
}

pub fn properties(resource: &Value) -> Option<&Value> {
    resource.get("Properties")
}

/// A plain (untagged) string; `as_str` alone would also accept `!Ref x` as "x".
pub fn plain_str(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A plain number, or a number written as a string.
pub fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| plain_str(value).and_then(|s| s.parse().ok()))
}

/// The intrinsic function a value is, in short (`!Ref x`) or long (`{Ref: x}`) form.
pub fn intrinsic<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == name => Some(&tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            let long = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            map.get(long.as_str())
        }
        _ => None,
    }
}

/// The logical id a `!Ref` points at.
pub fn ref_target(value: &Value) -> Option<&str> {
    intrinsic(value, "Ref").and_then(plain_str)
}

/// `(logical id, attribute)` of a `!GetAtt X.Attr` (or `[X, Attr]`).
pub fn getatt_target(value: &Value) -> Option<(&str, &str)> {
    match intrinsic(value, "GetAtt")? {
        Value::String(s) => s.split_once('.'),
        Value::Sequence(items) if items.len() == 2 => {
            Some((plain_str(&items[0])?, plain_str(&items[1])?))
        }
        _ => None,
    }
}

/// `(condition, if true, if false)` of a `!If [condition, a, b]`.
pub fn if_branches(value: &Value) -> Option<(&str, &Value, &Value)> {
    match intrinsic(value, "If")?.as_sequence()?.as_slice() {
        [condition, yes, no] => Some((plain_str(condition)?, yes, no)),
        _ => None,
    }
}

/// Whether `!Ref name` appears anywhere inside `value`.
pub fn mentions_ref(value: &Value, name: &str) -> bool {
    if ref_target(value) == Some(name) {
        return true;
    }
    match value {
        Value::Mapping(map) => map.values().any(|v| mentions_ref(v, name)),
        Value::Sequence(items) => items.iter().any(|v| mentions_ref(v, name)),
        Value::Tagged(tagged) => mentions_ref(&tagged.value, name),
        _ => false,
    }
}

pub fn globals_function(template: &Value) -> Option<&Value> {
    template.get("Globals").and_then(|g| g.get("Function"))
}

/// A function property, falling back to `Globals.Function` like SAM does.
pub fn function_property<'a>(
    template: &'a Value,
    function: &'a Value,
    key: &str,
) -> Option<&'a Value> {
    properties(function)
        .and_then(|p| p.get(key))
        .or_else(|| globals_function(template).and_then(|f| f.get(key)))
}

/// A key inside a function's map-valued property; SAM merges such maps with `Globals.Function`.
pub fn merged_function_map_entry<'a>(
    template: &'a Value,
    function: &'a Value,
    map: &str,
    key: &str,
) -> Option<&'a Value> {
    properties(function)
        .and_then(|p| p.get(map))
        .and_then(|m| m.get(key))
        .or_else(|| {
            globals_function(template)
                .and_then(|f| f.get(map))
                .and_then(|m| m.get(key))
        })
}

/// An environment variable of a function; SAM merges `Environment.Variables` with the Globals.
pub fn environment_variable<'a>(
    template: &'a Value,
    function: &'a Value,
    name: &str,
) -> Option<&'a Value> {
    let variables = |scope: Option<&'a Value>| {
        scope
            .and_then(|s| s.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get(name))
    };
    variables(properties(function)).or_else(|| variables(globals_function(template)))
}

/// A function's timeout in seconds (SAM's default is 3).
pub fn function_timeout(template: &Value, function: &Value) -> u64 {
    function_property(template, function, "Timeout")
        .and_then(number)
        .unwrap_or(3)
}

/// The functions' events of one SAM type, as `(function, event name, event properties)`.
pub fn function_events<'a>(template: &'a Value, kind: &str) -> Vec<(String, String, &'a Value)> {
    let mut out = Vec::new();
    for (function, resource) in functions(template) {
        let Some(events) = properties(resource)
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for (event, spec) in events {
            if spec.get("Type").and_then(Value::as_str) == Some(kind) {
                out.push((
                    function.clone(),
                    event.as_str().unwrap_or("?").to_owned(),
                    spec.get("Properties").unwrap_or(&Value::Null),
                ));
            }
        }
    }
    out
}

/// The function that builds `binary`.
pub fn function_building<'a>(template: &'a Value, binary: &str) -> Option<(String, &'a Value)> {
    functions(template).into_iter().find(|(_, f)| {
        f.get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(plain_str)
            == Some(binary)
    })
}

/// The inline policy statements of a function.
pub fn policy_statements(function: &Value) -> Vec<&Value> {
    properties(function)
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|policy| policy.get("Statement").and_then(Value::as_sequence))
        .flatten()
        .collect()
}

pub fn statement_actions(statement: &Value) -> Vec<&str> {
    match statement.get("Action") {
        Some(Value::Sequence(items)) => items.iter().filter_map(plain_str).collect(),
        Some(single) => plain_str(single).into_iter().collect(),
        None => Vec::new(),
    }
}

pub fn statement_resources(statement: &Value) -> Vec<&Value> {
    match statement.get("Resource") {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    }
}

/// Every `Action`/`NotAction` value anywhere in the template, with the path that leads to it.
pub fn collect_actions(value: &Value, path: &str, out: &mut Vec<(String, String, &'static str)>) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or("?");
                let child_path = format!("{path}/{key}");
                let field = match key {
                    "Action" => Some("Action"),
                    "NotAction" => Some("NotAction"),
                    _ => None,
                };
                match field {
                    Some(field) => {
                        let actions: Vec<&Value> = match child {
                            Value::Sequence(items) => items.iter().collect(),
                            single => vec![single],
                        };
                        for action in actions {
                            let text = plain_str(action)
                                .map(str::to_owned)
                                .unwrap_or_else(|| format!("{action:?}"));
                            out.push((child_path.clone(), text, field));
                        }
                    }
                    None => collect_actions(child, &child_path, out),
                }
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_actions(child, &format!("{path}[{i}]"), out);
            }
        }
        Value::Tagged(tagged) => collect_actions(&tagged.value, path, out),
        _ => {}
    }
}

/// `[[bin]]` names declared by each `functions/*/Cargo.toml`.
pub fn function_crate_binaries() -> BTreeSet<String> {
    let dir = repo_root().join("functions");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut bins = BTreeSet::new();
    for entry in entries {
        let manifest = entry
            .expect("readable directory entry")
            .path()
            .join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        bins.extend(bin_names(&text));
    }
    assert!(
        !bins.is_empty(),
        "no [[bin]] found in {}/*/Cargo.toml",
        dir.display()
    );
    bins
}

/// The `name` of every `[[bin]]` table of a Cargo manifest (a line-based reading that is enough
/// for the plain `name = "..."` form our manifests use).
pub fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if !in_bin {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            names.push(value.trim().trim_matches('"').to_owned());
        }
    }
    names
}
