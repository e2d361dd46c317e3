//! Static checks on `template.yaml` (AWS SAM): least privilege, the Lambda runtime every function
//! runs on, that each function builds a real binary of this workspace, and that the HTTP API only
//! exposes the routes meant to be public.
//!
//! The template is read with `serde_norway`; CloudFormation short forms such as `!Ref X` arrive as
//! tagged values, and the long forms (`{Ref: X}`) are understood too. Each check gathers every
//! violation before failing, so one run names all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";
const SERVERLESS_HTTP_API: &str = "AWS::Serverless::HttpApi";
const LOG_GROUP: &str = "AWS::Logs::LogGroup";
const TABLE: &str = "HeraldTable";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn resources(template: &Value) -> BTreeMap<String, &Value> {
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

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn functions(template: &Value) -> Vec<(String, &Value)> {
    let functions = resources_of_type(template, SERVERLESS_FUNCTION);
    assert!(
        !functions.is_empty(),
        "template.yaml declares no {SERVERLESS_FUNCTION}"
    );
    functions
}

/// A plain (untagged) string; `as_str` alone would also accept `!Ref x` as "x".
fn plain_str(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The intrinsic function a value is, in short (`!Ref x`) or long (`{Ref: x}`) form.
fn intrinsic<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
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
fn ref_target(value: &Value) -> Option<&str> {
    intrinsic(value, "Ref").and_then(plain_str)
}

/// A function property, falling back to `Globals.Function` like SAM does.
fn function_property<'a>(template: &'a Value, function: &'a Value, key: &str) -> Option<&'a Value> {
    function
        .get("Properties")
        .and_then(|p| p.get(key))
        .or_else(|| {
            template
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get(key))
        })
}

/// A key inside a function's map-valued property; SAM merges such maps with `Globals.Function`.
fn merged_function_map_entry<'a>(
    template: &'a Value,
    function: &'a Value,
    map: &str,
    key: &str,
) -> Option<&'a Value> {
    function
        .get("Properties")
        .and_then(|p| p.get(map))
        .and_then(|m| m.get(key))
        .or_else(|| {
            template
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get(map))
                .and_then(|m| m.get(key))
        })
}

