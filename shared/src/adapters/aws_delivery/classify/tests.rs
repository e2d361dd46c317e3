use std::io;
use std::time::Duration;

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ConnectorError, ErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::error::{MessageRejected, TooManyRequestsException};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::error::EndpointDisabledException;

use super::*;

fn response(status: u16) -> HttpResponse {
    HttpResponse::new(status.try_into().unwrap(), "".into())
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn ses_service(code: &str, message: &str, status: u16) -> SdkError<SendEmailError, HttpResponse> {
    SdkError::service_error(
        SendEmailError::generic(meta(code, message)),
        response(status),
    )
}

fn sns_service(code: &str, message: &str, status: u16) -> SdkError<PublishError, HttpResponse> {
    SdkError::service_error(PublishError::generic(meta(code, message)), response(status))
}

fn dispatch(e: ConnectorError) -> SdkError<SendEmailError, HttpResponse> {
    SdkError::dispatch_failure(e)
}

#[test]
fn ses_too_many_requests_is_throttled() {
    let err = SendEmailError::TooManyRequestsException(
        TooManyRequestsException::builder()
            .message("Maximum sending rate exceeded.")
            .meta(meta(
                "TooManyRequestsException",
                "Maximum sending rate exceeded.",
            ))
            .build(),
    );
    let e = SdkError::service_error(err, response(429));
    assert_eq!(
        classify(&e, true),
        SendError::Throttled { retry_after: None }
    );
}

#[test]
fn ses_limit_exceeded_and_sns_throttling_are_throttled() {
    for code in [
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
    ] {
        assert_eq!(
            classify(&ses_service(code, "slow down", 400), true),
            SendError::Throttled { retry_after: None },
            "{code}"
        );
    }
    for code in [
        "Throttled",
        "ThrottledException",
        "Throttling",
        "KMSThrottling",
    ] {
        assert_eq!(
            classify(&sns_service(code, "Rate exceeded", 400), true),
            SendError::Throttled { retry_after: None },
            "{code}"
        );
    }
}

#[test]
fn a_429_without_a_known_code_is_throttled_with_the_retry_after_hint() {
    let mut raw = response(429);
    raw.headers_mut().insert("Retry-After", "7");
    let e: SdkError<SendEmailError, HttpResponse> =
        SdkError::service_error(SendEmailError::generic(meta("Whatever", "x")), raw);
    assert_eq!(
        classify(&e, true),
        SendError::Throttled {
            retry_after: Some(Duration::from_secs(7))
        }
    );
}

#[test]
fn a_disabled_endpoint_answer_from_publish_is_endpoint_disabled() {
    let err = PublishError::EndpointDisabledException(
        EndpointDisabledException::builder()
            .message("Endpoint is disabled")
            .meta(meta("EndpointDisabled", "Endpoint is disabled"))
            .build(),
    );
    let e = SdkError::service_error(err, response(400));
    assert_eq!(classify(&e, true), SendError::EndpointDisabled);
}

#[test]
fn server_errors_are_ambiguous() {
    for (code, status) in [
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("SomethingNew", 502),
    ] {
        let got = classify(&ses_service(code, "oops", status), true);
        assert!(
            matches!(got, SendError::Ambiguous { .. }),
            "{code}: {got:?}"
        );
    }
}

#[test]
fn client_errors_are_rejected_with_the_services_code_and_message() {
    let err = SendEmailError::MessageRejected(
        MessageRejected::builder()
            .message("Email address is not verified.")
            .meta(meta("MessageRejected", "Email address is not verified."))
            .build(),
    );
    let e = SdkError::service_error(err, response(400));
    assert_eq!(
        classify(&e, true),
        SendError::Rejected {
            reason: "MessageRejected: Email address is not verified.".into()
        }
    );
    for code in [
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "SendingPausedException",
        "NotFoundException",
        "BadRequestException",
    ] {
        let got = classify(&ses_service(code, "no", 400), true);
        assert_eq!(
            got,
            SendError::Rejected {
                reason: format!("{code}: no")
            }
        );
    }
    let got = classify(
        &sns_service("InvalidParameter", "Invalid parameter: PhoneNumber", 400),
        true,
    );
    assert_eq!(
        got,
        SendError::Rejected {
            reason: "InvalidParameter: Invalid parameter: PhoneNumber".into()
        }
    );
}

#[test]
fn a_construction_failure_is_not_sent() {
    let e: SdkError<SendEmailError, HttpResponse> =
        SdkError::construction_failure(io::Error::other("missing field"));
    assert!(matches!(classify(&e, true), SendError::NotSent { .. }));
}

#[test]
fn any_failure_before_the_request_reached_the_http_client_is_not_sent() {
    // Even a kind that would be ambiguous after transmission (credentials resolution timing
    // out, an "other" dispatch error from a signing failure).
    let cases: Vec<SdkError<SendEmailError, HttpResponse>> = vec![
        SdkError::timeout_error(io::Error::other("credentials took too long")),
        dispatch(ConnectorError::other(
            io::Error::other("no credentials").into(),
            None,
        )),
        ses_service("InternalFailure", "never", 500),
    ];
    for e in cases {
        assert!(
            matches!(classify(&e, false), SendError::NotSent { .. }),
            "{e:?}"
        );
    }
}

#[test]
fn a_refused_or_unreachable_connection_is_not_sent() {
    for kind in [
        io::ErrorKind::ConnectionRefused,
        io::ErrorKind::HostUnreachable,
        io::ErrorKind::NetworkUnreachable,
        io::ErrorKind::AddrNotAvailable,
    ] {
        let wrapped = io::Error::other(io::Error::from(kind));
        let e = dispatch(ConnectorError::io(Box::new(wrapped)));
        assert!(
            matches!(classify(&e, true), SendError::NotSent { .. }),
            "{kind:?}"
        );
    }
}

#[test]
fn dns_failures_and_connect_timeouts_are_not_sent() {
    let e = dispatch(ConnectorError::io(
        io::Error::other("dns error: failed to lookup address information").into(),
    ));
    assert!(matches!(classify(&e, true), SendError::NotSent { .. }));
    let e = dispatch(ConnectorError::timeout(
        io::Error::other("HTTP connect timeout occurred after 3.1s").into(),
    ));
    assert!(matches!(classify(&e, true), SendError::NotSent { .. }));
}

#[test]
fn a_request_the_connector_refused_to_send_is_not_sent() {
    let e = dispatch(ConnectorError::user("invalid request".into()));
    assert!(matches!(classify(&e, true), SendError::NotSent { .. }));
}

#[test]
fn a_connection_lost_after_sending_or_a_read_timeout_is_ambiguous() {
    let cases = vec![
        dispatch(ConnectorError::io(
            io::Error::from(io::ErrorKind::ConnectionReset).into(),
        )),
        dispatch(ConnectorError::io(
            io::Error::from(io::ErrorKind::BrokenPipe).into(),
        )),
        dispatch(ConnectorError::timeout(
            io::Error::other("HTTP read timeout occurred after 5s").into(),
        )),
        dispatch(ConnectorError::other(
            io::Error::other("incomplete message").into(),
            None,
        )),
        SdkError::timeout_error(io::Error::other("operation timeout")),
        SdkError::response_error(io::Error::other("unparseable body"), response(200)),
    ];
    for e in cases {
        assert!(
            matches!(classify(&e, true), SendError::Ambiguous { .. }),
            "{e:?}"
        );
    }
}
