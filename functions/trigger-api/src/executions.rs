//! `/im/executions/*` handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_core::domain::ExecutionKind;
use herald_core::domain::trigger::{AudienceRequest, UnitaryRequest};
use herald_core::http::{ApiError, ApiResult, JsonBody, Paging};
use herald_core::ports::{Clock, Delivery, ExecutionStores, Page, Queue, Store};
use herald_core::service::trigger::{ExecutionView, TriggerReply};
use serde_json::{Value, json};

use crate::Trigger;

/// Health of the trigger API (public: no token needed).
#[utoipa::path(
    get,
    path = "/im/health",
    tag = "meta",
    operation_id = "getHealth",
    responses((
        status = 200,
        description = "The service is up",
        body = crate::openapi::Health,
        example = json!({"status": "ok", "service": "herald", "version": "0.1.0"})
    ))
)]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "herald", "version": env!("CARGO_PKG_VERSION") }))
}

/// The reply as sent the first time: same status, same bytes; a replay says so in a header.
fn reply(r: TriggerReply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::ACCEPTED);
    let mut resp = (status, r.body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if r.replayed {
        headers.insert("idempotency-replay", HeaderValue::from_static("true"));
    }
    resp
}

async fn run<S, D, Q, C>(
    trigger: Trigger<S, D, Q, C>,
    request: UnitaryRequest,
    kind: ExecutionKind,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let (request_id, campaign_id) = (request.request_id.clone(), request.campaign_id.clone());
    match trigger.trigger_unitary(request, kind).await {
        Ok(r) => Ok(reply(r)),
        Err(e) => Err(ApiError::from(e).with_context(Some(&request_id), Some(&campaign_id))),
    }
}

/// Triggers a campaign for 1–20 recipients, personalized from stored profiles.
///
/// Accepted once per `(campaignId, requestId)` for 24 hours: a retry of a completed call gets
/// the first answer again (`Idempotency-Replay: true`); a retry while the first call is still
/// running gets `409 request-in-flight` with `Retry-After`; the same `requestId` with another
/// body gets `422 request-id-reused`. The answer comes once every recipient has been processed;
/// each message's outcome is at `GET /im/executions/{execution_id}/messages`.
#[utoipa::path(
    post,
    path = "/im/executions/unitary",
    tag = "executions",
    operation_id = "triggerUnitaryExecution",
    request_body = UnitaryRequest,
    responses(
        (status = 202, description = "Accepted: every recipient has been processed", body = herald_core::service::trigger::ExecutionResponse,
            headers(("Idempotency-Replay" = bool, description = "`true` when this is the stored answer to an earlier call with the same `campaignId` and `requestId`, replayed byte for byte; absent on the first answer"))),
        (status = 400, description = "The body is not JSON (`invalid-json`) or not a valid trigger (`invalid-request`: `errors` lists each field — no recipients, more than 20, a userId twice, contexts over 200 KB, a bad `requestId`), or the campaign is of another kind (`wrong-execution-kind`: a high-throughput campaign is triggered with `/im/executions/highthroughput`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 404, description = "The campaign does not exist (`campaign-not-found`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 409, description = "The campaign is not live (`campaign-not-live`) or the call is outside its schedule window (`campaign-outside-schedule`), or the same `requestId` is still being processed (`request-in-flight`: retry after `Retry-After` seconds)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "On `request-in-flight`: seconds until the first attempt's lease ends"))),
        (status = 413, description = "The body is over 256 KB (`payload-too-large`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 422, description = "The `requestId` was already accepted for this campaign with a different body (`request-id-reused`); use a new `requestId` for a new trigger", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
    )
)]
pub async fn unitary<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    JsonBody(request): JsonBody<UnitaryRequest>,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    run(trigger, request, ExecutionKind::Unitary).await
}

