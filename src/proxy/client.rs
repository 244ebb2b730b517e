//! The upstream clients: plain-`http` upstreams go through the in-task connection pool
//! (`super::pool`); https upstreams (HTTP/1.1 or h2 by ALPN, system roots plus an optional extra
//! CA bundle) and protocol upgrades through hyper-util's pooled client.

use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::pool::{Pool, Settings};
use crate::config::serve::UpstreamClient;
use crate::server::Body;

/// TCP keepalive probes on upstream connections start after this much silence.
const KEEPALIVE: Duration = Duration::from_secs(60);

type Spawned = Client<HttpsConnector<HttpConnector>, Body>;

/// The clients, built from one `serve.proxy.upstream`.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// https upstreams, HTTP/1.1 or h2 by ALPN.
    pub spawned: Spawned,
    /// Protocol upgrades and `preserve_host` rules: HTTP/1.1 only, http or https.
    pub http1: Spawned,
    /// Plain-http upstreams.
    pub pool: Pool,
}

/// Build the clients for `serve.proxy.upstream`.
pub fn build(cfg: &UpstreamClient) -> Result<Upstream, String> {
    crate::outbound::init_crypto();
    let max_idle = usize::try_from(cfg.max_idle_per_host).unwrap_or(usize::MAX);
    let pool = Pool::new(Settings {
        connect_timeout: cfg.connect_timeout.0,
        idle_timeout: cfg.pool_idle_timeout.0,
        max_idle_per_host: max_idle,
        keepalive: KEEPALIVE,
    });
    let tls = match &cfg.ca_file {
        None => None,
        Some(path) => Some(tls_with_extra_ca(path)?),
    };
    let spawned = |h2: bool| {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(cfg.connect_timeout.0));
        http.set_nodelay(true);
        http.set_keepalive(Some(KEEPALIVE));
        let builder = match &tls {
            None => HttpsConnectorBuilder::new().with_platform_verifier(),
            Some(c) => HttpsConnectorBuilder::new().with_tls_config(c.clone()),
        };
        let builder = builder.https_or_http().enable_http1();
        let connector = match h2 {
            true => builder.enable_http2().wrap_connector(http),
            false => builder.wrap_connector(http),
        };
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(cfg.pool_idle_timeout.0)
            .pool_max_idle_per_host(max_idle)
            .build(connector)
    };
    Ok(Upstream {
        spawned: spawned(true),
        http1: spawned(false),
        pool,
    })
}

/// System roots plus every certificate of the PEM bundle at `path`.
fn tls_with_extra_ca(path: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("serve.proxy.upstream.ca_file: {path}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("serve.proxy.upstream.ca_file: {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("serve.proxy.upstream.ca_file: {path}: {e}"))?;
        added += 1;
    }
    if added == 0 {
        return Err(format!(
            "serve.proxy.upstream.ca_file: {path}: no certificate found"
        ));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}
