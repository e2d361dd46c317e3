//! The OpenAPI 3.1 document of the admin API, generated from the code with `utoipa`.
//!
//! The handlers in [`crate::routes`] carry `#[utoipa::path]` attributes; the domain and service
//! types derive `ToSchema` (herald-core's `openapi` feature). The execution API's operations
//! come from [`herald_trigger_api::TriggerDoc`], merged in ([`WithTrigger`]) so that one document
//! describes everything `herald serve` answers. This module adds what the handlers cannot say
//! for themselves:
//! - the operations of the generic handlers (channel configurations and rule sets share
//!   `routes::managed`) and the `POST` form of review, as documentation-only functions
//!   ([`docs`]);
//! - the problem JSON responses shared by every operation ([`BadRequest`], [`NotFound`]…);
//! - the bearer security scheme, applied to every operation except the public paths the auth
//!   layer lets through ([`herald_core::http::auth::is_public`]), and the `401`/`500`
//!   responses every authenticated operation can give.
//!
//! The document is built once and served at `GET /openapi.json` by [`serve`].

use std::sync::LazyLock;

use axum::Json;
use herald_core::http::Problem;
use herald_core::http::auth::is_public;
use herald_trigger_api::TriggerDoc;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse};

use crate::routes;

/// Name of the security scheme in `components.securitySchemes`.
pub const BEARER: &str = "bearer";

const DESCRIPTION: &str = "\
Herald's admin API: campaigns (definition, draft versions, review, activation, preview, \
report), channel configurations, rule sets, audiences, profiles and suppressions; and its \
execution API (`/im/...`), wire-compatible with Adobe Journey Optimizer's Interactive Message \
Execution API: trigger campaigns, follow executions, read every message's outcome; and the \
unsubscribe pages behind marketing messages' links (`/u/...`).

Errors are problem JSON (RFC 9457, `application/problem+json`; the unsubscribe pages answer \
HTML) with a stable `code` that is also the last segment of `type`. Writes return the record's revision in `ETag`; send it back \
in `If-Match` to make an update conditional (a stale revision gets `409 stale-revision`). \
Lists are paged with `limit` and the opaque `cursor` from the previous page's `next`. Errors of \
a trigger call also carry AJO's `report.additionalContext {requestId, campaignId}`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", version = env!("CARGO_PKG_VERSION"), description = DESCRIPTION),
    paths(
        serve,
        routes::campaigns::list,
        routes::campaigns::create,
        routes::campaigns::get,
        routes::campaigns::update,
        routes::campaigns::delete,
        routes::campaigns::get_version,
        routes::campaigns::open_draft,
        routes::campaigns::review,
        docs::review_post,
        routes::campaigns::activate,
        routes::campaigns::stop,
        routes::campaigns::archive,
        routes::campaigns::duplicate,
        routes::campaigns::preview,
        routes::campaigns::report,
        docs::list_channel_configs,
        docs::create_channel_config,
        docs::get_channel_config,
        docs::replace_channel_config,
        docs::delete_channel_config,
        docs::list_rule_sets,
        docs::create_rule_set,
        docs::get_rule_set,
        docs::replace_rule_set,
        docs::delete_rule_set,
        routes::audiences::list,
        routes::audiences::create,
        routes::audiences::get,
        routes::audiences::replace,
        routes::audiences::delete,
        routes::audiences::list_members,
        routes::audiences::add_members,
        routes::audiences::remove_members,
        routes::profiles::import,
        routes::profiles::get,
        routes::profiles::erase,
        routes::profiles::upsert,
        routes::profiles::find,
        routes::suppressions::list,
        routes::suppressions::create,
        routes::suppressions::get,
        routes::suppressions::delete,
        routes::webhooks::get,
        routes::webhooks::put,
        routes::webhooks::delete,
    ),
    components(
        schemas(Problem),
        responses(BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, Unprocessable, InternalError)
    ),
    modifiers(&WithTrigger, &Conventions),
    security(("bearer" = [])),
    tags(
        (name = "campaigns", description = "Campaign definitions, versions and lifecycle"),
        (name = "channel-configs", description = "Who messages are from and how the provider sends them"),
        (name = "rule-sets", description = "Frequency caps and quiet hours for marketing campaigns"),
        (name = "audiences", description = "Static lists of profiles, or rules over profile attributes"),
        (name = "profiles", description = "Recipients: identities, attributes, consent, push tokens"),
        (name = "suppressions", description = "Addresses that must not receive messages on a channel"),
        (name = "webhooks", description = "Where transactional message outcomes are POSTed, signed"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

/// `?limit=&cursor=`, read by [`herald_core::http::Paging`].
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documents the query parameters the Paging extractor reads"
)]
pub struct PageParams {
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
    /// The `next` value of the previous page; absent for the first page.
    cursor: Option<String>,
}

/// The request is malformed: the body is not JSON or not of the expected shape, a value breaks
/// a rule (`errors` lists each field), or a paging parameter or `If-Match` header is invalid.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct BadRequest(Problem);

/// No bearer token, or not the one this server issued (`herald serve` only; in AWS, API
/// Gateway answers before Herald does).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"herald\"`"))
)]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct Unauthorized(Problem);

/// The resource named in the path does not exist (or the path segment is not a valid id).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct NotFound(Problem);

/// The request conflicts with the stored state: a stale revision (`stale-revision`), a lifecycle
/// step the campaign's status does not allow (`illegal-transition`), an identity held by another
/// profile (`identity-taken`), or an operation the resource does not support.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct Conflict(Problem);

/// The request body is larger than this endpoint accepts.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct PayloadTooLarge(Problem);

/// The campaign's review found errors (`review` holds the report; nothing changed), or a
/// template failed to render (`render-error`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct Unprocessable(Problem);

/// Herald could not complete the request; the cause is logged, the caller gets an opaque
/// message.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(
    dead_code,
    reason = "a documentation type: its ToResponse impl is what is used"
)]
pub struct InternalError(Problem);

/// Merges the execution API's operations, schemas and tags ([`TriggerDoc`]); runs before
/// [`Conventions`] so that they get the same security and shared responses.
struct WithTrigger;

