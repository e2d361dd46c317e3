//! `/suppressions` handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use herald_core::domain::{Channel, Suppression};
use herald_core::http::extract::query_pairs;
use herald_core::http::{ApiError, ApiResult, JsonBody, Paging};
use herald_core::ports::{Clock, Page, Store};
use herald_core::service::SuppressionRequest;

use crate::Admin;

fn channel(text: &str) -> ApiResult<Channel> {
    Channel::parse(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("{text:?} is not a channel (email, sms or push)"),
        )
    })
}

/// Lists suppressions, optionally on one channel.
#[utoipa::path(
    get,
    path = "/suppressions",
    tag = "suppressions",
    operation_id = "listSuppressions",
    params(
        crate::openapi::PageParams,
        ("channel" = Option<Channel>, Query, description = "Only suppressions on this channel"),
    ),
    responses(
        (status = 200, description = "One page of suppressions", body = Page<Suppression>),
        (status = 400, response = crate::openapi::BadRequest),
    )
)]
pub async fn list<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Paging(page): Paging,
    parts: Parts,
) -> ApiResult<Json<Page<Suppression>>> {
    let filter = query_pairs(&parts)
        .into_iter()
        .find(|(k, _)| k == "channel")
        .map(|(_, v)| channel(&v))
        .transpose()?;
    Ok(Json(admin.list_suppressions(filter, &page).await?))
}

/// Adds a suppression: 201 when new, 200 when it replaced one.
#[utoipa::path(
    post,
    path = "/suppressions",
    tag = "suppressions",
    operation_id = "createSuppression",
    request_body = SuppressionRequest,
    responses(
        (status = 201, description = "Added", body = Suppression),
        (status = 200, description = "Replaced an existing suppression", body = Suppression),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn create<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(req): JsonBody<SuppressionRequest>,
) -> ApiResult<Response> {
    let (s, created) = admin.suppress(req).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(s),
    )
        .into_response())
}

/// Reads the suppression of an address on a channel.
#[utoipa::path(
    get,
    path = "/suppressions/{channel}/{address}",
    tag = "suppressions",
    operation_id = "getSuppression",
    params(
        ("channel" = Channel, Path, description = "Channel"),
        ("address" = String, Path, description = "Email address, E.164 phone number or push token", example = "ann@example.com"),
    ),
    responses(
        (status = 200, description = "The suppression", body = Suppression),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((ch, address)): Path<(String, String)>,
) -> ApiResult<Json<Suppression>> {
    Ok(Json(admin.get_suppression(channel(&ch)?, &address).await?))
}

/// Lifts the suppression of an address on a channel.
#[utoipa::path(
    delete,
    path = "/suppressions/{channel}/{address}",
    tag = "suppressions",
    operation_id = "deleteSuppression",
    params(
        ("channel" = Channel, Path, description = "Channel"),
        ("address" = String, Path, description = "Email address, E.164 phone number or push token", example = "ann@example.com"),
    ),
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn delete<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((ch, address)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    admin.unsuppress(channel(&ch)?, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
