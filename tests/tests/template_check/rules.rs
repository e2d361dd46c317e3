//! The template's rules, each a function that returns every violation it finds.

use std::collections::{BTreeMap, BTreeSet};

use herald_core::service::IMPORT_BUDGET;
use herald_core::service::trigger::{CLAIM_TIMEOUT, TriggerConfig};
use serde_norway::Value;

use crate::read::*;

pub fn wildcard_action_violations(template: &Value) -> Vec<String> {
    let mut actions = Vec::new();
    collect_actions(template, "", &mut actions);
    let mut bad: Vec<String> = actions
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
    if !actions.iter().any(|(_, a, _)| a.starts_with("dynamodb:")) {
        bad.push(format!(
            "expected the functions' DynamoDB policies in template.yaml, found actions {actions:?}"
        ));
    }
    bad
}

pub fn dynamodb_scope_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let mut statements = 0;
    for (name, function) in functions(template) {
        let policies = properties(function)
            .and_then(|p| p.get("Policies"))
            .and_then(Value::as_sequence)
            .map(|s| s.iter().collect::<Vec<_>>())
            .unwrap_or_default();
        for policy in policies {
            if policy
                .get("Statement")
                .and_then(Value::as_sequence)
                .is_none()
            {
                bad.push(format!(
                    "{name}: policy {policy:?} is not an inline statement list (SAM policy templates and managed policies are not allowed)"
                ));
            }
        }
        for statement in policy_statements(function) {
            // This rule is about DynamoDB; other services are checked by their own rules.
            if !statement_actions(statement)
                .iter()
                .any(|a| a.starts_with("dynamodb:"))
            {
                continue;
            }
            statements += 1;
            let resources = statement_resources(statement);
            if resources.is_empty() {
                bad.push(format!("{name}: statement {statement:?} has no Resource"));
            }
            for resource in resources {
                let table_arn = getatt_target(resource) == Some((TABLE, "Arn"));
                let index_arn = intrinsic(resource, "Sub")
                    .and_then(plain_str)
                    .is_some_and(|s| s == format!("${{{TABLE}.Arn}}/index/*"));
                if !table_arn && !index_arn {
                    bad.push(format!(
                        "{name}: statement {:?} reaches {resource:?}; policies may name only {TABLE}.Arn and its indexes",
                        statement.get("Sid")
                    ));
                }
            }
        }
    }
    if statements == 0 {
        bad.push("expected DynamoDB statements in the functions' inline policies".into());
    }
    bad
}

pub fn runtime_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, function) in functions(template) {
        let runtime = function_property(template, function, "Runtime").and_then(plain_str);
        if runtime != Some("provided.al2023") {
            bad.push(format!("{name}: Runtime {runtime:?}, want provided.al2023"));
        }
        let handler = function_property(template, function, "Handler").and_then(plain_str);
        if handler != Some("bootstrap") {
            bad.push(format!("{name}: Handler {handler:?}, want bootstrap"));
        }
        let arch: Option<Vec<&str>> = function_property(template, function, "Architectures")
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(plain_str).collect());
        if arch.as_deref() != Some(&["arm64"][..]) {
            bad.push(format!("{name}: Architectures {arch:?}, want [arm64]"));
        }
        let format = merged_function_map_entry(template, function, "LoggingConfig", "LogFormat")
            .and_then(plain_str);
        if format != Some("JSON") {
            bad.push(format!(
                "{name}: LoggingConfig.LogFormat {format:?}, want JSON"
            ));
        }
        let tracing = function_property(template, function, "Tracing").and_then(plain_str);
        if tracing != Some("Active") {
            bad.push(format!("{name}: Tracing {tracing:?}, want Active (X-Ray)"));
        }
    }
    bad
}

pub fn binary_violations(template: &Value) -> Vec<String> {
    let known = function_crate_binaries();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut bad = Vec::new();
    for (name, function) in functions(template) {
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
        let code_uri = function_property(template, function, "CodeUri").and_then(plain_str);
        if code_uri != Some(".") {
            bad.push(format!(
                "{name}: CodeUri {code_uri:?}, want \".\" (the workspace root)"
            ));
        }
    }
    for binary in &known {
        if !seen.contains_key(binary) {
            bad.push(format!(
                "the function crates' binary {binary} is deployed by no function"
            ));
        }
    }
    bad
}

