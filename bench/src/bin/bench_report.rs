//! Collects a benchmark run (`scripts/bench`): criterion's B1 estimates and the parts the other
//! programs wrote, prints every figure beside its target, and writes the JSON record and (full
//! runs) `docs/benchmarks.md`.
//!
//! `bench_report --parts DIR [--quick] --out-json FILE [--out-md FILE]`

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use herald_bench::report::{Row, Verdict, grouped, markdown_table, num, text_table};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Where the benchmark programs wrote b2.json … b5.json.
    #[arg(long)]
    parts: PathBuf,
    /// A quick run (small sizes; its figures are not the committed ones).
    #[arg(long)]
    quick: bool,
    #[arg(long)]
    out_json: PathBuf,
    #[arg(long)]
    out_md: Option<PathBuf>,
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
}

const CHANNELS: [&str; 3] = ["email", "sms", "push"];
const MB: f64 = 1_000_000.0;

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): did its benchmark run?",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Messages per second of one criterion benchmark of the `pipeline` group (one message per
/// iteration).
fn criterion_rate(dir: &Path, name: &str) -> f64 {
    let est = read(&dir.join("pipeline").join(name).join("new/estimates.json"));
    let ns = num(&est, "mean.point_estimate").unwrap_or_else(|| panic!("{name}: no mean estimate"));
    1e9 / ns
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu": cpu,
        "memoryGiB": (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": command_line("uname", &["-r"]),
        "rustc": command_line("rustc", &["-V"]),
    })
}

/// B1: criterion's means give the rates; the ratio judged is the paired one (the median of
/// the rounds in which Herald and the ceiling alternated; see `bench/benches/pipeline.rs`).
fn b1(dir: &Path, rows: &mut Vec<Row>) -> Value {
    let paired = read(&dir.join("pipeline").join("paired.json"));
    let mut out = serde_json::Map::new();
    for ch in CHANNELS {
        let herald = criterion_rate(dir, &format!("{ch}_herald"));
        let ceiling = criterion_rate(dir, &format!("{ch}_ceiling"));
        let p = &paired[ch];
        let field =
            |name: &str| num(p, name).unwrap_or_else(|| panic!("paired.json: {ch} has no {name}"));
        let (ratio, min, max) = (field("median"), field("min"), field("max"));
        rows.push(Row::new(
            "B1 pipeline",
            format!("{ch}: Herald vs bare handlebars + provider payload"),
            format!(
                "{} vs {} msg/s; paired ratio {:.0}% ({:.0}-{:.0}% over {} rounds)",
                grouped(herald),
                grouped(ceiling),
                ratio * 100.0,
                min * 100.0,
                max * 100.0,
                field("rounds"),
            ),
            ">= 80% of the ceiling",
            Verdict::of(ratio >= 0.8),
        ));
        out.insert(
            ch.into(),
            json!({
                "heraldPerSecond": herald, "ceilingPerSecond": ceiling, "ratio": ratio,
                "meansRatio": herald / ceiling, "pairedMin": min, "pairedMax": max,
                "pairedRounds": field("rounds"), "pairedMessagesPerRound": field("messagesPerRound"),
            }),
        );
    }
    Value::Object(out)
}

fn b2(part: &Value, rows: &mut Vec<Row>) {
    let t = num(part, "triggerPerSecond").unwrap_or(0.0);
    let h = num(part, "healthPerSecond").unwrap_or(0.0);
    let p99 = num(part, "trigger.p99Us").unwrap_or(f64::MAX) / 1000.0;
    let p50 = num(part, "trigger.p50Us").unwrap_or(f64::MAX) / 1000.0;
    let c = num(part, "ceilingPerSecond").unwrap_or(f64::NAN);
    let ratio = t / c;
    rows.push(Row::new(
        "B2 trigger",
        "unitary triggers vs C = 1/(1/H + 1/P)",
        format!(
            "{} vs {} req/s = {:.0}% (H = {} req/s)",
            grouped(t),
            grouped(c),
            ratio * 100.0,
            grouped(h)
        ),
        ">= 60% of C",
        Verdict::of(ratio >= 0.6),
    ));
    rows.push(Row::new(
        "B2 trigger",
        "latency p50 / p99 (32 connections)",
        format!("{p50:.2} / {p99:.2} ms"),
        "p99 <= 10 ms",
        Verdict::of(p99 <= 10.0),
    ));
}

