//! Identifiers. Every id is a UUID (v7, so ids sort by creation time) wrapped in a newtype
//! that is only built by [`parse`](CampaignId::parse) or [`new`](CampaignId::new).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ValidationError;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the canonical text form of a UUID.
            pub fn parse(text: &str) -> Result<Self, ValidationError> {
                Uuid::parse_str(text).map(Self).map_err(|_| {
                    ValidationError::new(
                        "id",
                        format!("{text:?} is not a valid {} (expected a UUID)", $what),
                    )
                })
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// A campaign.
    CampaignId,
    "campaign id"
);
uuid_id!(
    /// A channel configuration (AJO's "surface").
    ChannelConfigId,
    "channel configuration id"
);
uuid_id!(
    /// A profile.
    ProfileId,
    "profile id"
);
uuid_id!(
    /// An audience.
    AudienceId,
    "audience id"
);
uuid_id!(
    /// A rule set.
    RuleSetId,
    "rule set id"
);
uuid_id!(
    /// One accepted trigger (an execution of a campaign).
    ExecutionId,
    "execution id"
);
uuid_id!(
    /// A scheduled audience execution.
    ScheduleId,
    "schedule id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_survives_a_round_trip_through_text() {
        let id = CampaignId::new();
        assert_eq!(CampaignId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn text_that_is_not_a_uuid_is_rejected_with_a_message_naming_the_kind() {
        let err = CampaignId::parse("nope").unwrap_err();
        assert!(err.message.contains("campaign id"), "{err}");
    }
}