pub fn log_group_violations(template: &Value) -> Vec<String> {
    let log_groups: BTreeMap<String, &Value> =
        resources_of_type(template, LOG_GROUP).into_iter().collect();
    let mut used = BTreeMap::new();
    let mut bad = Vec::new();
    for (name, function) in functions(template) {
        let Some(group) =
            merged_function_map_entry(template, function, "LoggingConfig", "LogGroup")
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
                if properties(resource)
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
    bad
}

/// An alarm that fires as soon as the metric's statistic is above zero and notifies
/// `AlarmTopicArn` when it is set.
pub fn alarm_fires_on_any(alarm: &Value) -> bool {
    let props = properties(alarm);
    let get = |key: &str| props.and_then(|p| p.get(key));
    let threshold_zero =
        get("Threshold").is_some_and(|t| t.as_f64() == Some(0.0) || number(t) == Some(0));
    threshold_zero
        && get("ComparisonOperator").and_then(plain_str) == Some("GreaterThanThreshold")
        && get("AlarmActions").is_some_and(|a| mentions_ref(a, ALARM_TOPIC_PARAMETER))
}

/// The alarms on `namespace`/`metric` whose one dimension `dimension` satisfies `matches`.
pub fn alarms_on<'a>(
    template: &'a Value,
    namespace: &str,
    metric: &str,
    dimension: &str,
    matches: impl Fn(&Value) -> bool,
) -> Vec<&'a Value> {
    resources_of_type(template, ALARM)
        .into_iter()
        .map(|(_, alarm)| alarm)
        .filter(|alarm| {
            let props = properties(alarm);
            let get = |key: &str| props.and_then(|p| p.get(key));
            get("Namespace").and_then(plain_str) == Some(namespace)
                && get("MetricName").and_then(plain_str) == Some(metric)
                && get("Dimensions")
                    .and_then(Value::as_sequence)
                    .is_some_and(|dims| {
                        dims.len() == 1
                            && dims[0].get("Name").and_then(plain_str) == Some(dimension)
                            && dims[0].get("Value").is_some_and(&matches)
                    })
        })
        .collect()
}

/// The queues that are dead-letter queues: redrive targets of queues and functions' DLQs.
pub fn dead_letter_queues(template: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, queue) in resources_of_type(template, QUEUE) {
        if let Some((target, _)) = properties(queue)
            .and_then(|p| p.get("RedrivePolicy"))
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(getatt_target)
        {
            out.insert(target.to_owned());
        }
    }
    for (_, function) in functions(template) {
        if let Some((target, _)) = properties(function)
            .and_then(|p| p.get("DeadLetterQueue"))
            .and_then(|d| d.get("TargetArn"))
            .and_then(getatt_target)
        {
            out.insert(target.to_owned());
        }
    }
    out
}

pub fn alarm_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, _) in functions(template) {
        for metric in ["Errors", "Throttles"] {
            let alarms = alarms_on(template, "AWS/Lambda", metric, "FunctionName", |v| {
                ref_target(v) == Some(name.as_str())
            });
            if !alarms.iter().any(|a| alarm_fires_on_any(a)) {
                bad.push(format!(
                    "{name}: no alarm on AWS/Lambda {metric} > 0 (FunctionName !Ref {name}) that notifies {ALARM_TOPIC_PARAMETER}"
                ));
            }
        }
    }
    let dlqs = dead_letter_queues(template);
    if dlqs.is_empty() {
        bad.push("template.yaml has no dead-letter queue".into());
    }
    for queue in dlqs {
        let alarms = alarms_on(
            template,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            |v| getatt_target(v) == Some((queue.as_str(), "QueueName")),
        );
        if !alarms.iter().any(|a| alarm_fires_on_any(a)) {
            bad.push(format!(
                "dead-letter queue {queue}: no alarm on ApproximateNumberOfMessagesVisible > 0 that notifies {ALARM_TOPIC_PARAMETER}"
            ));
        }
    }
    bad
}

