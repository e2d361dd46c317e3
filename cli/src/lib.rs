//! # herald (command line)
//!
//! `herald serve` runs Herald in one process: the admin and trigger routers on one TCP
//! listener, the SQLite store in a data directory (or DynamoDB with `--store dynamodb`), and a
//! bearer token on every route but health and unsubscribe.

pub mod args;
pub mod outbox_routes;
pub mod serve;
pub mod tick;
pub mod token;
pub mod worker;

pub use args::{Cli, Command};
