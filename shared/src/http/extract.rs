//! Extractors that turn bad input into clear problem JSON: bodies that are not JSON, values of
//! the wrong type (with the path to the field), bodies over the limit (413), bad paging
//! parameters and bad `If-Match` headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use crate::ports::PageRequest;

/// A JSON body. The `Content-Type` is not insisted on (curl's default form type is accepted),
/// but the body must be one JSON value of the expected shape.
pub struct JsonBody<T>(pub T);

/// Reads the whole body, mapping a body over the router's limit to 413.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        let status = rej.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload-too-large",
                "the request body is larger than this endpoint accepts",
            )
        } else {
            ApiError::new(status, "unreadable-body", rej.body_text())
        }
    })
}

/// Parses JSON with the path of the offending field in the message.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            "the request body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-json",
                format!("the request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("the request body is not of the expected shape: {inner}"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("{path}: {inner}"),
            )
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body as UTF-8 text (NDJSON imports).
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(TextBody)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-encoding",
                    "the request body is not UTF-8",
                )
            })
    }
}

/// `?limit=&cursor=` paging parameters.
pub struct Paging(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut page = PageRequest::first(PageRequest::DEFAULT_LIMIT);
        for (k, v) in query_pairs(parts) {
            match k.as_str() {
                "limit" => {
                    page.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::new(
                                StatusCode::BAD_REQUEST,
                                "invalid-request",
                                format!(
                                    "limit must be a whole number from 1 to {}, not {v:?}",
                                    PageRequest::MAX_LIMIT
                                ),
                            )
                        })?
                }
                "cursor" if !v.is_empty() => page.cursor = Some(v),
                _ => {}
            }
        }
        Ok(Paging(page))
    }
}

/// The decoded query string as pairs.
pub fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The revision named by an `If-Match` header (`"3"`, `W/"3"` or `3`), if any.
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = v.to_str().unwrap_or("").trim();
        let bare = text.trim_start_matches("W/").trim_matches('"');
        bare.parse().map(|n| IfMatch(Some(n))).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("If-Match must carry the revision from the ETag, like \"3\", not {text:?}"),
            )
        })
    }
}

/// An `ETag` header value for a revision.
pub fn etag(revision: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("\"{revision}\""))
        .unwrap_or(axum::http::HeaderValue::from_static("\"0\""))
}

/// A JSON body that may be left empty, in which case `T::default()` is used.
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(JsonOrEmpty(T::default()))
        } else {
            parse_json(&bytes).map(JsonOrEmpty)
        }
    }
}
