//! The meter: an SDK interceptor on the DynamoDB client Herald's `DynamoStore` is built with.
//!
//! - Before serialization it sets `ReturnConsumedCapacity = INDEXES` on every item operation,
//!   so each response says what it consumed on the table and on each index.
//! - Before transmission it reads the request body (the operation from `X-Amz-Target`, the
//!   items, their entities and sizes) and keeps it in the call's config bag.
//! - After each attempt it reads the response body: the reported `ConsumedCapacity`, or a refused
//!   condition, and adds the call to the [`Ledger`] under its operation and entities
//!   (`PutItem message`).
//!
//! Every call also gets the units DynamoDB's documented rules give it from the item sizes on
//! the wire ([`super::wire::computed_units`]): a cross-check, and what is billed for a call
//! that reports nothing (a refused condition is billed by DynamoDB, which does not report it)
//! or that reports too little (DynamoDB Local merges the items of a transaction that consumed
//! identical capacity: two 1 KB puts in one transaction report 2 units instead of 4).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::operation;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde::Serialize;
use serde_json::Value;

use super::wire::{self, Access, Request, Units};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one kind of call (an operation on some entities) consumed, summed over its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub calls: u64,
    /// Calls whose response reported `ConsumedCapacity`.
    pub reported_calls: u64,
    /// Calls refused by their condition (billed, not reported): counted from item sizes.
    pub refused_calls: u64,
    /// Successful calls that reported nothing: counted from item sizes.
    pub unreported_calls: u64,
    /// Transactions and batch reads that reported fewer units than their items' sizes give:
    /// counted from item sizes. DynamoDB Local merges the items of a transaction whose
    /// consumed capacity is identical (three 1 KB puts report 2 units, not 6), and reports
    /// nothing for a BatchGetItem key with no item, which DynamoDB bills like GetItem's.
    pub corrected_calls: u64,
    /// Read units (table and indexes).
    pub rcu: f64,
    /// Write units on the table.
    pub wcu_table: f64,
    /// Write units on the indexes.
    pub wcu_index: f64,
    /// The same from item sizes by the documented rules (a cross-check).
    pub computed_rcu: f64,
    pub computed_wcu: f64,
    /// Items written whose size the request shows (puts), and their bytes.
    pub items_put: u64,
    pub bytes_put: u64,
}

impl Tally {
    pub fn wcu(&self) -> f64 {
        self.wcu_table + self.wcu_index
    }

    fn add(&mut self, o: &Tally, sign: f64) {
        let n = |a: u64, b: u64| {
            if sign > 0.0 {
                a + b
            } else {
                a.saturating_sub(b)
            }
        };
        self.calls = n(self.calls, o.calls);
        self.reported_calls = n(self.reported_calls, o.reported_calls);
        self.refused_calls = n(self.refused_calls, o.refused_calls);
        self.unreported_calls = n(self.unreported_calls, o.unreported_calls);
        self.corrected_calls = n(self.corrected_calls, o.corrected_calls);
        self.items_put = n(self.items_put, o.items_put);
        self.bytes_put = n(self.bytes_put, o.bytes_put);
        self.rcu += sign * o.rcu;
        self.wcu_table += sign * o.wcu_table;
        self.wcu_index += sign * o.wcu_index;
        self.computed_rcu += sign * o.computed_rcu;
        self.computed_wcu += sign * o.computed_wcu;
    }
}

/// Every item call so far, by `"{operation} {entities}"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ledger {
    pub calls: BTreeMap<String, Tally>,
}

impl Ledger {
    /// What was recorded after `earlier` (a snapshot of the same meter).
    pub fn since(&self, earlier: &Ledger) -> Ledger {
        let mut calls = self.calls.clone();
        for (k, before) in &earlier.calls {
            if let Some(t) = calls.get_mut(k) {
                t.add(before, -1.0);
            }
        }
        calls.retain(|_, t| t.calls > 0);
        Ledger { calls }
    }

    pub fn total(&self) -> Tally {
        let mut sum = Tally::default();
        for t in self.calls.values() {
            sum.add(t, 1.0);
        }
        sum
    }

