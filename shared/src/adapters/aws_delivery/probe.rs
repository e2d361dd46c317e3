//! A per-call interceptor that records whether the request reached the HTTP client, so a
//! failure before that point (credentials, signing, endpoint resolution, serialization) is
//! known to be `NotSent` rather than guessed from the error's shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_sesv2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sesv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sesv2::error::BoxError;

/// Attach a fresh probe to one operation (`.customize().interceptor(probe.clone())`) and ask
/// [`TransmitProbe::transmitted`] after it failed. The interceptor trait is shared by every
/// AWS SDK crate, so the same probe works on SES and SNS calls.
#[derive(Clone, Debug, Default)]
pub struct TransmitProbe(Arc<AtomicBool>);

impl TransmitProbe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the request was handed to the HTTP client (signed and about to be written).
    pub fn transmitted(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for TransmitProbe {
    fn name(&self) -> &'static str {
        "HeraldTransmitProbe"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}
