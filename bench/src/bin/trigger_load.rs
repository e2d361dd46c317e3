//! B2: unitary trigger load on `herald serve` (SQLite, discard sink), measured with `wrk`.
//!
//! In one run, on one server: `GET /im/health` (H req/s, the HTTP ceiling of this machine and
//! server), then `POST /im/executions/unitary` with a unique `requestId` and one recipient per
//! call. The ceiling of a trigger is the HTTP cost plus the message cost,
//! C = 1 / (1/H + 1/P), P being B1's email pipeline rate (`--pipeline-rate`, per core) times the
//! cores. Afterwards the campaign report must account for every answered request as `sent`.
//!
//! `trigger_load --herald target/release/herald [--seconds 20] [--connections 32]
//!  [--pipeline-rate N] [--json FILE]`

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use herald_bench::fixtures;
use herald_tests::server::{HeraldServer, TEST_TOKEN};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Parser)]
struct Args {
    /// The `herald` binary (a release build).
    #[arg(long)]
    herald: PathBuf,
    /// Seconds of load per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// Open connections (concurrent requests).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Profiles the triggers address (round robin).
    #[arg(long, default_value_t = 1000)]
    profiles: u32,
    /// B1's Herald email pipeline rate, messages per second on one core.
    #[arg(long)]
    pipeline_rate: Option<f64>,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What one wrk run measured (its Lua `done` hook prints this as JSON).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrkRun {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    max_us: u64,
    non2xx: u64,
    socket_errors: u64,
}

impl WrkRun {
    fn rate(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Figures {
    cores: usize,
    connections: u32,
    seconds: u32,
    health: WrkRun,
    health_per_second: f64,
    trigger: WrkRun,
    trigger_per_second: f64,
    pipeline_per_second: Option<f64>,
    ceiling_per_second: Option<f64>,
    ratio_to_ceiling: Option<f64>,
    messages_sent: u64,
}

const DONE_HOOK: &str = r#"
done = function(summary, latency, requests)
  io.write(string.format(
    '\nWRK-JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"non2xx":%d,"socketErrors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"#;

fn trigger_script(campaign: &str, profiles: u32) -> String {
    let context = fixtures::email_context().to_string().replace('\'', "\\'");
    // The fixtures' address of profile %d, for string.format.
    let email_pattern = fixtures::email_of(0u64).replacen('0', "%d", 1);
    format!(
        r#"
local thread_count = 0
setup = function(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end
local counter = 0
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {TEST_TOKEN}"}}
request = function()
  counter = counter + 1
  local body = string.format('{{"requestId":"b2-%d-%d","campaignId":"{campaign}","context":%s,"recipients":[{{"type":"aep","namespace":"email","userId":"{email_pattern}"}}]}}',
    tid, counter, '{context}', (counter * 7 + tid) % {profiles})
  return wrk.format("POST", "/im/executions/unitary", headers, body)
end
{DONE_HOOK}"#
    )
}

fn run_wrk(args: &Args, url: &str, script: &str) -> WrkRun {
    let path = std::env::temp_dir().join(format!("herald-b2-{}.lua", std::process::id()));
    std::fs::write(&path, script).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    let out = Command::new("wrk")
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.seconds))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&path)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("wrk did not run ({e}): install it (scripts/bench does: apt-get install wrk)")
        });
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WRK-JSON "))
        .unwrap_or_else(|| panic!("wrk printed no figures:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("wrk's figures {line}: {e}"))
}

async fn setup(s: &HeraldServer, profiles: u32) -> String {
    let cfg = s
        .post("/channel-configs", &fixtures::email_channel_config())
        .await;
    assert_eq!(cfg.status, 201, "{}", cfg.text);
    let cfg = cfg.body["id"].as_str().expect("a channel config id");
    let c = s.post("/campaigns", &fixtures::email_campaign(cfg)).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().expect("a campaign id").to_string();
    let a = s.post_empty(&format!("/campaigns/{id}/activate")).await;
    assert_eq!(a.body["status"], "live", "{}", a.text);
    let mut ndjson = String::new();
    for i in 0..profiles {
        ndjson.push_str(&fixtures::profile(i).to_string());
        ndjson.push('\n');
    }
    let r = s
        .send(
            reqwest::Method::POST,
            "/profiles/import",
            Some(ndjson.into_bytes()),
            &[("content-type", "application/x-ndjson")],
        )
        .await;
    assert!(r.status.is_success(), "profile import: {}", r.text);
    id
}

async fn sent(s: &HeraldServer, campaign: &str) -> u64 {
    let r = s.get(&format!("/campaigns/{campaign}/report")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"]["sent"].as_u64().unwrap_or(0)
}

fn figure(run: &WrkRun) -> String {
    format!(
        "{:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} requests, {} non-2xx, {} socket errors)",
        run.rate(),
        run.p50_us as f64 / 1000.0,
        run.p90_us as f64 / 1000.0,
        run.p99_us as f64 / 1000.0,
        run.max_us as f64 / 1000.0,
        run.requests,
        run.non2xx,
        run.socket_errors
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = HeraldServer::start(&args.herald, &["--delivery", "discard"], &[]);
    let campaign = setup(&server, args.profiles).await;

    let health = run_wrk(
        &args,
        &format!("{}/im/health", server.base),
        &format!(
            "local h = {{}}\nrequest = function() return wrk.format(\"GET\", \"/im/health\") end\n{DONE_HOOK}"
        ),
    );
    println!("B2 health:  {}", figure(&health));
    let before = sent(&server, &campaign).await;
    let trigger = run_wrk(
        &args,
        &format!("{}/im/executions/unitary", server.base),
        &trigger_script(&campaign, args.profiles),
    );
    println!("B2 trigger: {}", figure(&trigger));
    // Requests still in flight when wrk stopped finish on the server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages_sent = sent(&server, &campaign).await - before;
    assert!(
        trigger.non2xx == 0 && messages_sent >= trigger.requests,
        "every answered trigger must be a 202 with its message sent: {} answered, {} non-2xx, {} sent",
        trigger.requests,
        trigger.non2xx,
        messages_sent
    );
    let h = health.rate();
    let t = trigger.rate();
    let pipeline = args.pipeline_rate.map(|p| p * cores as f64);
    let ceiling = pipeline.map(|p| 1.0 / (1.0 / h + 1.0 / p));
    let ratio = ceiling.map(|c| t / c);
    if let (Some(p), Some(c), Some(r)) = (pipeline, ceiling, ratio) {
        println!(
            "B2 ceiling: C = 1/(1/H + 1/P) = 1/(1/{h:.0} + 1/{p:.0}) = {c:.0} req/s; trigger = {:.0}% of C (target >= 60%), p99 {:.2} ms (target <= 10 ms)",
            r * 100.0,
            trigger.p99_us as f64 / 1000.0
        );
    } else {
        println!("B2 ceiling: pass --pipeline-rate (B1's email msg/s per core) to compute C");
    }
    let figures = Figures {
        cores,
        connections: args.connections,
        seconds: args.seconds,
        health_per_second: h,
        health,
        trigger_per_second: t,
        trigger,
        pipeline_per_second: pipeline,
        ceiling_per_second: ceiling,
        ratio_to_ceiling: ratio,
        messages_sent,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&figures).expect("figures serialize");
        std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    }
    let _: Value = serde_json::to_value(&figures).expect("figures serialize");
    server.stop();
}
