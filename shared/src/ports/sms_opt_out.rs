//! Address state the provider keeps and Herald reads back for its suppression list.
//!
//! - [`SmsOptOutSource`]: the phone numbers that replied STOP. SNS keeps this list and publishes
//!   no event for it, so the scheduler pages through it (`ListPhoneNumbersOptedOut`).
//! - [`PushEndpointLookup`]: the token and `Enabled` flag of a push platform endpoint
//!   (`GetEndpointAttributes`), for platform application events that name only the endpoint.

use std::future::Future;

/// One page of opted-out numbers (E.164 as the provider gives them) and the token of the next
/// page, absent on the last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptOutPage {
    pub numbers: Vec<String>,
    pub next: Option<String>,
}

/// A push platform endpoint's token and whether the provider still delivers to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointState {
    pub token: String,
    pub enabled: bool,
}

/// A read from the provider failed; the caller retries later (the scheduler's next run, or
/// SNS's redelivery of the event).
#[derive(Debug, thiserror::Error)]
pub enum ProviderReadError {
    #[error("the provider throttled {operation}")]
    Throttled { operation: &'static str },
    #[error("{operation} failed")]
    Failed {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub trait SmsOptOutSource: Send + Sync {
    /// The page after `next` (the first page when `None`).
    fn opted_out_page(
        &self,
        next: Option<&str>,
    ) -> impl Future<Output = Result<OptOutPage, ProviderReadError>> + Send;
}

pub trait PushEndpointLookup: Send + Sync {
    /// The endpoint's state; `None` when it does not exist (deleted).
    fn endpoint_state(
        &self,
        endpoint_arn: &str,
    ) -> impl Future<Output = Result<Option<EndpointState>, ProviderReadError>> + Send;
}
