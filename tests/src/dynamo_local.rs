//! DynamoDB Local for tests: a client on the endpoint `scripts/test` starts, and fresh tables
//! created from the `HeraldTable` definition in `template.yaml` — the same definition AWS
//! deploys, so code and template cannot drift.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, TimeToLiveSpecification,
};
use herald_core::adapters::dynamo::DynamoStore;
use serde_norway::Value;

/// The environment variable naming the DynamoDB Local endpoint.
pub const ENDPOINT_ENV: &str = "HERALD_TEST_DYNAMODB_ENDPOINT";
/// The logical id of Herald's table in `template.yaml`.
pub const TABLE_RESOURCE: &str = "HeraldTable";

/// The DynamoDB Local endpoint; panics with what to do when it is not set.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{ENDPOINT_ENV} is not set: run the tests with scripts/test, which starts DynamoDB Local"
        ),
    }
}

/// A client for DynamoDB Local (static test credentials, region us-east-1).
pub async fn client() -> Client {
    let config = herald_core::adapters::tls::aws_config()
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "herald-tests"))
        .load()
        .await;
    Client::new(&config)
}

/// A store on a fresh, empty table.
pub async fn fresh_store() -> DynamoStore {
    let c = client().await;
    let table = fresh_table(&c).await;
    DynamoStore::new(c, table)
}

/// `template.yaml` at the workspace root.
pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// The `Properties` of the `HeraldTable` resource in `template.yaml`.
pub fn table_properties() -> Value {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let template: Value = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    let resource = &template["Resources"][TABLE_RESOURCE];
    assert_eq!(
        resource["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "{} has no resource {TABLE_RESOURCE} of Type AWS::DynamoDB::Table",
        path.display()
    );
    resource["Properties"].clone()
}

/// A plain string property; a CloudFormation function (`!Ref`, `!If`…) cannot be translated.
fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| {
        panic!("{TABLE_RESOURCE}: {what} must be a plain string in template.yaml, found {v:?}")
    })
}

fn list<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or_else(|| {
        panic!("{TABLE_RESOURCE}: {what} must be a list in template.yaml, found {v:?}")
    })
}

fn key_schema(v: &Value, what: &str) -> Vec<KeySchemaElement> {
    list(v, what)
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"], what))
                .key_type(KeyType::from(text(&k["KeyType"], what)))
                .build()
                .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: {what}: {e}"))
        })
        .collect()
}

fn throughput(v: &Value) -> Option<ProvisionedThroughput> {
    if v.is_null() {
        return None;
    }
    let units = |name: &str| {
        v[name]
            .as_i64()
            .or_else(|| v[name].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| {
                panic!("{TABLE_RESOURCE}: ProvisionedThroughput.{name} is not a number")
            })
    };
    Some(
        ProvisionedThroughput::builder()
            .read_capacity_units(units("ReadCapacityUnits"))
            .write_capacity_units(units("WriteCapacityUnits"))
            .build()
            .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: ProvisionedThroughput: {e}")),
    )
}

/// Properties that shape the table locally are translated; these only matter in AWS.
const IGNORED: [&str; 7] = [
    "TableName",
    "PointInTimeRecoverySpecification",
    "SSESpecification",
    "Tags",
    "DeletionProtectionEnabled",
    "ContributorInsightsSpecification",
    "TableClass",
];
const TRANSLATED: [&str; 7] = [
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "ProvisionedThroughput",
    "StreamSpecification",
    "TimeToLiveSpecification",
];

/// Creates a uniquely named table from the `HeraldTable` definition in `template.yaml`, turns
/// on its TTL, waits until it is ACTIVE, and returns its name.
pub async fn fresh_table(client: &Client) -> String {
    let props = table_properties();
    let map = props
        .as_mapping()
        .unwrap_or_else(|| panic!("{TABLE_RESOURCE}: Properties is not a mapping"));
    for k in map.keys() {
        let k = text(k, "a property name");
        assert!(
            IGNORED.contains(&k) || TRANSLATED.contains(&k),
            "{TABLE_RESOURCE} has property {k}, which tests/src/dynamo_local.rs does not \
             translate yet: teach fresh_table about it so tests keep using the real definition"
        );
    }
    let name = format!("herald-test-{}", uuid::Uuid::new_v4());
    let mut create = client
        .create_table()
        .table_name(&name)
        .set_key_schema(Some(key_schema(&props["KeySchema"], "KeySchema")))
        .set_provisioned_throughput(throughput(&props["ProvisionedThroughput"]));
    if !props["BillingMode"].is_null() {
        create = create.billing_mode(BillingMode::from(text(
            &props["BillingMode"],
            "BillingMode",
        )));
    }
    for a in list(&props["AttributeDefinitions"], "AttributeDefinitions") {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"], "AttributeDefinitions"))
                .attribute_type(ScalarAttributeType::from(text(
                    &a["AttributeType"],
                    "AttributeDefinitions",
                )))
                .build()
                .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: AttributeDefinitions: {e}")),
        );
    }
    if !props["GlobalSecondaryIndexes"].is_null() {
        for g in list(&props["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes") {
            let what = "GlobalSecondaryIndexes";
            let p = &g["Projection"];
            let mut projection = Projection::builder()
                .projection_type(ProjectionType::from(text(&p["ProjectionType"], what)));
            if !p["NonKeyAttributes"].is_null() {
                for a in list(&p["NonKeyAttributes"], what) {
                    projection = projection.non_key_attributes(text(a, what));
                }
            }
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(text(&g["IndexName"], what))
                    .set_key_schema(Some(key_schema(&g["KeySchema"], what)))
                    .projection(projection.build())
                    .set_provisioned_throughput(throughput(&g["ProvisionedThroughput"]))
                    .build()
                    .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: {what}: {e}")),
            );
        }
    }
    let stream = &props["StreamSpecification"];
    if !stream.is_null() {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(text(
                    &stream["StreamViewType"],
                    "StreamSpecification",
                )))
                .build()
                .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: StreamSpecification: {e}")),
        );
    }
    create.send().await.unwrap_or_else(|e| {
        panic!(
            "CreateTable {name} on DynamoDB Local failed: {}",
            describe(&e)
        )
    });
    wait_active(client, &name).await;

    let ttl = &props["TimeToLiveSpecification"];
    if !ttl.is_null() && ttl["Enabled"].as_bool() != Some(false) {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(text(&ttl["AttributeName"], "TimeToLiveSpecification"))
            .enabled(true)
            .build()
            .unwrap_or_else(|e| panic!("{TABLE_RESOURCE}: TimeToLiveSpecification: {e}"));
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(spec)
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateTimeToLive on {name} failed: {}", describe(&e)));
        wait_active(client, &name).await;
    }
    name
}

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}

async fn wait_active(client: &Client, name: &str) {
    for _ in 0..300 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name} failed: {}", describe(&e)));
        let table = out
            .table
            .unwrap_or_else(|| panic!("DescribeTable {name} returned no table"));
        let indexes_active = table
            .global_secondary_indexes()
            .iter()
            .all(|g| g.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
        if table.table_status == Some(TableStatus::Active) && indexes_active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("table {name} did not become ACTIVE within 30 s");
}
