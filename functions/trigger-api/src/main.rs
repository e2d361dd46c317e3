//! Lambda entry point of the trigger API: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    herald_core::logging::init_lambda();
    lambda_http::run(herald_trigger_api::router()).await
}
