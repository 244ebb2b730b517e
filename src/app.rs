//! Process state: the config and compiled rule set as one immutable snapshot behind an
//! `ArcSwap` (one writer, lock-free readers; a request keeps the snapshot it started with).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use thread_local::ThreadLocal;

use crate::config::Config;
use crate::pipeline::errors::{build_fallback, Fallback};
use crate::pipeline::DisabledHandlers;
use crate::rules::remote::RemoteStore;
use crate::rules::repository::{read_source, RuleDocument, Source};
use crate::rules::{LoadError, RuleSet};

/// Everything a request needs, built together and swapped together.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub rules: RuleSet,
    pub fallback: Vec<Fallback>,
    pub trusted_proxies: Vec<IpNet>,
    /// CORS layers of the two listeners (SPEC §2.4), built with the snapshot.
    pub cors_api: crate::cors::Cors,
    pub cors_proxy: crate::cors::Cors,
    /// Every id_token key set in use (global config and rules), for `/.well-known/jwks.json`.
    pub id_token_jwks: Vec<Arc<crate::credentials::JwksSource>>,
}

impl Snapshot {
    /// Read every repository of `config` (remote ones through `remote`) and compile the whole
    /// rule set.
    pub async fn build(
        config: Arc<Config>,
        remote: &RemoteStore,
        disabled: DisabledHandlers,
    ) -> Result<Snapshot, Vec<LoadError>> {
        let docs = read_repositories(&config.access_rules.repositories, remote, false, &[]).await?;
        Self::from_documents(config, &docs, disabled)
    }

    pub fn from_documents(
        config: Arc<Config>,
        docs: &[RuleDocument],
        disabled: DisabledHandlers,
    ) -> Result<Snapshot, Vec<LoadError>> {
        Self::from_documents_over(config, docs, disabled, None)
    }

    /// [`Self::from_documents`] on a reload, over the rules in force (see
    /// [`RuleSet::compile_over`]).
    pub fn from_documents_over(
        config: Arc<Config>,
        docs: &[RuleDocument],
        disabled: DisabledHandlers,
        in_force: Option<&RuleSet>,
    ) -> Result<Snapshot, Vec<LoadError>> {
        if config.access_rules.prefix_matching_enabled {
            return Err(vec![LoadError::source(
                "config",
                "access_rules.prefix_matching_enabled: true is not supported (rules match the whole URL; use a `<.*>` suffix)",
            )]);
        }
        let fallback = build_fallback(&config).map_err(|e| vec![LoadError::source("config", e)])?;
        let rules = RuleSet::compile_over(docs, &config, disabled, in_force)?;
        let trusted_proxies = config.serve.api.trusted_proxies.clone();
        let cors_api = crate::cors::Cors::from_config(&config.serve.api.cors);
        let cors_proxy = crate::cors::Cors::from_config(&config.serve.proxy.cors);
        for (listener, cors) in [("api", &cors_api), ("proxy", &cors_proxy)] {
            for pattern in cors.ignored() {
                tracing::warn!(listener, pattern = %pattern, "CORS origin pattern ignored: a wildcard must be followed by a registrable domain");
            }
        }
        let id_token_jwks = id_token_jwks(&config, &rules);
        Ok(Snapshot {
            config,
            rules,
            fallback,
            trusted_proxies,
            cors_api,
            cors_proxy,
            id_token_jwks,
        })
    }

