//! moto server for the SES v2 and SNS adapter tests: clients on the endpoint `scripts/test`
//! starts, and readers of what moto recorded (`GET /moto-api/data.json`).
//!
//! moto's state is global and tests run in parallel, so nothing here resets it: every test
//! uses its own addresses, phone numbers and tokens ([`unique`]) and filters moto's records by
//! them.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_sesv2::config::{Credentials, Region};
use aws_sdk_sns::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sns::config::{ConfigBag, Intercept, RuntimeComponents};
use herald_core::adapters::aws_delivery::AwsDelivery;
use serde_json::Value;

/// The environment variable naming the moto server endpoint.
pub const ENDPOINT_ENV: &str = "HERALD_TEST_MOTO_ENDPOINT";

/// The moto endpoint; panics with what to do when it is not set.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim_end_matches('/').to_string(),
        _ => panic!(
            "{ENDPOINT_ENV} is not set: run the tests with scripts/test, which starts moto server"
        ),
    }
}

/// An AWS configuration for `url` with static test credentials in us-east-1.
pub async fn config_at(url: &str) -> SdkConfig {
    herald_core::adapters::tls::aws_config()
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "herald-tests"))
        .load()
        .await
}

/// An AWS configuration for moto.
pub async fn config() -> SdkConfig {
    config_at(&endpoint()).await
}

/// The delivery adapter on moto; `Message-ID`s end in `@herald.test`.
pub async fn delivery() -> AwsDelivery {
    AwsDelivery::from_conf(&config().await, MESSAGE_ID_DOMAIN)
}

/// The delivery adapter on moto with every SES and SNS request body it sends captured (moto
/// records neither SMS message attributes nor SES tags and configuration sets, so tests read
/// them off the wire).
pub async fn delivery_capturing() -> (AwsDelivery, Captured) {
    let conf = config().await;
    let captured = Captured::default();
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&conf)
            .interceptor(captured.clone())
            .build(),
    );
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&conf)
            .interceptor(captured.clone())
            .build(),
    );
    (AwsDelivery::new(ses, sns, MESSAGE_ID_DOMAIN), captured)
}

/// Request bodies captured right before they were sent (form-encoded for SNS).
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// Every captured request body, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Every captured body that is a JSON document (SES v2 requests).
    pub fn json_bodies(&self) -> Vec<Value> {
        self.bodies()
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect()
    }

    /// The decoded form fields of every captured request whose `Action` is `action`.
    pub fn requests(&self, action: &str) -> Vec<Vec<(String, String)>> {
        self.bodies()
            .iter()
            .map(|b| parse_form(b))
            .filter(|f| f.iter().any(|(k, v)| k == "Action" && v == action))
            .collect()
    }
}

impl Intercept for Captured {
    fn name(&self) -> &'static str {
        "HeraldTestCapture"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sns::error::BoxError> {
        let body = context
            .request()
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if let Ok(mut bodies) = self.0.lock() {
            bodies.push(body);
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `Message-ID` domain [`delivery`] uses.
pub const MESSAGE_ID_DOMAIN: &str = "herald.test";

/// A name no other test uses: `{prefix}-{uuid v4 without dashes}`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A unique E.164 number in the fictional +1 555 01xx range's neighbourhood: +1 415 then
/// seven random digits.
pub fn unique_phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 10_000_000;
    format!("+1415{n:07}")
}

/// Verifies `address` as an SES sender (moto refuses unverified senders).
pub async fn verify_sender(delivery: &AwsDelivery, address: &str) {
    delivery
        .ses()
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateEmailIdentity {address} on moto failed: {}",
                aws_sdk_sesv2::error::DisplayErrorContext(&e)
            )
        });
}

/// Creates an SNS platform application (`GCM`, `APNS` or `APNS_SANDBOX`) and returns its ARN.
pub async fn platform_application(delivery: &AwsDelivery, platform: &str) -> String {
    delivery
        .sns()
        .create_platform_application()
        .name(unique("herald-app"))
        .platform(platform)
        .attributes("PlatformCredential", "test-credential")
        .attributes("PlatformPrincipal", "test-principal")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreatePlatformApplication on moto failed: {}",
                aws_sdk_sns::error::DisplayErrorContext(&e)
            )
        })
        .platform_application_arn
        .unwrap_or_else(|| panic!("CreatePlatformApplication returned no ARN"))
}

/// Everything moto recorded.
pub async fn data() -> Value {
    let url = format!("{}/moto-api/data.json", endpoint());
    herald_core::adapters::tls::install_provider();
    let resp = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} is not JSON: {e}"))
}

/// Every item of `data.json` under `service` → `model`, across regions and accounts.
fn records(data: &Value, service: &str, model: &str) -> Vec<Value> {
    match &data[service][model] {
        Value::Array(items) => items.clone(),
        _ => Vec::new(),
    }
}

/// The raw MIME of every message moto's SES received for `recipient`.
pub async fn raw_emails_to(recipient: &str) -> Vec<String> {
    records(&data().await, "ses", "RawMessage")
        .into_iter()
        .filter(|m| {
            m["destinations"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|a| a.as_str().is_some_and(|a| a.contains(recipient)))
            })
        })
        .filter_map(|m| m["raw_data"].as_str().map(str::to_string))
        .collect()
}

/// Every SMS moto's SNS recorded for `phone`: `{phone_number, message, …}` objects.
pub async fn sms_to(phone: &str) -> Vec<Value> {
    records(&data().await, "sns", "SMS")
        .into_iter()
        .filter(|m| m["phone_number"].as_str() == Some(phone))
        .collect()
}

/// The platform endpoint moto holds for `token`, as recorded (`arn`, `token`, `attributes`,
/// `messages`…).
pub async fn endpoint_for_token(token: &str) -> Option<Value> {
    records(&data().await, "sns", "PlatformEndpoint")
        .into_iter()
        .find(|e| e["token"].as_str() == Some(token))
}

/// The phone numbers SNS (moto) lists as opted out of SMS (`ListPhoneNumbersOptedOut`).
pub async fn opted_out_numbers(delivery: &AwsDelivery) -> Vec<String> {
    delivery
        .sns()
        .list_phone_numbers_opted_out()
        .send()
        .await
        .expect("ListPhoneNumbersOptedOut on moto")
        .phone_numbers()
        .to_vec()
}

/// An http URL on 127.0.0.1 where nothing listens (a port taken then released).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
