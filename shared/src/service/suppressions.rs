//! Suppression list use cases.

use serde::Deserialize;

use super::{AdminService, ServiceError, ServiceResult};
use crate::domain::suppression::normalize_address;
use crate::domain::{Channel, Suppression, SuppressionReason};
use crate::ports::{Clock, Page, PageRequest, Store};

/// An operator's suppression entry.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuppressionRequest {
    pub channel: Channel,
    pub address: String,
    /// Default `manual`.
    #[serde(default)]
    pub reason: Option<SuppressionReason>,
    #[serde(default)]
    pub note: Option<String>,
}

impl<S: Store, C: Clock> AdminService<S, C> {
    /// Adds (or replaces) a suppression. Returns it and whether it is new.
    pub async fn suppress(&self, req: SuppressionRequest) -> ServiceResult<(Suppression, bool)> {
        let address = normalize_address(req.channel, &req.address)?;
        let s = Suppression {
            channel: req.channel,
            address,
            reason: req.reason.unwrap_or(SuppressionReason::Manual),
            note: req.note,
            created_at: self.clock.now(),
        };
        let created = self.store.put_suppression(&s).await?;
        Ok((s, created))
    }

    pub async fn get_suppression(
        &self,
        channel: Channel,
        address: &str,
    ) -> ServiceResult<Suppression> {
        let key = normalize_address(channel, address)?;
        self.store
            .get_suppression(channel, &key)
            .await?
            .ok_or_else(|| ServiceError::not_found("suppression", format!("{channel}:{key}")))
    }

    pub async fn unsuppress(&self, channel: Channel, address: &str) -> ServiceResult<()> {
        let key = normalize_address(channel, address)?;
        if self.store.delete_suppression(channel, &key).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "suppression",
                format!("{channel}:{key}"),
            ))
        }
    }

    pub async fn list_suppressions(
        &self,
        channel: Option<Channel>,
        page: &PageRequest,
    ) -> ServiceResult<Page<Suppression>> {
        Ok(self.store.list_suppressions(channel, page).await?)
    }
}
