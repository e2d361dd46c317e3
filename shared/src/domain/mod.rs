//! Pure types and rules: no I/O, no AWS, no Lambda, no async runtime.

pub mod address;
pub mod audience;
pub mod campaign;
pub mod channel_config;
pub mod content;
pub mod error;
pub mod execution;
pub mod ids;
pub mod lifecycle;
pub mod profile;
pub mod review;
pub mod rules;
pub mod ses_event;
pub mod suppression;
pub mod trigger;
pub mod unsubscribe;
pub mod webhook;

pub use address::{EmailAddress, PhoneNumber};
pub use audience::{Audience, AudienceKind, AudienceRule, AudienceSpec};
pub use campaign::{
    AudienceRef, Campaign, CampaignSpec, CampaignStatus, CampaignType, CampaignVersion, Channel,
    Schedule,
};
pub use channel_config::{ChannelConfig, ChannelConfigSpec, ChannelSettings};
pub use content::{
    Content, EmailMessage, LocalizedMessage, Message, PushMessage, SmsMessage, Variant,
};
pub use error::{ValidationError, ValidationErrors};
pub use execution::{
    AudienceBatch, CountDelta, CountScope, ExclusionReason, Execution, ExecutionKind,
    ExecutionStatus, HeldMessage, MessageId, MessageRecord, OutcomeCounts, OutcomeKind,
    RecipientKey, RecipientWork, ScheduleStatus, ScheduledExecution,
};
pub use ids::{
    AudienceId, CampaignId, ChannelConfigId, ExecutionId, ProfileId, RuleSetId, ScheduleId,
};
pub use lifecycle::IllegalTransition;
pub use profile::{Consent, ConsentValue, Identity, Namespace, Profile, ProfileUpdate, PushToken};
pub use review::{Finding, ReviewReport};
pub use rules::{RuleSet, RuleSetSpec};
pub use suppression::{Suppression, SuppressionReason};
