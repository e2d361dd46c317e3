//! Rule sets for marketing campaigns: frequency caps and quiet hours.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::campaign::Channel;
use super::error::{Problems, ValidationErrors};
use super::ids::RuleSetId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CapPeriod {
    Hour,
    Day,
    Week,
    Month,
}

/// At most `limit` marketing messages per `period`, on `channel` or (when absent) across all
/// channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrequencyCap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    pub limit: u32,
    pub period: CapPeriod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum QuietAction {
    /// Hold the message and send it when quiet hours end.
    Queue,
    /// Do not send it; record the exclusion.
    Discard,
}

/// A daily window in the recipient's time zone (`"21:00"` to `"08:00"` spans midnight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "21:00"))]
    pub start: jiff::civil::Time,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "08:00"))]
    pub end: jiff::civil::Time,
    pub action: QuietAction,
    /// Time zone used when the profile has none (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_timezone: Option<String>,
}

impl QuietHours {
    /// Whether a local time of day falls inside the window.
    pub fn contains(&self, t: jiff::civil::Time) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSetSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<FrequencyCap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl RuleSetSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        if self.name.trim().is_empty() {
            p.push("name", "a rule set needs a name");
        }
        for (i, c) in self.caps.iter().enumerate() {
            if c.limit == 0 {
                p.push(
                    format!("caps[{i}].limit"),
                    "a cap's limit is at least 1 (stop the campaign to send nothing)",
                );
            }
        }
        if let Some(q) = &self.quiet_hours {
            if q.start == q.end {
                p.push("quietHours", "quiet hours start and end at the same time");
            }
            if let Some(tz) = &q.default_timezone
                && jiff::tz::TimeZone::get(tz).is_err()
            {
                p.push(
                    "quietHours.defaultTimezone",
                    format!("{tz:?} is not an IANA time zone name"),
                );
            }
        }
        p.finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleSet {
    pub id: RuleSetId,
    #[serde(flatten)]
    pub spec: RuleSetSpec,
    pub revision: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(start: &str, end: &str) -> QuietHours {
        QuietHours {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            action: QuietAction::Queue,
            default_timezone: None,
        }
    }

    #[test]
    fn quiet_hours_spanning_midnight_contain_late_evening_and_early_morning() {
        let q = hours("21:00", "08:00");
        assert!(q.contains("22:30".parse().unwrap()));
        assert!(q.contains("07:59".parse().unwrap()));
        assert!(!q.contains("08:00".parse().unwrap()));
        assert!(!q.contains("12:00".parse().unwrap()));
    }

    #[test]
    fn quiet_hours_within_a_day_contain_only_their_span() {
        let q = hours("12:00", "14:00");
        assert!(q.contains("13:00".parse().unwrap()));
        assert!(!q.contains("15:00".parse().unwrap()));
    }
}
