//! Channel addresses: email addresses (RFC 5321/5322 via `email_address`) and phone numbers
//! (E.164 via `phonenumber`, Google's libphonenumber metadata).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::error::ValidationError;

/// A syntactically valid email address, kept as given except that the domain is lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.contains(['\r', '\n']) {
            return Err(ValidationError::new(
                "",
                "an email address may not contain line breaks",
            ));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            trimmed,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|e| {
            ValidationError::new("", format!("{trimmed:?} is not a valid email address: {e}"))
        })?;
        if !parsed.domain().contains('.') {
            return Err(ValidationError::new(
                "",
                format!("{trimmed:?} is not a valid email address: the domain has no dot"),
            ));
        }
        Ok(Self(format!(
            "{}@{}",
            parsed.local_part(),
            parsed.domain().to_ascii_lowercase()
        )))
    }

    /// An address Herald parsed before and stored in this form (see [`Profile::email`](crate::domain::Profile::email)):
    /// not checked again.
    pub fn from_stored(value: &str) -> Self {
        Self(value.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key used for suppression: the whole address lowercased.
    pub fn suppression_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A phone number in E.164 form (`+14155550100`), checked against libphonenumber's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses an international number (a leading `+` and country code is required).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if !trimmed.starts_with('+') {
            return Err(ValidationError::new(
                "",
                format!(
                    "{trimmed:?} is not an E.164 phone number: it must start with + and the country code"
                ),
            ));
        }
        let parsed = phonenumber::parse(None, trimmed).map_err(|e| {
            ValidationError::new("", format!("{trimmed:?} is not a phone number: {e}"))
        })?;
        if !phonenumber::is_valid(&parsed) {
            return Err(ValidationError::new(
                "",
                format!("{trimmed:?} is not a valid phone number for its country"),
            ));
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// A number Herald parsed before and stored in E.164 form (see [`Profile::phone`](crate::domain::Profile::phone)):
    /// not checked again.
    pub fn from_stored(value: &str) -> Self {
        Self(value.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_address_parses_and_its_domain_is_lowercased() {
        assert_eq!(
            EmailAddress::parse("Ann@Example.COM").unwrap().as_str(),
            "Ann@example.com"
        );
    }

    #[test]
    fn addresses_without_at_sign_or_with_line_breaks_are_rejected() {
        assert!(EmailAddress::parse("ann.example.com").is_err());
        assert!(EmailAddress::parse("ann@example.com\r\nBcc: x@y.z").is_err());
        assert!(EmailAddress::parse("ann@localhost").is_err());
    }

    #[test]
    fn a_formatted_international_number_becomes_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 415-555-2671").unwrap().as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn numbers_without_country_code_or_impossible_numbers_are_rejected() {
        assert!(PhoneNumber::parse("4155552671").is_err());
        assert!(PhoneNumber::parse("+1 123").is_err());
        assert!(PhoneNumber::parse("hello").is_err());
    }
}
