//! The HTTP API: its routes, which function each reaches and how it is authorized, and the
//! route API Gateway picks for a request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use herald_core::adapters::memory::MemoryStore;
use herald_core::ports::SystemClock;
use herald_core::service::{AdminConfig, AdminService};
use http_body_util::BodyExt;
use serde_norway::Value;
use tower::ServiceExt;

use crate::read::*;

/// Routes that are public on purpose: the health check, and the unsubscribe pages under `/u/`,
/// whose links carry their own signed token.
pub fn is_public_route(method: &str, path: &str) -> bool {
    (method == "GET" && path == "/im/health") || path.starts_with("/u/")
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub method: String,
    pub path: String,
    /// The function its integration invokes.
    pub function: Option<String>,
    /// `AuthorizationType` is the plain `NONE`.
    pub public: bool,
}

/// The function an `integrations/${X}` target reaches through integration X.
pub fn route_function(template: &Value, target: &Value) -> Option<String> {
    let text = intrinsic(target, "Sub").and_then(plain_str)?;
    let integration = text.strip_prefix("integrations/${")?.strip_suffix('}')?;
    if resource_type(template, integration) != Some(INTEGRATION) {
        return None;
    }
    let uri = template["Resources"][integration]
        .get("Properties")?
        .get("IntegrationUri")?;
    let (function, attribute) = getatt_target(uri)?;
    (attribute == "Arn" && resource_type(template, function) == Some(SERVERLESS_FUNCTION))
        .then(|| function.to_owned())
}

pub fn routes(template: &Value) -> Vec<Route> {
    resources_of_type(template, ROUTE)
        .into_iter()
        .map(|(name, route)| {
            let props = properties(route);
            let key = props
                .and_then(|p| p.get("RouteKey"))
                .and_then(plain_str)
                .unwrap_or("");
            let (method, path) = key.split_once(' ').unwrap_or((key, ""));
            Route {
                name,
                method: method.to_uppercase(),
                path: path.to_owned(),
                function: props
                    .and_then(|p| p.get("Target"))
                    .and_then(|t| route_function(template, t)),
                public: props
                    .and_then(|p| p.get("AuthorizationType"))
                    .and_then(plain_str)
                    == Some("NONE"),
            }
        })
        .collect()
}

/// Violations of: every route is authorized, by IAM or (with `AuthMode=JWT`) by the JWT
/// authorizer, except `GET /im/health` and `/u/*`, which are public; no route can be added
/// around that (SAM `HttpApi`/`Api` events, quick-create targets, imported OpenAPI bodies).
pub fn route_authorization_violations(template: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for kind in ["AWS::Serverless::HttpApi", "AWS::Serverless::Api"] {
        for (name, _) in resources_of_type(template, kind) {
            bad.push(format!(
                "{name}: a {kind} cannot follow AuthMode; declare {ROUTE}s instead"
            ));
        }
    }
    for kind in ["HttpApi", "Api"] {
        for (function, event, _) in function_events(template, kind) {
            bad.push(format!(
                "{function}.{event}: a SAM {kind} event bypasses the checked {ROUTE}s"
            ));
        }
    }
    let apis: BTreeMap<String, &Value> =
        resources_of_type(template, HTTP_API).into_iter().collect();
    if apis.is_empty() {
        bad.push(format!("template.yaml declares no {HTTP_API}"));
    }
    for (name, api) in &apis {
        let props = properties(api);
        for key in ["Target", "RouteKey", "Body", "BodyS3Location"] {
            if props.and_then(|p| p.get(key)).is_some() {
                bad.push(format!(
                    "{name}: {key} adds routes that are not {ROUTE} resources"
                ));
            }
        }
    }
    let jwt_authorizers: BTreeSet<String> = resources_of_type(template, AUTHORIZER)
        .into_iter()
        .filter(|(_, a)| {
            properties(a)
                .and_then(|p| p.get("AuthorizerType"))
                .and_then(plain_str)
                == Some("JWT")
                && a.get("Condition").and_then(plain_str) == Some(JWT_CONDITION)
        })
        .map(|(name, _)| name)
        .collect();
    let routes = resources_of_type(template, ROUTE);
    if routes.is_empty() {
        bad.push(format!("template.yaml declares no {ROUTE}"));
    }
    for (name, route) in routes {
        let props = properties(route);
        let get = |key: &str| props.and_then(|p| p.get(key));
        let key = get("RouteKey").and_then(plain_str).unwrap_or("");
        let at = format!("{name} ({key})");
        let Some((method, path)) = key.split_once(' ') else {
            bad.push(format!("{at}: RouteKey is not \"METHOD /path\""));
            continue;
        };
        match get("ApiId").and_then(ref_target) {
            Some(api) if apis.contains_key(api) => {}
            other => bad.push(format!(
                "{at}: ApiId {other:?} is no {HTTP_API} of the template"
            )),
        }
        if get("Target")
            .and_then(|t| route_function(template, t))
            .is_none()
        {
            bad.push(format!(
                "{at}: Target is not integrations/${{X}} of an integration invoking a function"
            ));
        }
        let authorization = get("AuthorizationType");
        let authorizer = get("AuthorizerId");
        if is_public_route(&method.to_uppercase(), path) {
            if authorization.and_then(plain_str) != Some("NONE") || authorizer.is_some() {
                bad.push(format!(
                    "{at}: a public route wants AuthorizationType NONE and no AuthorizerId, has {authorization:?} / {authorizer:?}"
                ));
            }
            continue;
        }
        let type_ok = authorization
            .and_then(if_branches)
            .is_some_and(|(c, jwt, iam)| {
                c == JWT_CONDITION
                    && plain_str(jwt) == Some("JWT")
                    && plain_str(iam) == Some("AWS_IAM")
            });
        if !type_ok {
            bad.push(format!(
                "{at}: AuthorizationType {authorization:?}, want !If [{JWT_CONDITION}, JWT, AWS_IAM]"
            ));
        }
        let authorizer_ok = authorizer
            .and_then(if_branches)
            .is_some_and(|(c, jwt, iam)| {
                c == JWT_CONDITION
                    && ref_target(jwt).is_some_and(|a| jwt_authorizers.contains(a))
                    && ref_target(iam) == Some("AWS::NoValue")
            });
        if !authorizer_ok {
            bad.push(format!(
                "{at}: AuthorizerId {authorizer:?}, want !If [{JWT_CONDITION}, !Ref <a JWT {AUTHORIZER} with Condition {JWT_CONDITION}>, !Ref AWS::NoValue]"
            ));
        }
    }
    bad
}

