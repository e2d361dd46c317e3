//! Reads of SNS's address state: opted-out phone numbers (`ListPhoneNumbersOptedOut`, paged by
//! `nextToken`, 100 numbers a page) and push endpoint attributes (`GetEndpointAttributes`).
//!
//! Unlike sends, reads are safe to repeat, so they go through a client with the SDK's standard
//! retries (the delivery client has them disabled).

use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use super::AwsDelivery;
use crate::ports::sms_opt_out::{
    EndpointState, OptOutPage, ProviderReadError, PushEndpointLookup, SmsOptOutSource,
};

/// Attempts of one read, the first included.
const READ_ATTEMPTS: u32 = 3;

impl AwsDelivery {
    /// The SNS client with standard retries, for reads.
    fn reading_sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::from_conf(
            self.sns
                .config()
                .to_builder()
                .retry_config(RetryConfig::standard().with_max_attempts(READ_ATTEMPTS))
                .build(),
        )
    }
}

/// SNS error codes of throttling.
fn throttled<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| matches!(c, "Throttling" | "ThrottledException" | "Throttled"))
}

fn read_error<E, R>(operation: &'static str, e: SdkError<E, R>) -> ProviderReadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if throttled(&e) {
        ProviderReadError::Throttled { operation }
    } else {
        ProviderReadError::Failed {
            operation,
            source: Box::new(e),
        }
    }
}

impl SmsOptOutSource for AwsDelivery {
    async fn opted_out_page(&self, next: Option<&str>) -> Result<OptOutPage, ProviderReadError> {
        let out = self
            .reading_sns()
            .list_phone_numbers_opted_out()
            .set_next_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| read_error("SNS ListPhoneNumbersOptedOut", e))?;
        Ok(OptOutPage {
            numbers: out.phone_numbers().to_vec(),
            next: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }
}

impl PushEndpointLookup for AwsDelivery {
    async fn endpoint_state(
        &self,
        endpoint_arn: &str,
    ) -> Result<Option<EndpointState>, ProviderReadError> {
        let result = self
            .reading_sns()
            .get_endpoint_attributes()
            .endpoint_arn(endpoint_arn)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(read_error("SNS GetEndpointAttributes", e)),
        };
        let attributes = out.attributes();
        let Some(token) = attributes
            .and_then(|a| a.get("Token"))
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(None);
        };
        let enabled = !attributes
            .and_then(|a| a.get("Enabled"))
            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
        Ok(Some(EndpointState {
            token: token.clone(),
            enabled,
        }))
    }
}
