//! B5, Lambda start-up: for each function binary given (e.g. `target/lambda/<fn>/bootstrap`),
//! its size, and the time from spawning the process to its first
//! `GET /2018-06-01/runtime/invocation/next` against the local Runtime API stub
//! (`herald_tests::runtime_api`), over 20 starts (median, min, max).
//!
//! Each start gets a fresh stub and the environment Lambda gives a Herald function, with a
//! dummy AWS endpoint (a closed loopback port) and static credentials: initialization makes no
//! AWS call, and nothing here could reach AWS if it did. The process is killed by its PID once
//! it has polled. An executable built for another machine than this one (an arm64 bootstrap on
//! x86_64) gets its size reported and no start-up figures, so one call can take both
//! architectures' builds of every function.
//!
//! ```text
//! startup [--json FILE] [--runs N] [--env KEY=VALUE]... BINARY...
//! ```
//!
//! Prints `B5 <function>: size <bytes> B, start-up median <ms> ms (min <ms>, max <ms>)`; with
//! `--json FILE` also writes `{"<function>": {"bytes", "arm64Bytes", "x86_64Bytes",
//! "startupMsMedian", "startupMsMin", "startupMsMax", "runs"}}` (`bytes`: the binary whose
//! start-up was measured). The function is the binary's directory name when the binary is
//! called `bootstrap` (cargo-lambda's layout), its file name otherwise. `--env` adds to the
//! function's environment (for example `SSL_CERT_FILE`, to load the CA bundle the way Amazon
//! Linux lays it out).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use herald_tests::runtime_api::{FunctionProcess, RuntimeApi};
use serde::Serialize;

/// Starts measured per function unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 20;
/// How long one start may take before the benchmark gives up on the function.
const START_WITHIN: Duration = Duration::from_secs(10);
/// How often the benchmark checks whether the function exited instead of polling.
const EXIT_CHECK: Duration = Duration::from_millis(5);
/// What [`elf_arch`] says of a file that is not an ELF executable.
const NOT_ELF: &str = "not-elf";
/// A loopback port nothing listens on (discard): every AWS endpoint of the function.
const DUMMY_ENDPOINT: &str = "http://127.0.0.1:9";

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(
        "{0}\nusage: startup [--json FILE] [--runs N] [--env KEY=VALUE]... BINARY...  (e.g. target/lambda/*/bootstrap)"
    )]
    Usage(String),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("two binaries are both function {0}: give each function once")]
    Duplicate(String),
    #[error(
        "{function} did not poll for an invocation within {START_WITHIN:?}; its output:\n{logs}"
    )]
    NoPoll { function: String, logs: String },
    #[error("{function} exited ({status}) before polling for an invocation; its output:\n{logs}")]
    Exited {
        function: String,
        status: std::process::ExitStatus,
        logs: String,
    },
    #[error("cannot serialize the figures")]
    Json(#[source] serde_json::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the command line asks for.
struct Args {
    json: Option<PathBuf>,
    runs: usize,
    /// Extra `KEY=VALUE` pairs for the function's environment (`--env`, repeatable).
    env: Vec<(String, String)>,
    binaries: Vec<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, Error> {
    let mut parsed = Args {
        json: None,
        runs: DEFAULT_RUNS,
        env: Vec::new(),
        binaries: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => {
                let file = args
                    .next()
                    .ok_or_else(|| Error::Usage("--json needs a file".into()))?;
                parsed.json = Some(PathBuf::from(file));
            }
            "--runs" => {
                let n = args
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Usage("--runs needs a positive number".into()))?;
                parsed.runs = n;
            }
            "--env" => {
                let pair = args
                    .next()
                    .and_then(|p| {
                        p.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| Error::Usage("--env needs KEY=VALUE".into()))?;
                parsed.env.push(pair);
            }
            flag if flag.starts_with("--") => {
                return Err(Error::Usage(format!("unknown option {flag}")));
            }
            path => parsed.binaries.push(PathBuf::from(path)),
        }
    }
    if parsed.binaries.is_empty() {
        return Err(Error::Usage("no function binary given".into()));
    }
    Ok(parsed)
}

/// The figures of one function, as written to the JSON file.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Figures {
    /// The size of the binary whose start-up was measured (or of the only one given).
    bytes: u64,
    /// The size of the function's arm64 binary, when one was given.
    arm64_bytes: Option<u64>,
    /// The size of the function's x86_64 binary, when one was given.
    #[serde(rename = "x86_64Bytes")]
    x86_64_bytes: Option<u64>,
    startup_ms_median: Option<f64>,
    startup_ms_min: Option<f64>,
    startup_ms_max: Option<f64>,
    runs: usize,
}

