//! Profile use cases: upsert by identity, batch NDJSON import, get, find, erase.

use std::collections::HashSet;

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
    /// Lines the call ran out of time for (not applied, not failed): send them again, from
    /// `resumeAtLine` on.
    pub not_processed: usize,
    /// The first line not processed (1-based), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at_line: Option<usize>,
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
/// Most lines of an import written at once.
pub const IMPORT_WAVE: usize = 64;

impl ImportReport {
    fn fail(&mut self, line: usize, e: &ServiceError) {
        self.failed += 1;
        self.errors.push(ImportLineError {
            line,
            code: e.code(),
            message: e.to_string(),
        });
    }
}

/// A line of an import that parsed: its update and identities (in namespace order).
struct ImportLine {
    line: usize,
    update: ProfileUpdate,
    identities: Vec<Identity>,
}

fn parse_line(text: &str) -> ServiceResult<(ProfileUpdate, Vec<Identity>)> {
    let update: ProfileUpdate = serde_json::from_str(text)
        .map_err(|e| crate::domain::ValidationError::new("line", format!("not a profile: {e}")))?;
    let identities = update.validate()?;
    if identities.is_empty() {
        return Err(crate::domain::ValidationError::new(
            "identities",
            "each line needs at least one identity, e.g. {\"identities\": {\"email\": \"ann@example.com\"}}",
        )
        .into());
    }
    Ok((update, identities))
}

/// How many of `lines` (at least one, at most [`IMPORT_WAVE`]) come before the first that
/// names an identity an earlier one names.
fn wave_of(lines: &[ImportLine]) -> usize {
    let mut named: HashSet<&Identity> = HashSet::new();
    let mut len = 0;
    for l in lines.iter().take(IMPORT_WAVE) {
        if len > 0 && l.identities.iter().any(|i| named.contains(i)) {
            break;
        }
        named.extend(&l.identities);
        len += 1;
    }
    len
}

/// Each line's profile, from the answers to all the wave's identities in line order: the one
/// holding the first of the line's identities that one holds.
fn holders_of(wave: &[ImportLine], found: Vec<Option<Profile>>) -> Vec<Option<Profile>> {
    let mut found = found.into_iter();
    wave.iter()
        .map(|l| {
            // Every answer of the line is taken, so that the next line starts at its own.
            let mine: Vec<Option<Profile>> = found.by_ref().take(l.identities.len()).collect();
            mine.into_iter().flatten().next()
        })
        .collect()
}

