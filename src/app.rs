//! Process state: the config and compiled rule set as one immutable snapshot behind an
//! `ArcSwap` (one writer, lock-free readers; a request keeps the snapshot it started with).

use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::config::Config;
use crate::pipeline::errors::{build_fallback, Fallback};
use crate::pipeline::DisabledHandlers;
use crate::rules::repository::{read_source, RuleDocument, Source};
use crate::rules::{LoadError, RuleSet};

/// Everything a request needs, built together and swapped together.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub rules: RuleSet,
    pub fallback: Vec<Fallback>,
    pub trusted_proxies: Vec<IpNet>,
}

impl Snapshot {
    /// Read every repository of `config` and compile the whole rule set.
    pub fn build(config: Config, disabled: DisabledHandlers) -> Result<Snapshot, Vec<LoadError>> {
        let docs = read_repositories(&config.access_rules.repositories)?;
        Self::from_documents(config, &docs, disabled)
    }

    pub fn from_documents(
        config: Config,
        docs: &[RuleDocument],
        disabled: DisabledHandlers,
    ) -> Result<Snapshot, Vec<LoadError>> {
        if config.access_rules.prefix_matching_enabled {
            return Err(vec![LoadError::source(
                "config",
                "access_rules.prefix_matching_enabled: true is not supported (rules match the whole URL; use a `<.*>` suffix)",
            )]);
        }
        let fallback = build_fallback(&config).map_err(|e| vec![LoadError::source("config", e)])?;
        let rules = RuleSet::compile(docs, &config, disabled)?;
        let trusted_proxies = config.serve.api.trusted_proxies.clone();
        Ok(Snapshot {
            config: Arc::new(config),
            rules,
            fallback,
            trusted_proxies,
        })
    }

    /// Ready when at least one valid rule is loaded (SPEC §6.2 `/health/ready`).
    pub fn ready(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// Read all repositories, collecting every error.
pub fn read_repositories(repos: &[String]) -> Result<Vec<RuleDocument>, Vec<LoadError>> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for repo in repos {
        match Source::parse(repo)
            .map_err(|e| vec![e])
            .and_then(|s| read_source(&s))
        {
            Ok(mut d) => docs.append(&mut d),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Shared process state.
#[derive(Debug)]
pub struct State {
    snapshot: ArcSwap<Snapshot>,
}

impl State {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
        })
    }

    /// The snapshot in force now; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replace the snapshot (the only writer is start-up and the reload watcher).
    pub fn swap(&self, next: Snapshot) {
        self.snapshot.store(Arc::new(next));
    }
}

/// A running instance (listeners bound, serving).
#[derive(Debug)]
pub struct Running {
    pub state: Arc<State>,
    pub api_addr: std::net::SocketAddr,
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
    let api = &config.serve.api;
    let host = if api.host.is_empty() {
        "0.0.0.0"
    } else {
        api.host.as_str()
    };
    let listener = tokio::net::TcpListener::bind((host, api.port)).await?;
    let api_addr = listener.local_addr()?;
    tracing::info!(service = "api", address = %api_addr, "listening");
    let limits = crate::server::Limits {
        header_read_timeout: api.timeout.read.0,
        drain_timeout: std::time::Duration::from_secs(30),
    };
    let tls = crate::tls::TlsSettings::from_config(&api.tls, "api")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let handler = Arc::new(crate::api::Api {
        state: state.clone(),
        tls: tls.is_some(),
    });
    let tasks = vec![tokio::spawn(crate::server::serve(
        listener, handler, limits, tls, rx,
    ))];
    Ok(Running {
        state,
        api_addr,
        shutdown,
        tasks,
    })
}

/// `gatehouse serve`: load config and rules (any error is fatal), serve until SIGINT/SIGTERM.
pub fn serve(config_files: &[std::path::PathBuf]) -> std::process::ExitCode {
    use std::process::ExitCode;
    let config = match crate::config::load(config_files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gatehouse: invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::telemetry::init_logging(&config);
    let snapshot = match Snapshot::build(config, DisabledHandlers::Reject) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                tracing::error!("{e}");
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
    rt.block_on(async move {
        let running = match start(snapshot).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("gatehouse: cannot bind listener: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        tracing::info!("shutting down, draining in-flight requests");
        running.stop().await;
        ExitCode::SUCCESS
    })
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
