//! Static checks on `template.yaml` (AWS SAM): least privilege, the Lambda runtime every function
//! runs on, that each function builds a real binary of this workspace, logs and alarms for every
//! function and dead-letter queue, the dispatch queue's event source, and that the HTTP API only
//! exposes the routes meant to be public — under both `AuthMode`s.
//!
//! The template is read with `serde_norway`; CloudFormation short forms such as `!Ref X` arrive as
//! tagged values, and the long forms (`{Ref: X}`) are understood too ([`read`]). Each rule is a
//! function in [`rules`] (and [`api`] for the HTTP API) that gathers every violation, so one run
//! names all of them; the `*_is_caught` tests below feed those same functions a broken copy of
//! the template to show that they can fail.

mod api;
mod read;
mod rules;

use std::collections::BTreeSet;

use herald_core::service::trigger::CLAIM_TIMEOUT;
use serde_norway::{Mapping, Value};

use api::*;
use read::*;
use rules::*;

/// Replaces `Resources.<resource>.<path...>` in a copy of the template (the path's last key is
/// removed when `value` is `None`).
fn with_change(template: &Value, resource: &str, path: &[&str], value: Option<Value>) -> Value {
    let mut copy = template.clone();
    let mut node = copy
        .get_mut("Resources")
        .and_then(|r| r.get_mut(resource))
        .unwrap_or_else(|| panic!("no resource {resource}"));
    let (last, parents) = path.split_last().expect("a non-empty path");
    for key in parents {
        node = node
            .get_mut(*key)
            .unwrap_or_else(|| panic!("{resource} has no {key}"));
    }
    let map: &mut Mapping = node
        .as_mapping_mut()
        .unwrap_or_else(|| panic!("{resource}.{} is not a mapping", parents.join(".")));
    match value {
        Some(value) => {
            map.insert(Value::String((*last).to_owned()), value);
        }
        None => {
            map.remove(*last)
                .unwrap_or_else(|| panic!("{resource} has no {}", path.join(".")));
        }
    }
    copy
}

fn without_resource(template: &Value, resource: &str) -> Value {
    let mut copy = template.clone();
    copy.get_mut("Resources")
        .and_then(Value::as_mapping_mut)
        .and_then(|r| r.remove(resource))
        .unwrap_or_else(|| panic!("no resource {resource}"));
    copy
}

fn assert_clean(rule: &str, violations: Vec<String>) {
    assert!(violations.is_empty(), "{rule}: {violations:#?}");
}

fn assert_caught(violations: &[String], needle: &str) {
    assert!(
        violations.iter().any(|v| v.contains(needle)),
        "expected a violation mentioning {needle:?}, got {violations:#?}"
    );
}

#[test]
fn no_iam_action_in_the_template_contains_a_wildcard() {
    assert_clean(
        "every IAM action must be one explicit `service:Action` (no wildcard, no NotAction)",
        wildcard_action_violations(&template()),
    );
}

#[test]
fn dynamodb_permissions_reach_only_the_herald_table_and_its_indexes() {
    assert_clean(
        "DynamoDB statements",
        dynamodb_scope_violations(&template()),
    );
}

#[test]
fn every_function_runs_provided_al2023_on_arm64_with_json_logs_and_xray() {
    assert_clean("function runtime", runtime_violations(&template()));
}

#[test]
fn every_function_builds_its_own_binary_of_a_function_crate() {
    assert_clean("function binaries", binary_violations(&template()));
}

#[test]
fn every_function_logs_to_its_own_log_group_with_a_retention() {
    assert_clean("function log groups", log_group_violations(&template()));
}

#[test]
fn every_function_and_dead_letter_queue_has_an_alarm() {
    assert_clean("alarms", alarm_violations(&template()));
}

#[test]
fn every_route_is_authorized_except_unsubscribe_and_health() {
    assert_clean(
        "route authorization",
        route_authorization_violations(&template()),
    );
}

#[test]
fn sns_publish_reaches_phone_numbers_and_endpoints_but_never_topics() {
    assert_clean("sns:Publish", sns_publish_violations(&template()));
}

#[test]
fn every_function_is_told_its_configuration() {
    assert_clean("function environment", environment_violations(&template()));
}

#[test]
fn the_dispatch_queue_feeds_the_dispatcher_with_partial_batch_failures_and_a_dead_letter_queue() {
    let template = template();
    assert_clean("queue event sources", queue_source_violations(&template));
    let (dispatcher, _) = function_building(&template, "herald-dispatcher")
        .expect("a function builds herald-dispatcher");
    assert!(
        queue_event_sources(&template)
            .iter()
            .any(|(_, function, _, _)| *function == dispatcher),
        "{dispatcher} reads no SQS queue"
    );
}

