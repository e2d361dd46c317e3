//! `/campaigns` handlers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
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

pub async fn list<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<herald_core::domain::Campaign>>> {
    Ok(Json(admin.list_campaigns(&page).await?))
}

pub async fn create<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::CREATED, admin.create_campaign(spec).await?))
}

pub async fn get<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Path(cid): Path<String>) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.get_campaign(id(&cid)?).await?))
}

pub async fn update<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<CampaignSpec>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.update_campaign(id(&cid)?, spec, expected).await?))
}

pub async fn delete<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    admin.delete_campaign(id(&cid)?, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_version<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((cid, version)): Path<(String, String)>,
) -> ApiResult<Json<herald_core::domain::CampaignVersion>> {
    let n: u32 = version.parse().map_err(|_| {
        herald_core::service::ServiceError::not_found("campaign version", format!("{version:?} (not a version number)"))
    })?;
    Ok(Json(admin.get_campaign_version(id(&cid)?, n).await?))
}

pub async fn open_draft<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.open_draft(id(&cid)?, expected).await?))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<u32>,
}

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

pub async fn activate<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.activate_campaign(id(&cid)?, expected).await?))
}

pub async fn stop<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.stop_campaign(id(&cid)?, expected).await?))
}

pub async fn archive<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.archive_campaign(id(&cid)?, expected).await?))
}

pub async fn duplicate<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Path(cid): Path<String>) -> ApiResult<Response> {
    Ok(view(StatusCode::CREATED, admin.duplicate_campaign(id(&cid)?).await?))
}

pub async fn preview<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(cid): Path<String>,
    JsonOrEmpty(req): JsonOrEmpty<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    Ok(Json(admin.preview_campaign(id(&cid)?, req).await?))
}
