//! Campaign use cases: create, edit (draft versions), review, activate, stop, archive,
//! duplicate, delete and preview.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AdminService, ServiceError, ServiceResult, check_revision, should_retry};
use crate::domain::{
    Audience, Campaign, CampaignId, CampaignSpec, CampaignType, CampaignVersion, Channel,
    ChannelConfig, ProfileId, ReviewReport, RuleSet,
};
use crate::ports::{Clock, Page, PageRequest, Store};
use crate::render::review::{Lookup, ReviewContext, review};
use crate::render::{Bucket, RenderInput, Rendered, Selection};

/// A campaign with its live and draft versions, as the API returns it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    #[serde(flatten)]
    pub campaign: Campaign,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<CampaignVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<CampaignVersion>,
}

/// What to render in a preview.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewRequest {
    /// The version to render; default the draft version, else the live one.
    #[serde(default)]
    pub version: Option<u32>,
    /// Force a variant by name (`A` is the default content).
    #[serde(default)]
    pub variant: Option<String>,
    /// Render for this locale (default: the profile's locale).
    #[serde(default)]
    pub locale: Option<String>,
    /// A stored profile to render for.
    #[serde(default)]
    pub profile_id: Option<ProfileId>,
    /// Sample profile attributes (over the stored profile's, when both are given).
    #[serde(default)]
    pub profile: Option<serde_json::Map<String, Value>>,
    /// Sample trigger context.
    #[serde(default)]
    pub context: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewResponse {
    pub campaign_id: CampaignId,
    pub version: u32,
    #[serde(flatten)]
    pub rendered: Rendered,
}

const KIND: &str = "campaign";

impl<S: Store, C: Clock> AdminService<S, C> {
    pub async fn create_campaign(&self, spec: CampaignSpec) -> ServiceResult<CampaignView> {
        spec.validate()?;
        let (campaign, version) = Campaign::new_draft(CampaignId::new(), spec, self.clock.now());
        self.store
            .insert_campaign(&campaign, &version)
            .await
            .map_err(|e| ServiceError::from_store(e, KIND, campaign.id, 0))?;
        Ok(CampaignView {
            campaign,
            live: None,
            draft: Some(version),
        })
    }

    async fn load_campaign(&self, id: CampaignId) -> ServiceResult<Campaign> {
        self.store
            .get_campaign(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(KIND, id))
    }

    async fn load_version(
        &self,
        id: CampaignId,
        version: Option<u32>,
    ) -> ServiceResult<Option<CampaignVersion>> {
        match version {
            None => Ok(None),
            Some(n) => self
                .store
                .get_campaign_version(id, n)
                .await?
                .map(Some)
                .ok_or_else(|| ServiceError::not_found("campaign version", format!("{id} v{n}"))),
        }
    }

    async fn view(&self, campaign: Campaign) -> ServiceResult<CampaignView> {
        let live = self
            .load_version(campaign.id, campaign.live_version)
            .await?;
        let draft = self
            .load_version(campaign.id, campaign.draft_version)
            .await?;
        Ok(CampaignView {
            campaign,
            live,
            draft,
        })
    }

    pub async fn get_campaign(&self, id: CampaignId) -> ServiceResult<CampaignView> {
        let c = self.load_campaign(id).await?;
        self.view(c).await
    }

    pub async fn get_campaign_version(
        &self,
        id: CampaignId,
        version: u32,
    ) -> ServiceResult<CampaignVersion> {
        self.load_campaign(id).await?;
        self.load_version(id, Some(version))
            .await?
            .ok_or_else(|| ServiceError::not_found("campaign version", format!("{id} v{version}")))
    }

    pub async fn list_campaigns(&self, page: &PageRequest) -> ServiceResult<Page<Campaign>> {
        Ok(self.store.list_campaigns(page).await?)
    }

