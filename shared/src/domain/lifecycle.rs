//! The campaign lifecycle as pure transitions on [`Campaign`]:
//!
//! ```text
//! draft ──activate──▶ scheduled ──start time──▶ live ──stop──▶ stopped ──archive──▶ archived
//!   │                     │                       └──end time──▶ completed ──archive──▶ archived
//!   └──activate (no future start)──────────────▶ live
//! ```
//! A live or scheduled campaign is edited through a draft version; activating that draft
//! replaces the live version in the same write. Only drafts are deleted.

use jiff::Timestamp;

use super::campaign::{Campaign, CampaignSpec, CampaignStatus, CampaignVersion};
use super::ids::CampaignId;

/// An action that is not allowed in the campaign's current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a campaign that is {status}{}", hint.map(|h| format!(": {h}")).unwrap_or_default())]
pub struct IllegalTransition {
    pub action: &'static str,
    pub status: CampaignStatus,
    pub hint: Option<&'static str>,
}

fn illegal(
    action: &'static str,
    status: CampaignStatus,
    hint: Option<&'static str>,
) -> IllegalTransition {
    IllegalTransition {
        action,
        status,
        hint,
    }
}

/// What an edit did.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub version: CampaignVersion,
    /// True when the edit opened a new draft version of a live or scheduled campaign.
    pub new_version: bool,
}

impl Campaign {
    /// A new draft campaign with its first version.
    pub fn new_draft(
        id: CampaignId,
        spec: CampaignSpec,
        now: Timestamp,
    ) -> (Campaign, CampaignVersion) {
        let campaign = Campaign {
            id,
            name: spec.name.clone(),
            campaign_type: spec.campaign_type,
            channel: spec.channel,
            status: CampaignStatus::Draft,
            live_version: None,
            draft_version: Some(1),
            latest_version: 1,
            revision: 1,
            created_at: now,
            updated_at: now,
            duplicated_from: None,
        };
        let version = CampaignVersion {
            campaign_id: id,
            version: 1,
            spec,
            created_at: now,
            updated_at: now,
            activated_at: None,
        };
        (campaign, version)
    }

    fn touch(&mut self, now: Timestamp) {
        self.revision += 1;
        self.updated_at = now;
    }

    fn is_editable(&self) -> bool {
        matches!(
            self.status,
            CampaignStatus::Draft | CampaignStatus::Scheduled | CampaignStatus::Live
        )
    }

    /// Writes `spec` into the draft version. A live or scheduled campaign without a draft gets a
    /// new draft version (its live version is never edited in place). Type and channel are fixed
    /// once a version has been activated.
    pub fn edit(
        &mut self,
        current_draft: Option<&CampaignVersion>,
        spec: CampaignSpec,
        now: Timestamp,
    ) -> Result<Edit, IllegalTransition> {
        if !self.is_editable() {
            return Err(illegal(
                "edit",
                self.status,
                Some("duplicate it to start a new draft"),
            ));
        }
        if self.live_version.is_some()
            && (spec.campaign_type != self.campaign_type || spec.channel != self.channel)
        {
            return Err(illegal(
                "change the type or channel of",
                self.status,
                Some(
                    "type and channel are fixed once a version has been activated; duplicate it instead",
                ),
            ));
        }
        let edit = match (self.draft_version, current_draft) {
            (Some(n), Some(draft)) if draft.version == n => Edit {
                version: CampaignVersion {
                    spec,
                    updated_at: now,
                    ..draft.clone()
                },
                new_version: false,
            },
            _ => {
                let n = self.latest_version + 1;
                self.latest_version = n;
                self.draft_version = Some(n);
                Edit {
                    version: CampaignVersion {
                        campaign_id: self.id,
                        version: n,
                        spec,
                        created_at: now,
                        updated_at: now,
                        activated_at: None,
                    },
                    new_version: true,
                }
            }
        };
        self.name = edit.version.spec.name.clone();
        self.campaign_type = edit.version.spec.campaign_type;
        self.channel = edit.version.spec.channel;
        self.touch(now);
        Ok(edit)
    }