/// Triggers a high-throughput transactional campaign for 1–20 external recipients.
///
/// Same body and acceptance rules as the unitary call; recipients must be `external` and are
/// personalized from the trigger alone (no profile lookup).
#[utoipa::path(
    post,
    path = "/im/executions/highthroughput",
    tag = "executions",
    operation_id = "triggerHighThroughputExecution",
    request_body = UnitaryRequest,
    responses(
        (status = 202, description = "Accepted: every recipient has been processed", body = herald_core::service::trigger::ExecutionResponse,
            headers(("Idempotency-Replay" = bool, description = "`true` when this is the stored answer to an earlier call with the same `campaignId` and `requestId`, replayed byte for byte; absent on the first answer"))),
        (status = 400, description = "The body is not JSON (`invalid-json`) or not a valid trigger (`invalid-request`: `errors` lists each field — no recipients, more than 20, a userId twice, contexts over 200 KB, a recipient that is not `external`), or the campaign is of another kind (`wrong-execution-kind`: the campaign is not a high-throughput campaign)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 404, description = "The campaign does not exist (`campaign-not-found`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 409, description = "The campaign is not live (`campaign-not-live`) or the call is outside its schedule window (`campaign-outside-schedule`), or the same `requestId` is still being processed (`request-in-flight`: retry after `Retry-After` seconds)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "On `request-in-flight`: seconds until the first attempt's lease ends"))),
        (status = 413, description = "The body is over 256 KB (`payload-too-large`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 422, description = "The `requestId` was already accepted for this campaign with a different body (`request-id-reused`); use a new `requestId` for a new trigger", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
    )
)]
pub async fn high_throughput<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    JsonBody(request): JsonBody<UnitaryRequest>,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    run(trigger, request, ExecutionKind::HighThroughput).await
}

