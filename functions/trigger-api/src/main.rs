//! Lambda entry point of the trigger API: wiring only.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    herald_core::logging::init_lambda();
    let trigger = herald_core::adapters::deployed::trigger_from_env().await?;
    lambda_http::run(herald_trigger_api::router(Arc::new(trigger))).await
}
