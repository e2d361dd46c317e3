//! Ports: the traits services are generic over. Adapters implement them (`adapters::dynamo`,
//! `adapters::sqlite`); tests use the same traits with fakes where speed matters.
//!
//! Every store method is one atomic operation. Conditions (an item must not exist yet, its
//! revision must still be the one read) are part of the write, never a read before it.

use std::future::Future;

pub mod delivery;
pub mod execution;
pub mod queue;
pub mod sms_opt_out;
pub mod webhook;

pub use delivery::{
    Accepted, Delivery, EmailEnvelope, EmailSender, PushEnvelope, PushSender, SendError,
    SmsEnvelope, SmsSender,
};
pub use execution::{
    AcceptanceStore, Begin, CapCounter, CapStore, Claim, CountStore, ExecutionStore,
    ExecutionStores, ExpiryStore, HoldStore, MessageStore, PaceStore, RequestKey, Reservation,
    ScheduleStore, StoredResponse, slots_end,
};
pub use queue::{Job, JobDelivery, Queue};
pub use webhook::{WebhookError, WebhookSender};

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{
    Audience, AudienceId, Campaign, CampaignId, CampaignVersion, Channel, ChannelConfig, Identity,
    Profile, ProfileId, RuleSet, Suppression,
};

/// A request for one page: an opaque cursor from the previous page and a page size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 1000;

    pub fn first(limit: u32) -> Self {
        Self {
            cursor: None,
            limit,
        }
    }

    /// The page size stores use: 0 means [`Self::DEFAULT_LIMIT`], and no page exceeds
    /// [`Self::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        let limit = match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        };
        limit as usize
    }
}

/// One page of results; `next` is the cursor for the following page, absent on the last.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Why a conditional write was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// An item with this key exists already.
    AlreadyExists,
    /// The stored revision is not the one the write expected (or the item is gone).
    RevisionMismatch,
    /// The identity belongs to another profile.
    IdentityTaken(Identity),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflicting write: {0:?}")]
    Conflict(Conflict),
    #[error("a stored item could not be decoded: {0}")]
    Corrupt(String),
    /// A page cursor this listing did not issue.
    #[error("{0}")]
    InvalidCursor(String),
    #[error("the store failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }

    /// A page cursor the listing did not issue (`text`, shortened).
    pub fn invalid_cursor(text: &str) -> Self {
        let shown: String = text.chars().take(40).collect();
        StoreError::InvalidCursor(format!(
            "the page cursor {shown:?} is not one this listing issued; start again without a cursor"
        ))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A small document stored whole under `(KIND, key)` with a revision: channel configurations,
/// rule sets, audiences.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable kind name used in keys (`channelConfig`, `ruleSet`, `audience`).
    const KIND: &'static str;
    fn key(&self) -> String;
    fn revision(&self) -> u64;
}

impl Record for ChannelConfig {
    const KIND: &'static str = "channelConfig";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
}

impl Record for RuleSet {
    const KIND: &'static str = "ruleSet";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
}

impl Record for crate::domain::webhook::Webhook {
    const KIND: &'static str = "webhook";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
}

impl Record for Audience {
    const KIND: &'static str = "audience";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn revision(&self) -> u64 {
        self.revision
    }
}

