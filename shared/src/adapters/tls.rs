//! TLS for Herald's outgoing HTTPS (AWS APIs, webhooks): rustls with the ring crypto provider.
//! ring rather than aws-lc (rustls' and the AWS SDK's default): the same TLS versions and cipher
//! suites, with a fraction of the code in each Lambda bootstrap (bench/findings.md, B5). What
//! ring lacks is the post-quantum hybrid key exchange (X25519MLKEM768) the SDK prefers with
//! aws-lc: connections use classical X25519 or P-256.

/// Makes ring the process's rustls crypto provider, which reqwest's clients use. Call before
/// building a client; harmless when a provider (this one or another) is already installed.
pub fn install_provider() {
    // `Err` only says a provider was installed first: that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The standard AWS configuration chain (region, credentials, `AWS_ENDPOINT_URL`), with the
/// SDK's HTTPS client on rustls and ring.
#[cfg(feature = "aws")]
pub fn aws_config() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}
