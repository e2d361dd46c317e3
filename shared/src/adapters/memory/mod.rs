//! An in-memory store: every port of [`Store`](crate::ports::Store) and of
//! [`ExecutionStores`](crate::ports::ExecutionStores) over maps behind one mutex, for fast
//! service tests. It keeps the exact semantics of the real stores (conditional writes, atomic
//! multi-item writes, key-ordered pages with opaque cursors) and passes the same contract suites
//! (`herald_tests::contract`, `herald_tests::contract_execution`). The execution-side ports are
//! in the `execution` module.
//!
//! Items are keyed by the text form of their ids, so pages come in the same order as from the
//! SQLite and DynamoDB stores; records are kept as JSON, so they go through serde like they do
//! in a real store. Cursors are the last key of a page (`channel:address` for suppressions).

mod execution;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::{
    AudienceId, Campaign, CampaignId, CampaignVersion, Channel, Identity, Profile, ProfileId,
    Suppression,
};
use crate::ports::{
    AudienceMemberStore, CampaignStore, Conflict, Page, PageRequest, ProfileStore, Record,
    RecordStore, StoreError, StoreResult, SuppressionStore,
};

/// The in-memory store. Clones share the same data.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// `(kind, key)` → `(revision, body)`.
    records: BTreeMap<(&'static str, String), (u64, serde_json::Value)>,
    campaigns: BTreeMap<String, Campaign>,
    /// `(campaign id, version)`.
    versions: BTreeMap<(String, u32), CampaignVersion>,
    profiles: BTreeMap<String, Profile>,
    /// Identity → id of the profile holding it.
    identities: BTreeMap<Identity, ProfileId>,
    /// Audience id → member profile ids (text form → id).
    members: BTreeMap<String, BTreeMap<String, ProfileId>>,
    /// `(channel, address)`, in `Channel` order (email, sms, push).
    suppressions: BTreeMap<(Channel, String), Suppression>,
    /// Requests, executions, messages, counters, caps, schedules and holds.
    exec: execution::ExecutionState,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave a half-applied write behind: every
        // method checks all its conditions before it changes anything.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn conflict(c: Conflict) -> StoreError {
    StoreError::Conflict(c)
}

/// Items strictly after the cursor, at most `limit`, with the cursor of the last one when more
/// follow.
fn paginate<'a, K, V, T>(
    items: impl Iterator<Item = (&'a K, &'a V)>,
    page: &PageRequest,
    cursor_of: impl Fn(&K) -> String,
    mut convert: impl FnMut(&V) -> StoreResult<T>,
) -> StoreResult<Page<T>>
where
    K: 'a,
    V: 'a,
{
    let limit = page.effective_limit();
    let mut out = Vec::with_capacity(limit.min(64));
    let mut next = None;
    let mut items = items.peekable();
    while let Some((k, v)) = items.next() {
        out.push(convert(v)?);
        if out.len() == limit {
            if items.peek().is_some() {
                next = Some(cursor_of(k));
            }
            break;
        }
    }
    Ok(Page { items: out, next })
}

