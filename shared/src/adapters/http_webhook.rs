//! The [`WebhookSender`] over HTTPS (reqwest with rustls): one POST per call, a 10 s timeout, no
//! redirects followed (a webhook that moved should be reconfigured, not chased).

use std::time::Duration;

use crate::ports::{WebhookError, WebhookSender};

#[derive(Clone, Debug)]
pub struct HttpWebhook {
    client: reqwest::Client,
}

impl HttpWebhook {
    pub fn new() -> Self {
        crate::adapters::tls::install_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client }
    }
}

impl Default for HttpWebhook {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookSender for HttpWebhook {
    async fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(), WebhookError> {
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| WebhookError::Unreachable(crate::logging::error_chain(&e)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(WebhookError::Status(status.as_u16()))
        }
    }
}
