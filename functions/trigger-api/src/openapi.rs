//! The execution API's part of Herald's OpenAPI document, generated from the code with `utoipa`.
//!
//! The handlers in [`crate::executions`] carry `#[utoipa::path]` attributes and the request and
//! response types derive `ToSchema` (herald-core's `openapi` feature). [`TriggerDoc`] gathers
//! them; the admin API merges it into the document it serves at `GET /openapi.json`, where the
//! security scheme and the `401`/`500` responses every operation shares are added.
//!
//! This module adds the schemas of bodies the handlers build by hand: the execution status
//! ([`ExecutionStatusResponse`]), the two answers of an audience trigger ([`AudienceAccepted`]),
//! health ([`Health`]) and the trigger errors with AJO's `report.additionalContext`
//! ([`ExecutionProblem`]). These types are never built; only their schemas are used. The
//! unsubscribe pages (`/u/{token}`, HTML) are documented by documentation-only functions
//! ([`docs`]).

#![expect(
    dead_code,
    reason = "documentation types: only their ToSchema/IntoParams impls are used"
)]

use herald_core::http::Problem;
use herald_core::service::trigger::audience::ScheduleResponse;
use herald_core::service::trigger::{ExecutionResponse, ExecutionView};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::executions;

const DESCRIPTION: &str = "\
Herald's execution API, wire-compatible with Adobe Journey Optimizer's Interactive Message \
Execution API: trigger a live campaign for a few recipients (unitary, high-throughput) or a \
whole audience (now or scheduled), follow an execution and read every message's outcome.

Errors are problem JSON (`application/problem+json`) with a stable `code` that is also the last \
segment of `type`; errors of a trigger call carry AJO's \
`report.additionalContext {requestId, campaignId}`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald execution API", version = env!("CARGO_PKG_VERSION"), description = DESCRIPTION),
    paths(
        executions::health,
        executions::unitary,
        executions::high_throughput,
        executions::audience,
        executions::status,
        executions::schedule,
        executions::cancel_schedule,
        executions::messages,
        docs::confirm_unsubscribe,
        docs::one_click_unsubscribe,
    ),
    components(schemas(Problem, ExecutionProblem)),
    tags(
        (name = "executions", description = "Triggering campaigns (AJO's Interactive Message Execution API) and following executions"),
        (name = "unsubscribe", description = "The pages behind the unsubscribe links of marketing messages"),
    )
)]
pub struct TriggerDoc;

/// `GET /im/health`.
#[derive(ToSchema)]
pub struct Health {
    /// Always `ok` when the service answers.
    #[schema(example = "ok")]
    status: String,
    /// `herald`.
    #[schema(example = "herald")]
    service: String,
    /// Herald's version.
    #[schema(example = "0.1.0")]
    version: String,
}

/// A problem answered by a trigger call: once the body has been read as a trigger,
/// `report.additionalContext` repeats its `requestId` and `campaignId` (AJO's shape).
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "urn:herald:error:campaign-not-live",
    "code": "campaign-not-live",
    "title": "Conflict",
    "status": 409,
    "detail": "campaign 0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e5f is draft, not live; activate it first",
    "report": {"additionalContext": {"requestId": "order-1234", "campaignId": "0193a0c4-7b1e-7c2d-9e4f-0a1b2c3d4e5f"}}
}))]
pub struct ExecutionProblem {
    #[serde(flatten)]
    problem: Problem,
    /// Absent when the body could not be read as a trigger (`invalid-json`, `payload-too-large`,
    /// an `invalid-request` about the body's shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<ErrorReport>,
}

/// AJO's error report.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    additional_context: AdditionalContext,
}

/// What the failed call was about.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalContext {
    /// The call's `requestId` (absent on an audience call that gave none).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// The call's `campaignId`, as sent.
    campaign_id: String,
}

/// `GET /im/executions/audience/{execution_id}`: AJO's execution status fields
/// (`executionId`, `campaignId`, `status`, `targetedProfileCount`, `createdAt`, `audienceId`)
/// plus Herald's `campaignVersion`, `kind`, `requestId`, `modifiedAt` and `counts`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusResponse {
    #[serde(flatten)]
    view: ExecutionView,
    /// Recipients targeted so far: for an audience execution the members planned into batches,
    /// otherwise the messages claimed.
    targeted_profile_count: u64,
}

/// The answer to `POST /im/executions/audience`: the execution that started, or, with a future
/// `schedule.executeAt`, the schedule.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum AudienceAccepted {
    Started(ExecutionResponse),
    Scheduled(ScheduleResponse),
}

/// `?limit=&cursor=`, read by [`herald_core::http::Paging`].
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
    /// The `next` value of the previous page; absent for the first page.
    cursor: Option<String>,
}

/// Documentation-only operations for the unsubscribe pages (`crate::unsubscribe`), which answer
/// HTML for people rather than JSON. These functions are never called.
mod docs {
    /// Shows the unsubscribe confirmation page of a marketing message's link.
    ///
    /// Public: the signed token is the authorization. A `GET` never unsubscribes anyone (link
    /// scanners and prefetchers follow links); the page's button posts to the same address.
    #[utoipa::path(
        get,
        path = "/u/{token}",
        tag = "unsubscribe",
        operation_id = "showUnsubscribePage",
        params(("token" = String, Path, description = "The signed token of the message's unsubscribe link")),
        responses(
            (status = 200, description = "A page naming the channel, campaign and address, with an Unsubscribe button", body = String, content_type = "text/html"),
            (status = 400, description = "The link is incomplete or was not signed by this sender: a page saying it does not work", body = String, content_type = "text/html"),
            (status = 500, description = "Herald could not read the link's campaign: a page asking to try again (the cause is logged)", body = String, content_type = "text/html"),
        )
    )]
    pub fn confirm_unsubscribe() {}

    /// Unsubscribes: RFC 8058 one-click (`List-Unsubscribe=One-Click`) or the confirmation
    /// page's button.
    ///
    /// Sets the recipient's marketing consent for the message's channel to `out`; idempotent.
    /// The body is not read.
    #[utoipa::path(
        post,
        path = "/u/{token}",
        tag = "unsubscribe",
        operation_id = "unsubscribe",
        params(("token" = String, Path, description = "The signed token of the message's unsubscribe link")),
        responses(
            (status = 200, description = "Unsubscribed: a page saying which messages will stop", body = String, content_type = "text/html"),
            (status = 400, description = "The link is incomplete or was not signed by this sender: a page saying it does not work", body = String, content_type = "text/html"),
            (status = 500, description = "Herald could not record the choice: a page asking to try again (the cause is logged)", body = String, content_type = "text/html"),
        )
    )]
    pub fn one_click_unsubscribe() {}
}
