//! # herald-trigger-api
//!
//! The execution API as an axum [`Router`], wire-compatible with Adobe Journey Optimizer's
//! Interactive Message Execution API: `POST /im/executions/unitary`, `POST
//! /im/executions/highthroughput`, `GET /im/executions/audience/{executionId}`, plus Herald's
//! `GET /im/executions/{executionId}/messages` and `GET /im/health`.
//!
//! One router, two hosts: the Lambda `main.rs` hands it to `lambda_http::run`; `herald serve`
//! mounts it beside the admin API.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use herald_core::ports::{Clock, Delivery, ExecutionStores, Store};
use herald_core::service::trigger::TriggerService;

mod executions;

/// The state every handler gets.
pub type Trigger<S, D, C> = Arc<TriggerService<S, D, C>>;

/// The trigger routes, without authentication and fallbacks (the host adds them).
pub fn routes<S, D, C>(trigger: Trigger<S, D, C>) -> Router
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    Router::new()
        .route("/im/health", get(executions::health))
        .route(
            "/im/executions/unitary",
            post(executions::unitary::<S, D, C>),
        )
        .route(
            "/im/executions/highthroughput",
            post(executions::high_throughput::<S, D, C>),
        )
        .route(
            "/im/executions/audience/{execution_id}",
            get(executions::status::<S, D, C>),
        )
        .route(
            "/im/executions/{execution_id}/messages",
            get(executions::messages::<S, D, C>),
        )
        .with_state(trigger)
}

/// The trigger API as deployed on its own (the Lambda function): routes plus fallbacks.
pub fn router<S, D, C>(trigger: Trigger<S, D, C>) -> Router
where
    S: Store + ExecutionStores,
    D: Delivery,
    C: Clock,
{
    herald_core::http::layers::finish(routes(trigger))
}