#[test]
fn every_function_times_out_before_a_claim_is_taken_for_interrupted() {
    assert_clean("claim timeout", claim_timeout_violations(&template()));
}

#[test]
fn the_dispatcher_outlives_a_paced_batchs_wait_with_time_to_send() {
    assert_clean("pace wait", pace_wait_violations(&template()));
}

#[test]
fn the_admin_function_outlives_an_imports_budget() {
    assert_clean("import budget", import_budget_violations(&template()));
}

#[test]
fn authorization_defaults_to_iam_and_switches_to_jwt_by_parameter() {
    let template = template();
    let auth_mode = &template["Parameters"]["AuthMode"];
    assert_eq!(auth_mode["Default"], Value::from("IAM"));
    let allowed: BTreeSet<&str> = auth_mode["AllowedValues"]
        .as_sequence()
        .expect("AuthMode has AllowedValues")
        .iter()
        .filter_map(plain_str)
        .collect();
    assert_eq!(allowed, BTreeSet::from(["IAM", "JWT"]));
    let condition = &template["Conditions"][JWT_CONDITION];
    let equals = intrinsic(condition, "Equals")
        .and_then(Value::as_sequence)
        .expect("UseJwt is an !Equals");
    assert_eq!(ref_target(&equals[0]), Some("AuthMode"));
    assert_eq!(plain_str(&equals[1]), Some("JWT"));

    let authorizers = resources_of_type(&template, AUTHORIZER);
    assert_eq!(authorizers.len(), 1, "want exactly one authorizer");
    let (name, authorizer) = &authorizers[0];
    assert_eq!(
        authorizer["Condition"],
        Value::from(JWT_CONDITION),
        "{name}"
    );
    let jwt = &authorizer["Properties"]["JwtConfiguration"];
    assert_eq!(ref_target(&jwt["Issuer"]), Some("JwtIssuer"), "{name}");
    assert_eq!(ref_target(&jwt["Audience"]), Some("JwtAudience"), "{name}");
}

#[tokio::test]
async fn every_documented_operation_reaches_its_function_through_a_route() {
    let operations = documented_operations().await;
    assert!(
        operations.len() > 20,
        "the OpenAPI document lists only {operations:?}"
    );
    assert_clean(
        "routing of the OpenAPI document's operations",
        routing_violations(&template(), &operations),
    );
}

#[test]
fn the_scheduler_ticks_every_minute() {
    let template = template();
    let (scheduler, _) = function_building(&template, "herald-scheduler")
        .expect("a function builds herald-scheduler");
    let schedules: Vec<_> = ["Schedule", "ScheduleV2"]
        .into_iter()
        .flat_map(|kind| function_events(&template, kind))
        .filter(|(function, _, _)| *function == scheduler)
        .collect();
    assert_eq!(schedules.len(), 1, "{scheduler}: want one schedule event");
    let expression = schedules[0]
        .2
        .get("Schedule")
        .or_else(|| schedules[0].2.get("ScheduleExpression"))
        .and_then(plain_str);
    assert_eq!(expression, Some("rate(1 minute)"));
}

#[test]
fn ses_events_and_push_events_reach_the_feedback_function() {
    let template = template();
    let destinations = resources_of_type(&template, "AWS::SES::ConfigurationSetEventDestination");
    assert_eq!(destinations.len(), 1, "want one SES event destination");
    let (name, destination) = &destinations[0];
    let props = &destination["Properties"];
    let set = ref_target(&props["ConfigurationSetName"]).expect("ConfigurationSetName is a !Ref");
    assert_eq!(
        resource_type(&template, set),
        Some("AWS::SES::ConfigurationSet"),
        "{name}"
    );
    let events: BTreeSet<&str> = props["EventDestination"]["MatchingEventTypes"]
        .as_sequence()
        .expect("MatchingEventTypes")
        .iter()
        .filter_map(plain_str)
        .collect();
    for event in ["send", "delivery", "bounce", "complaint", "reject"] {
        assert!(events.contains(event), "{name}: {event} is not published");
    }
    let topic = ref_target(&props["EventDestination"]["SnsDestination"]["TopicARN"])
        .expect("the SNS destination is a !Ref to a topic");
    assert_eq!(resource_type(&template, topic), Some("AWS::SNS::Topic"));

    let (feedback, _) =
        function_building(&template, "herald-feedback").expect("a function builds herald-feedback");
    let subscribed = function_events(&template, "SNS")
        .into_iter()
        .any(|(function, _, props)| {
            function == feedback && props.get("Topic").and_then(ref_target) == Some(topic)
        });
    assert!(subscribed, "{feedback} is not subscribed to {topic}");
}