impl Modify for WithTrigger {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(TriggerDoc::openapi());
    }
}

/// Adds the bearer scheme, marks the public paths as needing no token, gives every operation
/// its `500` and every authenticated one its `401`, and documents optional bodies as absent
/// rather than `null` ([`not_null_body`]).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`herald serve` requires `Authorization: Bearer <token>` on every route \
                         except health and unsubscribe; it prints the token on first start and \
                         keeps it in `<data-dir>/api-token`. In AWS, API Gateway authorizes \
                         requests before they reach Herald: IAM (SigV4) by default, or a JWT \
                         authorizer when the template's parameter selects it.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = is_public(path);
            for op in operations_mut(item) {
                if public {
                    op.security = Some(vec![SecurityRequirement::default()]);
                } else {
                    add_response(op, "401", "Unauthorized");
                }
                add_response(op, "500", "InternalError");
                not_null_body(op);
            }
        }
    }
}

fn add_response(op: &mut Operation, status: &str, component: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(component)));
}

/// An optional body (`Option<T>` in `request_body`) is one that may be left empty, not one that
/// may be JSON `null` (which the extractors reject): keep `T`'s schema and `required: false`.
fn not_null_body(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema {
            let mut non_null = one.items.iter().filter(|item| !is_null(item));
            if let (Some(only), None) = (non_null.next(), non_null.next()) {
                content.schema = Some(only.clone());
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Documentation-only operations: routes whose handler is generic over the resource
/// (`routes::managed` serves both channel configurations and rule sets) and the second method of
/// a handler. These functions are never called.
#[expect(
    dead_code,
    reason = "documentation-only operations; the router calls the real handlers"
)]
mod docs {
    use herald_core::domain::{
        ChannelConfig, ChannelConfigId, ChannelConfigSpec, ReviewReport, RuleSet, RuleSetId,
        RuleSetSpec,
    };
    use herald_core::ports::Page;

    use super::{BadRequest, Conflict, NotFound, PageParams, PayloadTooLarge};

    /// Reviews a campaign version (same as `GET`).
    ///
    /// Reports errors (which block activation) and warnings. Default version: the draft, else the
    /// live one.
    #[utoipa::path(
        post,
        path = "/campaigns/{id}/review",
        tag = "campaigns",
        operation_id = "reviewCampaignPost",
        params(
            ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
            crate::routes::campaigns::VersionQuery,
        ),
        responses(
            (status = 200, description = "The review report", body = ReviewReport),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
        )
    )]
    pub fn review_post() {}

    /// Lists channel configurations.
    #[utoipa::path(
        get,
        path = "/channel-configs",
        tag = "channel-configs",
        operation_id = "listChannelConfigs",
        params(PageParams),
        responses(
            (status = 200, description = "One page of channel configurations", body = Page<ChannelConfig>),
            (status = 400, response = BadRequest),
        )
    )]
    pub fn list_channel_configs() {}

    /// Creates a channel configuration.
    #[utoipa::path(
        post,
        path = "/channel-configs",
        tag = "channel-configs",
        operation_id = "createChannelConfig",
        request_body = ChannelConfigSpec,
        responses(
            (status = 201, description = "Created", body = ChannelConfig,
                headers(("ETag" = String, description = "The revision, for `If-Match`"))),
            (status = 400, response = BadRequest),
            (status = 413, response = PayloadTooLarge),
        )
    )]
    pub fn create_channel_config() {}

    /// Reads a channel configuration.
    #[utoipa::path(
        get,
        path = "/channel-configs/{id}",
        tag = "channel-configs",
        operation_id = "getChannelConfig",
        params(("id" = ChannelConfigId, Path, description = "Channel configuration id")),
        responses(
            (status = 200, description = "The channel configuration", body = ChannelConfig,
                headers(("ETag" = String, description = "The revision, for `If-Match`"))),
            (status = 404, response = NotFound),
        )
    )]
    pub fn get_channel_config() {}

    /// Replaces a channel configuration.
    #[utoipa::path(
        put,
        path = "/channel-configs/{id}",
        tag = "channel-configs",
        operation_id = "replaceChannelConfig",
        params(
            ("id" = ChannelConfigId, Path, description = "Channel configuration id"),
            ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`); without it the last write wins"),
        ),
        request_body = ChannelConfigSpec,
        responses(
            (status = 200, description = "Replaced", body = ChannelConfig,
                headers(("ETag" = String, description = "The new revision"))),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = PayloadTooLarge),
        )
    )]
    pub fn replace_channel_config() {}

    /// Deletes a channel configuration.
    #[utoipa::path(
        delete,
        path = "/channel-configs/{id}",
        tag = "channel-configs",
        operation_id = "deleteChannelConfig",
        params(
            ("id" = ChannelConfigId, Path, description = "Channel configuration id"),
            ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
        ),
        responses(
            (status = 204, description = "Deleted"),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
        )
    )]
    pub fn delete_channel_config() {}

    /// Lists rule sets.
    #[utoipa::path(
        get,
        path = "/rule-sets",
        tag = "rule-sets",
        operation_id = "listRuleSets",
        params(PageParams),
        responses(
            (status = 200, description = "One page of rule sets", body = Page<RuleSet>),
            (status = 400, response = BadRequest),
        )
    )]
    pub fn list_rule_sets() {}

    /// Creates a rule set.
    #[utoipa::path(
        post,
        path = "/rule-sets",
        tag = "rule-sets",
        operation_id = "createRuleSet",
        request_body = RuleSetSpec,
        responses(
            (status = 201, description = "Created", body = RuleSet,
                headers(("ETag" = String, description = "The revision, for `If-Match`"))),
            (status = 400, response = BadRequest),
            (status = 413, response = PayloadTooLarge),
        )
    )]
    pub fn create_rule_set() {}

    /// Reads a rule set.
    #[utoipa::path(
        get,
        path = "/rule-sets/{id}",
        tag = "rule-sets",
        operation_id = "getRuleSet",
        params(("id" = RuleSetId, Path, description = "Rule set id")),
        responses(
            (status = 200, description = "The rule set", body = RuleSet,
                headers(("ETag" = String, description = "The revision, for `If-Match`"))),
            (status = 404, response = NotFound),
        )
    )]
    pub fn get_rule_set() {}

    /// Replaces a rule set.
    #[utoipa::path(
        put,
        path = "/rule-sets/{id}",
        tag = "rule-sets",
        operation_id = "replaceRuleSet",
        params(
            ("id" = RuleSetId, Path, description = "Rule set id"),
            ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`); without it the last write wins"),
        ),
        request_body = RuleSetSpec,
        responses(
            (status = 200, description = "Replaced", body = RuleSet,
                headers(("ETag" = String, description = "The new revision"))),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = PayloadTooLarge),
        )
    )]
    pub fn replace_rule_set() {}

    /// Deletes a rule set.
    #[utoipa::path(
        delete,
        path = "/rule-sets/{id}",
        tag = "rule-sets",
        operation_id = "deleteRuleSet",
        params(
            ("id" = RuleSetId, Path, description = "Rule set id"),
            ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
        ),
        responses(
            (status = 204, description = "Deleted"),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
        )
    )]
    pub fn delete_rule_set() {}
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use herald_core::adapters::memory::MemoryStore;
    use herald_core::adapters::memory_queue::MemoryQueue;
    use herald_core::adapters::outbox::Outbox;
    use herald_core::domain::{AudienceSpec, CampaignSpec};
    use herald_core::ports::SystemClock;
    use herald_core::render::TemplateCache;
    use herald_core::service::trigger::{TriggerConfig, TriggerService};
    use herald_core::service::{AdminConfig, AdminService};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    /// Every `(method, path)` registered in `routes::router` (read by hand from
    /// `routes/mod.rs`) and in `herald_trigger_api::routes` (from trigger-api's `lib.rs`): axum
    /// 0.8 cannot list a router's routes.
    const ROUTES: &[(&str, &str)] = &[
        ("get", "/openapi.json"),
        ("get", "/campaigns"),
        ("post", "/campaigns"),
        ("get", "/campaigns/{id}"),
        ("put", "/campaigns/{id}"),
        ("delete", "/campaigns/{id}"),
        ("get", "/campaigns/{id}/versions/{version}"),
        ("post", "/campaigns/{id}/draft"),
        ("get", "/campaigns/{id}/review"),
        ("post", "/campaigns/{id}/review"),
        ("post", "/campaigns/{id}/activate"),
        ("post", "/campaigns/{id}/stop"),
        ("post", "/campaigns/{id}/archive"),
        ("post", "/campaigns/{id}/duplicate"),
        ("post", "/campaigns/{id}/preview"),
        ("get", "/campaigns/{id}/report"),
        ("get", "/channel-configs"),
        ("post", "/channel-configs"),
        ("get", "/channel-configs/{id}"),
        ("put", "/channel-configs/{id}"),
        ("delete", "/channel-configs/{id}"),
        ("get", "/rule-sets"),
        ("post", "/rule-sets"),
        ("get", "/rule-sets/{id}"),
        ("put", "/rule-sets/{id}"),
        ("delete", "/rule-sets/{id}"),
        ("get", "/audiences"),
        ("post", "/audiences"),
        ("get", "/audiences/{id}"),
        ("put", "/audiences/{id}"),
        ("delete", "/audiences/{id}"),
        ("get", "/audiences/{id}/members"),
        ("post", "/audiences/{id}/members"),
        ("post", "/audiences/{id}/members/remove"),
        ("post", "/profiles/import"),
        ("get", "/profiles/{id}"),
        ("delete", "/profiles/{id}"),
        ("put", "/profiles/{namespace}/{value}"),
        ("get", "/profiles/{namespace}/{value}"),
        ("get", "/suppressions"),
        ("post", "/suppressions"),
        ("get", "/suppressions/{channel}/{address}"),
        ("delete", "/suppressions/{channel}/{address}"),
        ("get", "/webhooks/feedback"),
        ("put", "/webhooks/feedback"),
        ("delete", "/webhooks/feedback"),
        // The trigger API.
        ("get", "/im/health"),
        ("post", "/im/executions/unitary"),
        ("post", "/im/executions/highthroughput"),
        ("post", "/im/executions/audience"),
        ("get", "/im/executions/audience/{execution_id}"),
        ("get", "/im/executions/schedules/{schedule_id}"),
        ("delete", "/im/executions/schedules/{schedule_id}"),
        ("get", "/im/executions/{execution_id}/messages"),
        ("get", "/u/{token}"),
        ("post", "/u/{token}"),
    ];

    /// Distinct paths in [`ROUTES`]: a new route needs a new entry there and in the document.
    const PATH_COUNT: usize = 34;

    /// Operations in [`ROUTES`].
    const OPERATION_COUNT: usize = 56;

    /// Whether a documented path is served by the trigger router rather than the admin one.
    fn is_trigger_path(path: &str) -> bool {
        path.starts_with("/im/") || path.starts_with("/u/")
    }

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The document as a client sees it: what `GET /openapi.json` serializes.
    async fn document() -> Value {
        let Json(doc) = serve().await;
        serde_json::to_value(doc).expect("the document serializes")
    }

    /// Every `(method, path, operation)` of the document.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = vec![];
        for (path, item) in doc["paths"].as_object().expect("paths is an object") {
            for (method, op) in item.as_object().expect("a path item is an object") {
                if METHODS.contains(&method.as_str()) {
                    out.push((method.clone(), path.clone(), op.clone()));
                }
            }
        }
        out
    }

    /// Resolves a `$ref` within the document.
    fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        doc.pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} does not resolve"))
    }

    /// A validator for the JSON Schema subset utoipa emits: `$ref`, `allOf`, `oneOf`, `type`,
    /// `enum`, `properties`, `required`, `additionalProperties`, `items`, `minimum`, `maximum`.
    /// Formats and annotations are ignored.
    fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return validate(doc, resolve(doc, r), value, at);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                validate(doc, s, value, at)?;
            }
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let results: Vec<_> = one.iter().map(|s| validate(doc, s, value, at)).collect();
            let passed = results.iter().filter(|r| r.is_ok()).count();
            if passed != 1 {
                return Err(format!(
                    "{at}: matches {passed} of the oneOf schemas, not exactly one: {results:?}"
                ));
            }
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => false,
            });
            if !ok {
                return Err(format!("{at}: {value} is not of type {t}"));
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {e:?}"));
        }
        if let (Some(min), Some(n)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n < min
        {
            return Err(format!("{at}: {n} is below the minimum {min}"));
        }
        if let (Some(max), Some(n)) = (
            schema.get("maximum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n > max
        {
            return Err(format!("{at}: {n} is above the maximum {max}"));
        }
        if let Some(items) = schema.get("items")
            && let Some(array) = value.as_array()
        {
            for (i, v) in array.iter().enumerate() {
                validate(doc, items, v, &format!("{at}[{i}]"))?;
            }
        }
        if let Some(object) = value.as_object() {
            let empty = serde_json::Map::new();
            let properties = schema
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{at}: the required property {name:?} is missing"));
                }
            }
            for (k, v) in object {
                match (properties.get(k), schema.get("additionalProperties")) {
                    (Some(p), _) => validate(doc, p, v, &format!("{at}.{k}"))?,
                    (None, Some(Value::Bool(false))) => {
                        return Err(format!("{at}: unknown property {k:?}"));
                    }
                    (None, Some(extra @ Value::Object(_))) => {
                        validate(doc, extra, v, &format!("{at}.{k}"))?
                    }
                    (None, _) => {}
                }
            }
        }
        Ok(())
    }

    fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
        &doc["components"]["schemas"][name]
    }

    fn sample_campaign() -> Value {
        json!({
            "name": "Welcome",
            "type": "marketing",
            "channel": "email",
            "tags": ["onboarding"],
            "channelConfigId": "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e5f",
            "audience": {"id": "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e60"},
            "ruleSetId": "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e61",
            "schedule": {"startAt": "2026-12-01T09:00:00Z"},
            "rateLimit": 50,
            "content": {
                "email": {"subject": "Hi {{profile.firstName}}", "html": "<p>Hi</p>", "preheader": "Welcome"},
                "locales": {"fr": {"email": {"subject": "Salut", "html": "<p>Salut</p>"}}},
                "variants": [{
                    "name": "B",
                    "weight": 30,
                    "email": {"subject": "Hey {{profile.firstName}}", "html": "<p>Hey</p>"},
                    "locales": {"fr": {"email": {"subject": "Coucou", "html": "<p>Coucou</p>"}}}
                }]
            }
        })
    }

    #[tokio::test]
    async fn every_route_in_the_router_is_documented_with_the_same_methods() {
        let doc = document().await;
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let expected: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let missing: Vec<_> = expected.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "undocumented routes: {missing:?}; documented but not routed: {extra:?}"
        );
        assert_eq!(documented.len(), ROUTES.len());
        assert_eq!(ROUTES.len(), OPERATION_COUNT);
        assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(PATH_COUNT));
    }

    /// Sends every documented operation whose path `mine` accepts, with placeholder path
    /// parameters and no body, to `router` (routes only, no fallbacks, so that an unknown path
    /// answers a bare 404 and an unknown method 405), and checks that the answer is one the
    /// operation documents. Returns how many operations were sent.
    async fn answers_documented_operations(
        router: &Router,
        doc: &Value,
        mine: impl Fn(&str) -> bool,
    ) -> usize {
        let mut sent = 0;
        for (method, path, op) in operations(doc) {
            if !mine(&path) {
                continue;
            }
            let uri = path
                .replace("{id}", "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e5f")
                .replace("{execution_id}", "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e62")
                .replace("{schedule_id}", "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e63")
                .replace("{version}", "1")
                .replace("{namespace}", "email")
                .replace("{channel}", "email")
                .replace("{value}", "ann@example.com")
                .replace("{address}", "ann@example.com")
                .replace("{token}", "not-a-signed-token");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .expect("a valid request");
            let response = router
                .clone()
                .oneshot(request)
                .await
                .expect("the router answers");
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_ne!(status, 405, "{method} {uri}: the router has no such method");
            assert!(
                status != 404 || content_type == "application/problem+json",
                "{method} {uri}: the router has no such path"
            );
            assert!(
                op["responses"].get(status.as_str()).is_some(),
                "{method} {uri} answered {status}, which its documentation does not list"
            );
            if status.is_client_error() {
                let response = &op["responses"][status.as_str()];
                let response = match response["$ref"].as_str() {
                    Some(r) => resolve(doc, r),
                    None => response,
                };
                let media_type = content_type.split(';').next().unwrap_or("").trim();
                assert!(
                    response["content"].get(media_type).is_some(),
                    "{method} {uri} answered {status} as {content_type:?}, which is not documented"
                );
            }
            sent += 1;
        }
        sent
    }

    #[tokio::test]
    async fn the_routers_answer_every_documented_operation_with_a_documented_status() {
        let doc = document().await;
        let admin = Arc::new(AdminService::new(
            MemoryStore::new(),
            SystemClock,
            AdminConfig::default(),
        ));
        let admin_ops =
            answers_documented_operations(&crate::routes(admin), &doc, |p| !is_trigger_path(p))
                .await;
        let world = TriggerWorld::new();
        let trigger_ops = answers_documented_operations(&world.routes, &doc, is_trigger_path).await;
        assert_eq!((admin_ops, trigger_ops), (46, 10));
        assert_eq!(admin_ops + trigger_ops, OPERATION_COUNT);
    }

    #[tokio::test]
    async fn the_document_is_openapi_3_1_with_the_domain_schemas_and_the_bearer_scheme() {
        let doc = document().await;
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["title"], "Herald");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        for name in [
            "CampaignSpec",
            "CampaignView",
            "Problem",
            "Content",
            "Message",
            "AudienceSpec",
            "Profile",
            "UnitaryRequest",
            "AudienceRequest",
            "ExecutionResponse",
            "ExecutionView",
            "ExecutionStatusResponse",
            "ScheduleResponse",
            "MessageRecord",
            "OutcomeCounts",
            "ExecutionProblem",
        ] {
            assert!(component(&doc, name).is_object(), "no schema {name}");
        }
        let bearer = &doc["components"]["securitySchemes"][BEARER];
        assert_eq!(bearer["type"], "http");
        assert_eq!(bearer["scheme"], "bearer");
        assert!(
            bearer["description"]
                .as_str()
                .is_some_and(|d| d.contains("IAM") && d.contains("JWT"))
        );
        assert_eq!(doc["security"], json!([{ BEARER: [] }]));
        for (method, path) in [
            ("get", "/im/health"),
            ("get", "/u/{token}"),
            ("post", "/u/{token}"),
        ] {
            let op = &doc["paths"][path][method];
            assert_eq!(op["security"], json!([{}]), "{method} {path} is public");
            assert!(op["responses"].get("401").is_none(), "{method} {path}");
        }
        for (method, path) in [("get", "/campaigns"), ("post", "/im/executions/unitary")] {
            assert_eq!(
                doc["paths"][path][method]["responses"]["401"]["$ref"],
                "#/components/responses/Unauthorized",
                "{method} {path}"
            );
        }
    }

    #[tokio::test]
    async fn operation_ids_and_tags_are_unique_and_every_error_response_is_problem_json() {
        let doc = document().await;
        let ops = operations(&doc);
        let ids: BTreeSet<&str> = ops
            .iter()
            .filter_map(|(_, _, op)| op["operationId"].as_str())
            .collect();
        assert_eq!(
            ids.len(),
            ops.len(),
            "an operation id is missing or used twice"
        );
        for (method, path, op) in &ops {
            for (status, response) in op["responses"].as_object().expect("responses") {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let response = match response["$ref"].as_str() {
                    Some(r) => resolve(&doc, r),
                    None => response,
                };
                if path.starts_with("/u/") {
                    // Pages for people: errors are HTML too.
                    assert!(
                        response["content"]["text/html"].is_object(),
                        "{method} {path} {status}"
                    );
                    continue;
                }
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert!(
                    *schema == "#/components/schemas/Problem"
                        || *schema == "#/components/schemas/ExecutionProblem",
                    "{method} {path} {status}: {schema}"
                );
            }
        }
        assert_eq!(
            component(&doc, "ExecutionProblem")["allOf"][0]["$ref"],
            "#/components/schemas/Problem",
            "a trigger problem is a problem"
        );
        let tags: Vec<&str> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let unique: BTreeSet<&str> = tags.iter().copied().collect();
        assert_eq!(
            unique.len(),
            tags.len(),
            "a tag is declared twice: {tags:?}"
        );
        for (method, path, op) in &ops {
            for tag in op["tags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().unwrap_or("");
                assert!(
                    unique.contains(tag),
                    "{method} {path}: undeclared tag {tag}"
                );
            }
        }
    }

    #[tokio::test]
    async fn conditional_writes_take_if_match_and_reads_return_an_etag() {
        let doc = document().await;
        let put = &doc["paths"]["/campaigns/{id}"]["put"];
        let if_match = put["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "If-Match");
        let if_match = if_match.expect("PUT /campaigns/{id} documents If-Match");
        assert_eq!(if_match["in"], "header");
        assert_eq!(if_match["required"], false);
        assert_eq!(if_match["schema"]["type"], "string");
        assert!(put["responses"]["200"]["headers"]["ETag"].is_object());
        assert!(
            doc["paths"]["/rule-sets/{id}"]["get"]["responses"]["200"]["headers"]["ETag"]
                .is_object()
        );
    }

    #[tokio::test]
    async fn paging_suppression_and_review_parameters_are_documented() {
        let doc = document().await;
        let names = |method: &str, path: &str| -> Vec<String> {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}:{}",
                        p["in"].as_str().unwrap_or(""),
                        p["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        for path in [
            "/campaigns",
            "/channel-configs",
            "/rule-sets",
            "/audiences",
            "/suppressions",
            "/audiences/{id}/members",
        ] {
            let n = names("get", path);
            assert!(
                n.contains(&"query:limit".into()) && n.contains(&"query:cursor".into()),
                "{path}: {n:?}"
            );
        }
        assert!(names("get", "/suppressions").contains(&"query:channel".into()));
        assert!(names("get", "/campaigns/{id}/review").contains(&"query:version".into()));
        assert!(names("post", "/campaigns/{id}/review").contains(&"query:version".into()));
    }

    #[tokio::test]
    async fn the_import_takes_ndjson_text_and_the_preview_body_may_be_left_empty() {
        let doc = document().await;
        let import = &doc["paths"]["/profiles/import"]["post"]["requestBody"];
        assert_eq!(
            import["content"]["application/x-ndjson"]["schema"]["type"],
            "string"
        );
        assert_eq!(import["required"], true);
        let preview = &doc["paths"]["/campaigns/{id}/preview"]["post"]["requestBody"];
        assert!(
            preview.get("required").is_none_or(|r| r == false),
            "{preview}"
        );
        assert_eq!(
            preview["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/PreviewRequest"
        );
    }

    #[tokio::test]
    async fn the_schemas_follow_the_serde_representation() {
        let doc = document().await;
        let spec = component(&doc, "CampaignSpec");
        assert_eq!(spec["additionalProperties"], false, "deny_unknown_fields");
        for field in [
            "type",
            "channelConfigId",
            "rateLimit",
            "highThroughput",
            "ruleSetId",
        ] {
            assert!(
                spec["properties"][field].is_object(),
                "CampaignSpec.{field} (camelCase, renames)"
            );
        }
        let message = component(&doc, "Message")["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let keys: Vec<&Value> = message.iter().map(|m| &m["required"][0]).collect();
        assert_eq!(
            keys,
            [&json!("email"), &json!("sms"), &json!("push")],
            "externally tagged"
        );
        let kinds: Vec<&Value> = component(&doc, "AudienceKind")["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| &k["properties"]["kind"]["enum"][0])
            .collect();
        assert_eq!(
            kinds,
            [&json!("static"), &json!("rule")],
            "internally tagged by kind"
        );
        assert_eq!(
            component(&doc, "Campaign")["properties"]["createdAt"]["format"],
            "date-time"
        );
        assert_eq!(
            component(&doc, "QuietHours")["properties"]["start"]["type"],
            "string"
        );
        assert!(component(&doc, "Content")["allOf"].is_array(), "flattened");
    }

    #[tokio::test]
    async fn a_sample_email_campaign_with_locales_and_a_variant_validates_against_the_campaign_spec_schema()
     {
        let doc = document().await;
        let schema = component(&doc, "CampaignSpec");
        let sample = sample_campaign();
        let spec: CampaignSpec =
            serde_json::from_value(sample.clone()).expect("the sample is a campaign spec");
        validate(&doc, schema, &sample, "$").expect("the sample validates");
        let written = serde_json::to_value(&spec).expect("serializes");
        validate(&doc, schema, &written, "$").expect("what Herald writes back validates");
    }

    #[tokio::test]
    async fn campaign_specs_that_serde_rejects_do_not_validate_either() {
        let doc = document().await;
        let schema = component(&doc, "CampaignSpec");
        let mut unknown = sample_campaign();
        unknown["colour"] = json!("blue");
        let mut untyped = sample_campaign();
        untyped.as_object_mut().map(|o| o.remove("channel"));
        let mut no_content = sample_campaign();
        no_content["content"] = json!({"locales": {}});
        for (what, bad) in [
            ("unknown field", unknown),
            ("missing channel", untyped),
            ("content without a channel key", no_content),
        ] {
            assert!(
                serde_json::from_value::<CampaignSpec>(bad.clone()).is_err(),
                "serde accepts the {what}"
            );
            assert!(
                validate(&doc, schema, &bad, "$").is_err(),
                "the schema accepts the {what}"
            );
        }
        // Stricter than serde, which reads the first channel key of a flattened message and
        // ignores the rest: the document says a message has exactly one.
        let mut two_channels = sample_campaign();
        two_channels["content"]["sms"] = json!({"text": "Hi"});
        assert!(
            validate(&doc, schema, &two_channels, "$").is_err(),
            "the schema accepts two channel keys"
        );
        let mut heavy = sample_campaign();
        heavy["rateLimit"] = json!(5000);
        assert!(
            validate(&doc, schema, &heavy, "$").is_err(),
            "rateLimit is at most 2000"
        );
    }

    #[tokio::test]
    async fn a_rule_audience_and_a_problem_validate_against_their_schemas() {
        let doc = document().await;
        let audience = json!({
            "name": "Gold members",
            "kind": "rule",
            "rule": {"match": "all", "conditions": [{"attribute": "tier", "op": "eq", "value": "gold"}]}
        });
        serde_json::from_value::<AudienceSpec>(audience.clone())
            .expect("the sample is an audience spec");
        validate(&doc, component(&doc, "AudienceSpec"), &audience, "$")
            .expect("the audience validates");
        let problem = Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-request",
            "name: a campaign needs a name",
        )
        .with_errors(vec![herald_core::domain::ValidationError::new(
            "name",
            "a campaign needs a name",
        )]);
        let problem = serde_json::to_value(problem).expect("serializes");
        validate(&doc, component(&doc, "Problem"), &problem, "$").expect("the problem validates");
    }

    /// A trigger service over the memory store, the outbox in a fresh directory (removed on
    /// drop), the in-memory queue and the system clock, with an admin service on the same
    /// store to set campaigns up.
    struct TriggerWorld {
        admin: AdminService<MemoryStore, SystemClock>,
        /// Routes only (see [`answers_documented_operations`]).
        routes: Router,
        /// Routes with the fallbacks and body limit, as deployed.
        router: Router,
        outbox_dir: PathBuf,
    }

    impl TriggerWorld {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let outbox_dir = std::env::temp_dir().join(format!(
                "herald-openapi-outbox-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let outbox = Outbox::open(&outbox_dir).expect("the outbox opens");
            let store = MemoryStore::new();
            let trigger = Arc::new(TriggerService::new(
                store.clone(),
                outbox,
                MemoryQueue::new(),
                SystemClock,
                Arc::new(TemplateCache::new(8)),
                TriggerConfig::default(),
            ));
            Self {
                admin: AdminService::new(store, SystemClock, AdminConfig::default()),
                routes: herald_trigger_api::routes(trigger.clone()),
                router: herald_trigger_api::router(trigger),
                outbox_dir,
            }
        }

        /// A campaign on an SMS channel configuration; activated when `live`. Returns its id.
        async fn sms_campaign(&self, spec: Value, live: bool) -> String {
            let category = spec["type"].clone();
            let config: herald_core::domain::ChannelConfigSpec = serde_json::from_value(
                json!({"name": "SMS", "category": category, "sms": {"senderId": "Herald"}}),
            )
            .expect("a channel configuration");
            let config: herald_core::domain::ChannelConfig = self
                .admin
                .create_managed(config)
                .await
                .expect("the configuration is created");
            let mut spec = spec;
            spec["channelConfigId"] = json!(config.id);
            let spec: CampaignSpec = serde_json::from_value(spec).expect("a campaign spec");
            let campaign = self
                .admin
                .create_campaign(spec)
                .await
                .expect("the campaign is created");
            if live {
                self.admin
                    .activate_campaign(campaign.campaign.id, None)
                    .await
                    .expect("the campaign activates");
            }
            campaign.campaign.id.to_string()
        }

        async fn call(&self, method: &str, uri: &str, body: Option<String>) -> Answer {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.map(Body::from).unwrap_or_else(Body::empty))
                .expect("a valid request");
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router answers");
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body is read");
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {uri}: the body is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            Answer {
                status,
                headers,
                body,
            }
        }
    }

    impl Drop for TriggerWorld {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.outbox_dir);
        }
    }

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Value,
    }

    /// The names of the properties `schema` documents at its top level, following `$ref` and
    /// `allOf`.
    fn properties_of(doc: &Value, schema: &Value) -> BTreeSet<String> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return properties_of(doc, resolve(doc, r));
        }
        let mut names: BTreeSet<String> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            names.extend(properties_of(doc, part));
        }
        names
    }

    /// Checks an answer of the trigger router against the documentation of `method path`: the
    /// status is documented, the body validates against the documented schema (of the
    /// `oneOf` branch it matches) and has no undocumented top-level field, a problem's `code`
    /// is named in the response's description, and the idempotency headers it carries are
    /// documented. Returns the answer's body.
    fn conforms(doc: &Value, method: &str, path: &str, answer: &Answer) -> Value {
        let what = format!("{method} {path} → {}", answer.status);
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{what}: no such documented operation");
        let response = &op["responses"][answer.status.as_str()];
        assert!(
            response.is_object(),
            "{what}: the status is not documented: {}",
            answer.body
        );
        let response = match response["$ref"].as_str() {
            Some(r) => resolve(doc, r),
            None => response,
        };
        let content_type = answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = if answer.status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        assert_eq!(content_type, expected, "{what}");
        let mut schema = &response["content"][expected]["schema"];
        assert!(schema.is_object(), "{what}: no documented {expected} body");
        validate(doc, schema, &answer.body, "$").unwrap_or_else(|e| panic!("{what}: {e}"));
        let target = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => resolve(doc, r),
            None => schema,
        };
        if let Some(branches) = target["oneOf"].as_array() {
            schema = branches
                .iter()
                .find(|b| validate(doc, b, &answer.body, "$").is_ok())
                .expect("validate found exactly one branch");
        }
        let documented = properties_of(doc, schema);
        for key in answer
            .body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            assert!(
                documented.contains(key),
                "{what}: the field {key:?} is not documented ({documented:?})"
            );
        }
        if let Some(code) = answer.body["code"]
            .as_str()
            .filter(|_| !answer.status.is_success())
        {
            let description = response["description"].as_str().unwrap_or("");
            assert!(
                description.contains(&format!("`{code}`")),
                "{what}: the code {code} is not named in {description:?}"
            );
        }
        for name in ["retry-after", "idempotency-replay"] {
            if answer.headers.contains_key(name) {
                let documented = response["headers"]
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)));
                assert!(documented, "{what}: the header {name} is not documented");
            }
        }
        answer.body.clone()
    }

    #[tokio::test]
    async fn the_trigger_routers_answers_match_their_documented_statuses_schemas_and_codes() {
        let doc = document().await;
        let w = TriggerWorld::new();
        let campaign = w
            .sms_campaign(
                json!({"name": "Code", "type": "transactional", "channel": "sms",
                       "content": {"sms": {"text": "Your code is {{context.code}}"}}}),
                true,
            )
            .await;
        let unitary = "/im/executions/unitary";
        let trigger = |request_id: &str, code: &str| {
            json!({"requestId": request_id, "campaignId": campaign, "context": {"code": code},
                   "recipients": [{"type": "external", "namespace": "phone", "userId": "+14155552671"}]})
            .to_string()
        };

        let first = w
            .call("POST", unitary, Some(trigger("r-1", "123456")))
            .await;
        assert_eq!(first.status, 202, "{}", first.body);
        let accepted = conforms(&doc, "post", unitary, &first);
        let replay = w
            .call("POST", unitary, Some(trigger("r-1", "123456")))
            .await;
        assert_eq!(replay.headers["idempotency-replay"], "true");
        assert_eq!(conforms(&doc, "post", unitary, &replay), accepted);
        let reused = w
            .call("POST", unitary, Some(trigger("r-1", "999999")))
            .await;
        assert_eq!(reused.status, 422);
        let problem = conforms(&doc, "post", unitary, &reused);
        assert_eq!(
            problem["report"]["additionalContext"],
            json!({"requestId": "r-1", "campaignId": campaign})
        );

        let execution = accepted["executionId"].as_str().expect("an execution id");
        let status = w
            .call("GET", &format!("/im/executions/audience/{execution}"), None)
            .await;
        assert_eq!(status.status, 200);
        let status = conforms(
            &doc,
            "get",
            "/im/executions/audience/{execution_id}",
            &status,
        );
        assert_eq!(
            (&status["kind"], &status["targetedProfileCount"]),
            (&json!("unitary"), &json!(1))
        );
        let messages = w
            .call("GET", &format!("/im/executions/{execution}/messages"), None)
            .await;
        assert_eq!(messages.status, 200);
        let messages = conforms(
            &doc,
            "get",
            "/im/executions/{execution_id}/messages",
            &messages,
        );
        assert_eq!(messages["items"].as_array().map(Vec::len), Some(1));

        let many: Vec<Value> = (0..21)
            .map(|i| json!({"type": "external", "namespace": "phone", "userId": format!("+1415555{i:04}")}))
            .collect();
        let draft = w
            .sms_campaign(
                json!({"name": "Draft", "type": "transactional", "channel": "sms",
                       "content": {"sms": {"text": "Hi"}}}),
                false,
            )
            .await;
        let refusals = [
            (
                "/im/executions/highthroughput",
                trigger("r-2", "1"),
                400,
                "wrong-execution-kind",
            ),
            (
                unitary,
                json!({"requestId": "r-3", "campaignId": campaign, "recipients": many}).to_string(),
                400,
                "invalid-request",
            ),
            (unitary, "{}".into(), 400, "invalid-request"),
            (unitary, "{".into(), 400, "invalid-json"),
            (
                unitary,
                trigger("r-4", &"x".repeat(300 * 1024)),
                413,
                "payload-too-large",
            ),
            (
                unitary,
                trigger("r-5", "1").replace(&campaign, "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e5f"),
                404,
                "campaign-not-found",
            ),
            (
                unitary,
                trigger("r-6", "1").replace(&campaign, &draft),
                409,
                "campaign-not-live",
            ),
            (
                "/im/executions/audience",
                json!({"campaignId": campaign}).to_string(),
                400,
                "wrong-execution-kind",
            ),
        ];
        for (path, body, status, code) in refusals {
            let answer = w.call("POST", path, Some(body)).await;
            assert_eq!(
                (answer.status.as_u16(), answer.body["code"].as_str()),
                (status, Some(code)),
                "POST {path}: {}",
                answer.body
            );
            conforms(&doc, "post", path, &answer);
        }

        let marketing = {
            let rules: herald_core::domain::RuleSetSpec =
                serde_json::from_value(json!({"name": "Default"})).expect("a rule set spec");
            let rules: herald_core::domain::RuleSet = w
                .admin
                .create_managed(rules)
                .await
                .expect("the rule set is created");
            w.sms_campaign(
                json!({"name": "Promo", "type": "marketing", "channel": "sms", "ruleSetId": rules.id,
                       "content": {"sms": {"text": "Hi {{profile.firstName}}"}}}),
                true,
            )
            .await
        };
        let audience = w
            .admin
            .create_audience(
                serde_json::from_value(json!({"name": "Everyone", "kind": "static"}))
                    .expect("an audience spec"),
            )
            .await
            .expect("the audience is created")
            .audience
            .id
            .to_string();
        let path = "/im/executions/audience";
        let now = w
            .call(
                "POST",
                path,
                Some(json!({"campaignId": marketing, "audience": {"id": audience}}).to_string()),
            )
            .await;
        assert_eq!(now.status, 202, "{}", now.body);
        let started = conforms(&doc, "post", path, &now);
        let execution = started["executionId"].as_str().expect("an execution");
        let status = w
            .call("GET", &format!("/im/executions/audience/{execution}"), None)
            .await;
        let status = conforms(
            &doc,
            "get",
            "/im/executions/audience/{execution_id}",
            &status,
        );
        assert_eq!(status["kind"], "audience");
        let unknown = w
            .call("POST", path, Some(json!({"campaignId": marketing, "audience": {"id": "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e64"}}).to_string()))
            .await;
        assert_eq!(unknown.body["code"], "audience-not-found");
        conforms(&doc, "post", path, &unknown);

        let later = w
            .call(
                "POST",
                path,
                Some(
                    json!({"campaignId": marketing, "audience": {"id": audience},
                                            "schedule": {"executeAt": "2099-01-01T09:00:00Z"}})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(later.status, 202, "{}", later.body);
        let scheduled = conforms(&doc, "post", path, &later);
        assert_eq!(scheduled["scheduleStatus"], "Scheduled");
        let schedule = format!(
            "/im/executions/schedules/{}",
            scheduled["scheduleId"].as_str().expect("a schedule id")
        );
        let template = "/im/executions/schedules/{schedule_id}";
        for (method, status, code) in [
            ("GET", 200, None),
            ("DELETE", 200, None),
            ("DELETE", 409, Some("schedule-not-cancellable")),
        ] {
            let answer = w.call(method, &schedule, None).await;
            assert_eq!(
                (answer.status.as_u16(), answer.body["code"].as_str()),
                (status, code),
                "{method} {schedule}: {}",
                answer.body
            );
            conforms(&doc, &method.to_lowercase(), template, &answer);
        }
        let cancelled = w.call("GET", &schedule, None).await;
        assert_eq!(
            conforms(&doc, "get", template, &cancelled)["scheduleStatus"],
            "Cancelled"
        );
        for (method, uri, template, code) in [
            (
                "get",
                "/im/executions/schedules/0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e65",
                template,
                "schedule-not-found",
            ),
            (
                "delete",
                "/im/executions/schedules/nope",
                template,
                "schedule-not-found",
            ),
            (
                "get",
                "/im/executions/audience/nope",
                "/im/executions/audience/{execution_id}",
                "execution-not-found",
            ),
            (
                "get",
                "/im/executions/0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e66/messages",
                "/im/executions/{execution_id}/messages",
                "execution-not-found",
            ),
            (
                "get",
                &format!("/im/executions/{execution}/messages?limit=0"),
                "/im/executions/{execution_id}/messages",
                "invalid-request",
            ),
        ] {
            let answer = w.call(&method.to_uppercase(), uri, None).await;
            assert_eq!(answer.body["code"], code, "{method} {uri}");
            conforms(&doc, method, template, &answer);
        }
        let health = w.call("GET", "/im/health", None).await;
        assert_eq!(conforms(&doc, "get", "/im/health", &health)["status"], "ok");
    }

    #[tokio::test]
    async fn trigger_calls_document_replays_retry_after_and_every_trigger_error_code() {
        let doc = document().await;
        let posts = [
            "/im/executions/unitary",
            "/im/executions/highthroughput",
            "/im/executions/audience",
        ];
        for path in posts {
            let responses = &doc["paths"][path]["post"]["responses"];
            assert!(
                responses["202"]["headers"]["Idempotency-Replay"].is_object(),
                "{path}"
            );
            assert_eq!(
                responses["409"]["headers"]["Retry-After"]["schema"]["type"], "integer",
                "{path}"
            );
            assert!(
                responses["409"]["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("`request-in-flight`")),
                "{path}"
            );
        }
        // Every `TriggerError` code, at the status `TriggerError::status` gives it.
        for (code, status) in [
            ("invalid-request", "400"),
            ("wrong-execution-kind", "400"),
            ("campaign-not-found", "404"),
            ("execution-not-found", "404"),
            ("audience-not-found", "404"),
            ("schedule-not-found", "404"),
            ("campaign-not-live", "409"),
            ("campaign-outside-schedule", "409"),
            ("request-in-flight", "409"),
            ("schedule-not-cancellable", "409"),
            ("payload-too-large", "413"),
            ("request-id-reused", "422"),
        ] {
            let named = operations(&doc).iter().any(|(_, path, op)| {
                path.starts_with("/im/")
                    && op["responses"][status]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("`{code}`")))
            });
            assert!(named, "no trigger operation documents {code} as {status}");
        }
        assert_eq!(
            doc["paths"]["/im/executions/audience"]["post"]["responses"]["202"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/AudienceAccepted"
        );
        let accepted: Vec<&Value> = component(&doc, "AudienceAccepted")["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| &b["$ref"])
            .collect();
        assert_eq!(
            accepted,
            [
                &json!("#/components/schemas/ExecutionResponse"),
                &json!("#/components/schemas/ScheduleResponse")
            ]
        );
    }
}
