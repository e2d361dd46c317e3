//! The review report: errors block activation, warnings do not.
//!
//! The checks themselves live in [`crate::render::review`], which needs the template engine.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding: a stable code, the field it concerns and a message that says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: String,
    pub field: String,
    pub message: String,
}

impl Finding {
    pub fn new(code: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReviewReport {
    /// The version reviewed.
    pub version: u32,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl ReviewReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn error(&mut self, code: &str, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Finding::new(code, field, message));
    }

    pub fn warning(&mut self, code: &str, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Finding::new(code, field, message));
    }
}
