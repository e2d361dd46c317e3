//! Use cases, generic over the ports. [`AdminService`] holds the admin operations: campaigns
//! (lifecycle, review, preview), channel configurations, rule sets, audiences, profiles and
//! suppressions. Time comes from the [`Clock`] port.

use crate::ports::{Clock, Store};
use crate::render::TemplateCache;

mod audiences;
mod campaigns;
mod config;
pub mod error;
mod profiles;
mod reports;
mod suppressions;
pub mod trigger;
mod webhooks;

pub use audiences::{AudienceView, IdentityRef, MembersRequest};
pub use campaigns::{CampaignView, PreviewRequest, PreviewResponse};
pub use config::Managed;
pub use error::{ServiceError, ServiceResult};
pub use profiles::{ImportLineError, ImportReport, MAX_IMPORT_LINES};
pub use reports::{CampaignReport, VersionReport};
pub use suppressions::SuppressionRequest;

/// Deployment settings the admin operations need.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// Base URL under which Herald's public routes (unsubscribe) are reachable.
    pub public_base_url: String,
    /// How long a profile import may run before it starts no more lines (`None`: no limit).
    /// The lines it did not reach are reported, so the caller can send them again; a deployed
    /// admin function sets it under its timeout ([`IMPORT_BUDGET`]).
    pub import_budget: Option<jiff::SignedDuration>,
}

/// The admin function's import budget: under its 29 s timeout with room for a last wave.
pub const IMPORT_BUDGET: jiff::SignedDuration = jiff::SignedDuration::from_secs(20);

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:3000".into(),
            import_budget: None,
        }
    }
}

/// Compiled campaign versions kept in memory per process.
const TEMPLATE_CACHE_CAPACITY: usize = 512;

/// How many times a read-modify-write without an explicit expected revision is retried when a
/// concurrent writer got there first.
const WRITE_ATTEMPTS: usize = 5;

pub struct AdminService<S, C> {
    store: S,
    clock: C,
    templates: TemplateCache,
    config: AdminConfig,
}

impl<S: Store, C: Clock> AdminService<S, C> {
    pub fn new(store: S, clock: C, config: AdminConfig) -> Self {
        Self {
            store,
            clock,
            templates: TemplateCache::new(TEMPLATE_CACHE_CAPACITY),
            config,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }
}

/// Checks an explicit expected revision (an `If-Match`) against the one just read.
fn check_revision(
    kind: &'static str,
    id: impl ToString,
    stored: u64,
    expected: Option<u64>,
) -> ServiceResult<()> {
    match expected {
        Some(e) if e != stored => Err(ServiceError::StaleRevision {
            kind,
            id: id.to_string(),
            expected: e,
        }),
        _ => Ok(()),
    }
}

/// Whether a failed write should be retried: only a lost race when the caller gave no expected
/// revision of its own.
fn should_retry(e: &ServiceError, expected: Option<u64>, attempt: usize) -> bool {
    matches!(e, ServiceError::StaleRevision { .. })
        && expected.is_none()
        && attempt + 1 < WRITE_ATTEMPTS
}

#[cfg(test)]
mod tests;
