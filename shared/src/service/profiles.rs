//! Profile use cases: upsert by identity, batch NDJSON import, get, find, erase.

use serde::Serialize;

use super::{AdminService, ServiceError, ServiceResult, WRITE_ATTEMPTS};
use crate::domain::profile::ProfileUpdate;
use crate::domain::{Identity, Profile, ProfileId};
use crate::ports::{Clock, Conflict, Store, StoreError};

/// The outcome of a batch import: every line is accounted for.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub received: usize,
    pub created: usize,
    pub updated: usize,
    pub failed: usize,
    pub errors: Vec<ImportLineError>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportLineError {
    /// 1-based line number in the request body.
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

/// Most lines accepted in one import call.
pub const MAX_IMPORT_LINES: usize = 10_000;

impl<S: Store, C: Clock> AdminService<S, C> {
    pub async fn get_profile(&self, id: ProfileId) -> ServiceResult<Profile> {
        self.store
            .get_profile(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("profile", id))
    }

    pub async fn find_profile(&self, namespace: &str, value: &str) -> ServiceResult<Profile> {
        let identity = Identity::parse(namespace, value)?;
        self.store
            .find_profile(&identity)
            .await?
            .ok_or_else(|| ServiceError::not_found("profile", identity.to_string()))
    }

    /// Creates or updates the profile holding `key`, applying `update`. Returns the profile and
    /// whether it was created.
    pub async fn upsert_profile(
        &self,
        key: &Identity,
        update: &ProfileUpdate,
    ) -> ServiceResult<(Profile, bool)> {
        let mut identities = update.validate()?;
        if let Some(other) = identities
            .iter()
            .find(|i| i.namespace == key.namespace && i.value != key.value)
        {
            return Err(crate::domain::ValidationError::new(
                format!("identities.{}", other.namespace),
                format!("the body names {other} but the profile is addressed by {key}"),
            )
            .into());
        }
        if !identities.contains(key) {
            identities.push(key.clone());
        }
        self.upsert_with(std::slice::from_ref(key), &identities, update)
            .await
    }

    /// Finds the profile by the first of `lookup` that matches, then applies the update.
    async fn upsert_with(
        &self,
        lookup: &[Identity],
        identities: &[Identity],
        update: &ProfileUpdate,
    ) -> ServiceResult<(Profile, bool)> {
        let mut last = None;
        for _ in 0..WRITE_ATTEMPTS {
            let mut existing = None;
            for i in lookup {
                if let Some(p) = self.store.find_profile(i).await? {
                    existing = Some(p);
                    break;
                }
            }
            let now = self.clock.now();
            let (mut profile, expected, created) = match existing {
                Some(p) => {
                    let rev = p.revision;
                    (p, Some(rev), false)
                }
                None => (
                    Profile {
                        id: ProfileId::new(),
                        identities: Default::default(),
                        attributes: Default::default(),
                        consent: Default::default(),
                        push_tokens: vec![],
                        timezone: None,
                        locale: None,
                        revision: 0,
                        created_at: now,
                        updated_at: now,
                    },
                    None,
                    true,
                ),
            };
            let claim: Vec<Identity> = identities
                .iter()
                .filter(|i| profile.identities.get(&i.namespace) != Some(&i.value))
                .cloned()
                .collect();
            let release: Vec<Identity> = claim
                .iter()
                .filter_map(|i| {
                    profile.identities.get(&i.namespace).map(|old| Identity {
                        namespace: i.namespace.clone(),
                        value: old.clone(),
                    })
                })
                .collect();
            update.apply(&mut profile, identities)?;
            profile.revision += 1;
            profile.updated_at = now;
            match self
                .store
                .save_profile(&profile, expected, &claim, &release)
                .await
            {
                Ok(()) => return Ok((profile, created)),
                // Lost a race with another writer of this profile (or its first identity): read again.
                Err(StoreError::Conflict(Conflict::RevisionMismatch | Conflict::AlreadyExists)) => {
                    last = Some(ServiceError::StaleRevision {
                        kind: "profile",
                        id: profile.id.to_string(),
                        expected: expected.unwrap_or(0),
                    });
                }
                Err(StoreError::Conflict(Conflict::IdentityTaken(i)))
                    if created && lookup.contains(&i) =>
                {
                    last = Some(ServiceError::IdentityTaken(i));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| ServiceError::Conflict("the profile kept changing; retry".into())))
    }

    /// Imports profiles from NDJSON: one [`ProfileUpdate`] per line, matched to an existing
    /// profile by any of its identities (in namespace order), else created. Lines are applied in
    /// order; a bad line is reported and does not stop the others.
    pub async fn import_profiles(&self, ndjson: &str) -> ServiceResult<ImportReport> {
        let lines: Vec<(usize, &str)> = ndjson
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return Err(crate::domain::ValidationError::new(
                "body",
                "the import is empty: send one JSON profile per line",
            )
            .into());
        }
        if lines.len() > MAX_IMPORT_LINES {
            return Err(crate::domain::ValidationError::new(
                "body",
                format!("an import holds at most {MAX_IMPORT_LINES} profiles; split it into several calls"),
            )
            .into());
        }
        let mut report = ImportReport {
            received: lines.len(),
            ..Default::default()
        };
        for (line, text) in lines {
            match self.import_line(text).await {
                Ok(true) => report.created += 1,
                Ok(false) => report.updated += 1,
                Err(e @ ServiceError::Store(_)) => return Err(e),
                Err(e) => {
                    report.failed += 1;
                    report.errors.push(ImportLineError {
                        line,
                        code: e.code(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(report)
    }

    async fn import_line(&self, text: &str) -> ServiceResult<bool> {
        let update: ProfileUpdate = serde_json::from_str(text).map_err(|e| {
            crate::domain::ValidationError::new("line", format!("not a profile: {e}"))
        })?;
        let identities = update.validate()?;
        if identities.is_empty() {
            return Err(crate::domain::ValidationError::new(
                "identities",
                "each line needs at least one identity, e.g. {\"identities\": {\"email\": \"ann@example.com\"}}",
            )
            .into());
        }
        let (_, created) = self.upsert_with(&identities, &identities, &update).await?;
        Ok(created)
    }

    /// Erases a profile and its identities (suppressions stay: they protect the address).
    pub async fn erase_profile(&self, id: ProfileId) -> ServiceResult<()> {
        if self.store.delete_profile(id).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found("profile", id))
        }
    }
}
