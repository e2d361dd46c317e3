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
    let secret = std::env::var("HERALD_UNSUBSCRIBE_SECRET")
        .map_err(|_| "HERALD_UNSUBSCRIBE_SECRET is not set")?;
    let config = TriggerConfig {
        public_base_url: std::env::var("HERALD_PUBLIC_URL").unwrap_or_default(),
        unsubscribe_secret: Arc::from(secret.into_bytes()),
        require_consent: std::env::var("HERALD_REQUIRE_CONSENT")
            .is_ok_and(|v| v == "true" || v == "1"),
        ..TriggerConfig::default()
    };
    let trigger = TriggerService::new(store, delivery, queue, SystemClock, templates, config);
    lambda_http::run(herald_trigger_api::router(Arc::new(trigger))).await
}