    /// Opens a draft version of a live or scheduled campaign as a copy of `live`. Returns `None`
    /// (and changes nothing) when a draft version already exists.
    pub fn open_draft(
        &mut self,
        live: &CampaignVersion,
        now: Timestamp,
    ) -> Result<Option<CampaignVersion>, IllegalTransition> {
        if !matches!(
            self.status,
            CampaignStatus::Scheduled | CampaignStatus::Live
        ) {
            return Err(illegal(
                "open a draft version of",
                self.status,
                Some(
                    "draft versions are for scheduled and live campaigns; a draft campaign is edited directly",
                ),
            ));
        }
        if self.draft_version.is_some() {
            return Ok(None);
        }
        let edit = self.edit(None, live.spec.clone(), now)?;
        Ok(Some(edit.version))
    }

    /// Activates the draft version (which must have passed review): the campaign becomes
    /// `scheduled` when its start lies ahead, `live` otherwise; a live version is replaced.
    /// Returns the activated version, stamped.
    pub fn activate(
        &mut self,
        draft: &CampaignVersion,
        now: Timestamp,
    ) -> Result<CampaignVersion, IllegalTransition> {
        if !self.is_editable() {
            return Err(illegal("activate", self.status, None));
        }
        if self.draft_version != Some(draft.version) {
            return Err(illegal(
                "activate",
                self.status,
                Some("there is no draft version to activate; edit the campaign to open one"),
            ));
        }
        if draft.spec.schedule.end_at.is_some_and(|end| end <= now) {
            return Err(illegal(
                "activate",
                self.status,
                Some("its schedule ended in the past"),
            ));
        }
        self.status = match draft.spec.schedule.start_at {
            Some(start) if start > now => CampaignStatus::Scheduled,
            _ => CampaignStatus::Live,
        };
        self.live_version = Some(draft.version);
        self.draft_version = None;
        self.touch(now);
        Ok(CampaignVersion {
            activated_at: Some(now),
            updated_at: now,
            ..draft.clone()
        })
    }

    /// Stops a scheduled or live campaign for good.
    pub fn stop(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        match self.status {
            CampaignStatus::Scheduled | CampaignStatus::Live => {
                self.status = CampaignStatus::Stopped;
                self.touch(now);
                Ok(())
            }
            CampaignStatus::Draft => Err(illegal(
                "stop",
                self.status,
                Some("a draft never ran; delete it instead"),
            )),
            s => Err(illegal("stop", s, None)),
        }
    }

    /// Archives a stopped or completed campaign.
    pub fn archive(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        match self.status {
            CampaignStatus::Stopped | CampaignStatus::Completed => {
                self.status = CampaignStatus::Archived;
                self.touch(now);
                Ok(())
            }
            CampaignStatus::Draft => Err(illegal(
                "archive",
                self.status,
                Some("delete a draft instead"),
            )),
            s => Err(illegal("archive", s, Some("stop it first"))),
        }
    }

    /// Checks that the campaign may be deleted (drafts only).
    pub fn check_deletable(&self) -> Result<(), IllegalTransition> {
        if self.status == CampaignStatus::Draft {
            Ok(())
        } else {
            Err(illegal(
                "delete",
                self.status,
                Some("only drafts are deleted; stop and archive it instead"),
            ))
        }
    }

    /// Moves a campaign along its schedule as time passes: `scheduled` becomes `live` at its
    /// start, `live` becomes `completed` at its end. Returns true when the status changed.
    pub fn advance(&mut self, live: &CampaignVersion, now: Timestamp) -> bool {
        let schedule = &live.spec.schedule;
        let next = match self.status {
            CampaignStatus::Scheduled if schedule.end_at.is_some_and(|e| e <= now) => {
                CampaignStatus::Completed
            }
            CampaignStatus::Scheduled if schedule.start_at.is_none_or(|s| s <= now) => {
                CampaignStatus::Live
            }
            CampaignStatus::Live if schedule.end_at.is_some_and(|e| e <= now) => {
                CampaignStatus::Completed
            }
            _ => return false,
        };
        self.status = next;
        self.touch(now);
        true
    }