/// What was measured of one binary.
struct Measured {
    function: String,
    /// Lambda's name of the architecture: `arm64`, `x86_64`, or what the ELF header says.
    arch: String,
    bytes: u64,
    /// Median, min and max start-up in ms, and the number of starts; `None` for a binary of
    /// another machine.
    startup: Option<(f64, f64, f64, usize)>,
}

impl Figures {
    /// Adds one binary of the function; a second binary of the same architecture is an error.
    fn add(&mut self, m: Measured) -> Result<(), Error> {
        let slot = match m.arch.as_str() {
            "arm64" => &mut self.arm64_bytes,
            "x86_64" => &mut self.x86_64_bytes,
            _ => &mut None,
        };
        if slot.replace(m.bytes).is_some() {
            return Err(Error::Duplicate(m.function));
        }
        if let Some((median, min, max, runs)) = m.startup {
            if self.runs > 0 {
                return Err(Error::Duplicate(m.function));
            }
            self.bytes = m.bytes;
            self.startup_ms_median = Some(round(median));
            self.startup_ms_min = Some(round(min));
            self.startup_ms_max = Some(round(max));
            self.runs = runs;
        } else if self.runs == 0 {
            self.bytes = m.bytes;
        }
        Ok(())
    }
}

/// `bootstrap`'s directory name (cargo-lambda's `target/lambda/<fn>/bootstrap`), or the file name.
fn function_name(binary: &Path) -> String {
    let file = binary.file_name().map(|n| n.to_string_lossy().into_owned());
    match file.as_deref() {
        Some("bootstrap") | None => binary
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bootstrap".into()),
        Some(name) => name.to_string(),
    }
}

/// The ELF machine of `binary` in `std::env::consts::ARCH`'s spelling.
fn elf_arch(binary: &Path) -> Result<String, Error> {
    let read = |source| Error::Read {
        path: binary.to_path_buf(),
        source,
    };
    let mut header = [0u8; 20];
    std::fs::File::open(binary)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(read)?;
    if header[..4] != *b"\x7fELF" {
        return Ok(NOT_ELF.into());
    }
    // e_machine: two bytes at offset 18, little-endian on both Lambda architectures.
    Ok(match u16::from_le_bytes([header[18], header[19]]) {
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        other => format!("machine-{other}"),
    })
}

