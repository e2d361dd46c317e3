//! Lambda entry point of the scheduler: wiring only. Clients are built once per cold start.

use std::sync::Arc;

use herald_scheduler::ScheduledEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_core::logging::init_lambda();
    let trigger = Arc::new(herald_core::adapters::deployed::trigger_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let trigger = Arc::clone(&trigger);
        async move { herald_scheduler::handle(&trigger, event).await }
    }))
    .await
}
