//! Lambda entry point of the feedback function: wiring only. Clients are built once per cold
//! start.

use std::sync::Arc;

use herald_feedback::{Feedback, SnsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_core::logging::init_lambda();
    let trigger = herald_core::adapters::deployed::trigger_from_env().await?;
    // The delivery's SNS client looks push endpoints up; the webhook events go on the queue.
    let delivery = trigger.delivery().clone();
    let feedback = Arc::new(Feedback::new(Arc::new(trigger), delivery));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let feedback = Arc::clone(&feedback);
        async move { feedback.handle(event.payload).await }
    }))
    .await
}