/// Reads an execution: AJO's status fields plus Herald's counts by outcome.
///
/// Answers for executions of every kind (unitary, high-throughput, audience); for an audience
/// execution `targetedProfileCount` is the number of members planned so far.
#[utoipa::path(
    get,
    path = "/im/executions/audience/{execution_id}",
    tag = "executions",
    operation_id = "getExecution",
    params(("execution_id" = herald_core::domain::ExecutionId, Path, description = "Execution id (`executionId` of the trigger's answer)")),
    responses(
        (status = 200, description = "The execution with its counts", body = crate::openapi::ExecutionStatusResponse),
        (status = 404, description = "No such execution (`execution-not-found`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn status<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let v: ExecutionView = trigger.execution(&id).await?;
    let mut body = json!({
        "executionId": v.execution_id,
        "campaignId": v.campaign_id,
        "status": v.status,
        "targetedProfileCount": if v.kind == ExecutionKind::Audience { v.counts.planned } else { v.counts.targeted },
        "createdAt": v.created_at,
    });
    if let Some(a) = v.audience_id {
        body["audienceId"] = json!(a);
    }
    body["campaignVersion"] = json!(v.campaign_version);
    body["kind"] = json!(v.kind);
    body["requestId"] = json!(v.request_id);
    body["modifiedAt"] = json!(v.modified_at);
    body["counts"] = json!(v.counts);
    Ok(Json(body))
}

/// Lists an execution's messages: every recipient's outcome, with the reason of each exclusion.
/// In claim order with `herald serve` (paging through a running execution also gets the
/// messages claimed meanwhile), in message-id order on DynamoDB.
#[utoipa::path(
    get,
    path = "/im/executions/{execution_id}/messages",
    tag = "executions",
    operation_id = "listExecutionMessages",
    params(
        ("execution_id" = herald_core::domain::ExecutionId, Path, description = "Execution id"),
        crate::openapi::PageParams,
    ),
    responses(
        (status = 200, description = "One page of messages", body = Page<herald_core::domain::MessageRecord>),
        (status = 400, description = "An invalid `limit` (`invalid-request`) or a `cursor` this listing did not issue (`invalid-cursor`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such execution (`execution-not-found`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn messages<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(id): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<herald_core::domain::MessageRecord>>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    Ok(Json(trigger.messages(&id, &page).await?))
}

/// Triggers a marketing campaign for every member of an audience, now or at `schedule.executeAt`.
///
/// The answer comes at once and the members are processed in batches afterwards: follow the
/// execution with `GET /im/executions/audience/{execution_id}`. With a future
/// `schedule.executeAt` the answer is a schedule instead (`scheduleStatus: "Scheduled"`),
/// readable and cancellable at `/im/executions/schedules/{schedule_id}`. Without `audience` the
/// campaign's own audience is used. `requestId` is optional (Herald makes one up); acceptance
/// is once per `(campaignId, requestId)` as for unitary calls.
#[utoipa::path(
    post,
    path = "/im/executions/audience",
    tag = "executions",
    operation_id = "triggerAudienceExecution",
    request_body = AudienceRequest,
    responses(
        (status = 202, description = "Accepted: the execution started, or the schedule was recorded", body = crate::openapi::AudienceAccepted,
            headers(("Idempotency-Replay" = bool, description = "`true` when this is the stored answer to an earlier call with the same `campaignId` and `requestId`, replayed byte for byte; absent on the first answer"))),
        (status = 400, description = "The body is not JSON (`invalid-json`) or not a valid trigger (`invalid-request`: `errors` lists each field — a bad `requestId`, a context over 200 KB, no audience given or on the campaign), or the campaign is of another kind (`wrong-execution-kind`: audience executions are for marketing campaigns)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 404, description = "The campaign (`campaign-not-found`) or the audience (`audience-not-found`) does not exist", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 409, description = "The campaign is not live (`campaign-not-live`) or the call is outside its schedule window (`campaign-outside-schedule`), or the same `requestId` is still being processed (`request-in-flight`: retry after `Retry-After` seconds)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "On `request-in-flight`: seconds until the first attempt's lease ends"))),
        (status = 413, description = "The body is over 256 KB (`payload-too-large`)", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
        (status = 422, description = "The `requestId` was already accepted for this campaign with a different body (`request-id-reused`); use a new `requestId` for a new trigger", body = crate::openapi::ExecutionProblem, content_type = "application/problem+json"),
    )
)]
pub async fn audience<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    JsonBody(request): JsonBody<AudienceRequest>,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let (request_id, campaign_id) = (request.request_id.clone(), request.campaign_id.clone());
    match trigger.trigger_audience(request).await {
        Ok(r) => Ok(reply(r)),
        Err(e) => Err(ApiError::from(e).with_context(request_id.as_deref(), Some(&campaign_id))),
    }
}

/// Reads a scheduled audience execution; once it has fired, `executionDetails` is its execution.
#[utoipa::path(
    get,
    path = "/im/executions/schedules/{schedule_id}",
    tag = "executions",
    operation_id = "getSchedule",
    params(("schedule_id" = herald_core::domain::ScheduleId, Path, description = "Schedule id (`scheduleId` of the audience trigger's answer)")),
    responses(
        (status = 200, description = "The schedule", body = herald_core::service::trigger::audience::ScheduleResponse),
        (status = 404, description = "No such schedule (`schedule-not-found`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn schedule<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(id): Path<String>,
) -> ApiResult<Json<herald_core::service::trigger::audience::ScheduleResponse>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    Ok(Json(trigger.schedule(&id).await?))
}

/// Cancels a scheduled audience execution before it fires (AJO answers an empty object).
#[utoipa::path(
    delete,
    path = "/im/executions/schedules/{schedule_id}",
    tag = "executions",
    operation_id = "cancelSchedule",
    params(("schedule_id" = herald_core::domain::ScheduleId, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "Cancelled: an empty object", body = Object, example = json!({})),
        (status = 404, description = "No such schedule (`schedule-not-found`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The schedule has fired or was cancelled already (`schedule-not-cancellable`)", body = herald_core::http::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_schedule<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    trigger.cancel_schedule(&id).await?;
    Ok(Json(json!({})))
}
