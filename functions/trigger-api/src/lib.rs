//! # herald-trigger-api
//!
//! The execution API (`/im/executions/*`, wire-compatible with Adobe Journey Optimizer's
//! Interactive Message Execution API) as an axum [`Router`]. At this stage it serves the health
//! route; executions arrive with the trigger pipeline.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

/// The trigger routes, without authentication and fallbacks (the host adds them).
pub fn routes() -> Router {
    Router::new().route("/im/health", get(health))
}

/// The trigger API as deployed on its own (the Lambda function): routes plus fallbacks.
pub fn router() -> Router {
    herald_core::http::layers::finish(routes())
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "herald", "version": env!("CARGO_PKG_VERSION") }))
}
