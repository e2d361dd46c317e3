//! Unsubscribing from a marketing link: the signed token names the campaign, channel, address
//! and (when stored) the profile; the profile's marketing consent for that channel becomes
//! `out`. A profile is created for an address Herald had none for, so the choice sticks. The
//! suppression list is not used: it would also stop transactional mail.

use super::{TriggerError, TriggerService};
use crate::domain::unsubscribe::UnsubscribeClaim;
use crate::domain::{Channel, ConsentValue, Identity, Profile};
use crate::ports::{Clock, Conflict, Delivery, ExecutionStores, Queue, Store, StoreError};

/// What the unsubscribe page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    pub campaign_name: String,
    pub channel: Channel,
    pub address: String,
}

impl<S, D, Q, C> TriggerService<S, D, Q, C>
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    /// Checks a token and says what it would unsubscribe (the confirmation page; a GET never
    /// unsubscribes).
    pub async fn inspect_unsubscribe(&self, token: &str) -> Result<Unsubscribe, TriggerError> {
        let claim = UnsubscribeClaim::verify(token, &self.config.unsubscribe_secret)
            .map_err(TriggerError::BadToken)?;
        let campaign_name = match self.store.get_campaign(claim.campaign).await? {
            Some(c) => c.name,
            None => "this sender".into(),
        };
        Ok(Unsubscribe {
            campaign_name,
            channel: claim.channel,
            address: claim.address,
        })
    }

    /// Sets the recipient's marketing consent for the channel to `out` (idempotent).
    pub async fn unsubscribe(&self, token: &str) -> Result<Unsubscribe, TriggerError> {
        let shown = self.inspect_unsubscribe(token).await?;
        let claim = UnsubscribeClaim::verify(token, &self.config.unsubscribe_secret)
            .map_err(TriggerError::BadToken)?;
        for _ in 0..5 {
            match self.opt_out(&claim).await {
                Err(StoreError::Conflict(
                    Conflict::RevisionMismatch
                    | Conflict::AlreadyExists
                    | Conflict::IdentityTaken(_),
                )) => {
                    continue;
                }
                other => {
                    other?;
                    tracing::info!(campaign = %claim.campaign, channel = %claim.channel, "unsubscribed");
                    return Ok(shown);
                }
            }
        }
        Err(TriggerError::Store(StoreError::Conflict(
            Conflict::RevisionMismatch,
        )))
    }

    async fn opt_out(&self, claim: &UnsubscribeClaim) -> Result<(), StoreError> {
        let namespace = match claim.channel {
            Channel::Email => Some("email"),
            Channel::Sms => Some("phone"),
            Channel::Push => None,
        };
        let identity = namespace.and_then(|ns| Identity::parse(ns, &claim.address).ok());
        let mut profile = match claim.profile {
            Some(id) => self.store.get_profile(id).await?,
            None => None,
        };
        if profile.is_none()
            && let Some(i) = &identity
        {
            profile = self.store.find_profile(i).await?;
        }
        let now = self.clock.now();
        match profile {
            Some(mut p) => {
                if p.consent.get(claim.channel) == Some(ConsentValue::Out) {
                    return Ok(());
                }
                let expected = p.revision;
                p.consent.set(claim.channel, Some(ConsentValue::Out));
                p.revision += 1;
                p.updated_at = now;
                self.store.save_profile(&p, Some(expected), &[], &[]).await
            }
            None => {
                let Some(identity) = identity else {
                    // A push token without a profile: nothing to record consent on.
                    return Ok(());
                };
                let mut p = Profile::holding(&identity, now);
                p.consent.set(claim.channel, Some(ConsentValue::Out));
                self.store
                    .save_profile(&p, None, std::slice::from_ref(&identity), &[])
                    .await
            }
        }
    }
}
