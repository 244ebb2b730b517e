//! Prometheus metrics (SPEC §6.3, with gatehouse's additions): request counter and duration
//! histogram per service, method, status, request path (collapsed) and rule id; reload outcomes;
//! loaded rules; build info. Served only on `serve.prometheus` (never on the proxy port).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{OnceLock, RwLock};
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
    /// Handles to the request series already created, by a hash of their labels: a request
    /// then costs one hash and no allocation, where the families would need owned labels and a
    /// lookup each (the series share their values with the families' copies).
    series: RwLock<HashMap<u64, Vec<Series>, foldhash::fast::RandomState>>,
    /// Hashes a series' labels into its `series` key.
    hasher: foldhash::fast::RandomState,
}

/// One request series: its labels and handles to its counter and histogram.
#[derive(Debug)]
struct Series {
    labels: RequestLabels,
    count: Counter,
    duration: Histogram,
}

impl RequestLabels {
    fn is(&self, service: &str, method: &str, request: &str, status: u16, rule: &str) -> bool {
        self.status_code == status
            && self.service == service
            && self.method == method
            && self.request == request
            && self.rule == rule
    }
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
            series: RwLock::new(HashMap::default()),
            hasher: foldhash::fast::RandomState::default(),
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
        let request: Cow<'_, str> = if self.hide_paths {
            Cow::Borrowed("")
        } else if self.collapse_paths {
            collapse(path)
        } else {
            Cow::Borrowed(path)
        };
        let secs = took.as_secs_f64();
        let key = self
            .hasher
            .hash_one((service, method, &*request, status, rule));
        let found = |series: &HashMap<u64, Vec<Series>, _>| {
            series.get(&key).and_then(|v| {
                v.iter()
                    .find(|s| s.labels.is(service, method, &request, status, rule))
                    .map(|s| {
                        s.count.inc();
                        s.duration.observe(secs);
                    })
            })
        };
        if found(&self.series.read().unwrap_or_else(|e| e.into_inner())).is_some() {
            return;
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        if found(&series).is_some() {
            return;
        }
        let labels = RequestLabels {
            service,
            method: method.to_owned(),
            request: request.into_owned(),
            status_code: status,
            rule: rule.to_owned(),
        };
        let count = self.requests.get_or_create(&labels).clone();
        let duration = self.duration.get_or_create(&labels).clone();
        count.inc();
        duration.observe(secs);
        series.entry(key).or_default().push(Series {
            labels,
            count,
            duration,
        });
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

/// `/decisions/x/y` -> `/decisions` (SPEC §6.3). A slice of `path` in the usual case.
fn collapse(path: &str) -> Cow<'_, str> {
    let rest = path.trim_start_matches('/');
    let first = rest.split('/').next().unwrap_or("");
    if first.is_empty() {
        return Cow::Borrowed("/");
    }
    if path.len() == rest.len() + 1 {
        // Exactly one leading slash: `/first` is a prefix of the path.
        return Cow::Borrowed(&path[..1 + first.len()]);
    }
    Cow::Owned(format!("/{first}"))
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

    // The series cache: repeated labels land in the family's series, distinct ones apart.
    #[test]
    fn repeated_series_share_values() {
        let m = Metrics::new("gatehouse_", true, false);
        for (path, status) in [("/a/1", 200), ("/a/2", 200), ("/a/3", 403), ("/b", 200)] {
            m.observe(
                "gatehouse-api",
                "GET",
                path,
                status,
                "r",
                Duration::from_millis(1),
            );
        }
        let text = m.encode();
        for (request, status, n) in [("/a", 200, 2), ("/a", 403, 1), ("/b", 200, 1)] {
            let line = format!("gatehouse_requests_total{{service=\"gatehouse-api\",method=\"GET\",request=\"{request}\",status_code=\"{status}\",rule=\"r\"}} {n}");
            assert!(text.contains(&line), "{line} missing in {text}");
        }
        assert!(
            text.contains("gatehouse_requests_duration_seconds_count{service=\"gatehouse-api\",method=\"GET\",request=\"/a\",status_code=\"200\",rule=\"r\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn collapsing() {
        assert_eq!(collapse("/decisions/x/y"), "/decisions");
        assert_eq!(collapse("/decisions"), "/decisions");
        assert_eq!(collapse("//a/b"), "/a");
        assert_eq!(collapse("/"), "/");
        assert_eq!(collapse(""), "/");
    }
}
