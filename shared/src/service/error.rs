//! Errors of the use cases. Each has a stable code (the `type` of the problem JSON the HTTP
//! layer makes of it); 4xx kinds carry a message that tells the caller what to fix.

use crate::domain::{Identity, IllegalTransition, ReviewReport, ValidationErrors};
use crate::ports::{Conflict, StoreError};
use crate::render::RenderError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    #[error("{0}")]
    IllegalTransition(#[from] IllegalTransition),
    #[error(
        "{kind} {id} was changed by someone else (revision {expected} is stale); read it again and retry"
    )]
    StaleRevision {
        kind: &'static str,
        id: String,
        expected: u64,
    },
    #[error("the identity {0} belongs to another profile")]
    IdentityTaken(Identity),
    #[error("{0}")]
    Conflict(String),
    #[error("the review found {} error(s); fix them before activating", .0.errors.len())]
    ReviewFailed(Box<ReviewReport>),
    #[error("the template failed to render: {0}")]
    Render(#[from] RenderError),
    #[error("{message}")]
    Unsupported { code: &'static str, message: String },
    #[error("storage failed")]
    Store(#[source] StoreError),
}

impl ServiceError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::NotFound { kind, .. } => match *kind {
                "campaign" => "campaign-not-found",
                "campaign version" => "campaign-version-not-found",
                "channel configuration" => "channel-config-not-found",
                "rule set" => "rule-set-not-found",
                "audience" => "audience-not-found",
                "profile" => "profile-not-found",
                "suppression" => "suppression-not-found",
                "webhook" => "webhook-not-found",
                _ => "not-found",
            },
            ServiceError::Invalid(_) => "invalid-request",
            ServiceError::IllegalTransition(_) => "illegal-transition",
            ServiceError::StaleRevision { .. } => "stale-revision",
            ServiceError::IdentityTaken(_) => "identity-taken",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::ReviewFailed(_) => "review-failed",
            ServiceError::Render(_) => "render-error",
            ServiceError::Unsupported { code, .. } => code,
            ServiceError::Store(StoreError::Corrupt(_)) => "corrupt-item",
            ServiceError::Store(StoreError::InvalidCursor(_)) => "invalid-cursor",
            ServiceError::Store(_) => "internal-error",
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        ServiceError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// Maps a store error, turning a revision conflict into `StaleRevision` for the named item.
    pub fn from_store(e: StoreError, kind: &'static str, id: impl ToString, expected: u64) -> Self {
        match e {
            StoreError::Conflict(Conflict::RevisionMismatch) => ServiceError::StaleRevision {
                kind,
                id: id.to_string(),
                expected,
            },
            StoreError::Conflict(Conflict::IdentityTaken(i)) => ServiceError::IdentityTaken(i),
            StoreError::Conflict(Conflict::AlreadyExists) => {
                ServiceError::Conflict(format!("{kind} {} exists already", id.to_string()))
            }
            other => ServiceError::Store(other),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::IdentityTaken(i)) => ServiceError::IdentityTaken(i),
            other => ServiceError::Store(other),
        }
    }
}

impl From<crate::domain::ValidationError> for ServiceError {
    fn from(e: crate::domain::ValidationError) -> Self {
        ServiceError::Invalid(e.into())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