fn b3(part: &Value, rows: &mut Vec<Row>) {
    let mut sizes: Vec<(u64, &Value)> = part
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                .collect()
        })
        .unwrap_or_default();
    sizes.sort_by_key(|(n, _)| *n);
    for (n, v) in &sizes {
        let rate = num(v, "messagesPerSecond").unwrap_or(0.0);
        let runs: Vec<f64> = v
            .get("runsMessagesPerSecond")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let spread = if runs.len() > 1 {
            let rates: Vec<String> = runs.iter().map(|r| grouped(*r)).collect();
            format!("; median of {} runs: {}", runs.len(), rates.join(", "))
        } else {
            String::new()
        };
        rows.push(Row::new(
            "B3 fan-out",
            format!("{} recipients: messages/s", grouped(*n as f64)),
            format!(
                "{} msg/s ({:.1} s{spread})",
                grouped(rate),
                num(v, "seconds").unwrap_or(f64::NAN)
            ),
            ">= 20,000 msg/s",
            Verdict::of(rate >= 20_000.0),
        ));
        rows.push(Row::new(
            "B3 fan-out",
            format!("{} recipients: peak RSS", grouped(*n as f64)),
            format!("{:.0} MB", num(v, "peakRssMb").unwrap_or(f64::NAN)),
            "",
            Verdict::Info,
        ));
    }
    if let (Some((_, small)), Some((_, large))) = (sizes.first(), sizes.last())
        && sizes.len() > 1
    {
        let ratio = num(large, "peakRssMb").unwrap_or(f64::NAN)
            / num(small, "peakRssMb").unwrap_or(f64::NAN);
        rows.push(Row::new(
            "B3 fan-out",
            "peak RSS, largest / smallest audience",
            format!("{ratio:.2}x"),
            "<= 1.5x",
            Verdict::of(ratio <= 1.5),
        ));
    }
}

fn b4(part: &Value, rows: &mut Vec<Row>) {
    for (kind, label) in [
        ("unitary", "unitary transactional email"),
        ("audience", "audience marketing email"),
    ] {
        let Some(v) = part.get(kind) else {
            panic!("b4.json has no {kind:?} figures: {part}");
        };
        let wcu = num(v, "wcuPerMessage").unwrap_or(f64::NAN);
        let rcu = num(v, "rcuPerMessage").unwrap_or(f64::NAN);
        rows.push(Row::new(
            "B4 AWS cost",
            format!("{label}: DynamoDB WCU / RCU per message"),
            format!("{wcu:.2} / {rcu:.2}"),
            "<= 3 WCU",
            Verdict::of(wcu <= 3.0),
        ));
        let pct = num(v, "percentOfSes").unwrap_or(f64::NAN);
        rows.push(Row::new(
            "B4 AWS cost",
            format!("{label}: infrastructure per million messages"),
            format!(
                "${:.2} = {pct:.1}% of SES's $100",
                num(v, "dollarsPerMillion").unwrap_or(f64::NAN)
            ),
            "<= 3% of SES",
            Verdict::of(pct <= 3.0),
        ));
    }
}

