//! The DynamoDB store: every port in [`crate::ports`] on ONE table (`HeraldTable` in
//! `template.yaml`: `pk`/`sk` strings, GSI `gsi1` on `gsi1pk`/`gsi1sk`, TTL on `expiresAt`).
//!
//! A tour (the item layout and every access pattern are in `docs/data-model.md`):
//! - `keys`: how each entity is keyed; the only place key strings are built.
//! - `codec`: domain values to native attribute maps (serde_dynamo) and back.
//! - `cursor`: opaque page cursors made from a DynamoDB key.
//! - `calls`: the shared mechanics — SDK error mapping, the paging loop, conditional
//!   transactions with cancellation reasons, batch writes that retry unprocessed items.
//! - one module per port: `records`, `campaigns`, `profiles`, `members`,
//!   `suppressions`; on the execution side `acceptance` (exactly-once requests),
//!   `executions`, `messages` (with provider-id pointers), `counts` (outcome counters),
//!   `caps` (frequency-cap windows), `schedules` and `holds` (sparse "due" indexes).
//!
//! Every access is a GetItem, a Query or a (conditional) write; nothing Scans the table.
//! Expiries are compared inside conditions (TTL deletion lags, and DynamoDB Local never
//! deletes).

mod acceptance;
mod calls;
mod campaigns;
mod caps;
mod codec;
mod counts;
mod cursor;
mod executions;
mod holds;
mod keys;
mod members;
mod messages;
mod paces;
mod profiles;
mod records;
mod schedules;
mod suppressions;

use aws_sdk_dynamodb::Client;
use jiff::Timestamp;

use crate::ports::{ExpiryStore, StoreResult};

pub use calls::DynamoError;

/// The environment variable naming the table.
pub const TABLE_ENV: &str = "HERALD_TABLE";

/// Herald's store on a DynamoDB table laid out as `docs/data-model.md` describes.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The table's TTL (on `expiresAt`, which acceptance records and cap counters carry) deletes
/// them: nothing to do here, and nothing to pay for.
impl ExpiryStore for DynamoStore {
    async fn purge_expired(&self, _now: Timestamp, _limit: u32) -> StoreResult<u64> {
        Ok(0)
    }
}

/// Why [`DynamoStore::from_env`] could not build a store.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no DynamoDB table named: set {TABLE_ENV} (or pass --table) to the table Herald \
         stores in (the HeraldTable resource of template.yaml)"
    )]
    TableNotSet,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on the table named by `HERALD_TABLE`, with a client from the standard AWS
    /// configuration chain (region, credentials, and `AWS_ENDPOINT_URL` when set).
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::connect(None).await
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl DynamoStore {
    /// A store on `table`, or on the table named by `HERALD_TABLE` when `None`, with a client
    /// from the standard AWS configuration chain (used by `herald serve --table`).
    pub async fn connect(table: Option<String>) -> Result<Self, ConfigError> {
        // The name first: a missing one fails before any configuration is loaded.
        let table = table_named(table)?;
        let config = crate::adapters::tls::aws_config().load().await;
        Ok(Self::new(Client::new(&config), table))
    }
}

/// `table` when it names one (not blank), else the table `HERALD_TABLE` names.
fn table_named(table: Option<String>) -> Result<String, ConfigError> {
    choose_table(table, std::env::var(TABLE_ENV).ok())
}

fn choose_table(given: Option<String>, env: Option<String>) -> Result<String, ConfigError> {
    let named = |t: &String| !t.trim().is_empty();
    given
        .filter(named)
        .or_else(|| env.filter(named))
        .ok_or(ConfigError::TableNotSet)
}

impl DynamoStore {
    /// A store on the table named by `HERALD_TABLE`, with a client from an already loaded AWS
    /// configuration (one load per cold start).
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(Client::new(conf), table_named(None)?))
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigError, choose_table};

    #[test]
    fn a_given_table_wins_and_a_blank_one_falls_back_to_the_environment() {
        let some = |t: &str| Some(t.to_string());
        assert_eq!(choose_table(some("a"), some("b")).unwrap(), "a");
        assert_eq!(choose_table(some("  "), some("b")).unwrap(), "b");
        assert_eq!(choose_table(None, some("b")).unwrap(), "b");
        assert!(matches!(
            choose_table(some(""), some(" ")),
            Err(ConfigError::TableNotSet)
        ));
        assert!(matches!(
            choose_table(None, None),
            Err(ConfigError::TableNotSet)
        ));
    }
}