/// An SQS event source of a function: `(where, function, queue, its properties)`, from
/// explicit event source mappings and from SAM `SQS` events alike.
pub fn queue_event_sources(template: &Value) -> Vec<(String, String, String, &Value)> {
    let mut out = Vec::new();
    for (name, mapping) in resources_of_type(template, EVENT_SOURCE_MAPPING) {
        let Some(props) = properties(mapping) else {
            continue;
        };
        let queue = props.get("EventSourceArn").and_then(getatt_target);
        let function = props.get("FunctionName").and_then(ref_target);
        if let (Some((queue, "Arn")), Some(function)) = (queue, function)
            && resource_type(template, queue) == Some(QUEUE)
        {
            out.push((name, function.to_owned(), queue.to_owned(), props));
        }
    }
    for (function, event, props) in function_events(template, "SQS") {
        if let Some((queue, "Arn")) = props.get("Queue").and_then(getatt_target) {
            out.push((
                format!("{function}.{event}"),
                function.clone(),
                queue.to_owned(),
                props,
            ));
        }
    }
    out
}

pub fn queue_source_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let sources = queue_event_sources(template);
    if sources.is_empty() {
        bad.push("no function reads an SQS queue (the dispatcher should)".into());
    }
    for (at, function_name, queue_name, props) in sources {
        let reports = props
            .get("FunctionResponseTypes")
            .and_then(Value::as_sequence)
            .is_some_and(|t| {
                t.iter()
                    .any(|v| plain_str(v) == Some("ReportBatchItemFailures"))
            });
        if !reports {
            bad.push(format!(
                "{at}: FunctionResponseTypes lacks ReportBatchItemFailures (one bad record would re-send its whole batch)"
            ));
        }
        let concurrency = props
            .get("ScalingConfig")
            .and_then(|s| s.get("MaximumConcurrency"));
        let concurrency_value = concurrency.and_then(|c| {
            number(c).or_else(|| {
                let parameter = ref_target(c)?;
                template
                    .get("Parameters")?
                    .get(parameter)?
                    .get("Default")
                    .and_then(number)
            })
        });
        if !concurrency_value.is_some_and(|c| (2..=1000).contains(&c)) {
            bad.push(format!(
                "{at}: ScalingConfig.MaximumConcurrency {concurrency:?} is not a number (or parameter with a default) in 2..=1000"
            ));
        }
        let Some(function) = template["Resources"].get(function_name.as_str()) else {
            bad.push(format!("{at}: FunctionName {function_name} is no resource"));
            continue;
        };
        let queue = &template["Resources"][queue_name.as_str()];
        let timeout = function_timeout(template, function);
        let visibility = properties(queue)
            .and_then(|p| p.get("VisibilityTimeout"))
            .and_then(number)
            .unwrap_or(30);
        if visibility < VISIBILITY_TIMEOUT_FACTOR * timeout {
            bad.push(format!(
                "{queue_name}: VisibilityTimeout {visibility} s is under {VISIBILITY_TIMEOUT_FACTOR} x {function_name}'s Timeout {timeout} s"
            ));
        }
        let redrive = properties(queue).and_then(|p| p.get("RedrivePolicy"));
        let dlq = redrive
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(getatt_target)
            .filter(|(q, attr)| *attr == "Arn" && resource_type(template, q) == Some(QUEUE));
        let receives = redrive
            .and_then(|r| r.get("maxReceiveCount"))
            .and_then(number);
        if dlq.is_none() || receives.is_none() {
            bad.push(format!(
                "{queue_name}: no RedrivePolicy to a dead-letter queue of the template with a maxReceiveCount"
            ));
        }
        if props.get("FunctionName").is_some() {
            // An explicit mapping: the function's own policy must let Lambda poll this queue.
            for action in [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ] {
                let granted = policy_statements(function).iter().any(|s| {
                    statement_actions(s).contains(&action)
                        && statement_resources(s)
                            .iter()
                            .any(|r| getatt_target(r) == Some((queue_name.as_str(), "Arn")))
                });
                if !granted {
                    bad.push(format!(
                        "{function_name}: no statement grants {action} on {queue_name}.Arn, which {at} needs"
                    ));
                }
            }
        }
    }
    bad
}

/// A message claim older than [`CLAIM_TIMEOUT`] is taken for interrupted (its release is held
/// no longer), so no invocation may live that long: every function's `Timeout` is under it.
pub fn claim_timeout_violations(template: &Value) -> Vec<String> {
    let limit = CLAIM_TIMEOUT.as_secs().unsigned_abs();
    functions(template)
        .into_iter()
        .filter_map(|(name, function)| {
            let timeout = function_timeout(template, function);
            (timeout >= limit).then(|| {
                format!("{name}: Timeout {timeout} s is not under the claim timeout {limit} s")
            })
        })
        .collect()
}

