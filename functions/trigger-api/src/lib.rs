//! # herald-trigger-api
//!
//! The execution API as an axum [`Router`], wire-compatible with Adobe Journey Optimizer's
//! Interactive Message Execution API: `POST /im/executions/unitary`, `POST
//! /im/executions/highthroughput`, `POST /im/executions/audience`, `GET
//! /im/executions/audience/{executionId}`, `GET|DELETE /im/executions/schedules/{scheduleId}`, plus
//! Herald's
//! `GET /im/executions/{executionId}/messages` and `GET /im/health`.
//!
//! One router, two hosts: the Lambda `main.rs` hands it to `lambda_http::run`; `herald serve`
//! mounts it beside the admin API.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store};
use herald_core::service::trigger::TriggerService;

mod executions;
mod openapi;
mod unsubscribe;

pub use openapi::TriggerDoc;

/// The state every handler gets.
pub type Trigger<S, D, Q, C> = Arc<TriggerService<S, D, Q, C>>;

/// The trigger routes, without authentication and fallbacks (the host adds them).
pub fn routes<S, D, Q, C>(trigger: Trigger<S, D, Q, C>) -> Router
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    Router::new()
        .route("/im/health", get(executions::health))
        .route(
            "/u/{token}",
            get(unsubscribe::confirm::<S, D, Q, C>).post(unsubscribe::one_click::<S, D, Q, C>),
        )
        .route(
            "/im/executions/unitary",
            post(executions::unitary::<S, D, Q, C>),
        )
        .route(
            "/im/executions/highthroughput",
            post(executions::high_throughput::<S, D, Q, C>),
        )
        .route(
            "/im/executions/audience",
            post(executions::audience::<S, D, Q, C>),
        )
        .route(
            "/im/executions/audience/{execution_id}",
            get(executions::status::<S, D, Q, C>),
        )
        .route(
            "/im/executions/schedules/{schedule_id}",
            get(executions::schedule::<S, D, Q, C>)
                .delete(executions::cancel_schedule::<S, D, Q, C>),
        )
        .route(
            "/im/executions/{execution_id}/messages",
            get(executions::messages::<S, D, Q, C>),
        )
        .with_state(trigger)
}

/// The trigger API as deployed on its own (the Lambda function): routes plus fallbacks.
pub fn router<S, D, Q, C>(trigger: Trigger<S, D, Q, C>) -> Router
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    herald_core::http::layers::finish(routes(trigger))
}
