//! Channel configurations, rule sets and audiences share one shape: a spec the operator writes,
//! wrapped with an id, a revision and timestamps. [`Managed`] captures that shape so their CRUD
//! is written once.

use jiff::Timestamp;
use serde::de::DeserializeOwned;

use super::{AdminService, ServiceError, ServiceResult, check_revision, should_retry};
use crate::domain::{
    Audience, AudienceId, AudienceSpec, ChannelConfig, ChannelConfigId, ChannelConfigSpec, RuleSet,
    RuleSetId, RuleSetSpec, ValidationErrors,
};
use crate::ports::{Clock, Page, PageRequest, Record, Store};

/// A record an operator manages through the admin API.
pub trait Managed: Record + Clone {
    type Spec: DeserializeOwned + Clone + Send + Sync + 'static;
    type Id: std::str::FromStr<Err = crate::domain::ValidationError>
        + std::fmt::Display
        + Copy
        + Send
        + Sync;
    /// Human name used in messages (`channel configuration`).
    const NAME: &'static str;
    fn create(spec: Self::Spec, now: Timestamp) -> Self;
    fn revise(&self, spec: Self::Spec, now: Timestamp) -> Self;
    fn validate(spec: &Self::Spec) -> Result<(), ValidationErrors>;
}

macro_rules! managed {
    ($ty:ty, $spec:ty, $id:ty, $name:literal) => {
        impl Managed for $ty {
            type Spec = $spec;
            type Id = $id;
            const NAME: &'static str = $name;
            fn create(spec: $spec, now: Timestamp) -> Self {
                Self {
                    id: <$id>::new(),
                    spec,
                    revision: 1,
                    created_at: now,
                    updated_at: now,
                }
            }
            fn revise(&self, spec: $spec, now: Timestamp) -> Self {
                Self {
                    id: self.id,
                    spec,
                    revision: self.revision + 1,
                    created_at: self.created_at,
                    updated_at: now,
                }
            }
            fn validate(spec: &$spec) -> Result<(), ValidationErrors> {
                spec.validate()
            }
        }
    };
}

managed!(
    ChannelConfig,
    ChannelConfigSpec,
    ChannelConfigId,
    "channel configuration"
);
managed!(RuleSet, RuleSetSpec, RuleSetId, "rule set");
managed!(Audience, AudienceSpec, AudienceId, "audience");

impl<S: Store, C: Clock> AdminService<S, C> {
    pub async fn create_managed<T: Managed>(&self, spec: T::Spec) -> ServiceResult<T> {
        T::validate(&spec)?;
        let record = T::create(spec, self.clock.now());
        self.store
            .insert_record(&record)
            .await
            .map_err(|e| ServiceError::from_store(e, T::NAME, record.key(), 0))?;
        Ok(record)
    }

    pub async fn get_managed<T: Managed>(&self, id: T::Id) -> ServiceResult<T> {
        self.store
            .get_record::<T>(&id.to_string())
            .await?
            .ok_or_else(|| ServiceError::not_found(T::NAME, id))
    }

    pub async fn list_managed<T: Managed>(&self, page: &PageRequest) -> ServiceResult<Page<T>> {
        Ok(self.store.list_records::<T>(page).await?)
    }

    /// Replaces the spec; `check` may refuse the change given the stored record.
    pub(super) async fn replace_managed_checked<T: Managed>(
        &self,
        id: T::Id,
        spec: T::Spec,
        expected: Option<u64>,
        check: impl Fn(&T, &T::Spec) -> ServiceResult<()>,
    ) -> ServiceResult<T> {
        T::validate(&spec)?;
        let mut attempt = 0;
        loop {
            let stored = self.get_managed::<T>(id).await?;
            check_revision(T::NAME, id, stored.revision(), expected)?;
            check(&stored, &spec)?;
            let next = stored.revise(spec.clone(), self.clock.now());
            match self
                .store
                .replace_record(&next, stored.revision())
                .await
                .map_err(|e| ServiceError::from_store(e, T::NAME, id, stored.revision()))
            {
                Ok(()) => return Ok(next),
                Err(e) if should_retry(&e, expected, attempt) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn replace_managed<T: Managed>(
        &self,
        id: T::Id,
        spec: T::Spec,
        expected: Option<u64>,
    ) -> ServiceResult<T> {
        self.replace_managed_checked(id, spec, expected, |_, _| Ok(()))
            .await
    }

    pub async fn delete_managed<T: Managed>(
        &self,
        id: T::Id,
        expected: Option<u64>,
    ) -> ServiceResult<T> {
        let stored = self.get_managed::<T>(id).await?;
        check_revision(T::NAME, id, stored.revision(), expected)?;
        self.store
            .delete_record::<T>(&id.to_string(), stored.revision())
            .await
            .map_err(|e| ServiceError::from_store(e, T::NAME, id, stored.revision()))?;
        Ok(stored)
    }
}
