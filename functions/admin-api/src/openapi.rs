//! The OpenAPI document (placeholder until annotations land).

use axum::Json;

pub struct ApiDoc;

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::json!({"openapi": "3.1.0"}))
}
