//! Profiles: identities by namespace, attributes, consent per channel, push tokens, time zone and
//! locale.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

use super::address::{EmailAddress, PhoneNumber};
use super::campaign::Channel;
use super::error::{Problems, ValidationError, ValidationErrors};
use super::ids::ProfileId;

/// An identity namespace: `email`, `phone`, `ecid`, or a custom one (letters, digits, `_.-`,
/// 1–64 characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Namespace(String);

impl Namespace {
    pub const EMAIL: &'static str = "email";
    pub const PHONE: &'static str = "phone";

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = (1..=64).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(ValidationError::new(
                "namespace",
                format!("{text:?} is not a namespace (1–64 letters, digits, '_', '.', '-')"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Namespace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// One identity: a namespace and a value valid for it (`email` values are email addresses,
/// `phone` values E.164 numbers; email values are compared lowercased).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    pub namespace: Namespace,
    pub value: String,
}

impl Identity {
    pub fn parse(namespace: &str, value: &str) -> Result<Self, ValidationError> {
        let namespace = Namespace::parse(namespace)?;
        let value = match namespace.as_str() {
            Namespace::EMAIL => EmailAddress::parse(value)
                .map_err(|e| e.under("value"))?
                .suppression_key(),
            Namespace::PHONE => PhoneNumber::parse(value)
                .map_err(|e| e.under("value"))?
                .as_str()
                .to_string(),
            _ => {
                let v = value.trim();
                if v.is_empty() || v.len() > 1024 {
                    return Err(ValidationError::new(
                        "value",
                        "an identity value is 1–1024 characters",
                    ));
                }
                v.to_string()
            }
        };
        Ok(Self { namespace, value })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.value)
    }
}

/// Consent for one channel. Unset means the recipient never said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ConsentValue {
    In,
    Out,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<ConsentValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<ConsentValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<ConsentValue>,
}

impl Consent {
    pub fn get(&self, channel: Channel) -> Option<ConsentValue> {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Push => self.push,
        }
    }

    pub fn set(&mut self, channel: Channel, value: Option<ConsentValue>) {
        match channel {
            Channel::Email => self.email = value,
            Channel::Sms => self.sms = value,
            Channel::Push => self.push = value,
        }
    }

