//! Where a message goes: the recipient's address on the campaign's channel, from the trigger's
//! `channelData` first, then the stored profile, then a `userId` that is itself an address.

use crate::domain::channel_config::{ChannelSettings, PushSettings};
use crate::domain::profile::{Namespace, PushPlatform};
use crate::domain::trigger::Recipient;
use crate::domain::{Channel, ChannelConfig, EmailAddress, ExclusionReason, PhoneNumber, Profile};

/// A resolved, valid address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    Email(EmailAddress),
    Sms(PhoneNumber),
    Push {
        platform: PushPlatform,
        token: String,
        platform_application_arn: String,
    },
}

impl Address {
    /// The normalized form suppressions are keyed by.
    pub fn key(&self) -> String {
        match self {
            Address::Email(e) => e.suppression_key(),
            Address::Sms(p) => p.as_str().to_string(),
            Address::Push { token, .. } => token.clone(),
        }
    }
}

/// Why there is no usable address: the exclusion reason and a detail for the record.
pub(crate) type NoAddress = (ExclusionReason, String);

fn user_id_in(recipient: &Recipient, namespace: &str) -> Option<String> {
    recipient
        .namespace
        .eq_ignore_ascii_case(namespace)
        .then(|| recipient.user_id.clone())
}

/// The first address found, in order: the trigger's `channelData`, the profile, the `userId`
/// (see [`resolve`]); `none` when there is none.
fn first_found<T>(
    found: Option<Result<T, crate::domain::ValidationError>>,
    none: &str,
) -> Result<T, NoAddress> {
    match found {
        Some(address) => address.map_err(|e| (ExclusionReason::InvalidAddress, e.message)),
        None => Err((ExclusionReason::NoAddress, none.to_string())),
    }
}

pub(crate) fn resolve(
    channel: Channel,
    recipient: &Recipient,
    profile: Option<&Profile>,
    config: Option<&ChannelConfig>,
) -> Result<Address, NoAddress> {
    let data = recipient.channel_data.as_ref();
    match channel {
        // A given address is parsed; a profile's was parsed when it was stored.
        Channel::Email => first_found(
            data.and_then(|d| d.email_address.as_deref())
                .map(EmailAddress::parse)
                .or_else(|| profile.and_then(Profile::email).map(Ok))
                .or_else(|| {
                    user_id_in(recipient, Namespace::EMAIL).map(|u| EmailAddress::parse(&u))
                }),
            "no email address: none in channelData, the profile or the userId",
        )
        .map(Address::Email),
        Channel::Sms => first_found(
            data.and_then(|d| d.mobile_phone_number.as_deref())
                .map(PhoneNumber::parse)
                .or_else(|| profile.and_then(Profile::phone).map(Ok))
                .or_else(|| {
                    user_id_in(recipient, Namespace::PHONE).map(|u| PhoneNumber::parse(&u))
                }),
            "no phone number: none in channelData, the profile or the userId",
        )
        .map(Address::Sms),
        Channel::Push => {
            let settings = match config.map(|c| &c.spec.settings) {
                Some(ChannelSettings::Push(s)) => s.clone(),
                _ => PushSettings::default(),
            };
            let candidates: Vec<(PushPlatform, String)> =
                match data.and_then(|d| d.push_info.as_ref()) {
                    Some(info) => vec![(info.platform, info.token.clone())],
                    None => profile
                        .map(|p| {
                            p.push_tokens
                                .iter()
                                .map(|t| (t.platform, t.token.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
            if candidates.is_empty() {
                return Err((
                    ExclusionReason::NoAddress,
                    "no push token: none in channelData.pushInfo or the profile".into(),
                ));
            }
            for (platform, token) in &candidates {
                let arn = match platform {
                    PushPlatform::Apns => settings.apns_platform_arn.clone(),
                    PushPlatform::ApnsSandbox => settings.apns_sandbox_platform_arn.clone(),
                    PushPlatform::Fcm => settings.fcm_platform_arn.clone(),
                };
                if token.trim().is_empty() || token.len() > 4096 {
                    continue;
                }
                if let Some(arn) = arn {
                    return Ok(Address::Push {
                        platform: *platform,
                        token: token.trim().to_string(),
                        platform_application_arn: arn,
                    });
                }
            }
            Err((
                ExclusionReason::NoAddress,
                "no push token for a platform the channel configuration has an application for"
                    .into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipient(v: serde_json::Value) -> Recipient {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn channel_data_wins_then_the_user_id_of_an_address_namespace() {
        let r = recipient(
            json!({"type": "external", "namespace": "email", "userId": "id@example.com",
                                 "channelData": {"emailAddress": "Override@Example.com"}}),
        );
        assert_eq!(
            resolve(Channel::Email, &r, None, None).unwrap().key(),
            "override@example.com"
        );
        let r = recipient(
            json!({"type": "external", "namespace": "email", "userId": "id@example.com"}),
        );
        assert_eq!(
            resolve(Channel::Email, &r, None, None).unwrap().key(),
            "id@example.com"
        );
    }

    #[test]
    fn missing_and_invalid_addresses_get_their_own_reasons() {
        let r = recipient(json!({"type": "external", "namespace": "crm", "userId": "42"}));
        assert_eq!(
            resolve(Channel::Sms, &r, None, None).unwrap_err().0,
            ExclusionReason::NoAddress
        );
        let r = recipient(
            json!({"type": "external", "namespace": "crm", "userId": "42", "channelData": {"mobilePhoneNumber": "12345"}}),
        );
        assert_eq!(
            resolve(Channel::Sms, &r, None, None).unwrap_err().0,
            ExclusionReason::InvalidAddress
        );
        let r = recipient(
            json!({"type": "external", "namespace": "crm", "userId": "42",
                                 "channelData": {"pushInfo": {"token": "t", "platform": "fcm"}}}),
        );
        assert_eq!(
            resolve(Channel::Push, &r, None, None).unwrap_err().0,
            ExclusionReason::NoAddress
        );
    }
}
