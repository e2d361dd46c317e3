//! `/audiences` handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use herald_core::domain::{Audience, AudienceId, AudienceSpec, ProfileId};
use herald_core::http::{ApiResult, IfMatch, JsonBody, Paging};
use herald_core::ports::{Clock, Page, Store};
use herald_core::service::{AudienceView, MembersRequest};

use super::{parse_id, with_etag};
use crate::Admin;

fn id(text: &str) -> ApiResult<AudienceId> {
    parse_id("audience", text)
}

fn view(status: StatusCode, v: AudienceView) -> Response {
    with_etag(status, v.audience.revision, v)
}

pub async fn list<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Paging(page): Paging) -> ApiResult<Json<Page<Audience>>> {
    Ok(Json(admin.list_managed::<Audience>(&page).await?))
}

pub async fn create<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(spec): JsonBody<AudienceSpec>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::CREATED, admin.create_audience(spec).await?))
}

pub async fn get<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Path(aid): Path<String>) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.get_audience(id(&aid)?).await?))
}

pub async fn replace<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<AudienceSpec>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.replace_audience(id(&aid)?, spec, expected).await?))
}

pub async fn delete<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    admin.delete_audience(id(&aid)?, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<ProfileId>>> {
    Ok(Json(admin.list_audience_members(id(&aid)?, &page).await?))
}

pub async fn add_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    JsonBody(req): JsonBody<MembersRequest>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.add_audience_members(id(&aid)?, &req).await?))
}

pub async fn remove_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    JsonBody(req): JsonBody<MembersRequest>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.remove_audience_members(id(&aid)?, &req).await?))
}
