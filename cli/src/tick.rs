//! The local scheduler tick of `herald serve`: releases held messages whose time has come, fires
//! due scheduled executions, deletes expired acceptance records and cap counters (SQLite has no
//! TTL), and hands the outbox's simulated SES events (when delivering to the outbox) to the
//! feedback path.

use std::sync::Arc;
use std::time::Duration;

use herald_core::adapters::outbox::Outbox;
use herald_core::adapters::outbox::{FeedbackKind as SimKind, SimulatedFeedback};
use herald_core::http::problem::error_chain;
use herald_core::ports::{Delivery, ExecutionStores, Queue, Store, SystemClock};
use herald_core::service::trigger::TriggerService;
use herald_core::service::trigger::feedback::{FeedbackEvent, FeedbackKind};

pub async fn run<S, D, Q>(
    trigger: Arc<TriggerService<S, D, Q, SystemClock>>,
    outbox: Option<Outbox>,
    every: Duration,
) where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
{
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        once(&trigger, outbox.as_ref()).await;
    }
}

/// One tick; failures are logged and retried on the next tick.
pub async fn once<S, D, Q>(trigger: &TriggerService<S, D, Q, SystemClock>, outbox: Option<&Outbox>)
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
{
    for event in outbox.map(Outbox::take_feedback).unwrap_or_default() {
        if let Err(e) = trigger.record_feedback(&to_event(&event)).await {
            tracing::warn!(error = %error_chain(&e), "could not record simulated feedback");
        }
    }
    match trigger.tick().await {
        Ok(report) if report != Default::default() => tracing::debug!(?report, "tick"),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "the scheduler tick failed; retrying next tick")
        }
    }
}

fn to_event(f: &SimulatedFeedback) -> FeedbackEvent {
    FeedbackEvent {
        provider_message_id: f.provider_message_id.clone(),
        kind: match f.kind {
            SimKind::Delivery => FeedbackKind::Delivery,
            SimKind::Bounce { permanent } => FeedbackKind::Bounce { permanent },
            SimKind::Complaint => FeedbackKind::Complaint,
        },
        address: f.address.clone(),
        occurred_at: f.occurred_at,
    }
}
