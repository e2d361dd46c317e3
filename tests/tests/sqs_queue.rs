//! The SQS adapter of the `Queue` port against moto: jobs go out with `SendMessageBatch` (ten
//! per call) as JSON bodies the dispatcher parses back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use herald_core::adapters::sqs_queue::SqsQueue;
use herald_core::domain::{AudienceBatch, CampaignId, ExecutionId, ProfileId};
use herald_core::ports::{Job, Queue};
use herald_tests::moto;

async fn client() -> Client {
    Client::new(&moto::config().await)
}

/// A new queue on moto; returns its URL.
async fn new_queue(client: &Client) -> String {
    let name = moto::unique("herald-dispatch");
    client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateQueue {name} on moto failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })
        .queue_url
        .unwrap_or_else(|| panic!("CreateQueue {name} returned no URL"))
}

/// Receives (and deletes) messages until `want` arrived or `within` passed; returns their
/// bodies.
async fn drain(client: &Client, url: &str, want: usize, within: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut bodies = Vec::new();
    while bodies.len() < want && started.elapsed() < within {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ReceiveMessage failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            });
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            if let Some(handle) = m.receipt_handle() {
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "DeleteMessage failed: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(&e)
                        )
                    });
            }
        }
    }
    bodies
}

/// The queue at `url`, on a client that records every request body it sends.
async fn capturing_queue(url: &str) -> (SqsQueue, moto::Captured) {
    let captured = moto::Captured::default();
    let client = Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&moto::config().await)
            .interceptor(captured.clone())
            .build(),
    );
    (SqsQueue::new(client, url), captured)
}

fn jobs(n: usize) -> Vec<Job> {
    let campaign_id = CampaignId::new();
    (0..n)
        .map(|i| {
            if i % 3 == 0 {
                Job::Batch(AudienceBatch {
                    execution_id: ExecutionId::new(),
                    campaign_id,
                    campaign_version: 2,
                    sequence: i as u64,
                    members: vec![ProfileId::new(), ProfileId::new()],
                })
            } else {
                Job::Plan {
                    execution_id: ExecutionId::new(),
                }
            }
        })
        .collect()
}

#[tokio::test]
async fn twenty_three_enqueued_jobs_arrive_as_twenty_three_messages_that_parse_back_as_the_same_jobs()
 {
    let client = client().await;
    let url = new_queue(&client).await;
    let (queue, captured) = capturing_queue(&url).await;
    let sent = jobs(23);

    queue.enqueue(&sent).await.expect("the jobs are sent");
    let batches: Vec<usize> = captured
        .json_bodies()
        .iter()
        .filter_map(|b| b["Entries"].as_array().map(Vec::len))
        .collect();
    assert_eq!(
        batches,
        vec![10, 10, 3],
        "SendMessageBatch calls of ten at most"
    );

    let bodies = drain(&client, &url, 23, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 23, "one message per job");
    let received: Vec<Job> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("{b} is not a Job: {e}")))
        .collect();
    for job in &sent {
        assert!(received.contains(job), "{job:?} was not received");
    }
    let distinct: HashSet<String> = bodies.iter().cloned().collect();
    assert_eq!(distinct.len(), 23, "no job was sent twice");
    assert!(
        drain(&client, &url, 1, Duration::from_secs(1))
            .await
            .is_empty(),
        "nothing else is on the queue"
    );
}

#[tokio::test]
async fn a_job_queued_for_later_is_sent_with_its_delay_and_arrives_after_it() {
    let client = client().await;
    let url = new_queue(&client).await;
    let (queue, captured) = capturing_queue(&url).await;
    let sent = jobs(1);
    let now = jiff::Timestamp::now();
    queue
        .enqueue_at(&sent, now, now + jiff::SignedDuration::from_millis(2_500))
        .await
        .expect("the job is sent");
    let delays: Vec<serde_json::Value> = captured
        .json_bodies()
        .iter()
        .filter_map(|b| b["Entries"].as_array().cloned())
        .flatten()
        .map(|e| e["DelaySeconds"].clone())
        .collect();
    assert_eq!(
        delays,
        vec![serde_json::json!(3)],
        "rounded up to whole seconds"
    );

    let started = Instant::now();
    assert!(
        drain(&client, &url, 1, Duration::from_secs(1))
            .await
            .is_empty(),
        "not visible during its delay"
    );
    let bodies = drain(&client, &url, 1, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 1, "visible once its delay passed");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let received: Job = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(received, sent[0]);
}

#[tokio::test]
async fn enqueuing_nothing_sends_nothing_and_a_missing_queue_is_an_error() {
    let client = client().await;
    let url = new_queue(&client).await;
    SqsQueue::new(client.clone(), &url)
        .enqueue(&[])
        .await
        .expect("an empty enqueue is a no-op");
    assert!(
        drain(&client, &url, 1, Duration::from_secs(1))
            .await
            .is_empty()
    );

    let missing = format!("{url}-deleted");
    let err = SqsQueue::new(client, missing)
        .enqueue(&jobs(1))
        .await
        .expect_err("a queue that does not exist refuses the batch");
    assert!(
        herald_core::logging::error_chain(&err).contains("SendMessageBatch"),
        "the error names the call: {}",
        herald_core::logging::error_chain(&err)
    );
}
