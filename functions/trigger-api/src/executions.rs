//! `/im/executions/*` handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_core::domain::ExecutionKind;
use herald_core::domain::trigger::UnitaryRequest;
use herald_core::http::{ApiError, ApiResult, JsonBody, Paging};
use herald_core::ports::{Clock, Delivery, ExecutionStores, Page, Store};
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

async fn run<S, D, C>(
    trigger: Trigger<S, D, C>,
    request: UnitaryRequest,
    kind: ExecutionKind,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    let (request_id, campaign_id) = (request.request_id.clone(), request.campaign_id.clone());
    match trigger.trigger_unitary(request, kind).await {
        Ok(r) => Ok(reply(r)),
        Err(e) => Err(ApiError::from(e).with_context(Some(&request_id), Some(&campaign_id))),
    }
}

/// `POST /im/executions/unitary`: 1–20 recipients, personalized from stored profiles.
pub async fn unitary<S, D, C>(
    State(trigger): State<Trigger<S, D, C>>,
    JsonBody(request): JsonBody<UnitaryRequest>,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    run(trigger, request, ExecutionKind::Unitary).await
}

/// `POST /im/executions/highthroughput`: external recipients, personalization from the trigger.
pub async fn high_throughput<S, D, C>(
    State(trigger): State<Trigger<S, D, C>>,
    JsonBody(request): JsonBody<UnitaryRequest>,
) -> ApiResult<Response>
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    run(trigger, request, ExecutionKind::HighThroughput).await
}

/// `GET /im/executions/audience/{executionId}`: AJO's status fields plus Herald's counts.
pub async fn status<S, D, C>(
    State(trigger): State<Trigger<S, D, C>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    let v: ExecutionView = trigger.execution(&id).await?;
    let mut body = json!({
        "executionId": v.execution_id,
        "campaignId": v.campaign_id,
        "status": v.status,
        "targetedProfileCount": v.counts.targeted,
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
pub async fn messages<S, D, C>(
    State(trigger): State<Trigger<S, D, C>>,
    Path(id): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<herald_core::domain::MessageRecord>>>
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    Ok(Json(trigger.messages(&id, &page).await?))
}
