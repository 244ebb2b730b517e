//! Prometheus metrics (SPEC §6.3, with gatehouse's additions): request counter and duration
//! histogram per service, method, status, request path (collapsed) and rule id; reload outcomes;
//! loaded rules; build info. Served only on `serve.prometheus` (never on the proxy port).
//!
//! Every request updates its series, so the request series are kept apart per worker thread:
//! each series has one cache-line-aligned slot per worker (its bucket counts and sum), summed
//! when scraped. With one shared histogram (prometheus-client's, behind a lock), every request
//! took a write lock all workers share. Looking a series up takes no lock either: each thread
//! keeps its own map of the series it has seen, and only a series new to the thread is looked up
//! (or created) in the shared map. A lookup that went through a lock or cloned a shared `Arc`
//! would write to a cache line every worker writes to, on every request.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use thread_local::ThreadLocal;

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
    pub reloads: Family<ReloadLabels, Counter>,
    pub rules_loaded: Gauge,
    collapse_paths: bool,
    hide_paths: bool,
    /// With Oathkeeper's prefix, Oathkeeper's `service` label values too (`oathkeeper-proxy`,
    /// `oathkeeper-api`), so alerts that select on them keep working.
    oathkeeper_services: bool,
    requests: Arc<Requests>,
}

/// The request series (`requests_total`, `requests_duration_seconds`), encoded by the registry
/// as a collector.
#[derive(Debug)]
struct Requests {
    /// By a hash of their labels. (Not copied on write: with `collapse_request_paths` off, every
    /// new path is a new label set.)
    by_hash: RwLock<ByHash>,
    /// Each thread's own copy of the part of `by_hash` it has used.
    local: ThreadLocal<RefCell<ByHash>>,
    /// Hashes a series' labels into its `by_hash` key.
    hasher: foldhash::fast::RandomState,
    /// Slots per series: worker `w` (see [`crate::server::worker_id`]) uses `w % slots`.
    slots: usize,
    /// Series created so far (see [`MAX_SERIES`]).
    count: std::sync::atomic::AtomicUsize,
}

/// Past this many request series, a new path is counted under `request=""`: every distinct
/// first path segment (any client can send one) is otherwise a series, kept for the life of the
/// process (20,000 scanned paths made a 41 MB scrape).
const MAX_SERIES: usize = 10_000;

/// A `request` label longer than this is counted under `request=""` too: the series cap bounds
/// their number, this their bytes (each label is written on 15 lines of a scrape; 1,000
/// requests with 60 KB first segments made a 902 MB scrape).
const MAX_REQUEST_LABEL: usize = 128;

type ByHash = HashMap<u64, Vec<Arc<Series>>, foldhash::fast::RandomState>;

/// One request series: its labels and one slot per worker.
#[derive(Debug)]
struct Series {
    labels: RequestLabels,
    slots: Box<[Slot]>,
}

/// A worker's share of a series, on cache lines of its own. The request count is the sum of the
/// bucket counts, so a scrape never sees the two disagree.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of the observed seconds, as `f64` bits.
    sum: AtomicU64,
}

impl Series {
    /// Count one request that took `took` in this worker's slot (`slots` per series).
    fn record(&self, slots: usize, took: Duration) {
        let slot = &self.slots[crate::server::worker_id() % slots];
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&upper| secs <= upper)
            .unwrap_or(BUCKETS.len());
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // Only this worker adds to its slot, but threads that are not workers share slot 0.
        let _ = slot
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + secs).to_bits())
            });
    }
}