/// A paced audience batch waits at most `pace_wait` for its send slots, then sends: the
/// dispatcher (which runs batches) must leave it as long again for those sends before it
/// times out, or a batch of a paced campaign could be cut off mid-send and handed out again.
pub fn pace_wait_violations(template: &Value) -> Vec<String> {
    let wait = TriggerConfig::default().pace_wait.as_secs().unsigned_abs();
    let Some((name, dispatcher)) = function_building(template, "herald-dispatcher") else {
        return vec!["no function builds herald-dispatcher".into()];
    };
    let timeout = function_timeout(template, dispatcher);
    if timeout < 2 * wait {
        vec![format!(
            "{name}: Timeout {timeout} s leaves less than the pace wait ({wait} s) for the sends after it"
        )]
    } else {
        vec![]
    }
}

/// An import starts no wave after `IMPORT_BUDGET` and reports the lines it did not reach; the
/// admin function must outlive that by a wave's time (5 s here), or a long import ends in a
/// timeout with no report.
pub fn import_budget_violations(template: &Value) -> Vec<String> {
    let budget = IMPORT_BUDGET.as_secs().unsigned_abs();
    let Some((name, admin)) = function_building(template, "herald-admin-api") else {
        return vec!["no function builds herald-admin-api".into()];
    };
    let timeout = function_timeout(template, admin);
    if timeout < budget + 5 {
        vec![format!(
            "{name}: Timeout {timeout} s leaves less than 5 s after the import budget ({budget} s)"
        )]
    } else {
        vec![]
    }
}

/// SMS publishing needs `sns:Publish` on no particular resource, but that must not also allow
/// publishing to topics: every statement granting `sns:Publish` names either push endpoints or
/// uses `NotResource` on SNS ARNs (phone numbers are not ARNs).
pub fn sns_publish_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let mut publish_statements = 0;
    for (name, function) in functions(template) {
        for statement in policy_statements(function) {
            if !statement_actions(statement).contains(&"sns:Publish") {
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
            if !(endpoints_only || not_arns) {
                bad.push(format!(
                    "{name}: sns:Publish must name endpoints or use NotResource on SNS ARNs: {statement:?}"
                ));
            }
        }
    }
    if publish_statements == 0 {
        bad.push("no function may publish SMS or push (the trigger function does)".into());
    }
    bad
}

/// The variables every function reads, and what each must be bound to.
pub fn environment_violations(template: &Value) -> Vec<String> {
    let parameters = template.get("Parameters");
    let parameter = |name: &str| parameters.and_then(|p| p.get(name));
    let mut bad = Vec::new();
    for (name, function) in functions(template) {
        let var = |key: &str| environment_variable(template, function, key);
        let mut want = |key: &str, ok: bool, what: &str| {
            if !ok {
                bad.push(format!("{name}: {key} is {:?}, want {what}", var(key)));
            }
        };
        want(
            "HERALD_TABLE",
            var("HERALD_TABLE").and_then(ref_target) == Some(TABLE),
            "!Ref HeraldTable",
        );
        want(
            "HERALD_QUEUE_URL",
            var("HERALD_QUEUE_URL")
                .and_then(ref_target)
                .is_some_and(|q| resource_type(template, q) == Some(QUEUE)),
            "!Ref <an SQS queue> (Ref gives its URL)",
        );
        want(
            "HERALD_SES_CONFIGURATION_SET",
            var("HERALD_SES_CONFIGURATION_SET")
                .and_then(ref_target)
                .is_some_and(|c| resource_type(template, c) == Some("AWS::SES::ConfigurationSet")),
            "!Ref <the AWS::SES::ConfigurationSet>",
        );
        want(
            "HERALD_MAIL_DOMAIN",
            var("HERALD_MAIL_DOMAIN")
                .and_then(ref_target)
                .is_some_and(|p| parameter(p).is_some()),
            "!Ref <a parameter>",
        );
        want(
            "HERALD_UNSUBSCRIBE_SECRET",
            var("HERALD_UNSUBSCRIBE_SECRET")
                .and_then(ref_target)
                .and_then(parameter)
                .is_some_and(|p| p.get("NoEcho") == Some(&Value::Bool(true))),
            "!Ref <a NoEcho parameter>",
        );
        want(
            "HERALD_PUBLIC_URL",
            var("HERALD_PUBLIC_URL").is_some(),
            "the API's base URL",
        );
        want("RUST_LOG", var("RUST_LOG").is_some(), "a log filter");
    }
    bad
}