fn b5(part: &Value, rows: &mut Vec<Row>) {
    let Some(functions) = part.get("functions").and_then(Value::as_object) else {
        panic!("b5.json has no \"functions\" object: {part}");
    };
    for (name, v) in functions {
        let sizes: Vec<(String, f64)> = ["arm64", "x86_64"]
            .iter()
            .filter_map(|arch| Some((arch.to_string(), num(v, &format!("{arch}Bytes"))?)))
            .collect();
        let biggest = sizes.iter().map(|(_, b)| *b).fold(0.0, f64::max);
        rows.push(Row::new(
            "B5 Lambda",
            format!("{name}: bootstrap size"),
            sizes
                .iter()
                .map(|(a, b)| format!("{a} {:.2} MB", b / MB))
                .collect::<Vec<_>>()
                .join(", "),
            "<= 8 MB",
            Verdict::of(!sizes.is_empty() && biggest <= 8.0 * MB),
        ));
        let ms = num(v, "startupMsMedian").unwrap_or(f64::NAN);
        rows.push(Row::new(
            "B5 Lambda",
            format!("{name}: start-up to first poll (median)"),
            format!("{ms:.1} ms"),
            "<= 30 ms",
            Verdict::of(ms <= 30.0),
        ));
    }
}

const ABOUT: &str = include_str!("../../methodology.md");
/// What the profiles say stops each missed target (kept by hand beside the figures).
const FINDINGS: &str = include_str!("../../findings.md");

fn main() {
    let args = Args::parse();
    let mut rows = Vec::new();
    let b1 = b1(&args.criterion, &mut rows);
    let parts: Vec<(&str, Value)> = ["b2", "b3", "b4", "b5"]
        .iter()
        .map(|p| (*p, read(&args.parts.join(format!("{p}.json")))))
        .collect();
    b2(&parts[0].1, &mut rows);
    b3(&parts[1].1, &mut rows);
    b4(&parts[2].1, &mut rows);
    b5(&parts[3].1, &mut rows);

    let date = jiff::Timestamp::now().to_string();
    let machine = machine();
    let mode = if args.quick { "quick" } else { "full" };
    let record = json!({
        "date": date,
        "mode": mode,
        "machine": machine,
        "summary": rows,
        "b1": b1,
        "b2": parts[0].1,
        "b3": parts[1].1,
        "b4": parts[2].1,
        "b5": parts[3].1,
    });
    let caveat = if args.quick {
        " (debug builds and small sizes: these figures only show that every benchmark runs; \
         the product's figures come from a full `scripts/bench`)"
    } else {
        ""
    };
    println!(
        "\nHerald benchmarks ({mode} run, {date}){caveat}\n\n{}",
        text_table(&rows)
    );
    let missed = rows.iter().filter(|r| r.verdict == Verdict::Missed).count();
    println!(
        "{missed} of {} targets missed",
        rows.iter().filter(|r| r.verdict != Verdict::Info).count()
    );
    if let Some(dir) = args.out_json.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let text = serde_json::to_string_pretty(&record).expect("the record serializes");
    std::fs::write(&args.out_json, text + "\n")
        .unwrap_or_else(|e| panic!("{}: {e}", args.out_json.display()));
    println!("wrote {}", args.out_json.display());
    if let Some(md) = &args.out_md {
        let doc = format!(
            "# Benchmarks\n\n\
             Figures of the last full run of `scripts/bench` (written by it; do not edit by hand: \
             rerun it). The raw figures are in `bench/results/latest.json`.\n\n\
             - Date: {date}\n\
             - Machine: {} cores, {}, {} GiB, Linux {}, {}\n\
             - Rerun: `scripts/bench` (full, ~20-30 min on 2 cores after the release builds) or \
             `scripts/bench --quick` (debug builds, small sizes, about a minute; its figures are not written here).\n\n\
             ## Summary\n\n{}\n{FINDINGS}\n{ABOUT}",
            machine["cores"],
            machine["cpu"].as_str().unwrap_or("unknown CPU"),
            machine["memoryGiB"],
            machine["kernel"].as_str().unwrap_or(""),
            machine["rustc"].as_str().unwrap_or(""),
            markdown_table(&rows),
        );
        std::fs::write(md, doc).unwrap_or_else(|e| panic!("{}: {e}", md.display()));
        println!("wrote {}", md.display());
    }
}
