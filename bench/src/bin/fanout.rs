//! B3: audience fan-out on `herald serve` (SQLite, discard sink).
//!
//! For each audience size N, on a fresh data directory: a marketing email channel
//! configuration, a static audience and a marketing email campaign (B1's email fixture with an
//! unsubscribe link, so a message costs what B1 measures), N profiles imported as NDJSON and
//! added to the audience. Loading is timed and printed but is not the figure. Herald is then
//! restarted on the same data directory, so that its peak RSS covers the fan-out alone, and
//! `POST /im/executions/audience` starts the run; `GET /im/executions/audience/{id}` is polled
//! until the counts account for all N recipients. The figure is the time from the trigger to
//! that moment, N / time in messages per second, and the server's peak RSS (`VmHWM`, with
//! `VmRSS` sampled at every poll).
//!
//! A size written `100000x3` is run three times, each on a fresh data directory, and its figures
//! are those of the median run by messages per second (`runsMessagesPerSecond` lists every
//! run's): on a shared machine single runs spread ±15%.
//!
//! `fanout --herald target/release/herald --sizes 100000x3,1000000 [--pipeline-rate N]
//!  [--json FILE]`: the JSON is `{"<N>": {"seconds", "messagesPerSecond", "peakRssMb",
//! "peakThreads", "loadSeconds", "runsMessagesPerSecond", …}, …}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use herald_bench::fixtures;
use herald_bench::procfs::{CpuTime, Memory, megabytes};
use herald_tests::server::{HeraldServer, Reply};
use serde::Serialize;
use serde_json::{Value, json};

/// Profiles per import call (the API's limit).
const IMPORT_LINES: usize = 10_000;
/// Import body bytes per call, under the 5 MB import limit.
const IMPORT_BYTES: usize = 4 * 1024 * 1024;
/// Members per add call (the API's limit).
const MEMBERS_PER_CALL: usize = 10_000;
/// Member-call body bytes, under the bulk calls' 5 MiB body limit.
const MEMBERS_BYTES: usize = 4 * 1024 * 1024;
/// A run whose recorded outcomes stop moving for this long has failed.
const STALL: Duration = Duration::from_secs(120);
/// Progress lines while a fan-out runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(about = "B3: audience fan-out on herald serve (SQLite, discard sink)")]
struct Args {
    /// The `herald` binary (a release build).
    #[arg(long)]
    herald: PathBuf,
    /// Audience sizes, run in this order, each on a fresh data directory; `SIZExN` runs a size
    /// N times and keeps the median run.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<SizeRuns>,
    /// B1's Herald email pipeline rate, messages per second on one core.
    #[arg(long)]
    pipeline_rate: Option<f64>,
    /// Milliseconds between two polls of the execution (and two RSS samples).
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Keep each data directory (its path is printed) instead of removing it.
    #[arg(long)]
    keep_data: bool,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
enum FanoutError {
    #[error("{what}: herald serve answered {status}: {body}")]
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("herald serve did not stop cleanly after SIGTERM")]
    Stop,
    #[error("{what}: unexpected answer {body}")]
    Unexpected { what: &'static str, body: String },
    #[error("could not read the memory or CPU time of process {pid}")]
    Proc { pid: u32, source: std::io::Error },
    #[error("the fan-out stalled at {recorded} of {size} recorded outcomes for {stall:?}")]
    Stalled {
        recorded: u64,
        size: usize,
        stall: Duration,
    },
    #[error("{sent} of {size} messages were sent; the other outcomes were {counts}")]
    NotAllSent {
        sent: u64,
        size: usize,
        counts: Value,
    },
    #[error("could not write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("could not encode the figures")]
    Encode(#[source] serde_json::Error),
    #[error("--sizes needs at least one size above zero")]
    NoSizes,
}

/// An audience size and how many times to run it (`100000` or `100000x3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SizeRuns {
    size: usize,
    runs: usize,
}

impl std::str::FromStr for SizeRuns {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (size, runs) = s.split_once('x').unwrap_or((s, "1"));
        let number = |text: &str, what: &str| {
            text.trim()
                .parse::<usize>()
                .map_err(|e| format!("{what} in {s:?}: {e}"))
        };
        let (size, runs) = (number(size, "the size")?, number(runs, "the run count")?);
        if runs == 0 {
            return Err(format!("{s:?}: a size is run at least once"));
        }
        Ok(Self { size, runs })
    }
}

