//! Audience use cases: CRUD (through [`super::config::Managed`]), static membership, counts.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{AdminService, ServiceError, ServiceResult};
use crate::domain::audience::MAX_MEMBERS_PER_CALL;
use crate::domain::{
    Audience, AudienceId, AudienceKind, AudienceSpec, Identity, ProfileId, ValidationError,
};
use crate::ports::{Clock, Page, PageRequest, Store};

/// An audience with its member count.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudienceView {
    #[serde(flatten)]
    pub audience: Audience,
    pub member_count: u64,
}

/// Members to add or remove, by profile id or by identity.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembersRequest {
    #[serde(default)]
    pub profile_ids: Vec<ProfileId>,
    #[serde(default)]
    pub identities: Vec<IdentityRef>,
}

#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityRef {
    pub namespace: String,
    pub value: String,
}

impl<S: Store, C: Clock> AdminService<S, C> {
    pub async fn create_audience(&self, spec: AudienceSpec) -> ServiceResult<AudienceView> {
        let audience: Audience = self.create_managed(spec).await?;
        Ok(AudienceView {
            audience,
            member_count: 0,
        })
    }

    pub async fn get_audience(&self, id: AudienceId) -> ServiceResult<AudienceView> {
        let audience: Audience = self.get_managed(id).await?;
        let member_count = self.count_audience(&audience).await?;
        Ok(AudienceView {
            audience,
            member_count,
        })
    }

    /// Static audiences count their members; rule audiences count the profiles matching now.
    async fn count_audience(&self, audience: &Audience) -> ServiceResult<u64> {
        match &audience.spec.kind {
            AudienceKind::Static => Ok(self.store.count_members(audience.id).await?),
            AudienceKind::Rule { rule } => {
                let mut count = 0;
                let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
                loop {
                    let p = self.store.list_profiles(&page).await?;
                    count += p
                        .items
                        .iter()
                        .filter(|profile| rule.matches(profile))
                        .count() as u64;
                    match p.next {
                        Some(next) => page.cursor = Some(next),
                        None => return Ok(count),
                    }
                }
            }
        }
    }

    /// Replaces an audience's definition. A static audience with members cannot become a rule
    /// audience (remove its members first).
    pub async fn replace_audience(
        &self,
        id: AudienceId,
        spec: AudienceSpec,
        expected: Option<u64>,
    ) -> ServiceResult<AudienceView> {
        let members = self.store.count_members(id).await?;
        let audience = self
            .replace_managed_checked::<Audience>(id, spec, expected, |stored, new| {
                let switching = matches!(stored.spec.kind, AudienceKind::Static) && !matches!(new.kind, AudienceKind::Static);
                if switching && members > 0 {
                    return Err(ServiceError::Conflict(format!(
                        "audience {id} has {members} static members; remove them before turning it into a rule audience"
                    )));
                }
                Ok(())
            })
            .await?;
        let member_count = self.count_audience(&audience).await?;
        Ok(AudienceView {
            audience,
            member_count,
        })
    }

    /// Deletes an audience and its membership list.
    pub async fn delete_audience(
        &self,
        id: AudienceId,
        expected: Option<u64>,
    ) -> ServiceResult<()> {
        self.delete_managed::<Audience>(id, expected).await?;
        self.store.clear_members(id).await?;
        Ok(())
    }

    async fn static_audience(&self, id: AudienceId) -> ServiceResult<Audience> {
        let audience: Audience = self.get_managed(id).await?;
        if !matches!(audience.spec.kind, AudienceKind::Static) {
            return Err(ServiceError::Unsupported {
                code: "audience-not-static",
                message: format!(
                    "audience {id} is a rule audience: its members follow from the rule"
                ),
            });
        }
        Ok(audience)
    }

    /// Resolves a members request to profile ids; every profile must exist.
    async fn resolve_members(&self, req: &MembersRequest) -> ServiceResult<Vec<ProfileId>> {
        let total = req.profile_ids.len() + req.identities.len();
        if total == 0 {
            return Err(ValidationError::new(
                "profileIds",
                "name at least one member in profileIds or identities",
            )
            .into());
        }
        if total > MAX_MEMBERS_PER_CALL {
            return Err(ValidationError::new(
                "profileIds",
                format!("at most {MAX_MEMBERS_PER_CALL} members per call; split the list"),
            )
            .into());
        }
        let mut ids = Vec::with_capacity(total);
        if !req.profile_ids.is_empty() {
            let found: HashSet<ProfileId> = self
                .store
                .get_profiles(&req.profile_ids)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
            if let Some(missing) = req.profile_ids.iter().find(|id| !found.contains(id)) {
                return Err(ServiceError::not_found("profile", missing));
            }
            ids.extend(&req.profile_ids);
        }
        let identities = parse_identities(req)?;
        let holders = self.store.find_profiles(&identities).await?;
        for (identity, holder) in identities.iter().zip(holders) {
            let p =
                holder.ok_or_else(|| ServiceError::not_found("profile", identity.to_string()))?;
            ids.push(p.id);
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub async fn add_audience_members(
        &self,
        id: AudienceId,
        req: &MembersRequest,
    ) -> ServiceResult<AudienceView> {
        let audience = self.static_audience(id).await?;
        let ids = self.resolve_members(req).await?;
        self.store.add_members(id, &ids).await?;
        let member_count = self.store.count_members(id).await?;
        Ok(AudienceView {
            audience,
            member_count,
        })
    }

    pub async fn remove_audience_members(
        &self,
        id: AudienceId,
        req: &MembersRequest,
    ) -> ServiceResult<AudienceView> {
        let audience = self.static_audience(id).await?;
        let mut ids = req.profile_ids.clone();
        let identities = parse_identities(req)?;
        let holders = self.store.find_profiles(&identities).await?;
        ids.extend(holders.into_iter().flatten().map(|p| p.id));
        self.store.remove_members(id, &ids).await?;
        let member_count = self.store.count_members(id).await?;
        Ok(AudienceView {
            audience,
            member_count,
        })
    }

    /// One page of a static audience's members.
    pub async fn list_audience_members(
        &self,
        id: AudienceId,
        page: &PageRequest,
    ) -> ServiceResult<Page<ProfileId>> {
        self.static_audience(id).await?;
        Ok(self.store.list_members(id, page).await?)
    }
}

/// The identities a members call names, each checked (an error names its index).
fn parse_identities(req: &MembersRequest) -> ServiceResult<Vec<Identity>> {
    req.identities
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Identity::parse(&r.namespace, &r.value)
                .map_err(|e| e.under(&format!("identities[{i}]")).into())
        })
        .collect()
}