    /// Ready when at least one valid rule is loaded (SPEC §6.2 `/health/ready`).
    pub fn ready(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// The key sets `/.well-known/jwks.json` publishes (SPEC §6.2): `mutators.id_token.config.
/// jwks_url` and every rule's id_token key set, each URL once.
fn id_token_jwks(config: &Config, rules: &RuleSet) -> Vec<Arc<crate::credentials::JwksSource>> {
    let mut out: Vec<Arc<crate::credentials::JwksSource>> = Vec::new();
    if let Some(url) = &config.mutators.id_token.config.jwks_url {
        match crate::credentials::JwksCache::global().source(url.as_str()) {
            Ok(s) => out.push(s),
            Err(e) => tracing::warn!("mutators.id_token.config.jwks_url: {e}"),
        }
    }
    let from_rules = rules
        .rules()
        .iter()
        .flat_map(|r| r.mutators.iter().filter_map(|m| m.signing_jwks()));
    for source in from_rules {
        if !out.iter().any(|s| s.url() == source.url()) {
            out.push(source.clone());
        }
    }
    out
}

/// Read all repositories, collecting every error. Remote repositories come from `remote`
/// (fetched when not held yet, or when `refresh_remote`). On a reload, a local file or
/// directory of the config in force (`in_force`) that no longer exists contributes no rules:
/// its rules go (DESIGN §3), and the other files' edits (a revoked user) still apply. One that
/// is missing at start-up, or newly listed by a config edit, is an error: a typo in a path is
/// refused on a reload as it is at start-up.
pub async fn read_repositories(
    repos: &[String],
    remote: &RemoteStore,
    refresh_remote: bool,
    in_force: &[String],
) -> Result<Vec<RuleDocument>, Vec<LoadError>> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for repo in repos {
        match Source::parse(repo) {
            Ok(Source::Remote(url)) => match remote.get(&url, refresh_remote).await {
                Ok(mut f) => docs.append(&mut f.docs),
                Err(mut e) => errors.append(&mut e),
            },
            Ok(Source::Path(p))
                if in_force.contains(repo)
                    && matches!(std::fs::symlink_metadata(&p), Err(e) if e.kind() == std::io::ErrorKind::NotFound) =>
            {
                tracing::warn!(repository = %repo, "rule repository deleted; its rules are removed");
            }
            Ok(source) => match read_source(&source) {
                Ok(mut d) => docs.append(&mut d),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        // A file listed twice (or as itself and through its directory) is read once: its rules
        // are not duplicates of themselves.
        let mut seen = std::collections::HashSet::new();
        docs.retain(|d| seen.insert(d.origin.clone()));
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Shared process state.
#[derive(Debug)]
pub struct State {
    snapshot: ArcSwap<Snapshot>,
    /// Bumped after every swap of `snapshot`: a thread whose [`Current`] was taken at the same
    /// generation still holds the snapshot in force.
    generation: AtomicU64,
    /// Each thread's handle on the snapshot in force (see [`State::current`]).
    local: ThreadLocal<Mutex<Option<(u64, Current)>>>,
    /// Rule-set / config reloads applied and rejected since start.
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

impl State {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            generation: AtomicU64::new(0),
            local: ThreadLocal::new(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
        })
    }

    /// The snapshot in force now; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The snapshot in force now, as this thread holds it: for a request's handler, which
    /// holds it for the whole request. Cloning the `Arc<Snapshot>` for every request would write
    /// to a reference count every worker writes to (a cache line moving between cores on each
    /// request); a `Current` is this thread's own handle, taken again only after a reload.
    pub fn current(&self) -> Current {
        let slot = self.local.get_or_default();
        let generation = self.generation.load(Ordering::Acquire);
        let mut held = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((g, current)) = &*held {
            if *g == generation {
                return current.clone();
            }
        }
        // Loaded after the generation: at least as new as the snapshot that generation names.
        let current = Current(Arc::new(self.snapshot.load_full()));
        *held = Some((generation, current.clone()));
        current
    }

    /// Replace the snapshot (the only writer is start-up and the reload watcher). Threads let go
    /// of the old one now, not at their next request (an idle worker would otherwise keep a
    /// replaced rule set alive; one taking its handle at this very moment may still keep it to
    /// its next request); requests in flight keep theirs to the end.
    pub fn swap(&self, next: Snapshot) {
        self.snapshot.store(Arc::new(next));
        self.generation.fetch_add(1, Ordering::Release);
        for slot in self.local.iter() {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// A thread's handle on a snapshot (from [`State::current`]): cheap to clone on that thread.
/// The outer `Arc` is the thread's own allocation, its count written by that thread only.
#[derive(Debug, Clone)]
#[allow(clippy::redundant_allocation)]
pub struct Current(Arc<Arc<Snapshot>>);

impl crate::telemetry::access::RuleIds for Current {
    fn rule_id(&self, index: usize) -> &str {
        self.rules.rules().get(index).map_or("", |r| r.id.as_str())
    }
}

impl std::ops::Deref for Current {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

/// A running instance (listeners bound, serving).
#[derive(Debug)]
pub struct Running {
    pub state: Arc<State>,
    pub api_addr: std::net::SocketAddr,
    pub proxy_addr: std::net::SocketAddr,
    pub metrics_addr: std::net::SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop accepting, drain in-flight requests, return when every listener has finished.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Bind the listeners for `snapshot` and start serving.
pub async fn start(snapshot: Snapshot) -> std::io::Result<Running> {
    let config = snapshot.config.clone();
    let state = State::new(snapshot);
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let drain_timeout = std::time::Duration::from_secs(30);

    let proxy = &config.serve.proxy;
    let proxy_listener = bind("proxy", &proxy.host, proxy.port).await?;
    let proxy_addr = proxy_listener.local_addr()?;
    let proxy_tls = crate::tls::TlsSettings::from_config(&proxy.tls, "proxy")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let proxy_handler = crate::proxy::Proxy::new(state.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let proxy_limits = crate::server::Limits {
        header_read_timeout: header_wait(&proxy.timeout),
        idle_timeout: idle_wait(&proxy.timeout),
        drain_timeout,
    };

    let api = &config.serve.api;
    let api_listener = bind("api", &api.host, api.port).await?;
    let api_addr = api_listener.local_addr()?;
    let api_limits = crate::server::Limits {
        header_read_timeout: header_wait(&api.timeout),
        idle_timeout: idle_wait(&api.timeout),
        drain_timeout,
    };
    let api_tls = crate::tls::TlsSettings::from_config(&api.tls, "api")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let api_handler = Arc::new(crate::api::Api {
        state: state.clone(),
    });

    let prom = &config.serve.prometheus;
    let metrics = crate::telemetry::metrics::init(prom);
    metrics
        .rules_loaded
        .set(i64::try_from(state.snapshot().rules.len()).unwrap_or(i64::MAX));
    let metrics_listener = bind("metrics", &prom.host, prom.port).await?;
    let metrics_addr = metrics_listener.local_addr()?;
    let metrics_handler = Arc::new(crate::telemetry::endpoint::MetricsEndpoint {
        path: prom.metrics_path.clone(),
    });
    let metrics_limits = crate::server::Limits {
        header_read_timeout: std::time::Duration::from_secs(5),
        idle_timeout: std::time::Duration::from_secs(5),
        drain_timeout,
    };

    let workers = crate::server::Workers::start(config.serve.workers as usize)?;
    tracing::debug!(threads = workers.threads(), "connection workers started");
    let proxy_listener = crate::server::per_worker(proxy_listener, &workers)?;
    let api_listener = crate::server::per_worker(api_listener, &workers)?;
    let metrics_listener = crate::server::per_worker(metrics_listener, &workers)?;
    let tasks = vec![
        tokio::spawn(crate::server::serve(
            proxy_listener,
            Arc::new(proxy_handler),
            proxy_limits,
            proxy_tls,
            workers.clone(),
            rx.clone(),
        )),
        tokio::spawn(crate::server::serve(
            api_listener,
            api_handler,
            api_limits,
            api_tls,
            workers.clone(),
            rx.clone(),
        )),
        tokio::spawn(crate::server::serve(
            metrics_listener,
            metrics_handler,
            metrics_limits,
            None,
            workers.clone(),
            rx,
        )),
    ];
    Ok(Running {
        state,
        api_addr,
        proxy_addr,
        metrics_addr,
        shutdown,
        tasks,
    })
}

/// hyper's HTTP/1 header timer also runs while a keep-alive connection waits for its next
/// request, so it cannot be the short `read` timeout: gateways (Envoy, nginx, Caddy) keep idle
/// connections far longer, and closing them under their feet fails requests. It is the longer of
/// `read` and the idle wait ([`idle_wait`]); `read: 0s` is no limit, as in Go's `http.Server`
/// (an HTTP/1 connection then also waits for its next request without a limit).
fn header_wait(t: &crate::config::serve::Timeouts) -> std::time::Duration {
    no_limit_if_zero(t.read.0).max(idle_wait(t))
}

/// How long a connection may wait for its next request, with Go's `http.Server` reading of the
/// keys Oathkeeper passes it (SPEC §2.4): `idle: 0s` takes `read`, and both `0s` is no limit.
/// Read as a zero duration, `idle: 0s` closed every kept-alive connection at once.
fn idle_wait(t: &crate::config::serve::Timeouts) -> std::time::Duration {
    match t.idle.0.is_zero() {
        true => no_limit_if_zero(t.read.0),
        false => t.idle.0,
    }
}

/// A timeout of `0s` means none (Go); a year stands for that, far beyond any connection.
fn no_limit_if_zero(d: std::time::Duration) -> std::time::Duration {
    match d.is_zero() {
        true => std::time::Duration::from_secs(365 * 24 * 3600),
        false => d,
    }
}

async fn bind(service: &str, host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let listener = listen(host, port).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{service} listener on {host}:{port}: {e}"),
        )
    })?;
    tracing::info!(service, address = %listener.local_addr()?, "listening");
    Ok(listener)
}

/// Bind and listen with the largest accept queue the kernel allows (`net.core.somaxconn`, as
/// Go's listeners do): std's 128 overflowed under bursts of new connections, and the clients
/// of a full queue wait for SYN retransmits.
async fn listen(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        // Linux caps the backlog at somaxconn itself.
        match socket.bind(addr).and_then(|()| socket.listen(65_535)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host resolves to no address",
        )
    }))
}

impl Running {
    /// Watch config files and rule sources and reload on change; poll remote repositories
    /// (SPEC §7 as amended by DESIGN §3).
    pub fn watch(&mut self, sources: crate::rules::watch::Sources, remote: Arc<RemoteStore>) {
        let reloader = Arc::new(crate::rules::watch::Reloader::new(
            sources,
            self.state.clone(),
            remote,
        ));
        let rx = self.shutdown.subscribe();
        self.tasks.push(crate::rules::watch::spawn(reloader, rx));
    }
}

/// `gatehouse serve`: load config and rules (any error is fatal), serve until SIGINT/SIGTERM.
pub fn serve(config_files: &[std::path::PathBuf]) -> std::process::ExitCode {
    use std::process::ExitCode;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = match crate::config::load_with_env(config_files, env.clone()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("gatehouse: invalid configuration: {}", error_chain(&e));
            // Oathkeeper's status for a configuration that fails validation (SPEC §2.1).
            return ExitCode::from(255);
        }
    };
    crate::telemetry::init_logging(&config);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async move {
        let remote = Arc::new(RemoteStore::default());
        let snapshot = match Snapshot::build(config, &remote, DisabledHandlers::Reject).await {
            Ok(s) => s,
            Err(errors) => {
                for e in &errors {
                    eprintln!("gatehouse: {e}");
                }
                eprintln!(
                    "gatehouse: {} error(s) in access rules, not starting",
                    errors.len()
                );
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(rules = snapshot.rules.len(), "access rules loaded");
        let mut running = match start(snapshot).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("gatehouse: cannot start: {e}");
                // TLS files or upstream settings that cannot be used are configuration errors.
                return match e.kind() {
                    std::io::ErrorKind::InvalidInput => ExitCode::from(255),
                    _ => ExitCode::FAILURE,
                };
            }
        };
        running.watch(
            crate::rules::watch::Sources {
                config_files: config_files.to_vec(),
                env,
            },
            remote,
        );
        shutdown_signal().await;
        tracing::info!("shutting down, draining in-flight requests");
        running.stop().await;
        ExitCode::SUCCESS
    });
    // Log lines still queued are written before the process ends.
    crate::telemetry::writer::flush(std::time::Duration::from_secs(2));
    code
}

/// An error and its causes, `: `-separated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let config = crate::config::load_with_env(&[], std::iter::empty()).expect("default config");
        Snapshot::from_documents(Arc::new(config), &[], DisabledHandlers::Reject).expect("snapshot")
    }

    /// A thread's handle stays the same until a swap and names the new snapshot right after;
    /// the swap lets go of the old snapshot although threads still had handles on it.
    #[test]
    fn current_follows_swaps_and_lets_the_old_snapshot_go() {
        let state = State::new(snapshot());
        let first = state.current();
        let again = state.current();
        assert!(Arc::ptr_eq(&first.0, &again.0), "one handle per thread");
        let old = Arc::downgrade(&*first.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let there = state.current();
                assert!(!Arc::ptr_eq(&there.0, &first.0), "a handle of its own");
                assert!(Arc::ptr_eq(&*there.0, &*first.0), "on the same snapshot");
            });
        });
        drop((first, again));
        state.swap(snapshot());
        let now = state.current();
        let old_ptr = old.as_ptr();
        assert!(!std::ptr::eq(Arc::as_ptr(&*now.0), old_ptr), "the new one");
        assert!(
            old.upgrade().is_none(),
            "no thread keeps the replaced snapshot"
        );
    }
}
