//! Lambda entry point of the trigger API: wiring only.

use std::sync::Arc;

use herald_core::adapters::aws_delivery::AwsDelivery;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::sqs_queue::SqsQueue;
use herald_core::ports::SystemClock;
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    herald_core::logging::init_lambda();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::from_env().await?;
    let queue = SqsQueue::from_conf(&aws)?;
    let domain = std::env::var("HERALD_MAIL_DOMAIN").unwrap_or_else(|_| "herald.invalid".into());
    let delivery = AwsDelivery::from_conf(&aws, domain);
    let templates = Arc::new(TemplateCache::new(256));
    let config = TriggerConfig::from_env()?;
    let trigger = TriggerService::new(store, delivery, queue, SystemClock, templates, config);
    lambda_http::run(herald_trigger_api::router(Arc::new(trigger))).await
}