    fn record(&mut self, request: &Request, response: &Value, status: u16) {
        let access = wire::access(&request.op);
        if access == Access::Control {
            return;
        }
        let computed = wire::computed_units(request, response);
        let t = self.calls.entry(request.key()).or_default();
        t.calls += 1;
        let billed = if (200..300).contains(&status) {
            match wire::reported_units(response) {
                Some(units) => {
                    t.reported_calls += 1;
                    let short = computed.table > units.table || computed.index > units.index;
                    let corrected =
                        request.op.starts_with("Transact") || request.op == "BatchGetItem";
                    if corrected && short {
                        t.corrected_calls += 1;
                        Units {
                            table: units.table.max(computed.table),
                            index: units.index.max(computed.index),
                        }
                    } else {
                        units
                    }
                }
                None => {
                    t.unreported_calls += 1;
                    computed
                }
            }
        } else if wire::refused(response) {
            t.refused_calls += 1;
            computed
        } else {
            // Throttled or invalid: not billed.
            Units::default()
        };
        match access {
            Access::Read => {
                t.rcu += billed.total();
                t.computed_rcu += computed.total();
            }
            Access::Write => {
                t.wcu_table += billed.table;
                t.wcu_index += billed.index;
                t.computed_wcu += computed.total();
                for w in &request.writes {
                    if let Some(b) = w.bytes {
                        t.items_put += 1;
                        t.bytes_put += b;
                    }
                }
            }
            Access::Control => {}
        }
    }
}

/// The shared ledger the interceptor writes to.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    ledger: Arc<Mutex<Ledger>>,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Ledger {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, request: &Request, response: &Value, status: u16) {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(request, response, status);
    }

    /// A DynamoDB client on `endpoint` (static test credentials, us-east-1) whose every call
    /// this meter counts.
    pub async fn client(&self, endpoint: &str) -> Client {
        let shared = herald_core::adapters::tls::aws_config()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "herald-bench"))
            .load()
            .await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&shared)
            .interceptor(CapacityInterceptor {
                meter: self.clone(),
            })
            .build();
        Client::from_conf(conf)
    }
}

/// The request facts of the call in flight, kept in its config bag until its response.
#[derive(Clone, Debug)]
struct InFlight(Request);

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct CapacityInterceptor {
    meter: Meter,
}

/// Asks an item operation's input to return its consumed capacity per table and index.
macro_rules! ask_capacity {
    ($input:expr, $($op:ident :: $ty:ident),+ $(,)?) => {
        $(
            if let Some(i) = $input.downcast_mut::<operation::$op::$ty>() {
                i.return_consumed_capacity = Some(ReturnConsumedCapacity::Indexes);
                return Ok(());
            }
        )+
    };
}

