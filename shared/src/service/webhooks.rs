//! The feedback webhook's configuration (one per deployment).

use super::{AdminService, ServiceError, ServiceResult, check_revision};
use crate::domain::webhook::{FEEDBACK_WEBHOOK, Webhook, WebhookSpec};
use crate::ports::{Clock, Store, StoreError};

impl<S: Store, C: Clock> AdminService<S, C> {
    pub async fn feedback_webhook(&self) -> ServiceResult<Webhook> {
        self.store
            .get_record::<Webhook>(FEEDBACK_WEBHOOK)
            .await?
            .ok_or_else(|| ServiceError::not_found("webhook", FEEDBACK_WEBHOOK))
    }

    /// Creates or replaces the webhook. Returns it and whether it is new.
    pub async fn put_feedback_webhook(
        &self,
        spec: WebhookSpec,
        expected: Option<u64>,
    ) -> ServiceResult<(Webhook, bool)> {
        spec.validate()?;
        let now = self.clock.now();
        match self.store.get_record::<Webhook>(FEEDBACK_WEBHOOK).await? {
            None => {
                let w = Webhook {
                    id: FEEDBACK_WEBHOOK.into(),
                    spec,
                    revision: 1,
                    updated_at: now,
                };
                self.store
                    .insert_record(&w)
                    .await
                    .map_err(|e| ServiceError::from_store(e, "webhook", FEEDBACK_WEBHOOK, 0))?;
                Ok((w, true))
            }
            Some(old) => {
                check_revision("webhook", FEEDBACK_WEBHOOK, old.revision, expected)?;
                let w = Webhook {
                    id: old.id.clone(),
                    spec,
                    revision: old.revision + 1,
                    updated_at: now,
                };
                self.store
                    .replace_record(&w, old.revision)
                    .await
                    .map_err(|e| {
                        ServiceError::from_store(e, "webhook", FEEDBACK_WEBHOOK, old.revision)
                    })?;
                Ok((w, false))
            }
        }
    }

    pub async fn delete_feedback_webhook(&self) -> ServiceResult<()> {
        let w = self.feedback_webhook().await?;
        match self
            .store
            .delete_record::<Webhook>(FEEDBACK_WEBHOOK, w.revision)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(ServiceError::StaleRevision {
                kind: "webhook",
                id: FEEDBACK_WEBHOOK.into(),
                expected: w.revision,
            }),
            Err(e) => Err(e.into()),
        }
    }
}
