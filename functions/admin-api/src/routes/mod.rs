//! Route table and handlers, one module per resource.

use axum::Router;
use axum::routing::{get, post, put};
use herald_core::ports::{Clock, ExecutionStores, Store};

use crate::Admin;

pub(crate) mod audiences;
pub(crate) mod campaigns;
mod managed;
pub(crate) mod profiles;
pub(crate) mod suppressions;
pub(crate) mod webhooks;

/// Largest body of the bulk calls (an NDJSON import of 10,000 lines, 10,000 audience members by
/// identity): under Lambda's 6 MB synchronous payload limit, so a call that works on
/// `herald serve` also works deployed. Every other route keeps the 256 KiB default (`herald_core::http::layers::DEFAULT_BODY_LIMIT`).
pub const BULK_BODY_LIMIT: usize = 5 * 1024 * 1024;

pub fn router<S: Store + ExecutionStores, C: Clock>(admin: Admin<S, C>) -> Router {
    use herald_core::domain::{ChannelConfig, RuleSet};
    Router::new()
        .route("/openapi.json", get(crate::openapi::serve))
        .route(
            "/campaigns",
            get(campaigns::list::<S, C>).post(campaigns::create::<S, C>),
        )
        .route(
            "/campaigns/{id}",
            get(campaigns::get::<S, C>)
                .put(campaigns::update::<S, C>)
                .delete(campaigns::delete::<S, C>),
        )
        .route(
            "/campaigns/{id}/versions/{version}",
            get(campaigns::get_version::<S, C>),
        )
        .route("/campaigns/{id}/draft", post(campaigns::open_draft::<S, C>))
        .route(
            "/campaigns/{id}/review",
            get(campaigns::review::<S, C>).post(campaigns::review::<S, C>),
        )
        .route(
            "/campaigns/{id}/activate",
            post(campaigns::activate::<S, C>),
        )
        .route("/campaigns/{id}/stop", post(campaigns::stop::<S, C>))
        .route("/campaigns/{id}/archive", post(campaigns::archive::<S, C>))
        .route(
            "/campaigns/{id}/duplicate",
            post(campaigns::duplicate::<S, C>),
        )
        .route("/campaigns/{id}/preview", post(campaigns::preview::<S, C>))
        .route("/campaigns/{id}/report", get(campaigns::report::<S, C>))
        .route(
            "/channel-configs",
            get(managed::list::<ChannelConfig, S, C>).post(managed::create::<ChannelConfig, S, C>),
        )
        .route(
            "/channel-configs/{id}",
            get(managed::get::<ChannelConfig, S, C>)
                .put(managed::replace::<ChannelConfig, S, C>)
                .delete(managed::delete::<ChannelConfig, S, C>),
        )
        .route(
            "/rule-sets",
            get(managed::list::<RuleSet, S, C>).post(managed::create::<RuleSet, S, C>),
        )
        .route(
            "/rule-sets/{id}",
            get(managed::get::<RuleSet, S, C>)
                .put(managed::replace::<RuleSet, S, C>)
                .delete(managed::delete::<RuleSet, S, C>),
        )
        .route(
            "/audiences",
            get(audiences::list::<S, C>).post(audiences::create::<S, C>),
        )
        .route(
            "/audiences/{id}",
            get(audiences::get::<S, C>)
                .put(audiences::replace::<S, C>)
                .delete(audiences::delete::<S, C>),
        )
        .route(
            "/audiences/{id}/members",
            get(audiences::list_members::<S, C>)
                .post(audiences::add_members::<S, C>)
                .layer(axum::extract::DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route(
            "/audiences/{id}/members/remove",
            post(audiences::remove_members::<S, C>)
                .layer(axum::extract::DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route(
            "/profiles/import",
            post(profiles::import::<S, C>)
                .layer(axum::extract::DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route(
            "/profiles/{id}",
            get(profiles::get::<S, C>).delete(profiles::erase::<S, C>),
        )
        .route(
            "/profiles/{namespace}/{value}",
            put(profiles::upsert::<S, C>).get(profiles::find::<S, C>),
        )
        .route(
            "/suppressions",
            get(suppressions::list::<S, C>).post(suppressions::create::<S, C>),
        )
        .route(
            "/suppressions/{channel}/{address}",
            get(suppressions::get::<S, C>).delete(suppressions::delete::<S, C>),
        )
        .route(
            "/webhooks/feedback",
            get(webhooks::get::<S, C>)
                .put(webhooks::put::<S, C>)
                .delete(webhooks::delete::<S, C>),
        )
        .with_state(admin)
}

/// Parses an id from a path segment, as a 404 naming the kind when it is not an id.
pub(crate) fn parse_id<T: std::str::FromStr>(
    kind: &'static str,
    text: &str,
) -> Result<T, herald_core::http::ApiError> {
    text.parse().map_err(|_| {
        herald_core::service::ServiceError::not_found(kind, format!("{text:?} (not a valid id)"))
            .into()
    })
}

/// A JSON response with an `ETag` carrying the revision.
pub(crate) fn with_etag<T: serde::Serialize>(
    status: axum::http::StatusCode,
    revision: u64,
    body: T,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::ETAG,
        herald_core::http::extract::etag(revision),
    );
    resp
}
