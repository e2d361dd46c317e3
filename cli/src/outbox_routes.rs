//! `GET /outbox`, `GET /outbox/{messageId}` and `GET /outbox/{messageId}/eml`: the messages
//! `herald serve` "sent", as stored in `<data-dir>/outbox`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald_core::adapters::outbox::{Outbox, OutboxEntry};
use herald_core::domain::MessageId;
use herald_core::http::problem::error_chain;
use herald_core::http::{ApiError, ApiResult, Paging};
use herald_core::ports::Page;

pub fn routes(outbox: Outbox) -> Router {
    Router::new()
        .route("/outbox", get(list))
        .route("/outbox/{message_id}", get(one))
        .route("/outbox/{message_id}/eml", get(eml))
        .with_state(outbox)
}

fn failed(e: impl std::error::Error) -> ApiError {
    tracing::error!(error = %error_chain(&e), "outbox read failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "the outbox could not be read; it has been logged",
    )
}

fn message_id(text: &str) -> ApiResult<MessageId> {
    MessageId::parse(text).ok_or_else(|| not_found(text))
}

fn not_found(text: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "message-not-found",
        format!("the outbox holds no message {text:?}"),
    )
}

async fn list(
    State(outbox): State<Outbox>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<OutboxEntry>>> {
    outbox.list(&page).await.map(Json).map_err(failed)
}

async fn one(State(outbox): State<Outbox>, Path(id): Path<String>) -> ApiResult<Json<OutboxEntry>> {
    outbox
        .get(&message_id(&id)?)
        .await
        .map_err(failed)?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

async fn eml(State(outbox): State<Outbox>, Path(id): Path<String>) -> ApiResult<Response> {
    let bytes = outbox
        .eml(&message_id(&id)?)
        .await
        .map_err(failed)?
        .ok_or_else(|| not_found(&id))?;
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    Ok(resp)
}