/// How many of a wave's lines come before the first whose profile an earlier one also matched
/// (at least one).
fn first_repeated_holder(holders: &[Option<Profile>]) -> usize {
    let mut seen = HashSet::new();
    holders
        .iter()
        .position(|p| p.as_ref().is_some_and(|p| !seen.insert(p.id)))
        .unwrap_or(holders.len())
}

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
        self.upsert_with(std::slice::from_ref(key), &identities, update, None)
            .await
    }

    /// Finds the profile by the first of `lookup` that matches, then applies the update. `read`
    /// is what that lookup gave when the caller made it already (for the first attempt; an
    /// attempt after a lost race reads again).
    async fn upsert_with(
        &self,
        lookup: &[Identity],
        identities: &[Identity],
        update: &ProfileUpdate,
        mut read: Option<Option<Profile>>,
    ) -> ServiceResult<(Profile, bool)> {
        let mut last = None;
        for _ in 0..WRITE_ATTEMPTS {
            let existing = match read.take() {
                Some(existing) => existing,
                None => self.holder_of(lookup).await?,
            };
            let now = self.clock.now();
            let (mut profile, expected, created) = match existing {
                Some(p) => {
                    let rev = p.revision;
                    (p, Some(rev), false)
                }
                None => (Profile::new(ProfileId::new(), now), None, true),
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

    /// The profile holding the first of `lookup` that one holds.
    async fn holder_of(&self, lookup: &[Identity]) -> ServiceResult<Option<Profile>> {
        for i in lookup {
            if let Some(p) = self.store.find_profile(i).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Imports profiles from NDJSON: one [`ProfileUpdate`] per line, matched to an existing
    /// profile by any of its identities (in namespace order), else created. Lines are applied in
    /// order; a bad line is reported and does not stop the others. With an
    /// [`AdminConfig::import_budget`](super::AdminConfig::import_budget), a call that runs out
    /// of time stops between two waves and reports the lines it did not reach.
    ///
    /// Lines run `IMPORT_WAVE` (64) at a time, so that a call's round trips to the store overlap
    /// (on DynamoDB a line is a transaction of ~10 ms: one after the other, 10,000 lines would
    /// outlast the function's 29 s). A wave reads its lines' profiles together
    /// ([`ProfileStore::find_profiles`](crate::ports::ProfileStore::find_profiles)), then writes
    /// them at once. Order still holds wherever it matters: a wave ends before a line that names
    /// an identity an earlier line of the wave names, or that matches the same profile, so
    /// lines about one profile are applied one after the other, in file order.
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
        let mut parsed = Vec::with_capacity(lines.len());
        for (line, text) in lines {
            match parse_line(text) {
                Ok((update, identities)) => parsed.push(ImportLine {
                    line,
                    update,
                    identities,
                }),
                Err(e) => report.fail(line, &e),
            }
        }
        let deadline = self
            .config
            .import_budget
            .and_then(|b| self.clock.now().checked_add(b).ok());
        let mut rest = parsed.as_slice();
        while !rest.is_empty() {
            // Out of time: stop between waves (after the first, so every call makes progress).
            if rest.len() < parsed.len() && deadline.is_some_and(|d| self.clock.now() >= d) {
                report.not_processed = rest.len();
                report.resume_at_line = rest.first().map(|l| l.line);
                break;
            }
            let wave = &rest[..wave_of(rest)];
            let lookup: Vec<Identity> = wave
                .iter()
                .flat_map(|l| l.identities.iter().cloned())
                .collect();
            let holders = holders_of(wave, self.store.find_profiles(&lookup).await?);
            let wave = &wave[..first_repeated_holder(&holders)];
            let results =
                futures_util::future::join_all(wave.iter().zip(holders).map(|(l, holder)| {
                    self.upsert_with(&l.identities, &l.identities, &l.update, Some(holder))
                }))
                .await;
            for (l, result) in wave.iter().zip(results) {
                match result {
                    Ok((_, true)) => report.created += 1,
                    Ok((_, false)) => report.updated += 1,
                    Err(e @ ServiceError::Store(_)) => return Err(e),
                    Err(e) => report.fail(l.line, &e),
                }
            }
            rest = &rest[wave.len()..];
        }
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(identities: &[(&str, &str)]) -> ImportLine {
        ImportLine {
            line: 0,
            update: ProfileUpdate::default(),
            identities: identities
                .iter()
                .map(|(ns, v)| Identity::parse(ns, v).unwrap())
                .collect(),
        }
    }

    #[test]
    fn a_wave_ends_before_a_line_naming_an_identity_already_in_it() {
        let lines = [
            line(&[("email", "a@x.test")]),
            line(&[("email", "b@x.test")]),
            line(&[("crmId", "c"), ("email", "a@x.test")]),
            line(&[("email", "d@x.test")]),
        ];
        assert_eq!(wave_of(&lines), 2);
        assert_eq!(
            wave_of(&lines[2..]),
            2,
            "the next wave starts with that line"
        );
        assert_eq!(wave_of(&lines[..1]), 1);
        let many: Vec<ImportLine> = (0..100)
            .map(|i| line(&[("crmId", &format!("c{i}"))]))
            .collect();
        assert_eq!(wave_of(&many), IMPORT_WAVE, "at most a wave's worth");
    }

    #[test]
    fn each_line_gets_the_first_profile_its_own_identities_found() {
        let wave = [
            line(&[("crmId", "c1"), ("email", "new@x.test")]),
            line(&[("crmId", "c2")]),
            line(&[("crmId", "c3"), ("email", "c3@x.test")]),
        ];
        let (p1, p2, p3) = (
            Profile::new(ProfileId::new(), jiff::Timestamp::UNIX_EPOCH),
            Profile::new(ProfileId::new(), jiff::Timestamp::UNIX_EPOCH),
            Profile::new(ProfileId::new(), jiff::Timestamp::UNIX_EPOCH),
        );
        let found = vec![Some(p1.clone()), None, None, None, Some(p3.clone())];
        let ids =
            |h: Vec<Option<Profile>>| h.into_iter().map(|p| p.map(|p| p.id)).collect::<Vec<_>>();
        assert_eq!(
            ids(holders_of(&wave, found)),
            vec![Some(p1.id), None, Some(p3.id)],
            "a line's later answers are its own, not the next line's"
        );
        let found = vec![None, Some(p1.clone()), Some(p2.clone()), None, None];
        assert_eq!(
            ids(holders_of(&wave, found)),
            vec![Some(p1.id), Some(p2.id), None]
        );
    }

    #[test]
    fn a_wave_ends_before_a_second_line_of_one_profile() {
        let profile = |id: ProfileId| Profile::new(id, jiff::Timestamp::UNIX_EPOCH);
        let (p, q) = (ProfileId::new(), ProfileId::new());
        let holders = [
            Some(profile(p)),
            None,
            Some(profile(q)),
            None,
            Some(profile(p)),
        ];
        assert_eq!(first_repeated_holder(&holders), 4);
        assert_eq!(first_repeated_holder(&holders[..4]), 4);
        assert_eq!(
            first_repeated_holder(&[None, None]),
            2,
            "new profiles never repeat"
        );
    }
}
