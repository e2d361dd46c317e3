//! Signed unsubscribe tokens: `base64url(claim JSON) . base64url(HMAC-SHA256(claim))`. The
//! link in a marketing email carries one; only Herald, holding the secret, can mint a token, so
//! a link cannot be forged to unsubscribe someone else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::campaign::Channel;
use super::ids::{CampaignId, ProfileId};

/// Who unsubscribes from what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeClaim {
    /// The campaign the link was sent by.
    #[serde(rename = "c")]
    pub campaign: CampaignId,
    #[serde(rename = "h")]
    pub channel: Channel,
    /// The normalized address the message went to.
    #[serde(rename = "a")]
    pub address: String,
    /// The recipient's profile, when Herald stores one.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the unsubscribe link is malformed or was cut short")]
    Malformed,
    #[error("the unsubscribe link's signature does not match; it was not issued by this Herald")]
    BadSignature,
}

/// HMAC-SHA256 over `payload` (HMAC takes keys of any length, so this is always `Some`).
fn mac(secret: &[u8], payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    m.update(payload);
    Some(m)
}

impl UnsubscribeClaim {
    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let tag = mac(secret, &payload)
            .map(|m| m.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks the signature (in constant time) and decodes the claim.
    pub fn verify(token: &str, secret: &[u8]) -> Result<Self, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        mac(secret, &payload)
            .ok_or(TokenError::BadSignature)?
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> UnsubscribeClaim {
        UnsubscribeClaim {
            campaign: CampaignId::new(),
            channel: Channel::Email,
            address: "ann@example.com".into(),
            profile: Some(ProfileId::new()),
        }
    }

    #[test]
    fn a_signed_claim_verifies_and_round_trips() {
        let c = claim();
        let token = c.sign(b"secret");
        assert!(
            token
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.'),
            "URL-safe: {token}"
        );
        assert_eq!(UnsubscribeClaim::verify(&token, b"secret"), Ok(c));
    }

    #[test]
    fn a_tampered_token_or_another_secret_is_refused() {
        let token = claim().sign(b"secret");
        assert_eq!(
            UnsubscribeClaim::verify(&token, b"other"),
            Err(TokenError::BadSignature)
        );
        let mut other = claim();
        other.address = "mallory@example.com".into();
        let forged = format!(
            "{}.{}",
            other.sign(b"x").split('.').next().unwrap(),
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(
            UnsubscribeClaim::verify(&forged, b"secret"),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            UnsubscribeClaim::verify("nonsense", b"secret"),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            UnsubscribeClaim::verify(&token[..token.len() - 3], b"secret"),
            Err(TokenError::BadSignature)
        );
    }
}