/// The series under `key` in `map` (a thread's or the shared one) whose labels satisfy `is`.
fn lookup(map: &ByHash, key: u64, is: impl Fn(&RequestLabels) -> bool) -> Option<&Arc<Series>> {
    map.get(&key)?.iter().find(|s| is(&s.labels))
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

/// At most this many slots per series (a series costs 128 bytes per slot).
const MAX_SLOTS: usize = 8;

static METRICS: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    fn new(prefix: &str, collapse_paths: bool, hide_paths: bool) -> Self {
        let prefix = prefix.trim_end_matches('_');
        let mut registry = if prefix.is_empty() {
            Registry::default()
        } else {
            Registry::with_prefix(prefix)
        };
        let slots = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, MAX_SLOTS);
        let requests = Arc::new(Requests {
            by_hash: RwLock::new(HashMap::default()),
            local: ThreadLocal::new(),
            hasher: foldhash::fast::RandomState::default(),
            slots,
            count: std::sync::atomic::AtomicUsize::new(0),
        });
        registry.register_collector(Box::new(RequestsCollector(requests.clone())));
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
            reloads,
            rules_loaded,
            oathkeeper_services: prefix == "ory_oathkeeper",
            collapse_paths,
            hide_paths,
            requests,
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
        let service = match service {
            _ if !self.oathkeeper_services => service,
            "gatehouse-proxy" => "oathkeeper-proxy",
            "gatehouse-api" => "oathkeeper-api",
            other => other,
        };
        // Any token is a method: one a client makes up is not a series of its own.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE"
            | "PATCH" => method,
            _ => "OTHER",
        };
        let request: Cow<'_, str> = if self.hide_paths {
            Cow::Borrowed("")
        } else if self.collapse_paths {
            collapse(path)
        } else {
            Cow::Borrowed(path)
        };
        let request = match request.len() > MAX_REQUEST_LABEL {
            true => Cow::Borrowed(""),
            false => request,
        };
        if !self.record(service, method, &request, status, rule, took, false) {
            self.record(service, method, "", status, rule, took, true);
        }
    }

    /// Count one request in its series, created when new unless [`MAX_SERIES`] is reached and
    /// `always` is not set (then false, nothing counted).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        service: &'static str,
        method: &str,
        request: &str,
        status: u16,
        rule: &str,
        took: Duration,
        always: bool,
    ) -> bool {
        let requests = &*self.requests;
        let key = requests
            .hasher
            .hash_one((service, method, request, status, rule));
        let is = |l: &RequestLabels| l.is(service, method, request, status, rule);
        let find = |map: &ByHash| lookup(map, key, is).cloned();
        let local = requests.local.get_or_default();
        if let Some(series) = lookup(&local.borrow(), key, is) {
            series.record(requests.slots, took);
            return true;
        }
        let found = find(&requests.by_hash.read().unwrap_or_else(|e| e.into_inner()));
        let series = match found {
            Some(series) => series,
            None => {
                let mut map = requests.by_hash.write().unwrap_or_else(|e| e.into_inner());
                match find(&map) {
                    Some(series) => series,
                    None => {
                        if !always && requests.count.load(Ordering::Relaxed) >= MAX_SERIES {
                            return false;
                        }
                        requests.count.fetch_add(1, Ordering::Relaxed);
                        let series = Arc::new(Series {
                            labels: RequestLabels {
                                service,
                                method: method.to_owned(),
                                request: request.to_owned(),
                                status_code: status,
                                rule: rule.to_owned(),
                            },
                            slots: (0..requests.slots).map(|_| Slot::default()).collect(),
                        });
                        map.entry(key).or_default().push(series.clone());
                        series
                    }
                }
            }
        };
        series.record(requests.slots, took);
        local.borrow_mut().entry(key).or_default().push(series);
        true
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                result: if ok { "success" } else { "failure" },
            })
            .inc();
    }

    /// The OpenMetrics text exposition, the process metrics included.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        let process = super::process::encode();
        match out.strip_suffix("# EOF\n") {
            Some(families) => format!("{families}{process}# EOF\n"),
            None => out + &process,
        }
    }
}

#[derive(Debug)]
struct RequestsCollector(Arc<Requests>);

