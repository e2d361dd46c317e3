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

/// `POST /im/executions/unitary`: 1–20 recipients, personalized from stored profiles.
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

/// `POST /im/executions/highthroughput`: external recipients, personalization from the trigger.
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

/// `GET /im/executions/audience/{executionId}`: AJO's status fields plus Herald's counts.
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

/// `GET /im/executions/{executionId}/messages`: every message's outcome and reason, paged.
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

/// `POST /im/executions/audience`: every member of an audience, now or at `schedule.executeAt`.
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

/// `GET /im/executions/schedules/{scheduleId}`.
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

/// `DELETE /im/executions/schedules/{scheduleId}`: cancels it before it fires (AJO answers an
/// empty object).
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
