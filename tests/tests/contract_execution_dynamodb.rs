//! The execution-side store contract suite on `DynamoStore`, each case on a fresh table made
//! from `template.yaml` on DynamoDB Local (started by `scripts/test`).

herald_tests::execution_contract_tests!(async { herald_tests::dynamo_local::fresh_store().await });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_listed_in_message_id_order() {
    let store = herald_tests::dynamo_local::fresh_store().await;
    herald_tests::contract_execution::messages_are_listed_in_message_id_order(&store).await;
}