    /// Runs `change` on a freshly read campaign and writes the result with the versions it
    /// returns, retrying a lost race when the caller gave no expected revision.
    async fn modify<F>(
        &self,
        id: CampaignId,
        expected: Option<u64>,
        change: F,
    ) -> ServiceResult<CampaignView>
    where
        F: Fn(
                &mut Campaign,
                Option<CampaignVersion>,
                Option<CampaignVersion>,
            ) -> ServiceResult<Vec<CampaignVersion>>
            + Send
            + Sync,
    {
        let mut attempt = 0;
        loop {
            let mut campaign = self.load_campaign(id).await?;
            check_revision(KIND, id, campaign.revision, expected)?;
            let stored_revision = campaign.revision;
            let live = self.load_version(id, campaign.live_version).await?;
            let draft = self.load_version(id, campaign.draft_version).await?;
            let result = async {
                let versions = change(&mut campaign, live, draft)?;
                self.store
                    .update_campaign(&campaign, stored_revision, &versions)
                    .await
                    .map_err(|e| ServiceError::from_store(e, KIND, id, stored_revision))
            }
            .await;
            match result {
                Ok(()) => return self.view(campaign).await,
                Err(e) if should_retry(&e, expected, attempt) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces the draft version's definition; a live or scheduled campaign gets a new draft
    /// version (its live version is never edited in place).
    pub async fn update_campaign(
        &self,
        id: CampaignId,
        spec: CampaignSpec,
        expected: Option<u64>,
    ) -> ServiceResult<CampaignView> {
        spec.validate()?;
        let now = self.clock.now();
        self.modify(id, expected, |c, _live, draft| {
            let edit = c.edit(draft.as_ref(), spec.clone(), now)?;
            Ok(vec![edit.version])
        })
        .await
    }

    /// Opens a draft version of a live or scheduled campaign as a copy of the live version
    /// (does nothing when one is open already).
    pub async fn open_draft(
        &self,
        id: CampaignId,
        expected: Option<u64>,
    ) -> ServiceResult<CampaignView> {
        let now = self.clock.now();
        self.modify(id, expected, |c, live, _draft| {
            let Some(live) = live else {
                return Err(ServiceError::IllegalTransition(crate::domain::IllegalTransition {
                    action: "open a draft version of",
                    status: c.status,
                    hint: Some("draft versions are for scheduled and live campaigns; a draft campaign is edited directly"),
                }));
            };
            Ok(c.open_draft(&live, now)?.into_iter().collect())
        })
        .await
    }

    /// Reviews a version (default: the draft version, else the live one).
    pub async fn review_campaign(
        &self,
        id: CampaignId,
        version: Option<u32>,
    ) -> ServiceResult<ReviewReport> {
        let c = self.load_campaign(id).await?;
        let n = version
            .or(c.draft_version)
            .or(c.live_version)
            .unwrap_or(c.latest_version);
        let v = self.get_campaign_version(id, n).await?;
        self.review_version(&v).await
    }

    async fn review_version(&self, v: &CampaignVersion) -> ServiceResult<ReviewReport> {
        let spec = &v.spec;
        let config = match spec.channel_config_id {
            None => None,
            Some(cid) => Some(
                self.store
                    .get_record::<ChannelConfig>(&cid.to_string())
                    .await?,
            ),
        };
        let audience = match &spec.audience {
            None => Lookup::NotReferenced,
            Some(a) => found(
                self.store
                    .get_record::<Audience>(&a.id.to_string())
                    .await?
                    .is_some(),
            ),
        };
        let rule_set = match spec.rule_set_id {
            None => Lookup::NotReferenced,
            Some(r) => found(
                self.store
                    .get_record::<RuleSet>(&r.to_string())
                    .await?
                    .is_some(),
            ),
        };
        let channel_config = match &config {
            None => Lookup::NotReferenced,
            Some(None) => Lookup::Missing,
            Some(Some(c)) => Lookup::Found(c),
        };
        let ctx = ReviewContext {
            channel_config,
            audience,
            rule_set,
            now: self.clock.now(),
        };
        Ok(review(v, &ctx))
    }

    /// Activates the draft version when its review passes; otherwise `ReviewFailed` with the
    /// report and nothing changes.
    pub async fn activate_campaign(
        &self,
        id: CampaignId,
        expected: Option<u64>,
    ) -> ServiceResult<CampaignView> {
        let c = self.load_campaign(id).await?;
        check_revision(KIND, id, c.revision, expected)?;
        let Some(n) = c.draft_version else {
            return Err(crate::domain::IllegalTransition {
                action: "activate",
                status: c.status,
                hint: Some("there is no draft version to activate; edit the campaign to open one"),
            }
            .into());
        };
        let draft = self.get_campaign_version(id, n).await?;
        let report = self.review_version(&draft).await?;
        if !report.passed() {
            return Err(ServiceError::ReviewFailed(Box::new(report)));
        }
        let now = self.clock.now();
        // The write is conditional on the revision the review saw: an edit in between fails it.
        let expected = Some(expected.unwrap_or(c.revision));
        self.modify(id, expected, |c, _live, draft| {
            let draft = draft.ok_or_else(|| {
                ServiceError::not_found("campaign version", format!("{id} draft"))
            })?;
            Ok(vec![c.activate(&draft, now)?])
        })
        .await
    }

    pub async fn stop_campaign(
        &self,
        id: CampaignId,
        expected: Option<u64>,
    ) -> ServiceResult<CampaignView> {
        let now = self.clock.now();
        self.modify(id, expected, |c, _, _| {
            c.stop(now)?;
            Ok(vec![])
        })
        .await
    }

    pub async fn archive_campaign(
        &self,
        id: CampaignId,
        expected: Option<u64>,
    ) -> ServiceResult<CampaignView> {
        let now = self.clock.now();
        self.modify(id, expected, |c, _, _| {
            c.archive(now)?;
            Ok(vec![])
        })
        .await
    }

    /// Deletes a draft campaign and its versions.
    pub async fn delete_campaign(
        &self,
        id: CampaignId,
        expected: Option<u64>,
    ) -> ServiceResult<()> {
        let c = self.load_campaign(id).await?;
        check_revision(KIND, id, c.revision, expected)?;
        c.check_deletable()?;
        self.store
            .delete_campaign(id, c.revision)
            .await
            .map_err(|e| ServiceError::from_store(e, KIND, id, c.revision))
    }

    /// Copies the campaign's newest version (draft, else live) into a new draft campaign.
    pub async fn duplicate_campaign(&self, id: CampaignId) -> ServiceResult<CampaignView> {
        let c = self.load_campaign(id).await?;
        let n = c
            .draft_version
            .or(c.live_version)
            .unwrap_or(c.latest_version);
        let source = self.get_campaign_version(id, n).await?;
        let (copy, version) = c.duplicate(&source, CampaignId::new(), self.clock.now());
        self.store
            .insert_campaign(&copy, &version)
            .await
            .map_err(|e| ServiceError::from_store(e, KIND, copy.id, 0))?;
        Ok(CampaignView {
            campaign: copy,
            live: None,
            draft: Some(version),
        })
    }

    /// Renders a version for a sample or stored profile and a sample context.
    pub async fn preview_campaign(
        &self,
        id: CampaignId,
        req: PreviewRequest,
    ) -> ServiceResult<PreviewResponse> {
        let c = self.load_campaign(id).await?;
        let n = req
            .version
            .or(c.draft_version)
            .or(c.live_version)
            .unwrap_or(c.latest_version);
        let v = self.get_campaign_version(id, n).await?;
        let compiled = self.templates.get_or_compile(&v).map_err(|findings| {
            ServiceError::ReviewFailed(Box::new(ReviewReport {
                version: n,
                errors: findings,
                warnings: vec![],
            }))
        })?;
        let stored = match req.profile_id {
            None => None,
            Some(pid) => Some(
                self.store
                    .get_profile(pid)
                    .await?
                    .ok_or_else(|| ServiceError::not_found("profile", pid))?,
            ),
        };
        let mut attributes = stored
            .as_ref()
            .map(|p| p.attributes.clone())
            .unwrap_or_default();
        for (k, val) in req.profile.unwrap_or_default() {
            attributes.insert(k, val);
        }
        let profile = Value::Object(attributes);
        let context = req.context.unwrap_or_else(|| json!({}));
        let campaign = crate::render::campaign_data(&v);
        let unsubscribe = unsubscribe_preview_url(&self.config.public_base_url, &v.spec);
        let input = RenderInput {
            profile,
            context,
            campaign: &campaign,
            unsubscribe_url: unsubscribe.as_deref(),
        };
        let locale = req
            .locale
            .as_deref()
            .or_else(|| stored.as_ref().and_then(|p| p.locale.as_deref()));
        let selection = Selection {
            variant: Some(
                req.variant
                    .as_deref()
                    .unwrap_or(crate::domain::content::BASE_VARIANT),
            ),
            bucket: Bucket::Fixed(0),
            locale,
        };
        let rendered = compiled.render(&selection, input)?;
        Ok(PreviewResponse {
            campaign_id: id,
            version: n,
            rendered,
        })
    }
}

fn found(exists: bool) -> Lookup<()> {
    if exists {
        Lookup::Found(())
    } else {
        Lookup::Missing
    }
}

/// Marketing email previews show where the signed unsubscribe link will go.
fn unsubscribe_preview_url(base: &str, spec: &CampaignSpec) -> Option<String> {
    (spec.campaign_type == CampaignType::Marketing && spec.channel == Channel::Email)
        .then(|| format!("{}/u/preview", base.trim_end_matches('/')))
}