    /// A new draft campaign holding a copy of `source`'s spec.
    pub fn duplicate(
        &self,
        source: &CampaignVersion,
        new_id: CampaignId,
        now: Timestamp,
    ) -> (Campaign, CampaignVersion) {
        let mut spec = source.spec.clone();
        spec.name = format!("{} (copy)", spec.name);
        let (mut c, v) = Campaign::new_draft(new_id, spec, now);
        c.duplicated_from = Some(self.id);
        (c, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::{CampaignType, Channel, Schedule};
    use crate::domain::content::{Content, EmailMessage, LocalizedMessage, Message};

    fn spec() -> CampaignSpec {
        CampaignSpec {
            name: "Reset".into(),
            description: String::new(),
            tags: vec![],
            campaign_type: CampaignType::Transactional,
            channel: Channel::Email,
            channel_config_id: None,
            content: Content {
                base: LocalizedMessage {
                    message: Message::Email(EmailMessage {
                        subject: "Hi".into(),
                        html: "<p>x</p>".into(),
                        ..Default::default()
                    }),
                    locales: Default::default(),
                },
                variants: vec![],
            },
            audience: None,
            schedule: Schedule::default(),
            rate_limit: None,
            high_throughput: false,
            create_profiles: false,
            rule_set_id: None,
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn activating_a_draft_makes_it_live_and_clears_the_draft_version() {
        let now = t("2026-01-01T00:00:00Z");
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), spec(), now);
        let active = c.activate(&v, now).unwrap();
        assert_eq!(c.status, CampaignStatus::Live);
        assert_eq!(c.live_version, Some(1));
        assert_eq!(c.draft_version, None);
        assert_eq!(active.activated_at, Some(now));
        assert_eq!(c.revision, 2);
    }

    #[test]
    fn a_future_start_makes_the_campaign_scheduled_then_live_then_completed() {
        let now = t("2026-01-01T00:00:00Z");
        let mut s = spec();
        s.schedule = Schedule {
            start_at: Some(t("2026-01-02T00:00:00Z")),
            end_at: Some(t("2026-01-03T00:00:00Z")),
        };
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), s, now);
        let live = c.activate(&v, now).unwrap();
        assert_eq!(c.status, CampaignStatus::Scheduled);
        assert!(!c.advance(&live, t("2026-01-01T12:00:00Z")));
        assert!(c.advance(&live, t("2026-01-02T00:00:00Z")));
        assert_eq!(c.status, CampaignStatus::Live);
        assert!(c.advance(&live, t("2026-01-03T00:00:00Z")));
        assert_eq!(c.status, CampaignStatus::Completed);
    }

    #[test]
    fn editing_a_live_campaign_opens_a_new_draft_version_and_leaves_the_live_one() {
        let now = t("2026-01-01T00:00:00Z");
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), spec(), now);
        c.activate(&v, now).unwrap();
        let mut s2 = spec();
        s2.name = "Reset v2".into();
        let edit = c.edit(None, s2.clone(), now).unwrap();
        assert!(edit.new_version);
        assert_eq!(edit.version.version, 2);
        assert_eq!(c.live_version, Some(1));
        assert_eq!(c.draft_version, Some(2));
        // A second edit updates the same draft version.
        let edit2 = c.edit(Some(&edit.version), s2, now).unwrap();
        assert!(!edit2.new_version);
        assert_eq!(edit2.version.version, 2);
        c.activate(&edit2.version, now).unwrap();
        assert_eq!(c.live_version, Some(2));
    }

    #[test]
    fn the_channel_of_an_activated_campaign_cannot_change() {
        let now = t("2026-01-01T00:00:00Z");
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), spec(), now);
        c.activate(&v, now).unwrap();
        let mut s2 = spec();
        s2.channel = Channel::Sms;
        assert!(c.edit(None, s2, now).is_err());
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        let now = t("2026-01-01T00:00:00Z");
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), spec(), now);
        assert!(c.stop(now).is_err());
        assert!(c.archive(now).is_err());
        c.activate(&v, now).unwrap();
        assert!(c.check_deletable().is_err());
        assert!(c.archive(now).is_err());
        c.stop(now).unwrap();
        assert!(c.stop(now).is_err());
        assert!(c.activate(&v, now).is_err());
        assert!(c.edit(None, spec(), now).is_err());
        c.archive(now).unwrap();
        assert_eq!(c.status, CampaignStatus::Archived);
        assert!(c.archive(now).is_err());
    }

    #[test]
    fn a_schedule_that_already_ended_cannot_be_activated() {
        let now = t("2026-01-05T00:00:00Z");
        let mut s = spec();
        s.schedule.end_at = Some(t("2026-01-03T00:00:00Z"));
        let (mut c, v) = Campaign::new_draft(CampaignId::new(), s, now);
        let err = c.activate(&v, now).unwrap_err();
        assert!(err.to_string().contains("ended"), "{err}");
        assert_eq!(c.status, CampaignStatus::Draft);
    }
}
