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

/// Lists audiences.
#[utoipa::path(
    get,
    path = "/audiences",
    tag = "audiences",
    operation_id = "listAudiences",
    params(crate::openapi::PageParams),
    responses(
        (status = 200, description = "One page of audiences", body = Page<Audience>),
        (status = 400, response = crate::openapi::BadRequest),
    )
)]
pub async fn list<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Audience>>> {
    Ok(Json(admin.list_managed::<Audience>(&page).await?))
}

/// Creates an audience: a static list, or a rule over profile attributes.
#[utoipa::path(
    post,
    path = "/audiences",
    tag = "audiences",
    operation_id = "createAudience",
    request_body = AudienceSpec,
    responses(
        (status = 201, description = "Created", body = AudienceView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn create<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(spec): JsonBody<AudienceSpec>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::CREATED,
        admin.create_audience(spec).await?,
    ))
}

/// Reads an audience with its member count.
///
/// A rule audience counts the profiles matching the rule now.
#[utoipa::path(
    get,
    path = "/audiences/{id}",
    tag = "audiences",
    operation_id = "getAudience",
    params(("id" = herald_core::domain::AudienceId, Path, description = "Audience id")),
    responses(
        (status = 200, description = "The audience", body = AudienceView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
) -> ApiResult<Response> {
    Ok(view(StatusCode::OK, admin.get_audience(id(&aid)?).await?))
}

/// Replaces an audience's definition.
///
/// A static audience with members cannot become a rule audience (remove its members first).
#[utoipa::path(
    put,
    path = "/audiences/{id}",
    tag = "audiences",
    operation_id = "replaceAudience",
    params(
        ("id" = herald_core::domain::AudienceId, Path, description = "Audience id"),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"", description = "The revision from `ETag` (`\"3\"`); without it the last write wins"),
    ),
    request_body = AudienceSpec,
    responses(
        (status = 200, description = "Replaced", body = AudienceView, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn replace<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<AudienceSpec>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.replace_audience(id(&aid)?, spec, expected).await?,
    ))
}

/// Deletes an audience and its membership list.
#[utoipa::path(
    delete,
    path = "/audiences/{id}",
    tag = "audiences",
    operation_id = "deleteAudience",
    params(
        ("id" = herald_core::domain::AudienceId, Path, description = "Audience id"),
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
    Path(aid): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    admin.delete_audience(id(&aid)?, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a static audience's members (profile ids), one page at a time.
///
/// A rule audience has no member list (`409 audience-not-static`).
#[utoipa::path(
    get,
    path = "/audiences/{id}/members",
    tag = "audiences",
    operation_id = "listAudienceMembers",
    params(
        ("id" = herald_core::domain::AudienceId, Path, description = "Audience id"),
        crate::openapi::PageParams,
    ),
    responses(
        (status = 200, description = "One page of member profile ids", body = Page<ProfileId>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
pub async fn list_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<ProfileId>>> {
    Ok(Json(admin.list_audience_members(id(&aid)?, &page).await?))
}

/// Adds members to a static audience, by profile id or identity.
///
/// Every profile must exist; at most 10 000 members per call.
#[utoipa::path(
    post,
    path = "/audiences/{id}/members",
    tag = "audiences",
    operation_id = "addAudienceMembers",
    params(("id" = herald_core::domain::AudienceId, Path, description = "Audience id")),
    request_body = MembersRequest,
    responses(
        (status = 200, description = "The audience with its new member count", body = AudienceView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn add_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    JsonBody(req): JsonBody<MembersRequest>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.add_audience_members(id(&aid)?, &req).await?,
    ))
}

/// Removes members from a static audience, by profile id or identity.
///
/// Profiles that are not members (or do not exist) are ignored.
#[utoipa::path(
    post,
    path = "/audiences/{id}/members/remove",
    tag = "audiences",
    operation_id = "removeAudienceMembers",
    params(("id" = herald_core::domain::AudienceId, Path, description = "Audience id")),
    request_body = MembersRequest,
    responses(
        (status = 200, description = "The audience with its new member count", body = AudienceView, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn remove_members<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(aid): Path<String>,
    JsonBody(req): JsonBody<MembersRequest>,
) -> ApiResult<Response> {
    Ok(view(
        StatusCode::OK,
        admin.remove_audience_members(id(&aid)?, &req).await?,
    ))
}