fn after<K: Ord>(cursor: Option<K>) -> (Bound<K>, Bound<K>) {
    match cursor {
        Some(c) => (Bound::Excluded(c), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(value).map_err(StoreError::backend)
}

fn from_json<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> StoreResult<T> {
    T::deserialize(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Suppression cursors are `channel:address`. A cursor naming no channel points past the end.
fn split_suppression_cursor(cursor: &str) -> Option<(Channel, String)> {
    let (channel, address) = cursor.split_once(':')?;
    Some((Channel::parse(channel)?, address.to_string()))
}

impl RecordStore for MemoryStore {
    async fn insert_record<T: Record>(&self, record: &T) -> StoreResult<()> {
        let body = to_json(record)?;
        let mut s = self.state();
        let key = (T::KIND, record.key());
        if s.records.contains_key(&key) {
            return Err(conflict(Conflict::AlreadyExists));
        }
        s.records.insert(key, (record.revision(), body));
        Ok(())
    }

    async fn get_record<T: Record>(&self, key: &str) -> StoreResult<Option<T>> {
        let s = self.state();
        s.records
            .get(&(T::KIND, key.to_string()))
            .map(|(_, body)| from_json(body))
            .transpose()
    }

    async fn list_records<T: Record>(&self, page: &PageRequest) -> StoreResult<Page<T>> {
        let s = self.state();
        let start = match &page.cursor {
            Some(c) => Bound::Excluded((T::KIND, c.clone())),
            None => Bound::Included((T::KIND, String::new())),
        };
        let items = s
            .records
            .range((start, Bound::Unbounded))
            .take_while(|((kind, _), _)| *kind == T::KIND);
        paginate(
            items,
            page,
            |(_, key)| key.clone(),
            |(_, body)| from_json(body),
        )
    }

    async fn replace_record<T: Record>(
        &self,
        record: &T,
        expected_revision: u64,
    ) -> StoreResult<()> {
        let body = to_json(record)?;
        let mut s = self.state();
        match s.records.get_mut(&(T::KIND, record.key())) {
            Some(stored) if stored.0 == expected_revision => {
                *stored = (record.revision(), body);
                Ok(())
            }
            _ => Err(conflict(Conflict::RevisionMismatch)),
        }
    }

    async fn delete_record<T: Record>(&self, key: &str, expected_revision: u64) -> StoreResult<()> {
        let mut s = self.state();
        let key = (T::KIND, key.to_string());
        match s.records.get(&key) {
            Some((rev, _)) if *rev == expected_revision => {
                s.records.remove(&key);
                Ok(())
            }
            _ => Err(conflict(Conflict::RevisionMismatch)),
        }
    }
}

impl CampaignStore for MemoryStore {
    async fn insert_campaign(
        &self,
        campaign: &Campaign,
        version: &CampaignVersion,
    ) -> StoreResult<()> {
        let mut s = self.state();
        let id = campaign.id.to_string();
        if s.campaigns.contains_key(&id) {
            return Err(conflict(Conflict::AlreadyExists));
        }
        s.campaigns.insert(id, campaign.clone());
        s.versions.insert(
            (version.campaign_id.to_string(), version.version),
            version.clone(),
        );
        Ok(())
    }

    async fn get_campaign(&self, id: CampaignId) -> StoreResult<Option<Campaign>> {
        Ok(self.state().campaigns.get(&id.to_string()).cloned())
    }

    async fn get_campaign_version(
        &self,
        id: CampaignId,
        version: u32,
    ) -> StoreResult<Option<CampaignVersion>> {
        Ok(self
            .state()
            .versions
            .get(&(id.to_string(), version))
            .cloned())
    }

    async fn list_campaigns(&self, page: &PageRequest) -> StoreResult<Page<Campaign>> {
        let s = self.state();
        let items = s.campaigns.range(after(page.cursor.clone()));
        paginate(items, page, Clone::clone, |c| Ok(c.clone()))
    }

    async fn update_campaign(
        &self,
        campaign: &Campaign,
        expected_revision: u64,
        versions: &[CampaignVersion],
    ) -> StoreResult<()> {
        let mut s = self.state();
        match s.campaigns.get_mut(&campaign.id.to_string()) {
            Some(stored) if stored.revision == expected_revision => *stored = campaign.clone(),
            _ => return Err(conflict(Conflict::RevisionMismatch)),
        }
        for v in versions {
            s.versions
                .insert((v.campaign_id.to_string(), v.version), v.clone());
        }
        Ok(())
    }

    async fn delete_campaign(&self, id: CampaignId, expected_revision: u64) -> StoreResult<()> {
        let mut s = self.state();
        let id = id.to_string();
        match s.campaigns.get(&id) {
            Some(stored) if stored.revision == expected_revision => {}
            _ => return Err(conflict(Conflict::RevisionMismatch)),
        }
        s.campaigns.remove(&id);
        s.versions.retain(|(cid, _), _| *cid != id);
        Ok(())
    }
}

impl ProfileStore for MemoryStore {
    async fn get_profile(&self, id: ProfileId) -> StoreResult<Option<Profile>> {
        Ok(self.state().profiles.get(&id.to_string()).cloned())
    }

    async fn get_profiles(&self, ids: &[ProfileId]) -> StoreResult<Vec<Profile>> {
        let s = self.state();
        Ok(ids
            .iter()
            .filter_map(|id| s.profiles.get(&id.to_string()).cloned())
            .collect())
    }

    async fn find_profile(&self, identity: &Identity) -> StoreResult<Option<Profile>> {
        let s = self.state();
        Ok(s.identities
            .get(identity)
            .and_then(|id| s.profiles.get(&id.to_string()))
            .cloned())
    }

    async fn find_profiles(&self, identities: &[Identity]) -> StoreResult<Vec<Option<Profile>>> {
        let s = self.state();
        Ok(identities
            .iter()
            .map(|identity| {
                s.identities
                    .get(identity)
                    .and_then(|id| s.profiles.get(&id.to_string()))
                    .cloned()
            })
            .collect())
    }

    async fn save_profile(
        &self,
        profile: &Profile,
        expected_revision: Option<u64>,
        claim: &[Identity],
        release: &[Identity],
    ) -> StoreResult<()> {
        let mut s = self.state();
        let key = profile.id.to_string();
        match (expected_revision, s.profiles.get(&key)) {
            (None, Some(_)) => return Err(conflict(Conflict::AlreadyExists)),
            (None, None) => {}
            (Some(rev), Some(stored)) if stored.revision == rev => {}
            (Some(_), _) => return Err(conflict(Conflict::RevisionMismatch)),
        }
        if let Some(taken) = claim.iter().find(|i| {
            s.identities
                .get(*i)
                .is_some_and(|holder| *holder != profile.id)
        }) {
            return Err(conflict(Conflict::IdentityTaken(taken.clone())));
        }
        // Only identities this profile holds are released.
        for i in release {
            if s.identities.get(i) == Some(&profile.id) {
                s.identities.remove(i);
            }
        }
        for i in claim {
            s.identities.insert(i.clone(), profile.id);
        }
        s.profiles.insert(key, profile.clone());
        Ok(())
    }

    async fn delete_profile(&self, id: ProfileId) -> StoreResult<bool> {
        let mut s = self.state();
        if s.profiles.remove(&id.to_string()).is_none() {
            return Ok(false);
        }
        s.identities.retain(|_, holder| *holder != id);
        Ok(true)
    }

    async fn list_profiles(&self, page: &PageRequest) -> StoreResult<Page<Profile>> {
        let s = self.state();
        let items = s.profiles.range(after(page.cursor.clone()));
        paginate(items, page, Clone::clone, |p| Ok(p.clone()))
    }
}

impl AudienceMemberStore for MemoryStore {
    async fn add_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        let mut s = self.state();
        let set = s.members.entry(audience.to_string()).or_default();
        for m in members {
            set.insert(m.to_string(), *m);
        }
        Ok(())
    }

    async fn remove_members(&self, audience: AudienceId, members: &[ProfileId]) -> StoreResult<()> {
        let mut s = self.state();
        let key = audience.to_string();
        if let Some(set) = s.members.get_mut(&key) {
            for m in members {
                set.remove(&m.to_string());
            }
            if set.is_empty() {
                s.members.remove(&key);
            }
        }
        Ok(())
    }

    async fn list_members(
        &self,
        audience: AudienceId,
        page: &PageRequest,
    ) -> StoreResult<Page<ProfileId>> {
        let s = self.state();
        match s.members.get(&audience.to_string()) {
            Some(set) => paginate(
                set.range(after(page.cursor.clone())),
                page,
                Clone::clone,
                |id| Ok(*id),
            ),
            None => Ok(Page {
                items: Vec::new(),
                next: None,
            }),
        }
    }

    async fn count_members(&self, audience: AudienceId) -> StoreResult<u64> {
        let s = self.state();
        Ok(s.members
            .get(&audience.to_string())
            .map_or(0, |set| set.len() as u64))
    }

    async fn clear_members(&self, audience: AudienceId) -> StoreResult<()> {
        self.state().members.remove(&audience.to_string());
        Ok(())
    }
}

impl SuppressionStore for MemoryStore {
    async fn put_suppression(&self, suppression: &Suppression) -> StoreResult<bool> {
        let key = (suppression.channel, suppression.address.clone());
        Ok(self
            .state()
            .suppressions
            .insert(key, suppression.clone())
            .is_none())
    }

    async fn get_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> StoreResult<Option<Suppression>> {
        let key = (channel, address.to_string());
        Ok(self.state().suppressions.get(&key).cloned())
    }

    async fn delete_suppression(&self, channel: Channel, address: &str) -> StoreResult<bool> {
        let key = (channel, address.to_string());
        Ok(self.state().suppressions.remove(&key).is_some())
    }

    async fn list_suppressions(
        &self,
        channel: Option<Channel>,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>> {
        let s = self.state();
        let cursor = match page.cursor.as_deref() {
            None => None,
            Some(c) => match split_suppression_cursor(c) {
                Some(position) => Some(position),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    });
                }
            },
        };
        let items = s
            .suppressions
            .range(after(cursor))
            .filter(|((c, _), _)| channel.is_none_or(|wanted| wanted == *c));
        paginate(
            items,
            page,
            |(c, a)| format!("{c}:{a}"),
            |sup| Ok(sup.clone()),
        )
    }
}