#[test]
fn the_outputs_name_the_api_url_and_every_resource_an_operator_needs() {
    let template = template();
    let outputs = template.get("Outputs").expect("template.yaml has Outputs");
    let value = |key: &str| outputs.get(key).and_then(|o| o.get("Value"));
    let api_url = value("ApiUrl")
        .and_then(|v| intrinsic(v, "Sub"))
        .and_then(plain_str);
    assert!(
        api_url.is_some_and(|u| u.contains("${HeraldHttpApi}")),
        "Outputs.ApiUrl should be built from HeraldHttpApi, got {api_url:?}"
    );
    let mut bad = Vec::new();
    for (output, kind) in [
        ("TableName", "AWS::DynamoDB::Table"),
        ("DispatchQueueUrl", QUEUE),
        ("DispatchDeadLetterQueueUrl", QUEUE),
        ("FeedbackTopicArn", "AWS::SNS::Topic"),
        ("SesConfigurationSetName", "AWS::SES::ConfigurationSet"),
    ] {
        let target = value(output).and_then(ref_target);
        let is_kind = target.map(|t| resource_type(&template, t) == Some(kind));
        if is_kind != Some(true) {
            bad.push(format!(
                "Outputs.{output} is {target:?}, want a !Ref to an {kind}"
            ));
        }
    }
    assert_eq!(value("TableName").and_then(ref_target), Some(TABLE));
    let referenced: BTreeSet<&str> = outputs
        .as_mapping()
        .expect("Outputs is a mapping")
        .values()
        .filter_map(|o| o.get("Value").and_then(ref_target))
        .collect();
    for (name, _) in functions(&template) {
        if !referenced.contains(name.as_str()) {
            bad.push(format!("no output names the function {name}"));
        }
    }
    for dlq in dead_letter_queues(&template) {
        if !referenced.contains(dlq.as_str()) {
            bad.push(format!("no output names the dead-letter queue {dlq}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

// ---------------------------------------------------------------------------------------------
// The rules catch what they are for

#[test]
fn a_function_without_json_logs_is_caught() {
    let broken = with_change(
        &template(),
        "SchedulerFunction",
        &["Properties", "LoggingConfig", "LogFormat"],
        Some(Value::from("Text")),
    );
    assert_caught(
        &runtime_violations(&broken),
        "SchedulerFunction: LoggingConfig.LogFormat",
    );
}

#[test]
fn a_function_without_a_log_group_is_caught() {
    let template = template();
    let broken = with_change(
        &template,
        "DispatcherFunction",
        &["Properties", "LoggingConfig", "LogGroup"],
        None,
    );
    assert_caught(
        &log_group_violations(&broken),
        "DispatcherFunction: LoggingConfig.LogGroup",
    );
    let forever = with_change(
        &template,
        "FeedbackLogGroup",
        &["Properties", "RetentionInDays"],
        None,
    );
    assert_caught(&log_group_violations(&forever), "keeps logs forever");
}

#[test]
fn a_function_without_an_errors_alarm_is_caught() {
    let broken = without_resource(&template(), "FeedbackErrorsAlarm");
    assert_caught(
        &alarm_violations(&broken),
        "FeedbackFunction: no alarm on AWS/Lambda Errors",
    );
}

#[test]
fn a_dead_letter_queue_without_an_alarm_is_caught() {
    let broken = without_resource(&template(), "DispatchDeadLetterQueueAlarm");
    assert_caught(
        &alarm_violations(&broken),
        "dead-letter queue DispatchDeadLetterQueue",
    );
}

#[test]
fn an_unauthorized_route_is_caught() {
    let broken = with_change(
        &template(),
        "AdminCampaignsRoute",
        &["Properties", "AuthorizationType"],
        Some(Value::from("NONE")),
    );
    assert_caught(
        &route_authorization_violations(&broken),
        "AdminCampaignsRoute (ANY /campaigns): AuthorizationType",
    );
}

#[test]
fn a_route_that_ignores_auth_mode_is_caught() {
    let broken = with_change(
        &template(),
        "TriggerExecutionsRoute",
        &["Properties", "AuthorizationType"],
        Some(Value::from("AWS_IAM")),
    );
    assert_caught(
        &route_authorization_violations(&broken),
        "TriggerExecutionsRoute (ANY /im/{proxy+}): AuthorizationType",
    );
}

#[test]
fn a_short_visibility_timeout_is_caught() {
    let broken = with_change(
        &template(),
        "DispatchQueue",
        &["Properties", "VisibilityTimeout"],
        Some(Value::from(300)),
    );
    assert_caught(
        &queue_source_violations(&broken),
        "DispatchQueue: VisibilityTimeout 300 s",
    );
}

#[test]
fn a_function_that_outlives_the_claim_timeout_is_caught() {
    let template = template();
    let (scheduler, _) = function_building(&template, "herald-scheduler")
        .expect("a function builds herald-scheduler");
    let broken = with_change(
        &template,
        &scheduler,
        &["Properties", "Timeout"],
        Some(Value::from(CLAIM_TIMEOUT.as_secs())),
    );
    assert_caught(
        &claim_timeout_violations(&broken),
        &format!("{scheduler}: Timeout 300 s"),
    );
}

#[test]
fn a_dispatcher_timeout_too_short_for_a_paced_batch_is_caught() {
    let template = template();
    let (dispatcher, _) = function_building(&template, "herald-dispatcher")
        .expect("a function builds herald-dispatcher");
    let broken = with_change(
        &template,
        &dispatcher,
        &["Properties", "Timeout"],
        Some(Value::from(30)),
    );
    assert_caught(
        &pace_wait_violations(&broken),
        &format!("{dispatcher}: Timeout 30 s"),
    );
}

#[test]
fn an_admin_timeout_too_short_for_the_import_budget_is_caught() {
    let template = template();
    let (admin, _) = function_building(&template, "herald-admin-api")
        .expect("a function builds herald-admin-api");
    let broken = with_change(
        &template,
        &admin,
        &["Properties", "Timeout"],
        Some(Value::from(20)),
    );
    assert_caught(
        &import_budget_violations(&broken),
        &format!("{admin}: Timeout 20 s"),
    );
}

#[test]
fn an_event_source_without_partial_batch_failures_or_a_concurrency_cap_is_caught() {
    let template = template();
    let (mapping, _, _, _) = queue_event_sources(&template)
        .into_iter()
        .next()
        .expect("an SQS event source");
    let broken = with_change(
        &template,
        &mapping,
        &["Properties", "FunctionResponseTypes"],
        None,
    );
    assert_caught(&queue_source_violations(&broken), "ReportBatchItemFailures");
    let uncapped = with_change(&template, &mapping, &["Properties", "ScalingConfig"], None);
    assert_caught(&queue_source_violations(&uncapped), "MaximumConcurrency");
}

#[test]
fn a_wildcard_action_is_caught() {
    let template = template();
    let statements =
        template["Resources"]["FeedbackFunction"]["Properties"]["Policies"][0]["Statement"].clone();
    let mut statements = statements.as_sequence().expect("a statement list").clone();
    let mut wild = Mapping::new();
    wild.insert(Value::from("Effect"), Value::from("Allow"));
    wild.insert(Value::from("Action"), Value::from("sqs:*"));
    wild.insert(Value::from("Resource"), Value::from("*"));
    statements.push(Value::Mapping(wild));
    let mut policy = template["Resources"]["FeedbackFunction"]["Properties"]["Policies"][0].clone();
    policy["Statement"] = Value::Sequence(statements);
    let broken = with_change(
        &template,
        "FeedbackFunction",
        &["Properties", "Policies"],
        Some(Value::Sequence(vec![policy])),
    );
    assert_caught(&wildcard_action_violations(&broken), "Action sqs:*");
}

#[test]
fn an_operation_without_a_route_is_caught() {
    let operations = vec![
        ("PUT".to_owned(), "/webhooks/feedback".to_owned()),
        ("GET".to_owned(), "/im/health".to_owned()),
    ];
    let template = template();
    assert_clean("routing", routing_violations(&template, &operations));
    let broken = without_resource(&template, "AdminWebhooksProxyRoute");
    assert_caught(
        &routing_violations(&broken, &operations),
        "PUT /webhooks/feedback: no route matches",
    );
    let no_health = without_resource(&template, "TriggerHealthRoute");
    assert_caught(
        &routing_violations(&no_health, &operations),
        "GET /im/health: route TriggerExecutionsRoute is authorized",
    );
}

#[test]
fn route_matching_prefers_exact_routes_and_longer_prefixes() {
    assert_eq!(route_match_rank("/im/health", "/im/health"), Some((1, 2)));
    assert_eq!(route_match_rank("/im/{proxy+}", "/im/health"), Some((0, 1)));
    assert_eq!(route_match_rank("/im/{proxy+}", "/im"), None);
    assert_eq!(route_match_rank("/campaigns", "/campaigns/{id}"), None);
    assert_eq!(
        route_match_rank("/campaigns/{proxy+}", "/campaigns/{id}/review"),
        Some((0, 1))
    );
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
