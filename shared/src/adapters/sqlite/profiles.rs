//! Profiles and the identities they hold, in the `profiles` and `identities` tables.

use rusqlite::{OptionalExtension, params};

use super::{
    Access, SqliteStore, after, bodies_by_key, decode, decode_page, encode, int, query_page,
};
use crate::domain::{Identity, Profile, ProfileId};
use crate::ports::{Conflict, Page, PageRequest, ProfileStore, StoreResult};

/// The profile holding an identity. A subquery, not a join: SQLite compiles a join whose
/// WHERE clause compares bound parameters again on every new binding (the statement is
/// "re-prepared", parsed and planned anew), which cost the B2 trigger benchmark about 7% of its
/// CPU; this form is prepared once.
pub(super) const FIND_BY_IDENTITY: &str = "SELECT body FROM profiles
     WHERE id = (SELECT profile_id FROM identities WHERE namespace = ?1 AND value = ?2)";

impl ProfileStore for SqliteStore {
    async fn get_profile(&self, id: ProfileId) -> StoreResult<Option<Profile>> {
        let id = id.to_string();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached("SELECT body FROM profiles WHERE id = ?1")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("profile", &b)).transpose()
    }

    async fn get_profiles(&self, ids: &[ProfileId]) -> StoreResult<Vec<Profile>> {
        let keys = ids.iter().map(ToString::to_string).collect();
        let bodies = self
            .run(Access::Read, move |tx| {
                bodies_by_key(tx, "SELECT body FROM profiles WHERE id = ?1", keys)
            })
            .await?;
        bodies.iter().map(|b| decode("profile", b)).collect()
    }

    async fn find_profile(&self, identity: &Identity) -> StoreResult<Option<Profile>> {
        let namespace = identity.namespace.as_str().to_string();
        let value = identity.value.clone();
        let body = self
            .run(Access::Read, move |tx| {
                Ok(tx
                    .prepare_cached(FIND_BY_IDENTITY)?
                    .query_row(params![namespace, value], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await?;
        body.map(|b| decode("profile", &b)).transpose()
    }

    async fn find_profiles(&self, identities: &[Identity]) -> StoreResult<Vec<Option<Profile>>> {
        let keys: Vec<(String, String)> = identities
            .iter()
            .map(|i| (i.namespace.as_str().to_string(), i.value.clone()))
            .collect();
        let bodies = self
            .run(Access::Read, move |tx| {
                let mut stmt = tx.prepare_cached(FIND_BY_IDENTITY)?;
                let mut bodies = Vec::with_capacity(keys.len());
                for (namespace, value) in &keys {
                    bodies.push(
                        stmt.query_row(params![namespace, value], |row| row.get::<_, String>(0))
                            .optional()?,
                    );
                }
                Ok(bodies)
            })
            .await?;
        bodies
            .iter()
            .map(|b| b.as_deref().map(|b| decode("profile", b)).transpose())
            .collect()
    }

    async fn save_profile(
        &self,
        profile: &Profile,
        expected_revision: Option<u64>,
        claim: &[Identity],
        release: &[Identity],
    ) -> StoreResult<()> {
        let (id, body) = (profile.id.to_string(), encode(profile)?);
        let revision = int(profile.revision)?;
        let expected = expected_revision.map(int).transpose()?;
        let claim = claim.to_vec();
        let release = release.to_vec();
        self.run(Access::Write, move |tx| {
            match expected {
                None => {
                    let inserted = tx
                        .prepare_cached(
                            "INSERT INTO profiles (id, revision, body) VALUES (?1, ?2, ?3)
                             ON CONFLICT (id) DO NOTHING",
                        )?
                        .execute(params![id, revision, body])?;
                    if inserted == 0 {
                        return Err(Conflict::AlreadyExists.into());
                    }
                }
                Some(expected) => {
                    let updated = tx
                        .prepare_cached(
                            "UPDATE profiles SET revision = ?2, body = ?3
                             WHERE id = ?1 AND revision = ?4",
                        )?
                        .execute(params![id, revision, body, expected])?;
                    if updated == 0 {
                        return Err(Conflict::RevisionMismatch.into());
                    }
                }
            }
            // Only identities this profile holds are released.
            let mut free = tx.prepare_cached(
                "DELETE FROM identities WHERE namespace = ?1 AND value = ?2 AND profile_id = ?3",
            )?;
            for i in &release {
                free.execute(params![i.namespace.as_str(), i.value, id])?;
            }
            let mut take = tx.prepare_cached(
                "INSERT INTO identities (namespace, value, profile_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, value) DO NOTHING",
            )?;
            let mut holder = tx.prepare_cached(
                "SELECT profile_id FROM identities WHERE namespace = ?1 AND value = ?2",
            )?;
            for i in &claim {
                let ns = i.namespace.as_str();
                if take.execute(params![ns, i.value, id])? == 0 {
                    let held_by: String =
                        holder.query_row(params![ns, i.value], |row| row.get(0))?;
                    if held_by != id {
                        return Err(Conflict::IdentityTaken(i.clone()).into());
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete_profile(&self, id: ProfileId) -> StoreResult<bool> {
        let id = id.to_string();
        self.run(Access::Write, move |tx| {
            // The foreign key cascades too; deleting explicitly keeps this independent of it.
            tx.prepare_cached("DELETE FROM identities WHERE profile_id = ?1")?
                .execute([&id])?;
            let deleted = tx
                .prepare_cached("DELETE FROM profiles WHERE id = ?1")?
                .execute([&id])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn list_profiles(&self, page: &PageRequest) -> StoreResult<Page<Profile>> {
        let limit = page.effective_limit();
        let (op, from) = after(page.cursor.as_deref());
        let rows = self
            .run(Access::Scan, move |tx| {
                let sql =
                    format!("SELECT id, body FROM profiles WHERE id {op} ?1 ORDER BY id LIMIT ?2");
                query_page(tx, &sql, &[&from], limit)
            })
            .await?;
        decode_page("profile", rows)
    }
}
