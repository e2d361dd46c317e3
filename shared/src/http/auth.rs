//! Bearer-token authentication for `herald serve` (in AWS, API Gateway authorizes with IAM or
//! JWT before a request reaches a function). Public paths — health and unsubscribe — pass.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;

/// Paths reachable without a token: exact paths and prefixes ending in `/`.
pub const PUBLIC_PATHS: &[&str] = &["/im/health", "/u/"];

/// Whether `path` is reachable without a token.
pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: requires `Authorization: Bearer <token>` on every non-public path.
pub async fn require_bearer(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => unauthorized("the bearer token is not valid for this server"),
        None => unauthorized(
            "send Authorization: Bearer <token>; `herald serve` printed the token on first start and keeps it in <data-dir>/api-token",
        ),
    }
}

fn unauthorized(detail: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"herald\""),
        )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_unsubscribe_paths_are_public_and_others_are_not() {
        assert!(is_public("/im/health"));
        assert!(is_public("/u/abc"));
        assert!(!is_public("/im/health/x"));
        assert!(!is_public("/campaigns"));
        assert!(!is_public("/u"));
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
