//! A local stand-in for the AWS Lambda Runtime API (the `2018-06-01` interface a custom
//! runtime's `bootstrap` polls), so tests can run a built function binary end to end: start
//! [`RuntimeApi`], spawn the binary with [`FunctionProcess::spawn`] and [`RuntimeApi::lambda_env`],
//! queue events with [`RuntimeApi::invoke`] and read what the function answered with
//! [`RuntimeApi::reply`].
//!
//! Served routes, as AWS documents them:
//! - `GET /2018-06-01/runtime/invocation/next`: hands out the next queued event with the
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id`
//!   headers; with nothing queued it blocks, like the real API;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `…/{id}/error`;
//! - `POST /2018-06-01/runtime/init/error`.
//!
//! Every poll of `next` is timestamped ([`RuntimeApi::wait_first_poll`]): the first one marks
//! the end of the function's initialization, which is what a cold-start measurement needs.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, watch};

/// The API version prefix every route lives under.
const PREFIX: &str = "/2018-06-01/runtime";
/// The ARN handed to every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:herald-test";
/// The deadline handed to every invocation, from the moment it is handed out.
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

/// One queued invocation.
#[derive(Clone, Debug)]
struct Invocation {
    request_id: String,
    body: String,
}

/// How the function answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// `POST …/invocation/{id}/response`.
    Response,
    /// `POST …/invocation/{id}/error`.
    Error,
    /// `POST …/init/error` (no request id).
    InitError,
}

/// What the function posted back.
#[derive(Clone, Debug)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Empty for an init error.
    pub request_id: String,
    /// The `Lambda-Runtime-Function-Error-Type` header of an error.
    pub error_type: Option<String>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "the function's {:?} is not JSON ({e}): {}",
                self.kind, self.body
            )
        })
    }
}

struct Shared {
    queue: mpsc::UnboundedSender<Invocation>,
    next: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    replies: watch::Sender<Vec<Reply>>,
    polls: watch::Sender<Vec<Instant>>,
}

/// A running Runtime API stub on `127.0.0.1` (a free port); stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the stub on a free loopback port.
    pub async fn start() -> Self {
        let (queue, next) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue,
            next: Mutex::new(next),
            replies: watch::Sender::new(Vec::new()),
            polls: watch::Sender::new(Vec::new()),
        });
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next_invocation))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(invocation_response),
            )
            .route(
                &format!("{PREFIX}/invocation/{{id}}/error"),
                post(invocation_error),
            )
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the Runtime API stub cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the Runtime API stub has no address: {e}"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The environment Lambda gives a function: the Runtime API address and the function's
    /// name, memory size, version and log group/stream.
    pub fn lambda_env(&self, function_name: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/27/[$LATEST]0123456789abcdef".to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Queues an event for the function; returns its request id.
    pub fn invoke(&self, event: &serde_json::Value) -> String {
        let request_id = uuid::Uuid::new_v4().to_string();
        let sent = self.shared.queue.send(Invocation {
            request_id: request_id.clone(),
            body: event.to_string(),
        });
        assert!(sent.is_ok(), "the Runtime API stub stopped");
        request_id
    }

    /// Waits up to `timeout` for the function's response or error to `request_id`.
    pub async fn reply(&self, request_id: &str, timeout: Duration) -> Option<Reply> {
        self.wait_reply(timeout, |r| r.request_id == request_id)
            .await
    }

    /// Waits up to `timeout` for an init error.
    pub async fn init_error(&self, timeout: Duration) -> Option<Reply> {
        self.wait_reply(timeout, |r| r.kind == ReplyKind::InitError)
            .await
    }

    async fn wait_reply(&self, timeout: Duration, pick: impl Fn(&Reply) -> bool) -> Option<Reply> {
        let mut rx = self.shared.replies.subscribe();
        let found = tokio::time::timeout(timeout, rx.wait_for(|all| all.iter().any(&pick))).await;
        match found {
            Ok(Ok(all)) => all.iter().find(|r| pick(r)).cloned(),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the function's first `next` poll (its initialization is done
    /// then); returns when it came.
    pub async fn wait_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.polls.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|p| !p.is_empty())).await {
            Ok(Ok(polls)) => polls.first().copied(),
            _ => None,
        }
    }

    /// How many times the function asked for an invocation.
    pub fn polls(&self) -> usize {
        self.shared.polls.borrow().len()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn epoch_ms_after(d: Duration) -> u128 {
    (SystemTime::now() + d)
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_millis())
        .unwrap_or_default()
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    shared.polls.send_modify(|p| p.push(Instant::now()));
    // One poller at a time, like one execution environment; the others wait their turn.
    let mut next = shared.next.lock().await;
    let Some(invocation) = next.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = epoch_ms_after(INVOCATION_TIMEOUT).to_string();
    (
        [
            ("content-type", "application/json".to_string()),
            ("lambda-runtime-aws-request-id", invocation.request_id),
            ("lambda-runtime-deadline-ms", deadline),
            (
                "lambda-runtime-invoked-function-arn",
                FUNCTION_ARN.to_string(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-6746f0a1-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0"
                    .to_string(),
            ),
        ],
        invocation.body,
    )
        .into_response()
}

fn record(shared: &Shared, kind: ReplyKind, request_id: String, headers: &HeaderMap, body: Bytes) {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reply = Reply {
        kind,
        request_id,
        error_type,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    shared.replies.send_modify(|r| r.push(reply));
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, ReplyKind::Response, id, &headers, body);
    accepted()
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, ReplyKind::Error, id, &headers, body);
    accepted()
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, ReplyKind::InitError, String::new(), &headers, body);
    accepted()
}

/// Builds the workspace binary `bin` (debug, or release when the tests run in release) with
/// the cargo that runs the tests, and returns its path. `cargo test` builds the binaries of
/// packages whose own integration tests run, not those of other packages, so a test of a
/// function binary builds it here: up to date this takes well under a second, and the
/// features unify exactly as in `cargo test --workspace` (so nothing else is rebuilt).
pub fn build_function(bin: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args([
            "--workspace",
            "--locked",
            "--message-format=json",
            "--bin",
            bin,
        ]);
    if release_build() {
        command.arg("--release");
    }
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
    assert!(
        out.status.success(),
        "cargo build --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo build --bin {bin} reported no executable"))
}

/// Whether the running test executable is a release build (`<target>/release/deps/…`).
fn release_build() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|n| n == "release")
        })
        .unwrap_or(false)
}

/// A function binary running as a child process, its stdout and stderr going to a log file;
/// killed (by its PID) when dropped.
pub struct FunctionProcess {
    child: Child,
    log: PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` with exactly `env` (the parent's environment is not inherited, so no
    /// AWS profile or real endpoint leaks in).
    pub fn spawn(binary: &Path, env: &[(String, String)]) -> Self {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log = std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4()));
        let out = File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create the log file {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share the log file {}: {e}", log.display()));
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
