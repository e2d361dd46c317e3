//! Profiles at `pk = profile#{id}, sk = _`; each identity a profile holds is claimed by an item
//! at `pk = identity#{namespace}#{value}, sk = _` naming the profile (`profileId`). A profile
//! and its claims change together in one transaction. Profiles are listed in id order through
//! `gsi1` (`gsi1pk = profile`, `gsi1sk = {id}`).

use std::collections::{BTreeSet, HashMap};

use super::DynamoStore;
use super::calls::{Cond, Query, TxError};
use super::codec::{decode, encode};
use super::cursor;
use super::keys::{
    GSI1, GSI1_KEY, GSI1PK, GSI1SK, Item, PK, PROFILE_ID, PROFILE_KIND, WHOLE, get_s, identity_pk,
    key, profile_pk, s,
};
use crate::domain::{Identity, Profile, ProfileId};
use crate::ports::{Conflict, Page, PageRequest, ProfileStore, StoreError, StoreResult};

/// Attempts of `delete_profile` when the profile changes between its read and its delete.
const DELETE_ATTEMPTS: u32 = 5;

fn profile_item(profile: &Profile) -> StoreResult<Item> {
    let mut keys = key(profile_pk(profile.id), WHOLE);
    keys.insert(GSI1PK.into(), s(PROFILE_KIND));
    keys.insert(GSI1SK.into(), s(profile.id.to_string()));
    encode(profile, keys)
}

fn identity_item(identity: &Identity, holder: ProfileId) -> Item {
    let mut item = key(identity_pk(identity), WHOLE);
    item.insert(PROFILE_ID.into(), s(holder.to_string()));
    item.insert("namespace".into(), s(identity.namespace.as_str()));
    item.insert("value".into(), s(identity.value.clone()));
    item
}

/// The identity item is absent or held by `holder`.
fn free_or_held_by(holder: ProfileId) -> Cond {
    Cond {
        expression: "attribute_not_exists(pk) OR #pid = :me",
        names: vec![("#pid", PROFILE_ID)],
        values: vec![(":me", s(holder.to_string()))],
    }
}

/// The identity item is held by `holder`.
fn held_by(holder: ProfileId) -> Cond {
    Cond {
        expression: "#pid = :me",
        names: vec![("#pid", PROFILE_ID)],
        values: vec![(":me", s(holder.to_string()))],
    }
}

impl ProfileStore for DynamoStore {
    async fn get_profile(&self, id: ProfileId) -> StoreResult<Option<Profile>> {
        self.get_raw(key(profile_pk(id), WHOLE))
            .await?
            .map(decode)
            .transpose()
    }

    async fn get_profiles(&self, ids: &[ProfileId]) -> StoreResult<Vec<Profile>> {
        let keys = ids.iter().map(|id| key(profile_pk(*id), WHOLE)).collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn find_profile(&self, identity: &Identity) -> StoreResult<Option<Profile>> {
        let Some(claim) = self.get_raw(key(identity_pk(identity), WHOLE)).await? else {
            return Ok(None);
        };
        self.get_profile(claim_holder(&claim)?).await
    }

    async fn find_profiles(&self, identities: &[Identity]) -> StoreResult<Vec<Option<Profile>>> {
        let keys = identities
            .iter()
            .map(|i| key(identity_pk(i), WHOLE))
            .collect();
        let mut holders: HashMap<String, ProfileId> = HashMap::new();
        for claim in self.batch_get(keys).await? {
            let pk = get_s(&claim, PK).unwrap_or_default().to_string();
            holders.insert(pk, claim_holder(&claim)?);
        }
        let ids: Vec<ProfileId> = holders.values().copied().collect();
        let profiles: HashMap<ProfileId, Profile> = self
            .get_profiles(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        Ok(identities
            .iter()
            .map(|i| {
                holders
                    .get(&identity_pk(i))
                    .and_then(|id| profiles.get(id))
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
        // A transaction touches each item once: claims win over releases of the same identity.
        let claims: Vec<&Identity> = claim.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let releases: BTreeSet<&Identity> =
            release.iter().filter(|i| !claims.contains(i)).collect();
        let record = match expected_revision {
            None => Cond::absent(),
            Some(r) => Cond::revision(r),
        };
        let mut items = vec![self.tx_put(profile_item(profile)?, Some(record))?];
        for i in &claims {
            items.push(self.tx_put(
                identity_item(i, profile.id),
                Some(free_or_held_by(profile.id)),
            )?);
        }
        for i in &releases {
            items.push(self.tx_delete(
                key(identity_pk(i), WHOLE),
                Some(free_or_held_by(profile.id)),
            )?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Conditions(failed)) => {
                let first = failed.first().copied().unwrap_or(0);
                let conflict = if first == 0 {
                    match expected_revision {
                        None => Conflict::AlreadyExists,
                        Some(_) => Conflict::RevisionMismatch,
                    }
                } else if let Some(i) = claims.get(first - 1) {
                    Conflict::IdentityTaken((*i).clone())
                } else {
                    // Releasing an identity another profile holds: this profile's view of
                    // its identities is stale.
                    Conflict::RevisionMismatch
                };
                Err(StoreError::Conflict(conflict))
            }
        }
    }

    async fn delete_profile(&self, id: ProfileId) -> StoreResult<bool> {
        // Identities another profile holds (an inconsistency) are left to their holder.
        let mut foreign: BTreeSet<Identity> = BTreeSet::new();
        for _ in 0..DELETE_ATTEMPTS {
            let Some(profile) = self.get_profile(id).await? else {
                return Ok(false);
            };
            let identities: Vec<Identity> = profile
                .identity_list()
                .into_iter()
                .filter(|i| !foreign.contains(i))
                .collect();
            let mut items = vec![self.tx_delete(
                key(profile_pk(id), WHOLE),
                Some(Cond::revision(profile.revision)),
            )?];
            for i in &identities {
                items.push(self.tx_delete(key(identity_pk(i), WHOLE), Some(held_by(id)))?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(true),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Conditions(failed)) => {
                    for f in failed.into_iter().filter(|f| *f > 0) {
                        if let Some(i) = identities.get(f - 1) {
                            foreign.insert(i.clone());
                        }
                    }
                }
            }
        }
        Err(StoreError::Conflict(Conflict::RevisionMismatch))
    }

    async fn list_profiles(&self, page: &PageRequest) -> StoreResult<Page<Profile>> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &GSI1_KEY, |k| k[GSI1PK] == PROFILE_KIND))
            .transpose()?;
        let query = Query::new(Some(GSI1), "gsi1pk = :kind", [(":kind", s(PROFILE_KIND))]);
        let (items, next) = self
            .query_page(&query, page.effective_limit(), start, &GSI1_KEY)
            .await?;
        Ok(Page {
            items: items.into_iter().map(decode).collect::<StoreResult<_>>()?,
            next,
        })
    }
}

/// The profile an identity claim item names.
fn claim_holder(claim: &Item) -> StoreResult<ProfileId> {
    get_s(claim, PROFILE_ID)
        .and_then(|id| ProfileId::parse(id).ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the identity claim {} names no valid profile id",
                get_s(claim, PK).unwrap_or("?")
            ))
        })
}
