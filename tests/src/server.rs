//! A running `herald serve` for end-to-end tests: started on a free loopback port with a
//! temporary data directory, driven over real HTTP, stopped (by PID) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The token every test server is started with.
pub const TEST_TOKEN: &str = "e2e-test-token";

pub struct HeraldServer {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    /// Leave the data directory behind when dropped (a restart will reuse it).
    keep_data: bool,
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The problem's `code`, for error replies.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts this is a problem JSON with the given status and code, and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(status)));
        assert_eq!(
            self.body["type"].as_str(),
            Some(format!("urn:herald:error:{code}").as_str())
        );
        assert!(
            !self.body["detail"].as_str().unwrap_or("").is_empty(),
            "a problem needs a detail"
        );
        self
    }
}

impl HeraldServer {
    /// Starts the binary at `exe` (`env!("CARGO_BIN_EXE_herald")` from the cli's tests).
    pub fn start(exe: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let data_dir = std::env::temp_dir().join(format!("herald-e2e-{}", uuid::Uuid::new_v4()));
        Self::start_in(exe, data_dir, extra_args, envs)
    }

    /// Starts on an existing (or new) data directory, as a restart would.
    pub fn start_in(
        exe: &Path,
        data_dir: PathBuf,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(exe);
        cmd.args(["serve", "--addr", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(&data_dir)
            .args(extra_args)
            .env("HERALD_API_TOKEN", TEST_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Herald listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("herald serve did not print its address within 30 s");
            }
        };
        herald_core::adapters::tls::install_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Self {
            child,
            base,
            data_dir,
            http,
            keep_data: false,
        }
    }

    /// The server process's id (benchmarks read its memory from `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request with the test token; `body` is sent as raw bytes when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TEST_TOKEN);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        Self::reply(req).await
    }

    /// Sends a request without any token.
    pub async fn send_anonymous(&self, method: Method, path: &str) -> Reply {
        Self::reply(self.http.request(method, format!("{}{path}", self.base))).await
    }

    async fn reply(req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            !status.is_server_error(),
            "the server answered {status}: {text}"
        );
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body.to_string().into_bytes()), &[])
            .await
    }

    /// `POST /profiles/import` of an NDJSON body (one profile update a line).
    pub async fn import_profiles(&self, ndjson: String) -> Reply {
        self.send(
            Method::POST,
            "/profiles/import",
            Some(ndjson.into_bytes()),
            &[("content-type", "application/x-ndjson")],
        )
        .await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body.to_string().into_bytes()), &[])
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Time to wait for a shutdown after SIGTERM.
    const STOP_GRACE: Duration = Duration::from_secs(10);

    /// Stops the server with SIGTERM (graceful shutdown) and returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Self::STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl HeraldServer {
    /// Stops the server like [`HeraldServer::stop`] but keeps its data directory, for a restart
    /// on it ([`HeraldServer::start_in`]) or for the caller to remove.
    pub fn stop_keeping_data(mut self) -> bool {
        self.keep_data = true;
        self.stop()
    }

    /// Kills the process at once (SIGKILL, a crash) and returns its data directory, kept.
    pub fn crash(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.keep_data = true;
        self.data_dir.clone()
    }
}

impl Drop for HeraldServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

impl HeraldServer {
    /// `herald serve --store dynamodb` on a fresh DynamoDB Local table made from template.yaml.
    pub async fn start_on_dynamodb(exe: &Path) -> Self {
        let endpoint = crate::dynamo_local::endpoint();
        let client = crate::dynamo_local::client().await;
        let table = crate::dynamo_local::fresh_table(&client).await;
        Self::start(
            exe,
            &["--store", "dynamodb", "--table", &table],
            &[
                ("AWS_ENDPOINT_URL", endpoint.as_str()),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_REGION", "us-east-1"),
            ],
        )
    }
}