/// Every `Action`/`NotAction` value anywhere in the template, with the path that leads to it.
fn collect_actions(value: &Value, path: &str, out: &mut Vec<(String, String, &'static str)>) {
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
fn function_crate_binaries() -> BTreeSet<String> {
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
fn bin_names(manifest: &str) -> Vec<String> {
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

/// Routes that are public on purpose: the health check, and (from a later stage on) the
/// unsubscribe links under `/u/`, which carry their own signed token.
fn is_public_route(method: &str, path: &str) -> bool {
    (method == "GET" && path == "/im/health") || path.starts_with("/u/")
}

struct Route {
    function: String,
    event: String,
    method: String,
    path: String,
    api: Option<String>,
    authorizer: Option<String>,
}

fn http_api_routes(template: &Value) -> Vec<Route> {
    let mut routes = Vec::new();
    for (function, resource) in functions(template) {
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for (event, spec) in events {
            if spec.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = spec.get("Properties");
            let text = |key: &str| {
                props
                    .and_then(|p| p.get(key))
                    .and_then(plain_str)
                    .map(str::to_owned)
            };
            routes.push(Route {
                function: function.clone(),
                event: event.as_str().unwrap_or("?").to_owned(),
                method: text("Method").unwrap_or_default().to_uppercase(),
                path: text("Path").unwrap_or_default(),
                api: props
                    .and_then(|p| p.get("ApiId"))
                    .and_then(ref_target)
                    .map(str::to_owned),
                authorizer: props
                    .and_then(|p| p.get("Auth"))
                    .and_then(|a| a.get("Authorizer"))
                    .and_then(plain_str)
                    .map(str::to_owned),
            });
        }
    }
    routes
}

#[test]
fn no_iam_action_in_the_template_contains_a_wildcard() {
    let template = template();
    let mut actions = Vec::new();
    collect_actions(&template, "", &mut actions);
    assert!(
        actions.iter().any(|(_, a, _)| a.starts_with("dynamodb:")),
        "expected the functions' DynamoDB policies in template.yaml, found actions {actions:?}"
    );
    let bad: Vec<String> = actions
        .iter()
        .filter(|(_, action, field)| {
            *field == "NotAction"
                || action.contains('*')
                || action.contains('?')
                || !action
                    .split_once(':')
                    .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty())
        })
        .map(|(path, action, field)| format!("{path}: {field} {action}"))
        .collect();
    assert!(
        bad.is_empty(),
        "every IAM action must be one explicit `service:Action` (no wildcard, no NotAction): {bad:#?}"
    );
}

#[test]
fn dynamodb_permissions_reach_only_the_herald_table_and_its_indexes() {
    let template = template();
    let mut bad = Vec::new();
    let mut statements = 0;
    for (name, function) in functions(&template) {
        let policies = function
            .get("Properties")
            .and_then(|p| p.get("Policies"))
            .and_then(Value::as_sequence)
            .map(|s| s.iter().collect::<Vec<_>>())
            .unwrap_or_default();
        for policy in policies {
            let Some(list) = policy.get("Statement").and_then(Value::as_sequence) else {
                bad.push(format!(
                    "{name}: policy {policy:?} is not an inline statement list (SAM policy templates and managed policies are not allowed)"
                ));
                continue;
            };
            for statement in list {
                let actions: Vec<&str> = match statement.get("Action") {
                    Some(Value::Sequence(items)) => {
                        items.iter().filter_map(Value::as_str).collect()
                    }
                    Some(single) => single.as_str().into_iter().collect(),
                    None => Vec::new(),
                };
                // This rule is about DynamoDB; other services are checked by their own tests.
                if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                    continue;
                }
                statements += 1;
                let resources: Vec<&Value> = match statement.get("Resource") {
                    Some(Value::Sequence(items)) => items.iter().collect(),
                    Some(single) => vec![single],
                    None => Vec::new(),
                };
                for resource in &resources {
                    let table_arn = intrinsic(resource, "GetAtt")
                        .and_then(plain_str)
                        .is_some_and(|s| s == format!("{TABLE}.Arn"));
                    let index_arn = intrinsic(resource, "Sub")
                        .and_then(plain_str)
                        .is_some_and(|s| s == format!("${{{TABLE}.Arn}}/index/*"));
                    if !table_arn && !index_arn {
                        bad.push(format!(
                            "{name}: statement {:?} reaches {resource:?}",
                            statement.get("Sid")
                        ));
                    }
                }
                if resources.is_empty() {
                    bad.push(format!("{name}: statement {statement:?} has no Resource"));
                }
            }
        }
    }
    assert!(
        statements > 0,
        "expected inline policy statements on the functions"
    );
    assert!(
        bad.is_empty(),
        "policies may name only {TABLE}.Arn and its indexes: {bad:#?}"
    );
}

#[test]
fn every_function_runs_provided_al2023_on_arm64_with_json_logs() {
    let template = template();
    let mut bad = Vec::new();
    for (name, function) in functions(&template) {
        let runtime = function_property(&template, function, "Runtime").and_then(plain_str);
        if runtime != Some("provided.al2023") {
            bad.push(format!("{name}: Runtime {runtime:?}, want provided.al2023"));
        }
        let handler = function_property(&template, function, "Handler").and_then(plain_str);
        if handler != Some("bootstrap") {
            bad.push(format!("{name}: Handler {handler:?}, want bootstrap"));
        }
        let arch: Option<Vec<&str>> = function_property(&template, function, "Architectures")
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(plain_str).collect());
        if arch.as_deref() != Some(&["arm64"][..]) {
            bad.push(format!("{name}: Architectures {arch:?}, want [arm64]"));
        }
        let format = merged_function_map_entry(&template, function, "LoggingConfig", "LogFormat")
            .and_then(plain_str);
        if format != Some("JSON") {
            bad.push(format!(
                "{name}: LoggingConfig.LogFormat {format:?}, want JSON"
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_function_builds_its_own_binary_of_a_function_crate() {
    let template = template();
    let known = function_crate_binaries();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut bad = Vec::new();
    for (name, function) in functions(&template) {
        let metadata = function.get("Metadata");
        let method = metadata
            .and_then(|m| m.get("BuildMethod"))
            .and_then(plain_str);
        if method != Some("rust-cargolambda") {
            bad.push(format!(
                "{name}: Metadata.BuildMethod {method:?}, want rust-cargolambda"
            ));
        }
        let Some(binary) = metadata
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(plain_str)
        else {
            bad.push(format!("{name}: no Metadata.BuildProperties.Binary"));
            continue;
        };
        if !known.contains(binary) {
            bad.push(format!(
                "{name}: Binary {binary} is no [[bin]] of functions/*/Cargo.toml (known: {known:?})"
            ));
        }
        if let Some(other) = seen.insert(binary.to_owned(), name.clone()) {
            bad.push(format!("{name} and {other} both build {binary}"));
        }
        let code_uri = function_property(&template, function, "CodeUri").and_then(plain_str);
        if code_uri != Some(".") {
            bad.push(format!(
                "{name}: CodeUri {code_uri:?}, want \".\" (the workspace root)"
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_http_api_route_requires_iam_except_the_public_ones() {
    let template = template();
    let apis: BTreeMap<String, &Value> = resources_of_type(&template, SERVERLESS_HTTP_API)
        .into_iter()
        .collect();
    assert!(
        !apis.is_empty(),
        "template.yaml declares no {SERVERLESS_HTTP_API}"
    );
    let mut bad = Vec::new();
    for (name, api) in &apis {
        let auth = api.get("Properties").and_then(|p| p.get("Auth"));
        let default = auth
            .and_then(|a| a.get("DefaultAuthorizer"))
            .and_then(plain_str);
        if default != Some("AWS_IAM") {
            bad.push(format!(
                "{name}: Auth.DefaultAuthorizer {default:?}, want AWS_IAM"
            ));
        }
        let enabled = auth.and_then(|a| a.get("EnableIamAuthorizer"));
        if enabled != Some(&Value::Bool(true)) {
            bad.push(format!(
                "{name}: Auth.EnableIamAuthorizer {enabled:?}, want true"
            ));
        }
    }
    let routes = http_api_routes(&template);
    assert!(!routes.is_empty(), "no HttpApi events in template.yaml");
    for route in &routes {
        let at = format!(
            "{}.{} ({} {})",
            route.function, route.event, route.method, route.path
        );
        let Some(api) = route.api.as_deref() else {
            bad.push(format!(
                "{at}: no ApiId, so SAM would create an implicit API without IAM auth"
            ));
            continue;
        };
        if !apis.contains_key(api) {
            bad.push(format!(
                "{at}: ApiId {api} is not an {SERVERLESS_HTTP_API} of this template"
            ));
            continue;
        }
        // Route-level Auth overrides the API's default, which the loop above pinned to AWS_IAM.
        let effective = route.authorizer.as_deref().unwrap_or("AWS_IAM");
        let want = if is_public_route(&route.method, &route.path) {
            "NONE"
        } else {
            "AWS_IAM"
        };
        if effective != want {
            bad.push(format!("{at}: authorizer {effective}, want {want}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_health_route_is_served_without_authorization() {
    let template = template();
    let health: Vec<Route> = http_api_routes(&template)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/im/health")
        .collect();
    assert_eq!(health.len(), 1, "want exactly one GET /im/health route");
    assert_eq!(health[0].authorizer.as_deref(), Some("NONE"));
    assert_eq!(health[0].function, "TriggerApiFunction");
}

#[test]
fn every_function_logs_to_its_own_log_group_with_a_retention() {
    let template = template();
    let log_groups: BTreeMap<String, &Value> = resources_of_type(&template, LOG_GROUP)
        .into_iter()
        .collect();
    let mut used = BTreeMap::new();
    let mut bad = Vec::new();
    for (name, function) in functions(&template) {
        let Some(group) =
            merged_function_map_entry(&template, function, "LoggingConfig", "LogGroup")
                .and_then(ref_target)
        else {
            bad.push(format!(
                "{name}: LoggingConfig.LogGroup is not a !Ref to a log group"
            ));
            continue;
        };
        match log_groups.get(group) {
            None => bad.push(format!("{name}: {group} is not an {LOG_GROUP}")),
            Some(resource) => {
                if resource
                    .get("Properties")
                    .and_then(|p| p.get("RetentionInDays"))
                    .is_none()
                {
                    bad.push(format!(
                        "{name}: log group {group} keeps logs forever (no RetentionInDays)"
                    ));
                }
            }
        }
        if let Some(other) = used.insert(group.to_owned(), name.clone()) {
            bad.push(format!("{name} and {other} share the log group {group}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

fn herald_table_variable(scope: Option<&Value>) -> Option<&Value> {
    scope
        .and_then(|s| s.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.get("HERALD_TABLE"))
}

#[test]
fn every_function_is_told_the_table_name() {
    let template = template();
    let mut bad = Vec::new();
    for (name, function) in functions(&template) {
        // SAM merges a function's Environment.Variables into the Globals ones, key by key.
        let globals = template.get("Globals").and_then(|g| g.get("Function"));
        let value = herald_table_variable(function.get("Properties"))
            .or_else(|| herald_table_variable(globals));
        if value.and_then(ref_target) != Some(TABLE) {
            bad.push(format!(
                "{name}: HERALD_TABLE is {value:?}, want !Ref {TABLE}"
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_outputs_name_the_api_url_and_the_table() {
    let template = template();
    let outputs = template.get("Outputs").expect("template.yaml has Outputs");
    let api_url = outputs
        .get("ApiUrl")
        .and_then(|o| o.get("Value"))
        .and_then(|v| intrinsic(v, "Sub"))
        .and_then(plain_str);
    assert!(
        api_url.is_some_and(|u| u.contains("${HeraldHttpApi}")),
        "Outputs.ApiUrl should be built from HeraldHttpApi, got {api_url:?}"
    );
    let table = outputs
        .get("TableName")
        .and_then(|o| o.get("Value"))
        .and_then(ref_target);
    assert_eq!(table, Some(TABLE));
}

#[test]
fn bin_names_reads_only_bin_tables() {
    let manifest = r#"
[package]
name = "not-a-bin"

[lib]
name = "also_not"

[[bin]]
name = "first-bin" # trailing comment
path = "src/main.rs"

[[bin]]
path = "src/other.rs"
name="second-bin"

[dependencies]
name = "nope"
"#;
    assert_eq!(bin_names(manifest), vec!["first-bin", "second-bin"]);
}

/// SMS publishing needs `sns:Publish` on no particular resource, but that must not also allow
/// publishing to topics: every statement granting `sns:Publish` names either push endpoints or
/// uses `NotResource` on SNS ARNs (phone numbers are not ARNs).
#[test]
fn sns_publish_reaches_phone_numbers_and_endpoints_but_never_topics() {
    let template = template();
    let mut publish_statements = 0;
    for (name, function) in functions(&template) {
        let policies = function
            .get("Properties")
            .and_then(|p| p.get("Policies"))
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for policy in policies {
            for statement in policy
                .get("Statement")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
            {
                let actions: Vec<String> = match statement.get("Action") {
                    Some(Value::Sequence(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    Some(single) => single.as_str().map(String::from).into_iter().collect(),
                    None => Vec::new(),
                };
                if !actions.iter().any(|a| a == "sns:Publish") {
                    continue;
                }
                publish_statements += 1;
                let text = format!("{statement:?}");
                let endpoints_only = statement.get("Resource").is_some()
                    && text.contains(":endpoint/")
                    && !text.contains("String(\"*\")");
                let not_arns = statement.get("Resource").is_none()
                    && statement.get("NotResource").is_some()
                    && text.contains("arn:");
                assert!(
                    endpoints_only || not_arns,
                    "{name}: sns:Publish must name endpoints or use NotResource on SNS ARNs: {statement:?}"
                );
            }
        }
    }
    assert!(
        publish_statements > 0,
        "the trigger function publishes SMS and push"
    );
}
