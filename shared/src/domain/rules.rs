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

    /// When `now` falls inside quiet hours in time zone `tz`, the instant they end (the next
    /// local `end`); `None` outside quiet hours. Daylight-saving gaps resolve to the later
    /// instant (jiff's compatible disambiguation).
    pub fn release_at(&self, now: Timestamp, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
        let local = now.to_zoned_datetime(tz.clone());
        if !self.contains(local.time()) {
            return None;
        }
        let today_end = local.date().to_datetime(self.end);
        let end = if local.time() < self.end {
            today_end
        } else {
            today_end.checked_add(jiff::Span::new().days(1)).ok()?
        };
        end.to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The time zone for a recipient: theirs, else the rule's default, else UTC.
    pub fn zone_for(&self, profile_tz: Option<&str>) -> jiff::tz::TimeZone {
        profile_tz
            .or(self.default_timezone.as_deref())
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

impl CapPeriod {
    fn as_str(&self) -> &'static str {
        match self {
            CapPeriod::Hour => "hour",
            CapPeriod::Day => "day",
            CapPeriod::Week => "week",
            CapPeriod::Month => "month",
        }
    }

    /// The fixed UTC window containing `now`: `[start, end)`. Weeks start on Monday.
    pub fn window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let utc = now.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let date = utc.date();
        let (start, end) = match self {
            CapPeriod::Hour => {
                let s = date.to_datetime(jiff::civil::time(utc.hour(), 0, 0, 0));
                (s, s.checked_add(jiff::Span::new().hours(1)))
            }
            CapPeriod::Day => {
                let s = date.to_datetime(jiff::civil::Time::midnight());
                (s, s.checked_add(jiff::Span::new().days(1)))
            }
            CapPeriod::Week => {
                let monday = date
                    .checked_sub(
                        jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())),
                    )
                    .unwrap_or(date);
                let s = monday.to_datetime(jiff::civil::Time::midnight());
                (s, s.checked_add(jiff::Span::new().weeks(1)))
            }
            CapPeriod::Month => {
                let s = date
                    .first_of_month()
                    .to_datetime(jiff::civil::Time::midnight());
                (s, s.checked_add(jiff::Span::new().months(1)))
            }
        };
        let to_ts = |dt: jiff::civil::DateTime| {
            dt.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(now)
        };
        let start_ts = to_ts(start);
        let end_ts = end.map(to_ts).unwrap_or(Timestamp::MAX);
        (start_ts, end_ts)
    }
}

impl FrequencyCap {
    /// The counter key for `recipient` in the window containing `now`, and the window's end.
    /// Keys name the recipient, the channel scope (`all` across channels), the period and the
    /// window start, so a new window is a new counter.
    pub fn counter(&self, recipient: &str, now: Timestamp) -> (String, Timestamp) {
        let (start, end) = self.period.window(now);
        let scope = self.channel.map(|c| c.as_str()).unwrap_or("all");
        (
            format!(
                "{recipient}|{scope}|{}|{}",
                self.period.as_str(),
                start.as_second()
            ),
            end,
        )
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

#[cfg(test)]
mod window_tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_hours_release_at_the_next_local_end() {
        let q = QuietHours {
            start: "21:00".parse().unwrap(),
            end: "08:00".parse().unwrap(),
            action: QuietAction::Queue,
            default_timezone: None,
        };
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        // 22:30 in Paris (UTC+1 in January) → released at 08:00 Paris the next day.
        assert_eq!(
            q.release_at(ts("2026-01-10T21:30:00Z"), &paris),
            Some(ts("2026-01-11T07:00:00Z"))
        );
        // 06:00 in Paris → released at 08:00 the same day.
        assert_eq!(
            q.release_at(ts("2026-01-10T05:00:00Z"), &paris),
            Some(ts("2026-01-10T07:00:00Z"))
        );
        // Noon → not quiet.
        assert_eq!(q.release_at(ts("2026-01-10T11:00:00Z"), &paris), None);
        assert_eq!(q.zone_for(Some("Nowhere/Land")), jiff::tz::TimeZone::UTC);
    }

    #[test]
    fn cap_windows_are_fixed_utc_periods_and_keys_change_with_the_window() {
        let now = ts("2026-03-11T15:42:00Z"); // a Wednesday
        assert_eq!(
            CapPeriod::Hour.window(now),
            (ts("2026-03-11T15:00:00Z"), ts("2026-03-11T16:00:00Z"))
        );
        assert_eq!(
            CapPeriod::Day.window(now),
            (ts("2026-03-11T00:00:00Z"), ts("2026-03-12T00:00:00Z"))
        );
        assert_eq!(
            CapPeriod::Week.window(now),
            (ts("2026-03-09T00:00:00Z"), ts("2026-03-16T00:00:00Z"))
        );
        assert_eq!(
            CapPeriod::Month.window(now),
            (ts("2026-03-01T00:00:00Z"), ts("2026-04-01T00:00:00Z"))
        );
        let cap = FrequencyCap {
            channel: None,
            limit: 2,
            period: CapPeriod::Day,
        };
        let (k1, end) = cap.counter("p1", now);
        let (k2, _) = cap.counter("p1", ts("2026-03-12T00:00:01Z"));
        assert_ne!(k1, k2);
        assert_eq!(end, ts("2026-03-12T00:00:00Z"));
        assert!(k1.contains("|all|day|"));
    }
}