/// What one audience size measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Figures {
    /// From the trigger to the poll that saw every recipient's outcome.
    seconds: f64,
    messages_per_second: f64,
    /// The server's `VmHWM` after the fan-out (the process started just before it), or the
    /// highest sample if above.
    peak_rss_mb: f64,
    /// The highest `VmRSS` sampled while polling.
    sampled_peak_rss_mb: f64,
    /// The most threads the server had at a sample: a pool that grows under load shows here
    /// first (each thread keeps an allocator heap of its own).
    peak_threads: u64,
    /// `VmRSS` after the restart, before the trigger.
    idle_rss_mb: f64,
    /// CPU time the server used from the trigger to the end (user plus system, all threads).
    cpu_seconds: f64,
    /// Messages per CPU second of the server: what a message costs, whatever else the machine
    /// was running.
    messages_per_cpu_second: f64,
    /// Profile import plus audience members (not the benchmark).
    load_seconds: f64,
    import_seconds: f64,
    members_seconds: f64,
    cores: usize,
    /// `messagesPerSecond / (pipelineRate × cores)`, with `--pipeline-rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline_ratio: Option<f64>,
    /// The execution's counts at the end.
    counts: Value,
}

/// What one audience size measured over its runs: the median run's figures, and every run's
/// rate in run order.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SizeFigures {
    #[serde(flatten)]
    median: Figures,
    runs_messages_per_second: Vec<f64>,
}

/// What the setup created.
struct Setup {
    campaign: String,
    import_seconds: f64,
    members_seconds: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    herald_bench::exit_with("fanout", run(&args).await)
}

