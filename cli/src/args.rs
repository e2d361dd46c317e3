//! Command-line arguments (clap).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Self-hosted API-triggered email, SMS and push campaigns"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every Herald function in one process on this machine.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite file in the data directory.
    Sqlite,
    /// DynamoDB (AWS or DynamoDB Local via AWS_ENDPOINT_URL); table from --table / HERALD_TABLE.
    Dynamodb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeliveryKind {
    /// Write every message to `<data-dir>/outbox` (browse it at `GET /outbox`); SES mailbox
    /// simulator addresses produce feedback events.
    Outbox,
    /// Build each provider payload (raw MIME, SNS request), count it and drop it: for
    /// benchmarks, which then measure Herald and not the disk.
    Discard,
}

#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HERALD_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, env = "HERALD_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Where the SQLite database and the API token are kept.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./.herald")]
    pub data_dir: PathBuf,
    /// Which store to use.
    #[arg(long, env = "HERALD_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// Where messages go.
    #[arg(long, env = "HERALD_DELIVERY", value_enum, default_value_t = DeliveryKind::Outbox)]
    pub delivery: DeliveryKind,
    /// DynamoDB table (with --store dynamodb).
    #[arg(long, env = "HERALD_TABLE")]
    pub table: Option<String>,
    /// Marketing messages need recorded consent (`in`); without it they are excluded
    /// `ConsentMissing`. Default: unset consent sends, as in AJO.
    #[arg(long, env = "HERALD_REQUIRE_CONSENT")]
    pub require_consent: bool,
    /// Base URL the public routes (unsubscribe links) are reached at; default the listen address.
    #[arg(long, env = "HERALD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Queued jobs (audience planning and batches, webhook events) run at once, 1 to 1024.
    #[arg(long, env = "HERALD_JOBS", default_value_t = DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,
}

/// Jobs at once by default: on B3's fan-out (two cores, SQLite) 16 left a fifth of the machine
/// idle waiting on commits, 64 ran 18% more messages per second, 128 no more than 64 with more
/// memory (bench/findings.md).
pub const DEFAULT_JOBS: u16 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = ["herald", "serve"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Serve(args) => args,
        })
    }

    #[test]
    fn jobs_default_to_64_and_take_1_to_1024() {
        assert_eq!(serve(&[]).unwrap().jobs, 64);
        assert_eq!(serve(&["--jobs", "1"]).unwrap().jobs, 1);
        assert_eq!(serve(&["--jobs", "1024"]).unwrap().jobs, 1024);
        for bad in ["0", "1025", "many"] {
            let err = serve(&["--jobs", bad]).unwrap_err();
            assert!(err.to_string().contains("--jobs"), "{bad}: {err}");
        }
    }
}
