//! Lambda entry point of the admin API: wiring only.

use std::sync::Arc;

use herald_core::adapters::dynamo::DynamoStore;
use herald_core::ports::SystemClock;
use herald_core::service::{AdminConfig, AdminService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    herald_core::logging::init_lambda();
    let store = DynamoStore::from_env().await?;
    let config = AdminConfig {
        public_base_url: std::env::var("HERALD_PUBLIC_URL").unwrap_or_default(),
        import_budget: Some(herald_core::service::IMPORT_BUDGET),
    };
    let admin = Arc::new(AdminService::new(store, SystemClock, config));
    lambda_http::run(herald_admin_api::router(admin)).await
}