async fn run(args: &Args) -> Result<(), FanoutError> {
    let sizes: Vec<SizeRuns> = args.sizes.iter().copied().filter(|s| s.size > 0).collect();
    if sizes.is_empty() {
        return Err(FanoutError::NoSizes);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("B3 machine: {cores} cores");
    if let Some(rate) = args.pipeline_rate {
        println!(
            "B3 pipeline ceiling (B1 email): {rate:.0} msg/s/core x {cores} cores = {:.0} msg/s",
            rate * cores as f64
        );
    }
    let mut all = serde_json::Map::new();
    let mut peaks: Vec<(usize, f64)> = Vec::new();
    for &SizeRuns { size, runs } in &sizes {
        let mut measured_runs = Vec::with_capacity(runs);
        for run in 1..=runs {
            if runs > 1 {
                println!("B3 {size}: run {run} of {runs}");
            }
            measured_runs.push(measure(args, size, cores).await?);
        }
        let sized = median_run(measured_runs);
        let figures = &sized.median;
        if runs > 1 {
            let rates: Vec<String> = sized
                .runs_messages_per_second
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect();
            println!(
                "B3 {size}: the median of {runs} runs (msg/s: {})",
                rates.join(", ")
            );
        }
        println!(
            "B3 {size}: {:.2} s, {:.0} msg/s, peak RSS {:.1} MB, at most {} threads",
            figures.seconds, figures.messages_per_second, figures.peak_rss_mb, figures.peak_threads
        );
        println!(
            "B3 {size}: the server used {:.1} CPU s ({:.0} msg per CPU second, {:.0} us of CPU per message)",
            figures.cpu_seconds,
            figures.messages_per_cpu_second,
            1e6 / figures.messages_per_cpu_second
        );
        if let Some(ratio) = figures.pipeline_ratio {
            println!(
                "B3 {size}: {:.0} msg/s = {ratio:.2} of the pipeline ceiling (B1 email rate x cores)",
                figures.messages_per_second
            );
        }
        peaks.push((size, figures.peak_rss_mb));
        all.insert(
            size.to_string(),
            serde_json::to_value(&sized).map_err(FanoutError::Encode)?,
        );
    }
    if let (Some(small), Some(large)) = (
        peaks.iter().min_by_key(|(n, _)| *n),
        peaks.iter().max_by_key(|(n, _)| *n),
    ) && small.0 != large.0
    {
        println!(
            "B3 peak RSS {}/{}: {:.2} (target <= 1.5)",
            large.0,
            small.0,
            large.1 / small.1
        );
    }
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&Value::Object(all)).map_err(FanoutError::Encode)?;
        std::fs::write(path, text).map_err(|source| FanoutError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// One run of `size` on a fresh data directory (removed afterwards unless `--keep-data`).
async fn measure(args: &Args, size: usize, cores: usize) -> Result<Figures, FanoutError> {
    let data_dir = std::env::temp_dir().join(format!(
        "herald-fanout-{size}-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    ));
    let measured = one_size(args, size, cores, &data_dir).await;
    if args.keep_data {
        println!("B3 {size}: data kept in {}", data_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    measured
}

/// The run with the median rate (the lower of the two middle ones for an even count), with
/// every run's rate in run order.
fn median_run(runs: Vec<Figures>) -> SizeFigures {
    let runs_messages_per_second = runs.iter().map(|f| f.messages_per_second).collect();
    let mut by_rate = runs;
    by_rate.sort_by(|a, b| a.messages_per_second.total_cmp(&b.messages_per_second));
    SizeFigures {
        median: by_rate.swap_remove((by_rate.len() - 1) / 2),
        runs_messages_per_second,
    }
}

/// Loads an audience of `size`, restarts Herald, and measures its fan-out.
async fn one_size(
    args: &Args,
    size: usize,
    cores: usize,
    data_dir: &Path,
) -> Result<Figures, FanoutError> {
    let start = || {
        HeraldServer::start_in(
            &args.herald,
            data_dir.to_path_buf(),
            &["--delivery", "discard"],
            &[],
        )
    };
    let server = start();
    let setup = load(&server, size).await?;
    let load_seconds = setup.import_seconds + setup.members_seconds;
    println!(
        "B3 {size}: loaded in {load_seconds:.1} s (profile import {:.1} s, audience members {:.1} s; not the benchmark)",
        setup.import_seconds, setup.members_seconds
    );
    stop(server)?;

    let server = start();
    let pid = server.pid();
    let memory = |pid| Memory::of(pid).map_err(|source| FanoutError::Proc { pid, source });
    let cpu = |pid| CpuTime::of(pid).map_err(|source| FanoutError::Proc { pid, source });
    let idle = memory(pid)?;
    let cpu_before = cpu(pid)?;
    let started = Instant::now();
    let reply = ok(
        "the audience trigger",
        server
            .post(
                "/im/executions/audience",
                &json!({"campaignId": setup.campaign, "requestId": format!("fanout-{size}"),
                        "context": fixtures::order_context()}),
            )
            .await,
    )?;
    let execution = string_at(&reply, "executionId", "the audience trigger")?;
    let path = format!("/im/executions/audience/{execution}");
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let mut sampled_peak = idle.rss_kb;
    let mut peak_threads = idle.threads;
    let mut last_change = (Instant::now(), 0_u64);
    let mut last_progress = Instant::now();
    let (elapsed, counts) = loop {
        tokio::time::sleep(poll).await;
        let sample = memory(pid)?;
        sampled_peak = sampled_peak.max(sample.rss_kb);
        peak_threads = peak_threads.max(sample.threads);
        let status = ok("the execution's status", server.get(&path).await)?;
        let counts = status.get("counts").cloned().unwrap_or(Value::Null);
        let done = recorded(&counts);
        if done >= size as u64 {
            break (started.elapsed(), counts);
        }
        if done != last_change.1 {
            last_change = (Instant::now(), done);
        } else if last_change.0.elapsed() > STALL {
            return Err(FanoutError::Stalled {
                recorded: done,
                size,
                stall: STALL,
            });
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "B3 {size}: {done} recorded after {secs:.0} s ({:.0} msg/s so far, RSS {:.1} MB)",
                done as f64 / secs,
                megabytes(sampled_peak)
            );
        }
    };
    let end = memory(pid)?;
    let cpu_seconds = cpu(pid)?.total_seconds() - cpu_before.total_seconds();
    stop(server)?;
    let sent = counts.get("sent").and_then(Value::as_u64).unwrap_or(0);
    if sent != size as u64 {
        return Err(FanoutError::NotAllSent { sent, size, counts });
    }
    let seconds = elapsed.as_secs_f64();
    let rate = size as f64 / seconds;
    Ok(Figures {
        seconds,
        messages_per_second: rate,
        // The kernel updates VmHWM from per-thread counters it folds in now and then, so a
        // sample can exceed it by a few pages.
        peak_rss_mb: megabytes(end.peak_kb.max(sampled_peak)),
        sampled_peak_rss_mb: megabytes(sampled_peak.max(end.rss_kb)),
        peak_threads: peak_threads.max(end.threads),
        idle_rss_mb: megabytes(idle.rss_kb),
        cpu_seconds,
        messages_per_cpu_second: size as f64 / cpu_seconds.max(0.01),
        load_seconds: setup.import_seconds + setup.members_seconds,
        import_seconds: setup.import_seconds,
        members_seconds: setup.members_seconds,
        cores,
        pipeline_ratio: args.pipeline_rate.map(|p| rate / (p * cores as f64)),
        counts,
    })
}

/// The body of a 2xx answer; any other answer is an error naming `what` was asked.
fn ok(what: &'static str, reply: Reply) -> Result<Value, FanoutError> {
    if reply.status.is_success() {
        Ok(reply.body)
    } else {
        Err(FanoutError::Status {
            what,
            status: reply.status.as_u16(),
            body: reply.text,
        })
    }
}

/// Stops the server gracefully, leaving its data directory to the caller.
fn stop(server: HeraldServer) -> Result<(), FanoutError> {
    server
        .stop_keeping_data()
        .then_some(())
        .ok_or(FanoutError::Stop)
}

/// Outcomes recorded for good or held: every recipient has one of these once the run is over.
fn recorded(counts: &Value) -> u64 {
    ["sent", "excluded", "failed", "unknown", "queued"]
        .iter()
        .filter_map(|k| counts.get(*k).and_then(Value::as_u64))
        .sum()
}

fn string_at(v: &Value, key: &str, what: &'static str) -> Result<String, FanoutError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| FanoutError::Unexpected {
            what,
            body: v.to_string(),
        })
}

/// The channel configuration, audience and live campaign, then `size` profiles imported and
/// added to the audience.
async fn load(server: &HeraldServer, size: usize) -> Result<Setup, FanoutError> {
    let config = ok(
        "the channel configuration",
        server
            .post(
                "/channel-configs",
                &json!({"name": "Shop marketing email", "category": "marketing",
                        "email": {"fromAddress": "news@shop.example.com", "fromName": "Example Shop",
                                  "replyTo": "help@shop.example.com", "configurationSet": "herald-events"}}),
            )
            .await,
    )?;
    let config = string_at(&config, "id", "the channel configuration")?;
    let audience = ok(
        "the audience",
        server
            .post(
                "/audiences",
                &json!({"name": format!("Fan-out {size}"), "kind": "static"}),
            )
            .await,
    )?;
    let audience = string_at(&audience, "id", "the audience")?;
    let campaign = ok(
        "the campaign",
        server
            .post("/campaigns", &marketing_email(&config, &audience))
            .await,
    )?;
    let campaign = string_at(&campaign, "id", "the campaign")?;
    let live = ok(
        "the campaign's activation",
        server
            .post_empty(&format!("/campaigns/{campaign}/activate"))
            .await,
    )?;
    if live.get("status").and_then(Value::as_str) != Some("live") {
        return Err(FanoutError::Unexpected {
            what: "the campaign's activation",
            body: live.to_string(),
        });
    }

    let started = Instant::now();
    let mut next = 0;
    while next < size {
        let (body, end) = import_chunk(next, size);
        let report = ok("a profile import", server.import_profiles(body).await)?;
        let created = report.get("created").and_then(Value::as_u64);
        if created != Some((end - next) as u64) {
            return Err(FanoutError::Unexpected {
                what: "a profile import",
                body: report.to_string(),
            });
        }
        next = end;
    }
    let import_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let members = format!("/audiences/{audience}/members");
    let mut next = 0;
    let mut count = None;
    while next < size {
        let (body, end) = members_chunk(next, size);
        let view = ok(
            "an audience member call",
            server
                .send(
                    reqwest::Method::POST,
                    &members,
                    Some(body.into_bytes()),
                    &[],
                )
                .await,
        )?;
        count = view.get("memberCount").and_then(Value::as_u64);
        next = end;
    }
    if count != Some(size as u64) {
        return Err(FanoutError::Unexpected {
            what: "the audience's member count",
            body: format!("{count:?}, expected {size}"),
        });
    }
    Ok(Setup {
        campaign,
        import_seconds,
        members_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `POST /campaigns` body: B1's email fixture as a marketing email to the audience, with the
/// unsubscribe link marketing email needs (in the footer of both parts).
fn marketing_email(channel_config: &str, audience: &str) -> Value {
    const FOOTER: &str = "Example Shop Ltd, 1 Market Street";
    let link = "<a href=\"{{unsubscribeUrl}}\">Unsubscribe</a> from these emails. ";
    let mut html = fixtures::EMAIL_HTML.replacen(FOOTER, &format!("{link}{FOOTER}"), 1);
    if !html.contains("{{unsubscribeUrl}}") {
        html.push_str(link);
    }
    let text = format!(
        "{}\nUnsubscribe: {{{{unsubscribeUrl}}}}\n",
        fixtures::EMAIL_TEXT
    );
    json!({
        "name": "Order follow-up",
        "description": "B3: B1's email fixture sent to a static audience",
        "tags": ["benchmark"],
        "type": "marketing",
        "channel": "email",
        "channelConfigId": channel_config,
        "audience": {"id": audience},
        "content": {"email": {
            "subject": fixtures::EMAIL_SUBJECT,
            "html": html,
            "text": text
        }}
    })
}

/// NDJSON for profiles `from..end` (as many as one import call takes), and `end`.
fn import_chunk(from: usize, size: usize) -> (String, usize) {
    let mut body = String::new();
    let mut i = from;
    while i < size && i - from < IMPORT_LINES {
        let line = json!({
            "identities": {"email": fixtures::email_of(i)},
            "attributes": fixtures::profile_attributes(i),
            "consent": {"email": "in"},
            "timezone": fixtures::PROFILE_TIMEZONE,
            "locale": "en-GB"
        })
        .to_string();
        if !body.is_empty() && body.len() + line.len() + 1 > IMPORT_BYTES {
            break;
        }
        body.push_str(&line);
        body.push('\n');
        i += 1;
    }
    (body, i)
}

/// `POST /audiences/{id}/members` body naming profiles `from..end` by email (as many as fit
/// one call), and `end`.
fn members_chunk(from: usize, size: usize) -> (String, usize) {
    let mut entries = String::new();
    let mut i = from;
    while i < size && i - from < MEMBERS_PER_CALL {
        let entry = json!({"namespace": "email", "value": fixtures::email_of(i)}).to_string();
        if !entries.is_empty() && entries.len() + entry.len() + 64 > MEMBERS_BYTES {
            break;
        }
        if !entries.is_empty() {
            entries.push(',');
        }
        entries.push_str(&entry);
        i += 1;
    }
    (format!("{{\"identities\":[{entries}]}}"), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_chunks_cover_every_profile_once_within_the_api_limits() {
        let (mut from, mut lines) = (0, 0);
        while from < 25_000 {
            let (body, end) = import_chunk(from, 25_000);
            assert!(body.len() <= IMPORT_BYTES && end - from <= IMPORT_LINES);
            assert_eq!(body.lines().count(), end - from);
            lines += end - from;
            from = end;
        }
        assert_eq!(lines, 25_000);
    }

    #[test]
    fn member_chunks_stay_under_the_body_limit_and_parse_as_identities() {
        let (body, end) = members_chunk(990_000, 1_000_000);
        assert!(body.len() <= MEMBERS_BYTES, "{} bytes", body.len());
        assert_eq!(end, 1_000_000, "a full call of 10,000 members fits");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["identities"].as_array().unwrap().len(), end - 990_000);
        assert_eq!(v["identities"][0]["value"], fixtures::email_of(990_000_u64));
    }

    #[test]
    fn the_campaign_is_a_marketing_email_that_links_to_unsubscribe() {
        use herald_core::domain::CampaignSpec;
        let id = "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c";
        let body = marketing_email(id, id);
        assert!(
            body["content"]["email"]["html"]
                .as_str()
                .unwrap()
                .contains("href=\"{{unsubscribeUrl}}\"")
        );
        assert!(
            body["content"]["email"]["text"]
                .as_str()
                .unwrap()
                .contains("{{unsubscribeUrl}}")
        );
        let spec: CampaignSpec = serde_json::from_value(body).unwrap();
        spec.validate().unwrap();
    }

    #[test]
    fn every_final_or_held_outcome_counts_as_recorded_but_targeted_does_not() {
        let counts = json!({"targeted": 9, "sent": 5, "excluded": 2, "queued": 1, "failed": 0});
        assert_eq!(recorded(&counts), 8);
    }

    fn run_at(rate: f64) -> Figures {
        Figures {
            seconds: 1.0,
            messages_per_second: rate,
            peak_rss_mb: rate / 100.0,
            sampled_peak_rss_mb: 0.0,
            peak_threads: 0,
            idle_rss_mb: 0.0,
            cpu_seconds: 1.0,
            messages_per_cpu_second: rate,
            load_seconds: 0.0,
            import_seconds: 0.0,
            members_seconds: 0.0,
            cores: 2,
            pipeline_ratio: None,
            counts: Value::Null,
        }
    }

    #[test]
    fn a_size_may_name_its_run_count() {
        assert_eq!(
            "100000".parse::<SizeRuns>(),
            Ok(SizeRuns {
                size: 100_000,
                runs: 1
            })
        );
        assert_eq!(
            "2000x3".parse::<SizeRuns>(),
            Ok(SizeRuns {
                size: 2000,
                runs: 3
            })
        );
        assert!("2000x0".parse::<SizeRuns>().is_err());
        assert!("x3".parse::<SizeRuns>().is_err());
        assert!("2000x".parse::<SizeRuns>().is_err());
    }

    #[test]
    fn the_median_run_is_kept_with_every_runs_rate_in_order() {
        let sized = median_run(vec![run_at(300.0), run_at(100.0), run_at(200.0)]);
        assert_eq!(sized.median.messages_per_second, 200.0);
        assert_eq!(
            sized.median.peak_rss_mb, 2.0,
            "the median run's other figures"
        );
        assert_eq!(sized.runs_messages_per_second, [300.0, 100.0, 200.0]);
        let lower = median_run(vec![run_at(400.0), run_at(100.0)]);
        assert_eq!(lower.median.messages_per_second, 100.0);
        assert_eq!(
            median_run(vec![run_at(5.0)]).runs_messages_per_second,
            [5.0]
        );
    }
}
