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

pub async fn get<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Path(pid): Path<String>) -> ApiResult<Response> {
    let p = admin.get_profile(id(&pid)?).await?;
    Ok(with_etag(StatusCode::OK, p.revision, p))
}

pub async fn find<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((namespace, value)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = admin.find_profile(&namespace, &value).await?;
    Ok(with_etag(StatusCode::OK, p.revision, p))
}

/// Creates (201) or updates (200) the profile holding the identity in the path.
pub async fn upsert<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path((namespace, value)): Path<(String, String)>,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> ApiResult<Response> {
    let key = Identity::parse(&namespace, &value)?;
    let (p, created) = admin.upsert_profile(&key, &update).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(with_etag(status, p.revision, p))
}

pub async fn erase<S: Store, C: Clock>(State(admin): State<Admin<S, C>>, Path(pid): Path<String>) -> ApiResult<StatusCode> {
    admin.erase_profile(id(&pid)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// NDJSON import: one profile per line; the report accounts for every line.
pub async fn import<S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    TextBody(body): TextBody,
) -> ApiResult<Json<ImportReport>> {
    Ok(Json(admin.import_profiles(&body).await?))
}
