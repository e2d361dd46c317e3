//! Implementations of the ports.

#[cfg(feature = "aws")]
pub mod dynamo;
pub mod memory;
#[cfg(feature = "local")]
pub mod sqlite;
