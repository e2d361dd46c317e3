//! `/campaigns` handlers.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use herald_core::domain::{CampaignId, CampaignSpec, ReviewReport};
use herald_core::http::extract::JsonOrEmpty;
use herald_core::http::{ApiResult, IfMatch, JsonBody, Paging};
use herald_core::ports::{Clock, Page, Store};
use herald_core::service::{CampaignView, PreviewRequest, PreviewResponse};
use serde::Deserialize;

use super::{parse_id, with_etag};
use crate::Admin;

fn id(text: &str) -> ApiResult<CampaignId> {
    parse_id("campaign", text)
}

fn view(status: StatusCode, v: CampaignView) -> Response {
    with_etag(status, v.campaign.revision, v)
}

/// Lists campaigns, one page at a time.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    operation_id = "listCampaigns",
    params(crate::openapi::PageParams),
    responses(
        (status = 200, description = "One page of campaigns", body = Page<herald_core::domain::Campaign>),
        (status = 400, response = crate::openapi::BadRequest),
    )
)]
pub async fn list<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<herald_core::domain::Campaign>>> {
    Ok(Json(admin.list_campaigns(&page).await?))
}

/// Creates a draft campaign (version 1).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    operation_id = "createCampaign",
    request_body = CampaignSpec,
    responses(
        (status = 201, description = "Created: the campaign with its draft version", body = CampaignView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn create<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::CREATED,
        admin.create_campaign(spec).await?,
    ))
}

/// Reads a campaign with its live and draft versions.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    operation_id = "getCampaign",
    params(("id" = herald_core::domain::CampaignId, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign with its live and draft versions", body = CampaignView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.get_campaign(id(&cid)?).await?))
}

/// Edits a campaign.
///
/// Replaces the draft version's definition; a live or scheduled campaign gets a new draft
/// version (its live version is never edited in place).
#[utoipa::path(
    put,
    path = "/campaigns/{id}",
    tag = "campaigns",
    operation_id = "updateCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`); without it the last write wins"),
    ),
    request_body = CampaignSpec,
    responses(
        (status = 200, description = "Updated", body = CampaignView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn update<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.update_campaign(id(&cid)?, spec, expected).await?,
    ))
}

/// Deletes a draft campaign and its versions (only drafts are deleted).
#[utoipa::path(
    delete,
    path = "/campaigns/{id}",
    tag = "campaigns",
    operation_id = "deleteCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn delete<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    admin.delete_campaign(id(&cid)?, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads one stored version of a campaign's definition.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/versions/{version}",
    tag = "campaigns",
    operation_id = "getCampaignVersion",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("version" = u32, Path, description = "Version number, from 1"),
    ),
    responses(
        (status = 200, description = "The version", body = herald_core::domain::CampaignVersion),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get_version<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((cid, version)): Path<(String, String)>,
) -> ApiResult<Json<herald_core::domain::CampaignVersion>> {
    let n: u32 = version.parse().map_err(|_| {
        herald_core::service::ServiceError::not_found(
            "campaign version",
            format!("{version:?} (not a version number)"),
        )
    })?;
    Ok(Json(admin.get_campaign_version(id(&cid)?, n).await?))
}

/// Opens a draft version of a live or scheduled campaign, as a copy of the live version.
///
/// Does nothing when a draft version is open already.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/draft",
    tag = "campaigns",
    operation_id = "openCampaignDraft",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
    ),
    responses(
        (status = 200, description = "The campaign with its draft version", body = CampaignView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn open_draft<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.open_draft(id(&cid)?, expected).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The version to review (default: the draft version, else the live one).
    version: Option<u32>,
}

/// Reviews a campaign version.
///
/// Reports errors (which block activation) and warnings. Default version: the draft, else the
/// live one.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/review",
    tag = "campaigns",
    operation_id = "reviewCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The review report", body = ReviewReport),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn review<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ReviewReport>> {
    let Query(q) = query.map_err(|e| {
        herald_core::http::ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.body_text())
    })?;
    Ok(Json(admin.review_campaign(id(&cid)?, q.version).await?))
}

/// Activates the draft version when its review passes.
///
/// The campaign becomes `scheduled` (start in the future) or `live`; the draft version replaces
/// the live one atomically. When the review finds errors nothing changes and the `422` problem
/// carries the report.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/activate",
    tag = "campaigns",
    operation_id = "activateCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
    ),
    responses(
        (status = 200, description = "Activated", body = CampaignView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, response = crate::openapi::Unprocessable),
    )
)]
pub async fn activate<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.activate_campaign(id(&cid)?, expected).await?,
    ))
}

/// Stops a scheduled or live campaign (final).
#[utoipa::path(
    post,
    path = "/campaigns/{id}/stop",
    tag = "campaigns",
    operation_id = "stopCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
    ),
    responses(
        (status = 200, description = "Stopped", body = CampaignView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn stop<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.stop_campaign(id(&cid)?, expected).await?,
    ))
}

/// Archives a stopped or completed campaign.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/archive",
    tag = "campaigns",
    operation_id = "archiveCampaign",
    params(
        ("id" = herald_core::domain::CampaignId, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`)"),
    ),
    responses(
        (status = 200, description = "Archived", body = CampaignView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn archive<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.archive_campaign(id(&cid)?, expected).await?,
    ))
}

/// Copies the campaign's newest version into a new draft campaign.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/duplicate",
    tag = "campaigns",
    operation_id = "duplicateCampaign",
    params(("id" = herald_core::domain::CampaignId, Path, description = "Campaign id")),
    responses(
        (status = 201, description = "The new draft campaign", body = CampaignView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn duplicate<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::CREATED,
        admin.duplicate_campaign(id(&cid)?).await?,
    ))
}

/// Renders a campaign version for a sample or stored profile and a sample context.
///
/// The body may be empty: the draft version (else the live one) is rendered with empty
/// profile and context.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/preview",
    tag = "campaigns",
    operation_id = "previewCampaign",
    params(("id" = herald_core::domain::CampaignId, Path, description = "Campaign id")),
    request_body = Option<PreviewRequest>,
    responses(
        (status = 200, description = "The rendered message", body = PreviewResponse),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 422, response = crate::openapi::Unprocessable),
    )
)]
pub async fn preview<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    JsonOrEmpty(req): JsonOrEmpty<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    Ok(Json(admin.preview_campaign(id(&cid)?, req).await?))
}

/// Message counts by outcome (exclusions by reason) for every activated version and in total.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/report",
    tag = "campaigns",
    operation_id = "getCampaignReport",
    params(("id" = herald_core::domain::CampaignId, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign's report", body = herald_core::service::CampaignReport),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn report<S: Store + herald_core::ports::ExecutionStores, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
) -> ApiResult<Json<herald_core::service::CampaignReport>> {
    Ok(Json(admin.campaign_report(id(&cid)?).await?))
}
