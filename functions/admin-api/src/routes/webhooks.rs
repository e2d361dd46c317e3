//! `/webhooks/feedback`: the transactional feedback webhook's configuration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use herald_core::domain::webhook::{Webhook, WebhookSpec};
use herald_core::http::{ApiResult, IfMatch, JsonBody};
use herald_core::ports::{Clock, Store};

use super::with_etag;
use crate::Admin;

/// The feedback webhook (its secret included: only operators reach the admin API).
#[utoipa::path(
    get,
    path = "/webhooks/feedback",
    tag = "webhooks",
    operation_id = "getFeedbackWebhook",
    responses(
        (status = 200, description = "The webhook", body = Webhook, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get<S: Store, C: Clock>(State(admin): State<Admin<S, C>>) -> ApiResult<Response> {
    let w = admin.feedback_webhook().await?;
    Ok(with_etag(StatusCode::OK, w.revision, w))
}

/// Sets the URL and signing secret every transactional message outcome is POSTed to
/// (`X-Herald-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
#[utoipa::path(
    put,
    path = "/webhooks/feedback",
    tag = "webhooks",
    operation_id = "putFeedbackWebhook",
    params(("If-Match" = Option<String>, Header, description = "The revision from the ETag; a stale one gets 409")),
    request_body = WebhookSpec,
    responses(
        (status = 200, description = "Replaced", body = Webhook),
        (status = 201, description = "Created", body = Webhook),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn put<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<WebhookSpec>,
) -> ApiResult<Response> {
    let (w, created) = admin.put_feedback_webhook(spec, expected).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, w.revision, w))
}

/// Removes the webhook; queued events are dropped when they come up.
#[utoipa::path(
    delete,
    path = "/webhooks/feedback",
    tag = "webhooks",
    operation_id = "deleteFeedbackWebhook",
    responses(
        (status = 204, description = "Removed"),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn delete<S: Store, C: Clock>(State(admin): State<Admin<S, C>>) -> ApiResult<StatusCode> {
    admin.delete_feedback_webhook().await?;
    Ok(StatusCode::NO_CONTENT)
}
