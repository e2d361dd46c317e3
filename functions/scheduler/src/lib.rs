//! # herald-scheduler (being built)
