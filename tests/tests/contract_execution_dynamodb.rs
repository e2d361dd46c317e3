//! The execution-side store contract suite on `DynamoStore`, each case on a fresh table made
//! from `template.yaml` on DynamoDB Local (started by `scripts/test`).

herald_tests::execution_contract_tests!(async { herald_tests::dynamo_local::fresh_store().await });
