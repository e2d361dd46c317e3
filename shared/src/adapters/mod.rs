//! Implementations of the ports.

#[cfg(feature = "aws")]
pub mod aws_delivery;
#[cfg(feature = "aws")]
pub mod deployed;
#[cfg(feature = "aws")]
pub mod discard;
#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(any(feature = "aws", feature = "local"))]
pub mod http_webhook;
#[cfg(feature = "local")]
pub mod local_queue;
pub mod memory;
pub mod memory_queue;
pub mod mime;
#[cfg(feature = "local")]
pub mod outbox;
#[cfg(feature = "local")]
pub mod sqlite;
#[cfg(feature = "aws")]
pub mod sqs_queue;
#[cfg(any(feature = "aws", feature = "local"))]
pub mod tls;
