//! # herald-scheduler
//!
//! The Lambda function EventBridge invokes every minute (`rate(1 minute)`). Each invocation is
//! one scheduler tick, [`TriggerService::tick`], the very function `herald serve`'s local tick
//! calls:
//!
//! - campaigns move into (`scheduled` → `live`) and out of (`live` → `completed`) their schedule
//!   window;
//! - due scheduled audience executions fire: the execution is created and its first planning
//!   step goes on the dispatch queue for the `dispatcher` function;
//! - held messages whose quiet hours or throttling back-off ended are released and sent.
//!
//! Every step is a conditional write, so the same event delivered twice (EventBridge delivers at
//! least once) or two overlapping ticks do each thing once. A failed tick is an invocation
//! error: it shows in the function's `Errors` metric (alarmed), and the next minute's tick picks
//! up whatever was left.
//!
//! `main.rs` is wiring only. [`handle`] is the handler, generic over the service's ports, so
//! tests drive it with the real "Scheduled Event" JSON on DynamoDB Local and moto.

pub use aws_lambda_events::eventbridge::EventBridgeEvent;
use herald_core::logging::error_chain;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store};
pub use herald_core::service::trigger::scheduler::TickReport;
use herald_core::service::trigger::{TriggerError, TriggerService};
use lambda_runtime::{Diagnostic, LambdaEvent};

/// EventBridge's "Scheduled Event" (`source` `aws.events`, `detail` `{}`).
pub type ScheduledEvent = EventBridgeEvent<serde_json::Value>;

/// A tick that did not complete; the Runtime API receives it as the invocation's error.
#[derive(Debug, thiserror::Error)]
#[error("the scheduler tick failed")]
pub struct TickError(#[source] pub TriggerError);

impl From<TickError> for Diagnostic {
    fn from(e: TickError) -> Self {
        Diagnostic {
            error_type: format!("Herald.Scheduler.{}", e.0.code()),
            error_message: error_chain(&e),
        }
    }
}

/// Runs one tick for one scheduled event, logs what it did and returns it (the invocation's
/// JSON response).
pub async fn handle<S, D, Q, C>(
    trigger: &TriggerService<S, D, Q, C>,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<TickReport, TickError>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    let event_id = event.payload.id.unwrap_or_default();
    let scheduled_for = event
        .payload
        .time
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    // Boxed: the tick's future is deep, and nested in the runtime's own futures its type
    // overflows the compiler's query depth limit when laid out inline.
    match Box::pin(trigger.tick()).await {
        Ok(report) => {
            tracing::info!(
                event = %event_id,
                scheduled_for = %scheduled_for,
                campaigns_advanced = report.campaigns_advanced,
                schedules_fired = report.schedules_fired,
                messages_released = report.messages_released,
                "scheduler tick done"
            );
            Ok(report)
        }
        Err(e) => {
            tracing::error!(
                event = %event_id,
                scheduled_for = %scheduled_for,
                code = e.code(),
                error = %error_chain(&e),
                "scheduler tick failed"
            );
            Err(TickError(e))
        }
    }
}
