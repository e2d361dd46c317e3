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
//! Once an hour (the event scheduled at minute 0) it also copies SNS's list of opted-out phone
//! numbers into the suppression list ([`TriggerService::sync_sms_opt_outs`]): SNS publishes no
//! event when someone replies STOP. A failed sync is logged at error level and reported in the
//! invocation's response but does not fail the tick (the next hour retries; the tick's own work
//! is not redone for it).
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
use herald_core::ports::sms_opt_out::SmsOptOutSource;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store};
use herald_core::service::trigger::feedback::OptOutSync;
pub use herald_core::service::trigger::scheduler::TickReport;
use herald_core::service::trigger::{TriggerError, TriggerService};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;

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

/// What one invocation did: its JSON response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerReport {
    #[serde(flatten)]
    pub tick: TickReport,
    /// The hourly SMS opt-out sync, when this tick ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_opt_outs: Option<OptOutStep>,
}

/// How the hourly SMS opt-out sync went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum OptOutStep {
    Synced {
        #[serde(flatten)]
        report: OptOutSync,
    },
    Failed {
        error: String,
    },
}

/// Whether the tick scheduled for `unix_second` runs the hourly SMS opt-out sync: the one in
/// minute 0 of an hour. An event without a time (EventBridge always sends one) skips it.
pub fn syncs_opt_outs(unix_second: Option<i64>) -> bool {
    unix_second.is_some_and(|s| s.rem_euclid(3600) < 60)
}

/// Runs one tick for one scheduled event (and, at minute 0, the SMS opt-out sync), logs what
/// it did and returns it (the invocation's JSON response).
pub async fn handle<S, D, Q, C>(
    trigger: &TriggerService<S, D, Q, C>,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<SchedulerReport, TickError>
where
    S: Store + ExecutionStores,
    D: Delivery + SmsOptOutSource,
    Q: Queue,
    C: Clock,
{
    let event_id = event.payload.id.unwrap_or_default();
    let time = event.payload.time;
    let scheduled_for = time.map(|t| t.to_rfc3339()).unwrap_or_default();
    // Boxed: the tick's future is deep, and nested in the runtime's own futures its type
    // overflows the compiler's query depth limit when laid out inline.
    let tick = match Box::pin(trigger.tick()).await {
        Ok(report) => {
            tracing::info!(
                event = %event_id,
                scheduled_for = %scheduled_for,
                campaigns_advanced = report.campaigns_advanced,
                schedules_fired = report.schedules_fired,
                messages_released = report.messages_released,
                "scheduler tick done"
            );
            report
        }
        Err(e) => {
            tracing::error!(
                event = %event_id,
                scheduled_for = %scheduled_for,
                code = e.code(),
                error = %error_chain(&e),
                "scheduler tick failed"
            );
            return Err(TickError(e));
        }
    };
    let sms_opt_outs = if syncs_opt_outs(time.map(|t| t.timestamp())) {
        Some(sync_opt_outs(trigger, &event_id).await)
    } else {
        None
    };
    Ok(SchedulerReport { tick, sms_opt_outs })
}

async fn sync_opt_outs<S, D, Q, C>(
    trigger: &TriggerService<S, D, Q, C>,
    event_id: &str,
) -> OptOutStep
where
    S: Store + ExecutionStores,
    D: Delivery + SmsOptOutSource,
    Q: Queue,
    C: Clock,
{
    match trigger.sync_sms_opt_outs(trigger.delivery()).await {
        Ok(report) => {
            tracing::info!(
                event = %event_id,
                pages = report.pages,
                numbers = report.numbers,
                added = report.added,
                invalid = report.invalid,
                "SMS opt-out sync done"
            );
            OptOutStep::Synced { report }
        }
        Err(e) => {
            let error = error_chain(&e);
            tracing::error!(event = %event_id, error = %error, "SMS opt-out sync failed; the next hour retries");
            OptOutStep::Failed { error }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(rfc3339: &str) -> Option<i64> {
        Some(rfc3339.parse::<jiff::Timestamp>().unwrap().as_second())
    }

    #[test]
    fn only_the_tick_in_minute_zero_syncs_opt_outs() {
        assert!(syncs_opt_outs(second("2026-03-02T12:00:00Z")));
        assert!(syncs_opt_outs(second("2026-03-02T12:00:59Z")));
        assert!(!syncs_opt_outs(second("2026-03-02T12:01:00Z")));
        assert!(!syncs_opt_outs(second("2026-03-02T11:59:59Z")));
        assert!(!syncs_opt_outs(None));
    }

    #[test]
    fn the_report_carries_the_sync_only_when_it_ran() {
        let plain = SchedulerReport::default();
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"campaignsAdvanced": 0, "schedulesFired": 0, "messagesReleased": 0})
        );
        let failed = SchedulerReport {
            sms_opt_outs: Some(OptOutStep::Failed {
                error: "throttled".into(),
            }),
            ..plain
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap()["smsOptOuts"],
            serde_json::json!({"status": "failed", "error": "throttled"})
        );
    }
}
