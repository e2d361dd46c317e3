//! Posting webhook events (the transactional feedback webhook).

use std::future::Future;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The receiver answered with a non-2xx status.
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    /// No answer (connection refused, timeout, TLS…).
    #[error("the webhook could not be reached: {0}")]
    Unreachable(String),
}

pub trait WebhookSender: Send + Sync {
    /// POSTs `body` (JSON) with the given extra headers; Ok on a 2xx answer.
    fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> impl Future<Output = Result<(), WebhookError>> + Send;
}
