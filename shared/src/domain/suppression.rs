//! The suppression list: addresses that must not receive messages on a channel.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::address::{EmailAddress, PhoneNumber};
use super::campaign::Channel;
use super::error::ValidationError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum SuppressionReason {
    HardBounce,
    Complaint,
    Unsubscribe,
    SmsOptOut,
    PushEndpointDisabled,
    Manual,
}

/// The normalized address a suppression is keyed by: a lowercased email address, an E.164
/// phone number, or a push token.
pub fn normalize_address(channel: Channel, address: &str) -> Result<String, ValidationError> {
    match channel {
        Channel::Email => EmailAddress::parse(address).map(|a| a.suppression_key()),
        Channel::Sms => PhoneNumber::parse(address).map(|p| p.as_str().to_string()),
        Channel::Push => {
            let t = address.trim();
            if t.is_empty() || t.len() > 4096 {
                Err(ValidationError::new(
                    "",
                    "a push token is 1–4096 characters",
                ))
            } else {
                Ok(t.to_string())
            }
        }
    }
    .map_err(|e| e.under("address"))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    pub channel: Channel,
    /// Normalized with [`normalize_address`].
    pub address: String,
    pub reason: SuppressionReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}
