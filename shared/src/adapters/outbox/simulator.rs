//! The SES mailbox simulator, locally: the addresses SES treats specially
//! (`success@`, `bounce@`, `ooto@`, `complaint@`, `suppressionlist@simulator.amazonses.com`,
//! each also with a `+label` before the `@`) and the feedback events SES would publish for
//! them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::MessageId;
use crate::ports::delivery::MessageTags;

/// The simulator's domain.
pub const SIMULATOR_DOMAIN: &str = "simulator.amazonses.com";

/// Which simulator mailbox an address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum SimulatorMailbox {
    /// Delivered: a `Delivery` event.
    Success,
    /// Hard bounce: a permanent `Bounce` event.
    Bounce,
    /// Out of the office: delivered with an auto-reply; SES publishes no bounce or complaint,
    /// and neither does the outbox.
    Ooto,
    /// Delivered, then marked as spam: a `Delivery` and then a `Complaint` event.
    Complaint,
    /// On the suppression list: a permanent `Bounce` event.
    SuppressionList,
}

impl SimulatorMailbox {
    /// The mailbox `address` names, if it is a simulator address (case-insensitive;
    /// `bounce+test1@simulator.amazonses.com` is `Bounce`).
    pub fn of(address: &str) -> Option<Self> {
        let (local, domain) = address.trim().rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(SIMULATOR_DOMAIN) {
            return None;
        }
        let mailbox = local.split_once('+').map_or(local, |(m, _)| m);
        match mailbox.to_ascii_lowercase().as_str() {
            "success" => Some(Self::Success),
            "bounce" => Some(Self::Bounce),
            "ooto" => Some(Self::Ooto),
            "complaint" => Some(Self::Complaint),
            "suppressionlist" => Some(Self::SuppressionList),
            _ => None,
        }
    }

    /// The feedback kinds SES publishes for this mailbox, in order.
    pub fn feedback(self) -> &'static [FeedbackKind] {
        match self {
            Self::Success => &[FeedbackKind::Delivery],
            Self::Bounce | Self::SuppressionList => &[FeedbackKind::Bounce { permanent: true }],
            Self::Complaint => &[FeedbackKind::Delivery, FeedbackKind::Complaint],
            Self::Ooto => &[],
        }
    }
}

/// What happened to a delivered message, as SES would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FeedbackKind {
    Delivery,
    Bounce { permanent: bool },
    Complaint,
}

/// One simulated SES event for a message the outbox accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedFeedback {
    /// `outbox-<message id>`, as returned in `Accepted`.
    pub provider_message_id: String,
    pub message_id: MessageId,
    /// The message's tags (execution, campaign, version), as SES events carry them.
    pub tags: MessageTags,
    pub kind: FeedbackKind,
    /// The recipient address the event is about.
    pub address: String,
    pub occurred_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_addresses_are_recognised_with_labels_and_any_case() {
        assert_eq!(
            SimulatorMailbox::of("bounce@simulator.amazonses.com"),
            Some(SimulatorMailbox::Bounce)
        );
        assert_eq!(
            SimulatorMailbox::of("Complaint+run-7@Simulator.AmazonSES.com"),
            Some(SimulatorMailbox::Complaint)
        );
        assert_eq!(
            SimulatorMailbox::of("suppressionlist+x@simulator.amazonses.com"),
            Some(SimulatorMailbox::SuppressionList)
        );
        assert_eq!(
            SimulatorMailbox::of("success@simulator.amazonses.com"),
            Some(SimulatorMailbox::Success)
        );
        assert_eq!(
            SimulatorMailbox::of("ooto@simulator.amazonses.com"),
            Some(SimulatorMailbox::Ooto)
        );
    }

    #[test]
    fn other_addresses_are_not_simulator_mailboxes() {
        for a in [
            "bounce@example.com",
            "someone@simulator.amazonses.com",
            "bounce@simulator.amazonses.com.evil.example",
            "no-at-sign",
        ] {
            assert_eq!(SimulatorMailbox::of(a), None, "{a}");
        }
    }

    #[test]
    fn each_mailbox_yields_the_events_ses_publishes() {
        use FeedbackKind::*;
        assert_eq!(SimulatorMailbox::Success.feedback(), &[Delivery]);
        assert_eq!(
            SimulatorMailbox::Bounce.feedback(),
            &[Bounce { permanent: true }]
        );
        assert_eq!(
            SimulatorMailbox::SuppressionList.feedback(),
            &[Bounce { permanent: true }]
        );
        assert_eq!(
            SimulatorMailbox::Complaint.feedback(),
            &[Delivery, Complaint]
        );
        assert!(SimulatorMailbox::Ooto.feedback().is_empty());
    }
}
