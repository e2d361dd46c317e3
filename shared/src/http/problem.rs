//! Errors as problem JSON (RFC 9457) in AJO's shape: `{type, title, status, detail, report}`,
//! plus a stable `code` (also the last segment of `type`) and, where useful, the list of field
//! errors or the review report.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{ReviewReport, ValidationError};
use crate::ports::StoreError;
use crate::service::ServiceError;
use crate::service::trigger::TriggerError;

/// The `type` URI prefix; the stable code follows it.
pub const TYPE_PREFIX: &str = "urn:herald:error:";

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub code: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ValidationError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewReport>,
    /// AJO's `report.additionalContext` (request and campaign ids on execution errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("{TYPE_PREFIX}{code}"),
            code: code.to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: vec![],
            review: None,
            report: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<ValidationError>) -> Self {
        self.errors = errors;
        self
    }
}

/// An error response. Build it from a [`ServiceError`] or a [`Problem`].
#[derive(Debug)]
pub struct ApiError {
    pub problem: Box<Problem>,
    /// Extra headers (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem::new(status, code, detail).into()
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self {
            problem: Box::new(problem),
            headers: vec![],
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let code = e.code();
        let status = match &e {
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServiceError::IllegalTransition(_)
            | ServiceError::StaleRevision { .. }
            | ServiceError::IdentityTaken(_)
            | ServiceError::Conflict(_)
            | ServiceError::Unsupported { .. } => StatusCode::CONFLICT,
            ServiceError::ReviewFailed(_) | ServiceError::Render(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServiceError::Store(StoreError::InvalidCursor(_)) => StatusCode::BAD_REQUEST,
            ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            // Logged once, with its chain; the caller gets an opaque message.
            tracing::error!(error = %error_chain(&e), code, "request failed");
            return Problem::new(
                status,
                code,
                "Herald could not complete the request; it has been logged",
            )
            .into();
        }
        let mut p = Problem::new(status, code, e.to_string());
        match e {
            ServiceError::Invalid(errs) => {
                p.detail = match errs.0.as_slice() {
                    [one] => one.to_string(),
                    many => format!("{} problems: {}", many.len(), errs),
                };
                p.errors = errs.0;
            }
            ServiceError::ReviewFailed(report) => {
                p.detail = format!(
                    "the review found {} error(s): {}",
                    report.errors.len(),
                    report
                        .errors
                        .iter()
                        .map(|f| format!("{} ({})", f.message, f.field))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                p.review = Some(*report);
            }
            ServiceError::Store(StoreError::InvalidCursor(message)) => p.detail = message,
            _ => {}
        }
        p.into()
    }
}

pub use crate::logging::error_chain;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

impl ApiError {
    /// AJO's `report.additionalContext` for execution errors.
    pub fn with_context(mut self, request_id: Option<&str>, campaign_id: Option<&str>) -> Self {
        let mut ctx = serde_json::Map::new();
        if let Some(r) = request_id {
            ctx.insert("requestId".into(), Value::String(r.to_string()));
        }
        if let Some(c) = campaign_id {
            ctx.insert("campaignId".into(), Value::String(c.to_string()));
        }
        self.problem.report = Some(serde_json::json!({ "additionalContext": ctx }));
        self
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = e.code();
        if status.is_server_error() {
            tracing::error!(error = %error_chain(&e), code, "trigger failed");
            return Problem::new(
                status,
                code,
                "Herald could not complete the request; it has been logged",
            )
            .into();
        }
        let mut p = Problem::new(status, code, e.to_string());
        let retry_after = match &e {
            TriggerError::Invalid(errs) => {
                p.detail = match errs.0.as_slice() {
                    [one] => one.to_string(),
                    many => format!("{} problems: {}", many.len(), errs),
                };
                p.errors = errs.0.clone();
                None
            }
            TriggerError::InFlight {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut err: ApiError = p.into();
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            err = err.with_header(header::RETRY_AFTER, v);
        }
        err
    }
}