/// How specific a route is for a path, `None` when it does not match: exact (non-greedy)
/// routes beat greedy ones, longer prefixes beat shorter ones, as in API Gateway HTTP APIs.
pub fn route_match_rank(route_path: &str, path: &str) -> Option<(u8, usize)> {
    let route: Vec<&str> = route_path.trim_start_matches('/').split('/').collect();
    let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_var = |s: &str| s.starts_with('{') && s.ends_with('}');
    let greedy = route
        .last()
        .is_some_and(|s| s.starts_with('{') && s.ends_with("+}"));
    let fixed = if greedy {
        &route[..route.len() - 1]
    } else {
        &route[..]
    };
    let len_ok = if greedy {
        given.len() > fixed.len()
    } else {
        given.len() == fixed.len()
    };
    let segments_ok = len_ok && fixed.iter().zip(&given).all(|(r, g)| is_var(r) || r == g);
    segments_ok.then_some((u8::from(!greedy), fixed.len()))
}

/// The route API Gateway picks for `method path`.
pub fn matching_route<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.method == "ANY" || r.method == method)
        .filter_map(|r| route_match_rank(&r.path, path).map(|rank| (rank, r.method != "ANY", r)))
        .max_by_key(|(rank, specific_method, _)| (*rank, *specific_method))
        .map(|(_, _, r)| r)
}

/// Every operation of the OpenAPI document that `GET /openapi.json` serves, as
/// `(METHOD, path)`.
pub async fn documented_operations() -> Vec<(String, String)> {
    let admin = Arc::new(AdminService::new(
        MemoryStore::new(),
        SystemClock,
        AdminConfig::default(),
    ));
    let app = herald_admin_api::router(admin);
    let request = axum::http::Request::get("/openapi.json")
        .body(axum::body::Body::empty())
        .expect("a valid request");
    let response = app.oneshot(request).await.expect("the router answers");
    assert_eq!(response.status(), 200, "GET /openapi.json");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the document body")
        .to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("the document is JSON");
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item is an object").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Violations of: every documented operation is routed to the function that serves it (the
/// trigger function for `/im/` and `/u/`, the admin function otherwise), public exactly when
/// [`is_public_route`] says so.
pub fn routing_violations(template: &Value, operations: &[(String, String)]) -> Vec<String> {
    let routes = routes(template);
    let mut bad = Vec::new();
    for (method, path) in operations {
        let want = if path.starts_with("/im/") || path.starts_with("/u/") {
            "TriggerApiFunction"
        } else {
            "AdminApiFunction"
        };
        let Some(route) = matching_route(&routes, method, path) else {
            bad.push(format!(
                "{method} {path}: no route matches, API Gateway would answer 404"
            ));
            continue;
        };
        if route.function.as_deref() != Some(want) {
            bad.push(format!(
                "{method} {path}: route {} reaches {:?}, want {want}",
                route.name, route.function
            ));
        }
        if route.public != is_public_route(method, path) {
            bad.push(format!(
                "{method} {path}: route {} is {}",
                route.name,
                if route.public { "public" } else { "authorized" }
            ));
        }
    }
    bad
}
