//! The review checks. INTEGRATION SKELETON (see `render/mod.rs`).

use jiff::Timestamp;

use crate::domain::{CampaignVersion, ChannelConfig, ReviewReport};

/// Whether a referenced item exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The campaign does not reference one.
    NotReferenced,
    /// Referenced, but no such item is stored.
    Missing,
    Found(T),
}

pub struct ReviewContext<'a> {
    pub channel_config: Lookup<&'a ChannelConfig>,
    pub audience: Lookup<()>,
    pub rule_set: Lookup<()>,
    pub now: Timestamp,
}

/// Reviews one version: errors block activation, warnings do not.
pub fn review(_version: &CampaignVersion, _ctx: &ReviewContext<'_>) -> ReviewReport {
    unimplemented!("render: review")
}