/// The environment of a Herald function in Lambda, every AWS endpoint on a closed port.
fn function_env(api: &RuntimeApi, function: &str) -> Vec<(String, String)> {
    let mut env = api.lambda_env(function);
    env.extend(
        [
            ("HERALD_TABLE", "herald-b5"),
            (
                "HERALD_QUEUE_URL",
                "http://127.0.0.1:9/123456789012/herald-b5-dispatch",
            ),
            (
                "HERALD_UNSUBSCRIBE_SECRET",
                "a-bench-secret-of-32-characters!",
            ),
            ("HERALD_PUBLIC_URL", "https://herald.example.com"),
            ("HERALD_MAIL_DOMAIN", "herald.test"),
            ("AWS_ENDPOINT_URL", DUMMY_ENDPOINT),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

/// One cold start: spawn → first `next` poll, in milliseconds.
async fn one_start(
    binary: &Path,
    function: &str,
    extra_env: &[(String, String)],
) -> Result<f64, Error> {
    let api = RuntimeApi::start().await;
    let mut env = function_env(&api, function);
    env.extend_from_slice(extra_env);
    let spawned = Instant::now();
    let mut process = FunctionProcess::spawn(binary, &env);
    // `process` is killed by its PID when it is dropped, on every return below.
    let first_poll = api.wait_first_poll(START_WITHIN);
    tokio::pin!(first_poll);
    loop {
        tokio::select! {
            polled = &mut first_poll => {
                return match polled {
                    Some(at) => Ok(at.duration_since(spawned).as_secs_f64() * 1000.0),
                    None => Err(Error::NoPoll { function: function.into(), logs: process.logs() }),
                };
            }
            () = tokio::time::sleep(EXIT_CHECK) => {
                if let Some(status) = process.exited() {
                    return Err(Error::Exited { function: function.into(), status, logs: process.logs() });
                }
            }
        }
    }
}

/// Median, min and max of `samples` (not empty).
fn summary(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (median, samples[0], samples[n - 1])
}

async fn measure(binary: &Path, args: &Args) -> Result<Measured, Error> {
    let function = function_name(binary);
    let read = |source| Error::Read {
        path: binary.to_path_buf(),
        source,
    };
    // Absolute, so that a bare file name is not looked up on PATH when spawned.
    let binary = &std::fs::canonicalize(binary).map_err(read)?;
    let bytes = std::fs::metadata(binary).map_err(read)?.len();
    let machine = elf_arch(binary)?;
    let arch = if machine == "aarch64" {
        "arm64".to_string()
    } else {
        machine.clone()
    };
    // Another machine's executable cannot run here; anything else (a script) is measured.
    if machine != std::env::consts::ARCH && machine != NOT_ELF {
        println!(
            "B5 {function}: size {bytes} B ({arch}; start-up not measured on this {} machine)",
            std::env::consts::ARCH
        );
        return Ok(Measured {
            function,
            arch,
            bytes,
            startup: None,
        });
    }
    let mut samples = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        samples.push(one_start(binary, &function, &args.env).await?);
    }
    let (median, min, max) = summary(&mut samples);
    println!(
        "B5 {function}: size {bytes} B, start-up median {median:.1} ms (min {min:.1}, max {max:.1})"
    );
    Ok(Measured {
        function,
        arch,
        bytes,
        startup: Some((median, min, max, args.runs)),
    })
}

/// Milliseconds to two decimals, for the JSON file.
fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

async fn run(args: Args) -> Result<(), Error> {
    let mut all: BTreeMap<String, Figures> = BTreeMap::new();
    for binary in &args.binaries {
        let measured = measure(binary, &args).await?;
        all.entry(measured.function.clone())
            .or_default()
            .add(measured)?;
    }
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&all).map_err(Error::Json)?;
        std::fs::write(&path, json + "\n").map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = match parse_args(std::env::args().skip(1)) {
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    herald_bench::exit_with("startup (B5)", result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bootstrap_is_named_after_its_directory_and_any_other_binary_after_its_file() {
        assert_eq!(
            function_name(Path::new("target/lambda/herald-scheduler/bootstrap")),
            "herald-scheduler"
        );
        assert_eq!(
            function_name(Path::new("target/release/herald-dispatcher")),
            "herald-dispatcher"
        );
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let mut samples = [9.0, 1.0, 4.0, 2.0];
        assert_eq!(summary(&mut samples), (3.0, 1.0, 9.0));
        let mut odd = [5.0, 1.0, 3.0];
        assert_eq!(summary(&mut odd), (3.0, 1.0, 5.0));
    }

    #[test]
    fn options_and_binaries_are_told_apart() {
        let args = parse_args(
            [
                "--json",
                "out.json",
                "a/bootstrap",
                "--runs",
                "3",
                "b/bootstrap",
            ]
            .into_iter()
            .map(String::from),
        )
        .unwrap();
        assert_eq!(args.json, Some(PathBuf::from("out.json")));
        assert_eq!(args.runs, 3);
        assert_eq!(args.binaries.len(), 2);
        assert!(parse_args(std::iter::empty()).is_err());
        assert!(parse_args(["--runs", "0", "x"].into_iter().map(String::from)).is_err());
    }

    #[test]
    fn an_env_option_is_a_key_and_a_value() {
        let args = parse_args(
            ["--env", "SSL_CERT_FILE=/etc/a=b", "x"]
                .into_iter()
                .map(String::from),
        )
        .unwrap();
        assert_eq!(
            args.env,
            vec![("SSL_CERT_FILE".to_string(), "/etc/a=b".to_string())]
        );
        assert!(parse_args(["--env", "NOVALUE", "x"].into_iter().map(String::from)).is_err());
        assert!(parse_args(["--env", "=v", "x"].into_iter().map(String::from)).is_err());
    }

    fn measured(arch: &str, bytes: u64, startup: Option<(f64, f64, f64, usize)>) -> Measured {
        Measured {
            function: "herald-scheduler".into(),
            arch: arch.into(),
            bytes,
            startup,
        }
    }

    #[test]
    fn both_architectures_of_a_function_make_one_entry_timed_on_the_runnable_one() {
        let mut figures = Figures::default();
        figures.add(measured("arm64", 7_000_000, None)).unwrap();
        figures
            .add(measured(
                "x86_64",
                9_000_000,
                Some((12.346, 10.0, 20.0, 20)),
            ))
            .unwrap();
        let json = serde_json::to_value(&figures).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "bytes": 9_000_000, "arm64Bytes": 7_000_000, "x86_64Bytes": 9_000_000,
                "startupMsMedian": 12.35, "startupMsMin": 10.0, "startupMsMax": 20.0, "runs": 20
            })
        );
    }

    #[test]
    fn the_same_function_twice_for_one_architecture_is_refused() {
        let mut figures = Figures::default();
        figures.add(measured("arm64", 1, None)).unwrap();
        assert!(matches!(
            figures.add(measured("arm64", 2, None)),
            Err(Error::Duplicate(_))
        ));
    }
}
