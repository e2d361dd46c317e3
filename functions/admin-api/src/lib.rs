//! # herald-admin-api
//!
//! The admin API as an axum [`Router`]: campaigns (CRUD, draft versions, review, activate, stop,
//! archive, duplicate, preview), channel configurations, rule sets, audiences and their
//! members, profiles (upsert by identity, NDJSON import, erase) and suppressions, plus the
//! OpenAPI document at `/openapi.json`.
//!
//! One router, two hosts: the Lambda `main.rs` hands it to `lambda_http::run`; `herald serve`
//! mounts it on a TCP listener beside the trigger API.

use std::sync::Arc;

use axum::Router;
use herald_core::ports::{Clock, ExecutionStores, Store};
use herald_core::service::AdminService;

mod openapi;
mod routes;

pub use openapi::ApiDoc;

/// The state every handler gets.
pub type Admin<S, C> = Arc<AdminService<S, C>>;

/// The admin routes, without authentication (the host adds it) and without the shared
/// fallbacks (see [`herald_core::http::layers::finish`]).
pub fn routes<S: Store + ExecutionStores, C: Clock>(admin: Admin<S, C>) -> Router {
    routes::router(admin)
}

/// The admin API as deployed on its own (the Lambda function): routes plus fallbacks.
pub fn router<S: Store + ExecutionStores, C: Clock>(admin: Admin<S, C>) -> Router {
    herald_core::http::layers::finish(routes(admin))
}
