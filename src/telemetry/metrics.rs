//! Prometheus metrics (SPEC §6.3, with gatehouse's additions): request counter and duration
//! histogram per service, method, status, request path (collapsed) and rule id; reload outcomes;
//! loaded rules; build info. Served only on `serve.prometheus` (never on the proxy port).

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `gatehouse-proxy` or `gatehouse-api`.
    pub service: &'static str,
    pub method: String,
    /// The request path collapsed to its first segment (`collapse_request_paths`), or `""`
    /// (`hide_request_paths`).
    pub request: String,
    pub status_code: u16,
    /// The matched rule's id, `""` when none matched.
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `success` or `failure`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RequestLabels, Histogram>,
    pub reloads: Family<ReloadLabels, Counter>,
    pub rules_loaded: Gauge,
    collapse_paths: bool,
    hide_paths: bool,
}

/// SPEC §6.3 default buckets (.005 … 10 s).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METRICS: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    fn new(prefix: &str, collapse_paths: bool, hide_paths: bool) -> Self {
        let prefix = prefix.trim_end_matches('_');
        let mut registry = if prefix.is_empty() {
            Registry::default()
        } else {
            Registry::with_prefix(prefix)
        };
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests handled, by service, method, path, status and rule",
            requests.clone(),
        );
        let duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(BUCKETS.iter().copied())
        });
        registry.register(
            "requests_duration_seconds",
            "Request duration in seconds",
            duration.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Rule set and config reloads, by result",
            reloads.clone(),
        );
        let rules_loaded = Gauge::default();
        registry.register(
            "rules_loaded",
            "Access rules in the rule set in force",
            rules_loaded.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: crate::VERSION,
            })
            .set(1);
        registry.register("build_info", "Build information", build);
        Self {
            registry,
            requests,
            duration,
            reloads,
            rules_loaded,
            collapse_paths,
            hide_paths,
        }
    }

    /// Record one finished request.
    pub fn observe(
        &self,
        service: &'static str,
        method: &str,
        path: &str,
        status: u16,
        rule: &str,
        took: Duration,
    ) {
        let request = if self.hide_paths {
            String::new()
        } else if self.collapse_paths {
            collapse(path)
        } else {
            path.to_string()
        };
        let labels = RequestLabels {
            service,
            method: method.to_string(),
            request,
            status_code: status,
            rule: rule.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                result: if ok { "success" } else { "failure" },
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `/decisions/x/y` -> `/decisions` (SPEC §6.3).
fn collapse(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    match rest.split('/').next() {
        Some(first) if !first.is_empty() => format!("/{first}"),
        _ => "/".to_string(),
    }
}

/// Initialise the process metrics from the config in force at start-up (prefix and path
/// settings need a restart, SPEC §7). Later calls return the first instance.
pub fn init(prom: &crate::config::serve::PrometheusServe) -> &'static Metrics {
    METRICS.get_or_init(|| {
        Metrics::new(
            &prom.metric_name_prefix,
            prom.collapse_request_paths,
            prom.hide_request_paths,
        )
    })
}

/// The process metrics (default settings if `init` was never called).
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new("gatehouse_", true, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let m = Metrics::new("gatehouse_", true, false);
        m.observe(
            "gatehouse-proxy",
            "GET",
            "/api/users/1",
            200,
            "users",
            Duration::from_millis(3),
        );
        m.reload(true);
        m.rules_loaded.set(4);
        let text = m.encode();
        assert!(text.contains("gatehouse_requests_total{service=\"gatehouse-proxy\",method=\"GET\",request=\"/api\",status_code=\"200\",rule=\"users\"} 1"), "{text}");
        assert!(
            text.contains("gatehouse_requests_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_reloads_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(text.contains("gatehouse_rules_loaded 4"), "{text}");
        assert!(text.contains("gatehouse_build_info{version="), "{text}");
    }

    #[test]
    fn collapsing() {
        assert_eq!(collapse("/decisions/x/y"), "/decisions");
        assert_eq!(collapse("/"), "/");
        assert_eq!(collapse(""), "/");
    }
}
