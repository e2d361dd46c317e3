//! A `herald serve` process driven by a benchmark program: started on a free loopback port and
//! a data directory of the caller's choice (so a second start reuses it), reached over HTTP
//! with a bearer token, measured through `/proc/<pid>/status`, and stopped with SIGTERM.
//!
//! Unlike the end-to-end tests' `HeraldServer`, nothing here panics: every failure is a
//! [`ServerError`] the program reports, and the process id is exposed for memory sampling.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The API token every benchmark server is started with.
pub const BENCH_TOKEN: &str = "herald-bench-token";

/// How long a start may take before it is given up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stop waits after SIGTERM before killing the process.
const STOP_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not start {exe}")]
    Spawn { exe: String, source: std::io::Error },
    #[error("herald serve did not print its address within {0:?}")]
    NoAddress(Duration),
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("{method} {path} failed")]
    Request {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
    #[error("{method} {path} answered {status}: {body}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
    #[error("could not signal process {pid}")]
    Signal { pid: u32, source: std::io::Error },
    #[error("process {pid} did not stop within {grace:?} of SIGTERM (killed)")]
    StopTimeout { pid: u32, grace: Duration },
    #[error("could not wait for process {pid}")]
    Wait { pid: u32, source: std::io::Error },
}

/// A response whatever its status: the status and the body parsed as JSON (`Null` when empty
/// or not JSON), with the raw text.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

/// A running `herald serve`, killed when dropped (its data directory is left alone).
pub struct Herald {
    child: Child,
    base: String,
    data_dir: PathBuf,
    http: reqwest::Client,
}

impl Herald {
    /// Starts `exe serve` on a free loopback port with `data_dir` (created when missing) and
    /// `extra_args`, the benchmark token, and `RUST_LOG=warn`; returns once it listens.
    pub async fn start(
        exe: &Path,
        data_dir: &Path,
        extra_args: &[&str],
    ) -> Result<Self, ServerError> {
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("HERALD_API_TOKEN", BENCH_TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| ServerError::Spawn {
                exe: exe.display().to_string(),
                source,
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ServerError::NoAddress(Duration::ZERO));
        };
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining stdout after the address so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Herald listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let waited = tokio::task::spawn_blocking(move || rx.recv_timeout(START_TIMEOUT)).await;
        let base = match waited {
            Ok(Ok(url)) => url,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ServerError::NoAddress(START_TIMEOUT));
            }
        };
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ServerError::Client(e));
            }
        };
        Ok(Self {
            child,
            base,
            data_dir: data_dir.to_path_buf(),
            http,
        })
    }

    /// The process id (for `/proc/<pid>/status`, `perf record -p`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sends a request with the token; `body` goes as is with `content_type`. Any status is
    /// returned; only a failure to reach the server is an error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply, ServerError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(BENCH_TOKEN);
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let failed = |source| ServerError::Request {
            method: method.clone(),
            path: path.to_string(),
            source,
        };
        let resp = req.send().await.map_err(failed)?;
        let status = resp.status();
        let text = resp.text().await.map_err(failed)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text })
    }

    /// Like [`Herald::send`], but a non-2xx answer is an error; returns the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, ServerError> {
        let reply = self.send(method.clone(), path, body).await?;
        if !reply.status.is_success() {
            return Err(ServerError::Status {
                method,
                path: path.to_string(),
                status: reply.status,
                body: reply.text,
            });
        }
        Ok(reply.body)
    }

    /// `GET path`, 2xx expected.
    pub async fn get(&self, path: &str) -> Result<Value, ServerError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, 2xx expected.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ServerError> {
        let bytes = body.to_string().into_bytes();
        self.call(Method::POST, path, Some(("application/json", bytes)))
            .await
    }

    /// `POST path` without a body, 2xx expected.
    pub async fn post_empty(&self, path: &str) -> Result<Value, ServerError> {
        self.call(Method::POST, path, None).await
    }

    /// Stops the server with SIGTERM and waits for it to exit (a graceful shutdown); kills it
    /// when it is still running after the grace period.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let pid = self.child.id();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|source| ServerError::Signal { pid, source })?;
        if !signalled.success() {
            return Err(ServerError::Signal {
                pid,
                source: std::io::Error::other(format!("kill -TERM exited with {signalled}")),
            });
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(source) => return Err(ServerError::Wait { pid, source }),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(ServerError::StopTimeout {
            pid,
            grace: STOP_GRACE,
        })
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's memory as the kernel reports it in `/proc/<pid>/status`, in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the highest resident size since the process started.
    pub peak_kb: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`.
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Self::parse(&status))
    }

    /// The `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text (0 when absent).
    pub fn parse(status: &str) -> Self {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kb: field("VmRSS:"),
            peak_kb: field("VmHWM:"),
        }
    }
}

/// The CPU time a process has used so far (user plus system, every thread), from
/// `/proc/<pid>/stat`: on a shared machine it tells what a run cost where wall time also counts
/// the waits for a core.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub user_seconds: f64,
    pub system_seconds: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux architecture
/// Herald runs on).
const USER_HZ: f64 = 100.0;

impl CpuTime {
    /// Reads `/proc/<pid>/stat`.
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        Self::parse(&stat).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unexpected /proc/{pid}/stat: {stat}"),
            )
        })
    }

    /// `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line; the command name
    /// (field 2, in parentheses) may hold spaces.
    pub fn parse(stat: &str) -> Option<Self> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Self {
            user_seconds: utime as f64 / USER_HZ,
            system_seconds: stime as f64 / USER_HZ,
        })
    }

    pub fn total_seconds(&self) -> f64 {
        self.user_seconds + self.system_seconds
    }
}

/// Kilobytes as megabytes (MiB, as `ps` and `top` count them).
pub fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_and_peak_sizes_are_read_from_a_proc_status_text() {
        let status = "Name:\therald\nVmPeak:\t  900000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40960 kB\nThreads:\t4\n";
        assert_eq!(
            Memory::parse(status),
            Memory {
                rss_kb: 40_960,
                peak_kb: 51_234
            }
        );
        assert_eq!(megabytes(40_960), 40.0);
    }

    #[test]
    fn user_and_system_time_are_read_from_a_proc_stat_line_whose_name_has_spaces() {
        let stat = "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 6 0 100 800000000 5000 18446744073709551615";
        let cpu = CpuTime::parse(stat).unwrap();
        assert_eq!((cpu.user_seconds, cpu.system_seconds), (12.34, 0.56));
        assert!((cpu.total_seconds() - 12.9).abs() < 1e-9);
        assert_eq!(CpuTime::parse("4242 (cut short) S 1"), None);
    }

    #[test]
    fn a_status_text_without_memory_lines_reads_as_zero() {
        assert_eq!(Memory::parse("Name:\tkthreadd\n"), Memory::default());
    }

    #[test]
    fn this_process_has_a_resident_size_no_larger_than_its_peak() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.rss_kb <= m.peak_kb, "{m:?}");
    }
}
