//! `serve.*`: the proxy, API and Prometheus listeners (SPEC §2.4).

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::duration::Duration;

config_struct! {
    /// `serve`.
    pub struct Serve {
        pub proxy: ProxyServe = ProxyServe::default(),
        pub api: ApiServe = ApiServe::default(),
        pub prometheus: PrometheusServe = PrometheusServe::default(),
        /// gatehouse extension: threads serving connections, each with its own single-threaded
        /// runtime (every connection stays on one); 0 means one per available CPU.
        pub workers: u32 = 0,
    }
}

config_struct! {
    /// `serve.proxy`: the reverse-proxy listener.
    pub struct ProxyServe {
        pub port: u16 = 4455,
        /// Empty means all interfaces.
        pub host: String = String::new(),
        /// Honour `X-Forwarded-*` from clients of the proxy port (SPEC §6.1).
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub trust_forwarded_headers: bool = false,
        pub timeout: Timeouts = Timeouts::default(),
        pub cors: Cors = Cors::default(),
        pub tls: Tls = Tls::default(),
        /// gatehouse extension: how the proxy talks to upstreams.
        pub upstream: UpstreamClient = UpstreamClient::default(),
        /// gatehouse extension: largest request body buffered for handlers that read it (the
        /// `remote` authorizer); larger bodies get 413. Other requests are streamed, unbounded.
        pub max_buffered_body: u64 = 10 * 1024 * 1024,
    }
}

config_struct! {
    /// `serve.proxy.upstream` (gatehouse extension): upstream connection pool and deadlines.
    pub struct UpstreamClient {
        /// Time to establish a connection (TCP and TLS) to an upstream; then 502.
        pub connect_timeout: Duration = Duration::from_secs(5),
        /// Time from sending the request to receiving the response head; then 504.
        pub response_timeout: Duration = Duration::from_secs(120),
        /// How long an idle pooled connection is kept.
        pub pool_idle_timeout: Duration = Duration::from_secs(90),
        /// Idle connections kept per upstream host.
        pub max_idle_per_host: u32 = 256,
        /// PEM bundle of extra CA certificates trusted for https upstreams (in addition to the
        /// system roots).
        pub ca_file: Option<String> = None,
    }
}

config_struct! {
    /// `serve.api`: the API listener (`/decisions`, `/rules`, health, JWKS).
    pub struct ApiServe {
        pub port: u16 = 4456,
        pub host: String = String::new(),
        pub timeout: Timeouts = Timeouts::default(),
        pub cors: Cors = Cors::default(),
        pub tls: Tls = Tls::default(),
        /// gatehouse extension (DESIGN §3): peers whose `X-Forwarded-*` headers `/decisions`
        /// trusts. Empty (default) trusts every peer, as Oathkeeper does. A bare IP is a /32
        /// (/128).
        #[serde(deserialize_with = "crate::config::types::ip_nets")]
        pub trusted_proxies: Vec<IpNet> = Vec::new(),
    }
}

config_struct! {
    /// `serve.prometheus`: the metrics listener (plain HTTP).
    pub struct PrometheusServe {
        pub port: u16 = 9000,
        pub host: String = String::new(),
        pub metrics_path: String = "/metrics".to_owned(),
        /// gatehouse default `gatehouse_` (Oathkeeper: `ory_oathkeeper_`); set it to
        /// `ory_oathkeeper_` to keep existing dashboards.
        pub metric_name_prefix: String = "gatehouse_".to_owned(),
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub hide_request_paths: bool = false,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub collapse_request_paths: bool = true,
    }
}

config_struct! {
    /// `serve.{proxy,api}.timeout`.
    pub struct Timeouts {
        pub read: Duration = Duration::from_secs(5),
        pub write: Duration = Duration::from_secs(120),
        pub idle: Duration = Duration::from_secs(120),
    }
}

config_struct! {
    /// `serve.{proxy,api}.cors`.
    pub struct Cors {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        /// `*` allows all; one `*` wildcard per origin.
        pub allowed_origins: Vec<String> = vec!["*".to_owned()],
        pub allowed_methods: Vec<CorsMethod> = vec![
            CorsMethod::Get,
            CorsMethod::Post,
            CorsMethod::Put,
            CorsMethod::Patch,
            CorsMethod::Delete,
        ],
        pub allowed_headers: Vec<String> =
            vec!["Authorization".to_owned(), "Content-Type".to_owned()],
        pub exposed_headers: Vec<String> = vec!["Content-Type".to_owned()],
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub allow_credentials: bool = false,
        /// Seconds; 0 = no `Access-Control-Max-Age`.
        pub max_age: u64 = 0,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub debug: bool = false,
    }
}

/// A method allowed in `cors.allowed_methods` (the schema enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorsMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Trace,
    Patch,
}

impl CorsMethod {
    /// The method name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CorsMethod::Get => "GET",
            CorsMethod::Head => "HEAD",
            CorsMethod::Post => "POST",
            CorsMethod::Put => "PUT",
            CorsMethod::Delete => "DELETE",
            CorsMethod::Connect => "CONNECT",
            CorsMethod::Trace => "TRACE",
            CorsMethod::Patch => "PATCH",
        }
    }
}

config_struct! {
    /// `serve.{proxy,api}.tls`: TLS is on only when both cert and key are given; the base64 pair
    /// wins over the path pair (SPEC §2.4).
    pub struct Tls {
        pub cert: TlsSource = TlsSource::default(),
        pub key: TlsSource = TlsSource::default(),
    }
}

impl Tls {
    /// True when any of the four keys is set (a half-configured TLS block is a start-up error for
    /// the listener to report).
    pub fn is_configured(&self) -> bool {
        self.cert.is_set() || self.key.is_set()
    }
}

/// A PEM source: a file path or the base64 of the PEM.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSource {
    pub path: Option<String>,
    pub base64: Option<String>,
}

impl TlsSource {
    /// True when `path` or `base64` is set.
    pub fn is_set(&self) -> bool {
        self.path.is_some() || self.base64.is_some()
    }
}

// Hand-written: `base64` may hold a private key.
impl fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSource")
            .field("path", &self.path)
            .field(
                "base64",
                &self.base64.as_ref().map(|b| format!("<{} bytes>", b.len())),
            )
            .finish()
    }
}
