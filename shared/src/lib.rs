//! # herald-core
//!
//! Herald's shared crate. A tour, from the inside out:
//!
//! - [`domain`]: pure types and rules — campaigns and their lifecycle, content, channel
//!   configurations, profiles, audiences, rule sets, suppressions, the review report. No I/O.
//! - [`render`]: personalization with Handlebars (compiled once per campaign version), the
//!   review checks that need the template engine, SMS segment counting and push payloads.
//! - [`ports`]: the traits services depend on (stores, clock).
//! - [`service`]: the use cases (the admin operations), generic over the ports.
//! - [`adapters`]: implementations of the ports — DynamoDB (`aws` feature) and SQLite (`local`
//!   feature) — and an in-memory store for fast service tests.
//! - [`http`]: what the HTTP functions share — problem JSON errors, JSON extraction with clear
//!   4xx messages, bearer-token authentication (`http` feature).

pub mod adapters;
pub mod domain;
#[cfg(feature = "http")]
pub mod http;
pub mod logging;
pub mod ports;
pub mod render;
pub mod service;
