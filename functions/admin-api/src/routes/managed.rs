//! Handlers shared by channel configurations and rule sets (see `service::Managed`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use herald_core::http::{ApiResult, IfMatch, JsonBody, Paging};
use herald_core::ports::{Clock, Page, Store};
use herald_core::service::Managed;

use super::{parse_id, with_etag};
use crate::Admin;

pub async fn list<T: Managed, S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<T>>> {
    Ok(Json(admin.list_managed::<T>(&page).await?))
}

pub async fn create<T: Managed, S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    JsonBody(spec): JsonBody<T::Spec>,
) -> ApiResult<Response> {
    let record: T = admin.create_managed(spec).await?;
    Ok(with_etag(StatusCode::CREATED, record.revision(), record))
}

pub async fn get<T: Managed, S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let record: T = admin.get_managed(parse_id(T::NAME, &id)?).await?;
    Ok(with_etag(StatusCode::OK, record.revision(), record))
}

pub async fn replace<T: Managed, S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    JsonBody(spec): JsonBody<T::Spec>,
) -> ApiResult<Response> {
    let record: T = admin
        .replace_managed(parse_id(T::NAME, &id)?, spec, expected)
        .await?;
    Ok(with_etag(StatusCode::OK, record.revision(), record))
}

pub async fn delete<T: Managed, S: Store, C: Clock>(
    State(admin): State<Admin<S, C>>,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    admin
        .delete_managed::<T>(parse_id(T::NAME, &id)?, expected)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
