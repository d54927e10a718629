//! The HTTP client that provider adapters and MCP share: rustls with the ring provider and
//! the system's certificates.

use std::sync::Arc;

/// A client builder with TLS set up; callers add their own settings.
pub(crate) fn client_builder() -> Result<reqwest::ClientBuilder, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    // ring rather than aws-lc-rs, which needs cmake to build; ring lacks only the
    // post-quantum key exchange, hence the deprecation.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| format!("could not set up TLS: {e}"))?
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}
