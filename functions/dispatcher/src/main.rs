//! Lambda entry point of the dispatcher: wiring only. Clients are built once per cold start.

use std::convert::Infallible;
use std::sync::Arc;

use herald_dispatcher::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_core::logging::init_lambda();
    let trigger = Arc::new(herald_core::adapters::deployed::trigger_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let trigger = Arc::clone(&trigger);
        async move { Ok::<_, Infallible>(herald_dispatcher::handle(&trigger, event).await) }
    }))
    .await
}
