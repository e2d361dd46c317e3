//! The wiring every deployed function shares: one AWS configuration load per cold start, then
//! the DynamoDB store, SES/SNS delivery, the SQS queue and the trigger service's configuration
//! from the function's environment (`HERALD_TABLE`, `HERALD_QUEUE_URL`, `HERALD_MAIL_DOMAIN`,
//! and what [`TriggerConfig::from_env`] reads).

use std::sync::Arc;

use crate::adapters::aws_delivery::AwsDelivery;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::sqs_queue::SqsQueue;
use crate::ports::SystemClock;
use crate::render::TemplateCache;
use crate::service::trigger::{TriggerConfig, TriggerService};

/// The trigger service as deployed.
pub type DeployedTrigger = TriggerService<DynamoStore, AwsDelivery, SqsQueue, SystemClock>;

/// Compiled campaign versions kept per function instance.
const TEMPLATE_CACHE: usize = 256;

/// Builds the trigger service from the environment; the error names what is missing.
pub async fn trigger_from_env() -> Result<DeployedTrigger, Box<dyn std::error::Error + Send + Sync>>
{
    let aws = crate::adapters::tls::aws_config().load().await;
    let store = DynamoStore::from_conf(&aws)?;
    let queue = SqsQueue::from_conf(&aws)?;
    let domain = std::env::var("HERALD_MAIL_DOMAIN").unwrap_or_else(|_| "herald.invalid".into());
    let delivery = AwsDelivery::from_conf(&aws, domain);
    let config = TriggerConfig::from_env()?;
    Ok(TriggerService::new(
        store,
        delivery,
        queue,
        SystemClock,
        Arc::new(TemplateCache::new(TEMPLATE_CACHE)),
        config,
    ))
}
