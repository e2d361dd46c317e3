//! Lambda entry point of the feedback function: wiring only. Clients are built once per cold
//! start.

use std::sync::Arc;

use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::sqs_queue::SqsQueue;
use herald_core::ports::SystemClock;
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_feedback::{Feedback, SnsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_core::logging::init_lambda();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::from_env().await?;
    // The transactional feedback webhook's events go on the dispatch queue.
    let queue = SqsQueue::from_conf(&aws)?;
    let domain = std::env::var("HERALD_MAIL_DOMAIN").unwrap_or_else(|_| "herald.invalid".into());
    // Sends nothing: its SNS client looks push endpoints up.
    let delivery = AwsDelivery::from_conf(&aws, domain);
    let trigger = Arc::new(TriggerService::new(
        store,
        delivery.clone(),
        queue,
        SystemClock,
        Arc::new(TemplateCache::new(1)),
        // Feedback renders nothing, so the unsubscribe secret is not needed.
        TriggerConfig::default(),
    ));
    let feedback = Arc::new(Feedback::new(trigger, delivery));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let feedback = Arc::clone(&feedback);
        async move { feedback.handle(event.payload).await }
    }))
    .await
}
