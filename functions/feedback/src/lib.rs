//! # herald-feedback (being built)