pub trait RecordStore: Send + Sync {
    /// Stores a new record; `Conflict(AlreadyExists)` when the key is taken.
    fn insert_record<T: Record>(&self, record: &T) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_record<T: Record>(
        &self,
        key: &str,
    ) -> impl Future<Output = StoreResult<Option<T>>> + Send;
    /// Records of one kind in key order.
    fn list_records<T: Record>(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<T>>> + Send;
    /// Replaces a record whose stored revision is `expected_revision`; `Conflict(RevisionMismatch)`
    /// otherwise (also when it no longer exists).
    fn replace_record<T: Record>(
        &self,
        record: &T,
        expected_revision: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes a record whose stored revision is `expected_revision`.
    fn delete_record<T: Record>(
        &self,
        key: &str,
        expected_revision: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait CampaignStore: Send + Sync {
    /// Stores a new campaign with its first version; `Conflict(AlreadyExists)` when the id is taken.
    fn insert_campaign(
        &self,
        campaign: &Campaign,
        version: &CampaignVersion,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_campaign(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = StoreResult<Option<Campaign>>> + Send;
    fn get_campaign_version(
        &self,
        id: CampaignId,
        version: u32,
    ) -> impl Future<Output = StoreResult<Option<CampaignVersion>>> + Send;
    /// Campaigns in id order (ids are time-ordered, so oldest first).
    fn list_campaigns(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Campaign>>> + Send;
    /// In one atomic write: replaces the campaign record if its stored revision is
    /// `expected_revision`, and puts every version given (new or replaced).
    fn update_campaign(
        &self,
        campaign: &Campaign,
        expected_revision: u64,
        versions: &[CampaignVersion],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the campaign record (at `expected_revision`) and all its versions.
    fn delete_campaign(
        &self,
        id: CampaignId,
        expected_revision: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait ProfileStore: Send + Sync {
    fn get_profile(
        &self,
        id: ProfileId,
    ) -> impl Future<Output = StoreResult<Option<Profile>>> + Send;
    /// Those of the profiles `ids` that exist, in no particular order: what a batch of
    /// audience members looks up before it runs. One lookup per id unless the store reads them
    /// together (SQLite: one read transaction; in memory: one lock; DynamoDB: BatchGetItem).
    fn get_profiles(
        &self,
        ids: &[ProfileId],
    ) -> impl Future<Output = StoreResult<Vec<Profile>>> + Send {
        async move {
            let mut found = Vec::new();
            for id in ids {
                found.extend(self.get_profile(*id).await?);
            }
            Ok(found)
        }
    }
    /// The profile that holds this identity.
    fn find_profile(
        &self,
        identity: &Identity,
    ) -> impl Future<Output = StoreResult<Option<Profile>>> + Send;
    /// The profile holding each of `identities`, in their order (`None` for one no profile
    /// holds): what a bulk call (import, audience members) looks up. One lookup per identity
    /// unless the store reads them together (SQLite: one read transaction; in memory: one
    /// lock; DynamoDB: BatchGetItem of the claims, then of their profiles).
    fn find_profiles(
        &self,
        identities: &[Identity],
    ) -> impl Future<Output = StoreResult<Vec<Option<Profile>>>> + Send {
        async move {
            let mut found = Vec::with_capacity(identities.len());
            for identity in identities {
                found.push(self.find_profile(identity).await?);
            }
            Ok(found)
        }
    }
    /// In one atomic write: stores the profile (new when `expected_revision` is `None`, else
    /// only if the stored revision matches), claims every identity in `claim` for it
    /// (`Conflict(IdentityTaken)` when another profile holds one; claiming one it already holds
    /// is fine) and releases every identity in `release`.
    fn save_profile(
        &self,
        profile: &Profile,
        expected_revision: Option<u64>,
        claim: &[Identity],
        release: &[Identity],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Erases a profile and its identities. Returns false when there was none.
    fn delete_profile(&self, id: ProfileId) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Every profile, a page at a time (for rule audiences; batch work, never a hot path).
    fn list_profiles(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Profile>>> + Send;
}

pub trait AudienceMemberStore: Send + Sync {
    /// Adds profiles to a static audience; adding a member twice is harmless.
    fn add_members(
        &self,
        audience: AudienceId,
        members: &[ProfileId],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Removes profiles from a static audience; removing a non-member is harmless.
    fn remove_members(
        &self,
        audience: AudienceId,
        members: &[ProfileId],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Members in profile-id order, a page at a time.
    fn list_members(
        &self,
        audience: AudienceId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<ProfileId>>> + Send;
    fn count_members(&self, audience: AudienceId) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Removes every member (when the audience is deleted).
    fn clear_members(&self, audience: AudienceId) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait SuppressionStore: Send + Sync {
    /// Adds or replaces the suppression for `(channel, address)`. Returns true when it is new.
    fn put_suppression(
        &self,
        suppression: &Suppression,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// `address` is normalized (see `domain::suppression::normalize_address`).
    fn get_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> impl Future<Output = StoreResult<Option<Suppression>>> + Send;
    /// Returns false when there was none.
    fn delete_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Suppressions in `(channel, address)` order, optionally of one channel.
    fn list_suppressions(
        &self,
        channel: Option<Channel>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Suppression>>> + Send;
}

/// Everything a Herald deployment stores.
pub trait Store:
    RecordStore
    + CampaignStore
    + ProfileStore
    + AudienceMemberStore
    + SuppressionStore
    + Clone
    + 'static
{
}

impl<T> Store for T where
    T: RecordStore
        + CampaignStore
        + ProfileStore
        + AudienceMemberStore
        + SuppressionStore
        + Clone
        + 'static
{
}

/// Where time comes from. Services never read the system clock directly.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told to move (tests).
#[derive(Debug)]
pub struct FixedClock(std::sync::Mutex<Timestamp>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.saturating_add(by).unwrap_or(*t);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}