impl Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "HeraldBenchCapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_capacity!(
            input,
            put_item::PutItemInput,
            update_item::UpdateItemInput,
            delete_item::DeleteItemInput,
            get_item::GetItemInput,
            query::QueryInput,
            scan::ScanInput,
            batch_write_item::BatchWriteItemInput,
            batch_get_item::BatchGetItemInput,
            transact_write_items::TransactWriteItemsInput,
            transact_get_items::TransactGetItemsInput,
        );
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_string();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        cfg.interceptor_state()
            .store_put(InFlight(wire::parse_request(&op, &body)));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(InFlight(request)), Some(response)) =
            (cfg.load::<InFlight>(), context.response())
        else {
            return Ok(());
        };
        let body: Value = response
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        self.meter
            .record(request, &body, response.status().as_u16());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;
    use herald_tests::dynamo_local;

    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_string())
    }

    async fn metered_table() -> (Meter, Client, String) {
        let meter = Meter::new();
        let client = meter.client(&dynamo_local::endpoint()).await;
        let table = dynamo_local::fresh_table(&client).await;
        (meter, client, table)
    }

    #[test]
    fn a_ledger_since_a_snapshot_holds_only_the_later_calls() {
        let put = wire::parse_request(
            "PutItem",
            &serde_json::json!({"Item": {"pk": {"S": "execution#e"}}}),
        );
        let get = wire::parse_request(
            "GetItem",
            &serde_json::json!({"Key": {"pk": {"S": "profile#p"}}, "ConsistentRead": true}),
        );
        let ok = serde_json::json!({"ConsumedCapacity": {"CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}});
        let mut ledger = Ledger::default();
        ledger.record(&put, &ok, 200);
        let snapshot = ledger.clone();
        ledger.record(&put, &ok, 200);
        ledger.record(&get, &ok, 200);
        ledger.record(
            &get,
            &serde_json::json!({"__type": "x#ThrottlingException"}),
            400,
        );
        let later = ledger.since(&snapshot);
        assert_eq!(later.calls["PutItem execution"].calls, 1);
        assert_eq!(later.calls["PutItem execution"].wcu_table, 1.0);
        let get = later.calls["GetItem profile"];
        assert_eq!(
            (get.calls, get.rcu),
            (2, 1.0),
            "a throttled call is not billed"
        );
        assert_eq!(later.total().calls, 3);
    }

    #[tokio::test]
    async fn a_put_with_index_keys_is_counted_on_the_table_and_the_index() {
        let (meter, client, table) = metered_table().await;
        let before = meter.snapshot();
        client
            .put_item()
            .table_name(&table)
            .item("pk", s("message#m1"))
            .item("sk", s("_"))
            .item("gsi1pk", s("messages#e1"))
            .item("gsi1sk", s("m1"))
            .send()
            .await
            .unwrap();
        let used = meter.snapshot().since(&before);
        let t = used.calls["PutItem message"];
        assert_eq!((t.calls, t.reported_calls), (1, 1), "{used:?}");
        assert_eq!((t.wcu_table, t.wcu_index), (1.0, 1.0));
        assert_eq!(t.computed_wcu, 2.0);
    }

    #[tokio::test]
    async fn a_transaction_costs_twice_and_a_strong_read_of_a_small_item_one_unit() {
        let (meter, client, table) = metered_table().await;
        let put = |pk: &str| {
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .put(
                    aws_sdk_dynamodb::types::Put::builder()
                        .table_name(&table)
                        .item("pk", s(pk))
                        .item("sk", s("_"))
                        .build()
                        .unwrap(),
                )
                .build()
        };
        let before = meter.snapshot();
        client
            .transact_write_items()
            .transact_items(put("message#m2"))
            .transact_items(put("providerMessage#p2"))
            .send()
            .await
            .unwrap();
        client
            .get_item()
            .table_name(&table)
            .key("pk", s("message#m2"))
            .key("sk", s("_"))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let used = meter.snapshot().since(&before);
        let tx = used.calls["TransactWriteItems message+providerMessage"];
        assert_eq!(tx.wcu_table, 4.0, "{used:?}");
        assert_eq!(
            (tx.reported_calls, tx.corrected_calls),
            (1, 1),
            "DynamoDB Local reports 2 units for two identical small puts in a transaction"
        );
        assert_eq!(used.calls["GetItem message"].rcu, 1.0);
        assert_eq!(used.total().calls, 2);
    }

    #[tokio::test]
    async fn a_refused_condition_is_billed_from_the_item_size_and_marked() {
        let (meter, client, table) = metered_table().await;
        let put = || {
            client
                .put_item()
                .table_name(&table)
                .item("pk", s("request#c#r"))
                .item("sk", s("_"))
                .item("body", s(&"x".repeat(1500)))
                .condition_expression("attribute_not_exists(pk)")
                .send()
        };
        put().await.unwrap();
        let before = meter.snapshot();
        let refused = put().await;
        assert!(refused.is_err(), "the second put is refused");
        let t = meter.snapshot().since(&before).calls["PutItem request"];
        assert_eq!((t.calls, t.refused_calls, t.reported_calls), (1, 1, 0));
        assert_eq!(t.wcu_table, 2.0, "a 1.5 KB item costs 2 units");
    }
}
