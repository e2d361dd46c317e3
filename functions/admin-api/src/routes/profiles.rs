//! `/profiles` handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use herald_core::domain::{Identity, ProfileId, ProfileUpdate};
use herald_core::http::extract::TextBody;
use herald_core::http::{ApiResult, JsonBody};
use herald_core::ports::{Clock, Store};
use herald_core::service::ImportReport;

use super::{parse_id, with_etag};
use crate::Admin;

fn id(text: &str) -> ApiResult<ProfileId> {
    parse_id("profile", text)
}

/// Reads a profile by id.
#[utoipa::path(
    get,
    path = "/profiles/{id}",
    tag = "profiles",
    operation_id = "getProfile",
    params(("id" = ProfileId, Path, description = "Profile id")),
    responses(
        (status = 200, description = "The profile", body = herald_core::domain::Profile, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn get<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(pid): Path<String>,
) -> ApiResult<Response> {
    let p = admin.get_profile(id(&pid)?).await?;
    Ok(with_etag(StatusCode::OK, p.revision, p))
}

/// Finds the profile holding an identity.
#[utoipa::path(
    get,
    path = "/profiles/{namespace}/{value}",
    tag = "profiles",
    operation_id = "findProfile",
    params(
        ("namespace" = String, Path, description = "Identity namespace: `email`, `phone`, `ecid` or a custom one", example = "email"),
        ("value" = String, Path, description = "Identity value in that namespace (an email address, an E.164 number…)", example = "ann@example.com"),
    ),
    responses(
        (status = 200, description = "The profile", body = herald_core::domain::Profile, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn find<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((namespace, value)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = admin.find_profile(&namespace, &value).await?;
    Ok(with_etag(StatusCode::OK, p.revision, p))
}

/// Creates (201) or updates (200) the profile holding the identity in the path.
#[utoipa::path(
    put,
    path = "/profiles/{namespace}/{value}",
    tag = "profiles",
    operation_id = "upsertProfile",
    params(
        ("namespace" = String, Path, description = "Identity namespace: `email`, `phone`, `ecid` or a custom one", example = "email"),
        ("value" = String, Path, description = "Identity value in that namespace (an email address, an E.164 number…)", example = "ann@example.com"),
    ),
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "Updated", body = herald_core::domain::Profile, headers(("ETag" = String, description = "The new revision"))),
        (status = 201, description = "Created", body = herald_core::domain::Profile, headers(("ETag" = String, description = "The revision, for `If-Match`"))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn upsert<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((namespace, value)): Path<(String, String)>,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> ApiResult<Response> {
    let key = Identity::parse(&namespace, &value)?;
    let (p, created) = admin.upsert_profile(&key, &update).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, p.revision, p))
}

/// Erases a profile and its identities (suppressions stay: they protect the address).
#[utoipa::path(
    delete,
    path = "/profiles/{id}",
    tag = "profiles",
    operation_id = "eraseProfile",
    params(("id" = ProfileId, Path, description = "Profile id")),
    responses(
        (status = 204, description = "Erased"),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn erase<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(pid): Path<String>,
) -> ApiResult<StatusCode> {
    admin.erase_profile(id(&pid)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// NDJSON import: one profile per line; the report accounts for every line.
#[utoipa::path(
    post,
    path = "/profiles/import",
    tag = "profiles",
    operation_id = "importProfiles",
    request_body(content = String, content_type = "application/x-ndjson", description = "One JSON object per line: `{\"identities\": {\"email\": \"ann@example.com\"}, \"attributes\": {…}}` (a profile update keyed by its identities); at most 10 000 lines and 16 MiB", example = json!("{\"identities\":{\"email\":\"ann@example.com\"},\"attributes\":{\"firstName\":\"Ann\"}}\n{\"identities\":{\"phone\":\"+14155552671\"},\"locale\":\"fr\"}\n")),
    responses(
        (status = 200, description = "What happened to every line", body = ImportReport),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
pub async fn import<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    TextBody(body): TextBody,
) -> ApiResult<Json<ImportReport>> {
    Ok(Json(admin.import_profiles(&body).await?))
}
