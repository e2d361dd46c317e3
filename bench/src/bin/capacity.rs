//! B4, AWS cost per message (issue 5, point 6): DynamoDB capacity units per message on
//! DynamoDB Local, priced on demand beside SES's $0.10 per 1,000 emails.
//!
//! ```text
//! cargo run --release -p herald-bench --bin capacity -- [--quick] [--json FILE]
//!     [--unitary N] [--members N] [--feedback N] [--lambda-ms-per-message X] [--all-operations]
//! ```
//!
//! Needs DynamoDB Local at `HERALD_TEST_DYNAMODB_ENDPOINT` (or `--endpoint`); `scripts/bench`
//! starts it. Each run creates its own table from `template.yaml`. Prints, per message: read and
//! write units (table and index), the top 5 operations by write units, the SQS requests and
//! Lambda time, and the cost per million messages; `--json FILE` writes every figure (the
//! `unitary` and `audience` objects carry `wcuPerMessage`, `rcuPerMessage`,
//! `dollarsPerMillion` and `percentOfSes`). Targets: at most 3 write units per message;
//! infrastructure at most 3% of the SES price.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use herald_bench::capacity::figures::{cost_table, operations_table, summary_table};
use herald_bench::capacity::{Options, Report, measure};

#[derive(Debug, Parser)]
#[command(about = "B4: DynamoDB capacity units and AWS cost per message")]
struct Args {
    /// DynamoDB Local's URL (scripts/test and scripts/bench start it and set the variable).
    #[arg(long, env = "HERALD_TEST_DYNAMODB_ENDPOINT")]
    endpoint: Option<String>,
    /// Small sizes (20 unitary triggers, an audience of 200), well under 30 s.
    #[arg(long)]
    quick: bool,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Unitary triggers (default 200; quick 20).
    #[arg(long)]
    unitary: Option<usize>,
    /// Audience members (default 2,000; quick 200).
    #[arg(long)]
    members: Option<usize>,
    /// Messages of each kind whose SES delivery event is recorded (default 200; quick 20).
    #[arg(long)]
    feedback: Option<usize>,
    /// Lambda milliseconds per message to price (e.g. from B1/B2) instead of the wall time
    /// measured in this process.
    #[arg(long)]
    lambda_ms_per_message: Option<f64>,
    /// List every operation, not only the top 5 by write units.
    #[arg(long)]
    all_operations: bool,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(
        "no DynamoDB Local endpoint: HERALD_TEST_DYNAMODB_ENDPOINT is not set; run scripts/bench \
         (it starts DynamoDB Local) or pass --endpoint URL"
    )]
    NoEndpoint,
    #[error(transparent)]
    Run(#[from] herald_bench::capacity::world::RunError),
    #[error("cannot serialize the figures")]
    Json(#[source] serde_json::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn options(args: &Args) -> Result<Options, Error> {
    let endpoint = args
        .endpoint
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or(Error::NoEndpoint)?;
    let base = if args.quick {
        Options::quick(endpoint)
    } else {
        Options::full(endpoint)
    };
    Ok(Options {
        unitary: args.unitary.unwrap_or(base.unitary).max(1),
        members: args.members.unwrap_or(base.members).max(1),
        feedback: args.feedback.unwrap_or(base.feedback),
        lambda_ms_per_message: args.lambda_ms_per_message,
        ..base
    })
}

fn print(report: &Report, options: &Options, args: &Args, seconds: f64) {
    let p = &report.prices;
    println!(
        "B4 AWS cost per message: DynamoDB Local at {}, table {} ({seconds:.1} s)",
        options.endpoint, report.table
    );
    println!("capacity: {}", report.capacity_source);
    println!(
        "prices (us-east-1, on demand): DynamoDB ${}/M write units, ${}/M read units; SQS ${}/M \
         requests; Lambda arm64 ${}/GB-s at {} GB, ${}/M requests; API Gateway HTTP API ${}/M; \
         SNS ${}/M publishes; SES ${} per million emails",
        p.dynamodb_write_per_million,
        p.dynamodb_read_per_million,
        p.sqs_per_million_requests,
        p.lambda_per_gb_second,
        p.lambda_memory_gb,
        p.lambda_per_million_requests,
        p.api_gateway_per_million_requests,
        p.sns_per_million_publishes,
        p.ses_per_million_emails
    );
    println!("Lambda time: {}\n", report.unitary.lambda_ms_source);
    let rows: Vec<(&str, _)> = report
        .scenarios()
        .into_iter()
        .map(|s| (s.label.as_str(), s))
        .collect();
    println!("{}", summary_table(&rows));
    let mut costs = vec![];
    for s in report.scenarios() {
        costs.push((s.label.clone(), s.send.cost));
        if let Some(c) = &s.with_delivery_feedback {
            costs.push(("  sending + delivery events".to_string(), c.cost));
        }
    }
    let cost_rows: Vec<(&str, _)> = costs.iter().map(|(l, c)| (l.as_str(), c)).collect();
    println!("{}", cost_table(&cost_rows));
    let top = if args.all_operations { None } else { Some(5) };
    for s in report.scenarios() {
        println!(
            "{}: {} operations by write units, per message",
            s.label,
            if top.is_some() { "top 5" } else { "all" }
        );
        println!("{}", operations_table(&s.send, top));
        if let Some(f) = &s.delivery_feedback {
            println!("{}, its SES delivery events, per message", s.label);
            println!("{}", operations_table(f, top));
        }
    }
    for (name, s) in [("unitary", &report.unitary), ("audience", &report.audience)] {
        let wcu = s.send.wcu_per_message;
        let pct = s.send.percent_of_ses;
        println!(
            "B4 {name}: {wcu:.2} WCU/message (target <= 3: {}), infrastructure ${:.2} per million \
             = {pct:.2}% of SES (target <= 3%: {})",
            if wcu <= 3.0 { "met" } else { "MISSED" },
            s.send.dollars_per_million,
            if pct <= 3.0 { "met" } else { "MISSED" },
        );
    }
}

fn write_json(report: &Report, path: &PathBuf) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(report).map_err(Error::Json)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text + "\n").map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })
}

async fn run(args: &Args) -> Result<(), Error> {
    let started = Instant::now();
    let options = options(args)?;
    let report = measure(&options).await?;
    print(&report, &options, args, started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        write_json(&report, path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    herald_bench::exit_with("capacity", run(&args).await)
}
