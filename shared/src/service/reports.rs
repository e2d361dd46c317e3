//! Campaign reports: message counts by outcome (exclusions by reason) per version and in total.

use serde::Serialize;

use super::{AdminService, ServiceError, ServiceResult};
use crate::domain::execution::CountScope;
use crate::domain::{CampaignId, CampaignType, OutcomeCounts};
use crate::ports::{Clock, ExecutionStores, Store};

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    pub version: u32,
    pub counts: OutcomeCounts,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignReport {
    pub campaign_id: CampaignId,
    #[serde(rename = "type")]
    pub campaign_type: CampaignType,
    /// Transactional campaigns bypass consent, frequency caps and quiet hours.
    pub rules_bypassed: bool,
    pub total: OutcomeCounts,
    /// Every version that was activated, oldest first.
    pub versions: Vec<VersionReport>,
}

impl<S: Store + ExecutionStores, C: Clock> AdminService<S, C> {
    pub async fn campaign_report(&self, id: CampaignId) -> ServiceResult<CampaignReport> {
        let c = self
            .store
            .get_campaign(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("campaign", id))?;
        let mut total = OutcomeCounts::default();
        let mut versions = Vec::new();
        for n in 1..=c.latest_version {
            let Some(v) = self.store.get_campaign_version(id, n).await? else {
                continue;
            };
            if v.activated_at.is_none() {
                continue;
            }
            let counts = self
                .store
                .get_counts(CountScope::CampaignVersion(id, n))
                .await?;
            total.merge(&counts);
            versions.push(VersionReport { version: n, counts });
        }
        Ok(CampaignReport {
            campaign_id: id,
            campaign_type: c.campaign_type,
            rules_bypassed: c.campaign_type == CampaignType::Transactional,
            total,
            versions,
        })
    }
}