    /// Values present in `update` replace this one's.
    pub fn merge(&mut self, update: &Consent) {
        for c in Channel::ALL {
            if let Some(v) = update.get(c) {
                self.set(c, Some(v));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum PushPlatform {
    Apns,
    ApnsSandbox,
    Fcm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushToken {
    pub platform: PushPlatform,
    /// The app the token belongs to (bundle id or package name).
    pub app_id: String,
    pub token: String,
}

/// A stored profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub id: ProfileId,
    /// Namespace → value; at most one value per namespace.
    pub identities: BTreeMap<Namespace, String>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub consent: Consent,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_tokens: Vec<PushToken>,
    /// IANA time zone name (`Europe/Paris`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// BCP 47 language tag (`fr`, `pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl Profile {
    /// A profile with nothing in it yet (revision 0: not stored).
    pub fn new(id: ProfileId, now: Timestamp) -> Self {
        Self {
            id,
            identities: Default::default(),
            attributes: Default::default(),
            consent: Default::default(),
            push_tokens: vec![],
            timezone: None,
            locale: None,
            revision: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// A new profile holding only `identity`, as first stored (revision 1).
    pub fn holding(identity: &Identity, now: Timestamp) -> Self {
        let mut p = Self::new(ProfileId::new(), now);
        p.identities
            .insert(identity.namespace.clone(), identity.value.clone());
        p.revision = 1;
        p
    }

    pub fn identity_list(&self) -> Vec<Identity> {
        self.identities
            .iter()
            .map(|(ns, v)| Identity {
                namespace: ns.clone(),
                value: v.clone(),
            })
            .collect()
    }

    /// The identity stored under `namespace` (parsed and normalized when it was written).
    fn identity(&self, namespace: &str) -> Option<&str> {
        self.identities
            .iter()
            .find(|(ns, _)| ns.as_str() == namespace)
            .map(|(_, v)| v.as_str())
    }

    /// The `email` identity. It was parsed on write ([`Identity::parse`]), so it is not checked
    /// again: this is on every message's path.
    pub fn email(&self) -> Option<EmailAddress> {
        self.identity(Namespace::EMAIL)
            .map(EmailAddress::from_stored)
    }

    /// The `phone` identity, E.164. It was parsed on write ([`Identity::parse`]), so it is not
    /// checked against libphonenumber's metadata again (that costs more than the rest of an
    /// SMS's pipeline).
    pub fn phone(&self) -> Option<PhoneNumber> {
        self.identity(Namespace::PHONE)
            .map(PhoneNumber::from_stored)
    }
}

/// An upsert: fields present replace the stored ones; `attributes` are merged key by key (a
/// `null` value removes the key); identities are added (a new value for a namespace replaces
/// the old one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default)]
    pub identities: BTreeMap<String, String>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub consent: Option<Consent>,
    #[serde(default)]
    pub push_tokens: Option<Vec<PushToken>>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

/// Most attributes a profile may hold, and the largest serialized attribute document.
pub const MAX_ATTRIBUTES: usize = 500;
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

impl ProfileUpdate {
    /// Parses the identities and checks the other fields.
    pub fn validate(&self) -> Result<Vec<Identity>, ValidationErrors> {
        let mut p = Problems::default();
        let mut ids = Vec::new();
        for (ns, v) in &self.identities {
            match Identity::parse(ns, v) {
                Ok(i) => ids.push(i),
                Err(e) => p.add(e.under(&format!("identities.{ns}"))),
            }
        }
        if let Some(tz) = &self.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            p.push(
                "timezone",
                format!("{tz:?} is not an IANA time zone name (like \"Europe/Paris\")"),
            );
        }
        if let Some(l) = &self.locale
            && (l.is_empty()
                || l.len() > 35
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            p.push(
                "locale",
                format!("{l:?} is not a language tag (like \"fr\" or \"pt-BR\")"),
            );
        }
        if let Some(tokens) = &self.push_tokens {
            for (i, t) in tokens.iter().enumerate() {
                if t.token.trim().is_empty() {
                    p.push(
                        format!("pushTokens[{i}].token"),
                        "a push token may not be empty",
                    );
                }
                if t.app_id.trim().is_empty() {
                    p.push(
                        format!("pushTokens[{i}].appId"),
                        "a push token needs the app id it belongs to",
                    );
                }
            }
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            p.push(
                "attributes",
                format!("a profile holds at most {MAX_ATTRIBUTES} attributes"),
            );
        }
        p.finish().map(|()| ids)
    }

    /// Applies this update to `profile` (identities are applied by the caller, which must
    /// claim them first).
    pub fn apply(
        &self,
        profile: &mut Profile,
        identities: &[Identity],
    ) -> Result<(), ValidationErrors> {
        for i in identities {
            profile
                .identities
                .insert(i.namespace.clone(), i.value.clone());
        }
        for (k, v) in &self.attributes {
            if v.is_null() {
                profile.attributes.remove(k);
            } else {
                profile.attributes.insert(k.clone(), v.clone());
            }
        }
        if let Some(c) = &self.consent {
            profile.consent.merge(c);
        }
        if let Some(t) = &self.push_tokens {
            profile.push_tokens = t.clone();
        }
        if let Some(tz) = &self.timezone {
            profile.timezone = Some(tz.clone());
        }
        if let Some(l) = &self.locale {
            profile.locale = Some(l.clone());
        }
        let size = serde_json::to_vec(&profile.attributes)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_ATTRIBUTES_BYTES || profile.attributes.len() > MAX_ATTRIBUTES {
            return Err(ValidationError::new(
                "attributes",
                format!("a profile's attributes are at most {MAX_ATTRIBUTES} keys and {MAX_ATTRIBUTES_BYTES} bytes of JSON"),
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_identities_are_validated_and_lowercased() {
        let i = Identity::parse("email", "Ann@Example.com").unwrap();
        assert_eq!(i.value, "ann@example.com");
        assert!(Identity::parse("email", "not-an-email").is_err());
    }

    #[test]
    fn phone_identities_become_e164() {
        assert_eq!(
            Identity::parse("phone", "+1 415 555 2671").unwrap().value,
            "+14155552671"
        );
        assert!(Identity::parse("phone", "555-2671").is_err());
    }

    #[test]
    fn custom_namespaces_accept_any_value_but_not_odd_names() {
        assert!(Identity::parse("crmId", "42").is_ok());
        assert!(Identity::parse("crm id", "42").is_err());
    }

    #[test]
    fn an_update_with_a_bad_time_zone_or_identity_lists_both_problems() {
        let u: ProfileUpdate = serde_json::from_value(serde_json::json!({
            "identities": {"email": "nope"}, "timezone": "Mars/Olympus"
        }))
        .unwrap();
        let errs = u.validate().unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
    }
}