/// A series summed over its slots: its labels, sum, count and bucket counts.
type Totals<'a> = (Cow<'a, RequestLabels>, f64, u64, Vec<(f64, u64)>);

/// `labels` with `\`, `"` and line feeds escaped as the exposition format requires (the encoder
/// writes label values as they are): a request path or rule id holding one would make every
/// scrape unparseable. Borrowed when there is nothing to escape.
fn escaped(labels: &RequestLabels) -> Cow<'_, RequestLabels> {
    let needs = |v: &str| v.contains(['\\', '"', '\n']);
    if !(needs(&labels.method) || needs(&labels.request) || needs(&labels.rule)) {
        return Cow::Borrowed(labels);
    }
    let esc = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    Cow::Owned(RequestLabels {
        service: labels.service,
        method: esc(&labels.method),
        request: esc(&labels.request),
        status_code: labels.status_code,
        rule: esc(&labels.rule),
    })
}

impl Collector for RequestsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let map = self.0.by_hash.read().unwrap_or_else(|e| e.into_inner());
        let totals: Vec<Totals<'_>> = map
            .values()
            .flatten()
            .map(|series| {
                let mut sum = 0.0;
                let mut buckets: Vec<(f64, u64)> =
                    BUCKETS.iter().chain([&f64::MAX]).map(|&b| (b, 0)).collect();
                for slot in series.slots.iter() {
                    sum += f64::from_bits(slot.sum.load(Ordering::Relaxed));
                    for (total, n) in buckets.iter_mut().zip(&slot.buckets) {
                        total.1 += n.load(Ordering::Relaxed);
                    }
                }
                let count = buckets.iter().map(|b| b.1).sum();
                (escaped(&series.labels), sum, count, buckets)
            })
            .collect();
        let mut requests = encoder.encode_descriptor(
            "requests",
            "Requests handled, by service, method, path, status and rule",
            None,
            MetricType::Counter,
        )?;
        for (labels, _, count, _) in &totals {
            requests
                .encode_family(labels.as_ref())?
                .encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }
        let mut duration = encoder.encode_descriptor(
            "requests_duration_seconds",
            "Request duration in seconds",
            None,
            MetricType::Histogram,
        )?;
        for (labels, sum, count, buckets) in &totals {
            duration
                .encode_family(labels.as_ref())?
                .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        Ok(())
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
    fn label_values_are_escaped_and_bounded() {
        // SPEC §6.3 exposition format: `"`, `\` and line feeds in a label value are escaped, or
        // one request (`GET /"x`) would make every later scrape unparseable.
        let m = Metrics::new("gatehouse_", true, false);
        let ms = Duration::from_millis(1);
        m.observe("gatehouse-proxy", "GET", "/\"x\\y", 404, "", ms);
        m.observe("gatehouse-proxy", "GET", "/\"x\\y", 404, "", ms);
        m.observe("gatehouse-api", "GET", "/r", 200, "id\"1", ms);
        let text = m.encode();
        assert!(
            text.contains(r#"request="/\"x\\y",status_code="404",rule=""} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"rule="id\"1"} 1"#), "{text}");
        // A first path segment longer than MAX_REQUEST_LABEL is not a label of its own.
        let long = format!("/{}", "a".repeat(60_000));
        m.observe("gatehouse-proxy", "GET", &long, 404, "", ms);
        m.observe(
            "gatehouse-proxy",
            "GET",
            &format!("/{}", "a".repeat(MAX_REQUEST_LABEL - 1)),
            404,
            "",
            ms,
        );
        let text = m.encode();
        assert!(
            !text.contains(&"a".repeat(MAX_REQUEST_LABEL)),
            "long label kept"
        );
        assert!(text.contains(&"a".repeat(MAX_REQUEST_LABEL - 1)));
        assert!(
            text.contains(r#"method="GET",request="",status_code="404",rule=""} 1"#),
            "{text}"
        );
        // A made-up method is `OTHER`; past MAX_SERIES a new path is counted under `request=""`.
        m.observe("gatehouse-proxy", "X1", "/a", 404, "", ms);
        m.observe("gatehouse-proxy", "X2", "/a", 404, "", ms);
        assert!(m
            .encode()
            .contains(r#"method="OTHER",request="/a",status_code="404",rule=""} 2"#));
        for i in 0..MAX_SERIES {
            m.observe("gatehouse-proxy", "GET", &format!("/p{i}"), 404, "", ms);
        }
        let text = m.encode();
        assert_eq!(
            text.matches("gatehouse_requests_total{").count(),
            MAX_SERIES,
            "the cap (the `request=\"\"` series was made by the long label, within it)"
        );
        assert!(
            text.contains(r#"method="GET",request="",status_code="404",rule=""} "#),
            "{text}"
        );
    }

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

    // SPEC §6.3: with Oathkeeper's prefix, Oathkeeper's `service` values as well.
    #[test]
    fn oathkeeper_prefix_keeps_oathkeeper_service_names() {
        let m = Metrics::new("ory_oathkeeper_", true, false);
        m.observe(
            "gatehouse-proxy",
            "GET",
            "/a",
            200,
            "r",
            Duration::from_millis(1),
        );
        m.observe(
            "gatehouse-api",
            "GET",
            "/b",
            200,
            "",
            Duration::from_millis(1),
        );
        let text = m.encode();
        assert!(
            text.contains("ory_oathkeeper_requests_total{service=\"oathkeeper-proxy\""),
            "{text}"
        );
        assert!(
            text.contains("ory_oathkeeper_requests_total{service=\"oathkeeper-api\""),
            "{text}"
        );
        assert!(!text.contains("gatehouse-proxy"), "{text}");
    }

    // Each worker counts in its own slot; a scrape adds the slots up, buckets cumulative, the
    // count their total.
    #[tokio::test]
    async fn workers_count_apart_and_a_scrape_adds_up() {
        let m = Arc::new(Metrics::new("gh_", true, false));
        let observe = |m: &Metrics, took| m.observe("gatehouse-proxy", "GET", "/a", 200, "r", took);
        let workers = crate::server::Workers::start(2).expect("workers");
        let mut done = Vec::new();
        for i in 0..4u64 {
            let m = m.clone();
            done.push(workers.spawn(async move {
                observe(&m, Duration::from_millis(3));
                observe(&m, Duration::from_millis(20 + i));
                crate::server::worker_id()
            }));
        }
        let mut on = Vec::new();
        for d in done {
            on.push(d.await.expect("task"));
        }
        on.sort_unstable();
        on.dedup();
        assert_eq!(on, [1, 2], "both workers observed");
        observe(&m, Duration::from_secs(20));
        let text = m.encode();
        let labels = "service=\"gatehouse-proxy\",method=\"GET\",request=\"/a\",status_code=\"200\",rule=\"r\"";
        for line in [
            format!("gh_requests_total{{{labels}}} 9"),
            format!("gh_requests_duration_seconds_count{{{labels}}} 9"),
            format!("gh_requests_duration_seconds_bucket{{le=\"0.005\",{labels}}} 4"),
            format!("gh_requests_duration_seconds_bucket{{le=\"0.025\",{labels}}} 8"),
            format!("gh_requests_duration_seconds_bucket{{le=\"10.0\",{labels}}} 8"),
            format!("gh_requests_duration_seconds_bucket{{le=\"+Inf\",{labels}}} 9"),
        ] {
            assert!(text.contains(&line), "{line} missing in {text}");
        }
        let sum = text
            .lines()
            .find(|l| l.starts_with("gh_requests_duration_seconds_sum"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("sum");
        // 4 x 3 ms + 20..23 ms + 20 s.
        assert!((sum - (0.012 + 0.086 + 20.0)).abs() < 1e-9, "{sum}");
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
