//! How a failed SES or SNS call maps onto [`SendError`]: the delivery-semantics core.
//!
//! The question is always "could the provider have accepted this message?":
//!
//! | SDK error | transmitted? | result |
//! | --- | --- | --- |
//! | any | no (never handed to the HTTP client: build error, credentials, signing, endpoint) | `NotSent` |
//! | `ConstructionFailure` | — | `NotSent` |
//! | `DispatchFailure`, user error (the connector refused the request) | yes | `NotSent` |
//! | `DispatchFailure`, connection never established (refused, unreachable, DNS, connect timeout) | yes | `NotSent` |
//! | `DispatchFailure`, anything else (reset, closed, read timeout…) | yes | `Ambiguous` |
//! | `TimeoutError` (attempt/operation timeout) | yes | `Ambiguous` |
//! | `ResponseError` (an answer came but could not be read) | yes | `Ambiguous` |
//! | `ServiceError` throttling (`TooManyRequestsException`, SES `LimitExceededException`, SNS `Throttled`/`Throttling`, HTTP 429) | — | `Throttled` |
//! | `ServiceError` `EndpointDisabled` | — | `EndpointDisabled` |
//! | `ServiceError` 5xx (`InternalFailure`, `InternalError`, `ServiceUnavailable`…) | — | `Ambiguous` |
//! | `ServiceError` any other (4xx: `MessageRejected`, `InvalidParameter`, `AccountSuspended`…) | — | `Rejected` with the service's code and message |
//!
//! "Transmitted" comes from a per-call interceptor ([`super::probe::TransmitProbe`]) that flips
//! right before the request is handed to the HTTP client; before that point nothing can have
//! left the process. When in doubt the answer is `Ambiguous`: a message recorded `unknown` is
//! visible and never duplicated, while a wrong `NotSent` could send twice.

use std::error::Error;
use std::io::ErrorKind;
use std::time::Duration;

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ConnectorError, DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::delivery::SendError;

/// Error codes that mean "slow down" across SES v2 and SNS.
const THROTTLING_CODES: [&str; 10] = [
    "TooManyRequestsException",
    "LimitExceededException",
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "ThrottledException",
    "KMSThrottling",
    "KMSThrottlingException",
    "RequestLimitExceeded",
    "RequestThrottled",
];

/// Codes of server-side failures (the request arrived; its fate is unknown).
const SERVER_CODES: [&str; 6] = [
    "InternalFailure",
    "InternalError",
    "InternalErrorException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// SNS's code for a publish to a disabled platform endpoint.
const ENDPOINT_DISABLED: &str = "EndpointDisabled";

/// Classifies a failed SES/SNS call. `transmitted` tells whether the request reached the HTTP
/// client (see the module docs); the function is pure.
pub fn classify<E>(error: &SdkError<E, HttpResponse>, transmitted: bool) -> SendError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let detail = || DisplayErrorContext(error).to_string();
    if !transmitted {
        return SendError::NotSent { detail: detail() };
    }
    match error {
        SdkError::ConstructionFailure(_) => SendError::NotSent { detail: detail() },
        SdkError::TimeoutError(_) => SendError::Ambiguous { detail: detail() },
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(c) if never_connected(c) => SendError::NotSent { detail: detail() },
            _ => SendError::Ambiguous { detail: detail() },
        },
        SdkError::ResponseError(_) => SendError::Ambiguous { detail: detail() },
        SdkError::ServiceError(service) => {
            let raw = service.raw();
            let status = raw.status().as_u16();
            let retry_after = raw
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            classify_service(
                service.err().code(),
                service.err().message(),
                status,
                retry_after,
            )
        }
        // `SdkError` is non-exhaustive: a future kind of failure is not known to be safe.
        _ => SendError::Ambiguous { detail: detail() },
    }
}

/// Classifies a service's error answer by its code, message and HTTP status.
pub fn classify_service(
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
    retry_after: Option<Duration>,
) -> SendError {
    let code_is = |set: &[&str]| code.is_some_and(|c| set.contains(&c));
    if code_is(&THROTTLING_CODES) || status == 429 {
        return SendError::Throttled { retry_after };
    }
    if code == Some(ENDPOINT_DISABLED) {
        return SendError::EndpointDisabled;
    }
    let reason = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => format!("HTTP {status} without an error code"),
    };
    if code_is(&SERVER_CODES) || status >= 500 {
        return SendError::Ambiguous {
            detail: format!("HTTP {status}: {reason}"),
        };
    }
    SendError::Rejected { reason }
}

/// Whether a connector failure happened before any byte of the request could have been
/// written: the connector refused the request itself, the connection was never established
/// (refused, unreachable, DNS), or the connect timeout fired.
fn never_connected(error: &ConnectorError) -> bool {
    error.is_user() || chain_has(error, &connect_failure)
}

/// One error of the chain says the connection was never established.
fn connect_failure(e: &(dyn Error + 'static)) -> bool {
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::NetworkDown
                | ErrorKind::AddrNotAvailable
        )
    {
        return true;
    }
    // hyper-util's client marks every failure of its connector (DNS, TCP, TLS handshake) as
    // "client error (Connect)"; aws-smithy-http-client's connect timeout reads "HTTP connect
    // timeout occurred after …"; name resolution failures read "dns error" (hyper-util) or
    // "failed to lookup address information" (getaddrinfo). In every case the connection was
    // never established, so no byte of the request was written.
    let text = e.to_string();
    text.starts_with("client error (Connect)")
        || text.contains("HTTP connect timeout")
        || text.contains("dns error")
        || text.contains("failed to lookup address")
}

/// Whether `test` holds for an error of the chain. An `io::Error` wrapping another error
/// reports that error's source, not the error itself, so its payload is visited too.
fn chain_has(error: &(dyn Error + 'static), test: &dyn Fn(&(dyn Error + 'static)) -> bool) -> bool {
    let mut next = Some(error);
    let mut depth = 0;
    while let Some(e) = next {
        if test(e) {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && depth < 16
            && chain_has(inner, test)
        {
            return true;
        }
        depth += 1;
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests;
