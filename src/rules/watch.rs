//! Hot reload (SPEC §7 as amended by DESIGN §3). `notify` watches the config files and every
//! local rule repository (the containing directory, so editors' rename-swaps and Kubernetes
//! ConfigMap `..data` symlink swaps are seen); events are debounced, then the whole config and
//! rule set are rebuilt and swapped as one snapshot. Anything invalid keeps the snapshot in
//! force and logs file, rule id, key and reason; a deleted rule file's rules go. Remote
//! repositories are polled.
//!
//! In-flight requests keep the snapshot they started with (`State::snapshot` hands out an
//! `Arc`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::remote::RemoteStore;
use super::repository::Source;
use super::LoadError;
use crate::app::{read_repositories, Snapshot, State};
use crate::config::Config;
use crate::pipeline::DisabledHandlers;

/// Quiet period after the last file event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Longest a reload is put off by changes that keep coming (each one restarts [`DEBOUNCE`]).
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// How long a reload waits for a writer that has a watched file open (written, not yet closed)
/// to close it: a file written in place in several steps is read when it is done, not half-way.
/// A writer that holds the file open longer is read anyway.
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// What a file event says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Its content changed (a write or a truncation): a writer may still have it open.
    Written,
    /// A writer closed it.
    Closed,
    /// Created, removed, renamed, or its metadata changed.
    Other,
}

/// Where the config comes from (re-read on every reload).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_files: Vec<PathBuf>,
    /// Environment overrides captured at start-up (SPEC §2.1).
    pub env: Vec<(String, String)>,
}

/// What changed since the last reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub config: bool,
    pub rules: bool,
    /// A remote repository changed (already fetched by the poll).
    pub remote: bool,
}

/// Rebuilds and swaps snapshots.
#[derive(Debug)]
pub struct Reloader {
    sources: Sources,
    state: Arc<State>,
    remote: Arc<RemoteStore>,
}

impl Reloader {
    pub fn new(sources: Sources, state: Arc<State>, remote: Arc<RemoteStore>) -> Self {
        Self {
            sources,
            state,
            remote,
        }
    }

    /// Rebuild from the current files; swap when everything is valid.
    pub async fn reload(&self, changes: Changes) -> Result<(), Vec<LoadError>> {
        let current = self.state.snapshot();
        let config = if changes.config {
            // A config file emptied (truncated by a writer that is not done, or by mistake)
            // would put every default back, no rule repository among them: refused on a
            // reload. At start-up an empty file is the defaults, as in Oathkeeper.
            if let Some(empty) = self
                .sources
                .config_files
                .iter()
                .find(|f| std::fs::read(f).is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace)))
            {
                let err = LoadError::source(
                    &empty.display().to_string(),
                    "the config file is empty; keeping the config in force",
                );
                return self.rejected(vec![err]);
            }
            match crate::config::load_with_env(&self.sources.config_files, self.sources.env.clone())
            {
                Ok(c) => {
                    warn_restart_only(&current.config, &c);
                    Arc::new(c)
                }
                Err(e) => {
                    let err = LoadError::source("config", crate::app::error_chain(&e));
                    return self.rejected(vec![err]);
                }
            }
        } else {
            current.config.clone()
        };
        self.remote.retain(&config.access_rules.repositories);
        let docs = match read_repositories(
            &config.access_rules.repositories,
            &self.remote,
            false,
            &current.config.access_rules.repositories,
        )
        .await
        {
            Ok(d) => d,
            Err(e) => return self.rejected(e),
        };
        // A rule file emptied on disk (truncated by a writer that is not done, or by mistake)
        // would take its rules with it, a deny rule among them: refused, as an emptied config
        // is. Deleting the file removes its rules; `[]` empties it on purpose.
        let emptied: Vec<LoadError> = docs
            .iter()
            .filter(|d| d.blank && current.rules.rules().iter().any(|r| r.origin == d.origin))
            .map(|d| {
                LoadError::source(
                    &d.origin,
                    "the rule file is empty; its rules stay in force (write `[]` or delete the file to remove them)",
                )
            })
            .collect();
        if !emptied.is_empty() {
            return self.rejected(emptied);
        }
        // A config edit that disables a handler loaded rules use keeps those rules, failing
        // closed with 500 (SPEC §7, Appendix B case 24); a new or edited rule that names a
        // disabled handler is rejected as at start-up (unchanged rules stay as they are).
        let disabled = if changes.config && !changes.rules {
            DisabledHandlers::FailAtRequest
        } else {
            DisabledHandlers::Reject
        };
        match Snapshot::from_documents_over(config, &docs, disabled, Some(&current.rules)) {
            Ok(next) => {
                crate::telemetry::set_level(next.config.log.level.as_str());
                tracing::info!(rules = next.rules.len(), "access rules reloaded");
                let metrics = crate::telemetry::metrics::get();
                metrics
                    .rules_loaded
                    .set(i64::try_from(next.rules.len()).unwrap_or(i64::MAX));
                metrics.reload(true);
                self.state.swap(next);
                self.state.reloads_ok.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => self.rejected(e),
        }
    }

    fn rejected(&self, errors: Vec<LoadError>) -> Result<(), Vec<LoadError>> {
        self.state.reloads_failed.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::metrics::get().reload(false);
        for e in &errors {
            tracing::error!(error = %e, "reload rejected, keeping the rules in force");
        }
        Err(errors)
    }

    /// Directories to watch and the config file names in them.
    fn watch_targets(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        for f in &self.sources.config_files {
            dirs.insert(parent_dir(f));
        }
        let snapshot = self.state.snapshot();
        for repo in &snapshot.config.access_rules.repositories {
            if let Ok(Source::Path(p)) = Source::parse(repo) {
                if p.is_dir() {
                    dirs.insert(p.clone());
                }
                dirs.insert(parent_dir(&p));
            }
        }
        dirs
    }

    /// Poll every remote repository; true when one of them changed.
    pub async fn poll_remote(&self) -> bool {
        let snapshot = self.state.snapshot();
        let mut changed = false;
        for repo in &snapshot.config.access_rules.repositories {
            if let Ok(Source::Remote(url)) = Source::parse(repo) {
                let failed = match self.remote.get(&url, true).await {
                    Ok(f) => {
                        changed |= f.changed;
                        f.stale
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!(error = %e, "remote rule repository unavailable");
                        }
                        true
                    }
                };
                if failed {
                    // A failed refresh is a failed reload to alert on (the last good copy
                    // stays in force).
                    crate::telemetry::metrics::get().reload(false);
                    self.state.reloads_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        changed
    }

    /// A rule file, a file in a rule directory, or a `..`-prefixed entry (ConfigMap swap) next
    /// to one. Editor temp files and unrelated neighbours do not trigger reloads.
    fn is_rule_path(&self, p: &Path) -> bool {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let swap = name.starts_with("..");
        let ruleish = [".json", ".yaml", ".yml"].iter().any(|e| name.ends_with(e));
        let snapshot = self.state.snapshot();
        snapshot
            .config
            .access_rules
            .repositories
            .iter()
            .any(|repo| match Source::parse(repo) {
                Ok(Source::Path(rp)) => {
                    let dir = if rp.is_dir() {
                        rp.clone()
                    } else {
                        parent_dir(&rp)
                    };
                    let same_dir = same_path(&parent_dir(p), &dir);
                    same_path(p, &rp)
                        || (same_dir
                            && (swap
                                || (ruleish && rp.is_dir())
                                || p.file_name() == rp.file_name()))
                }
                _ => false,
            })
    }

    fn is_config_path(&self, p: &Path) -> bool {
        self.sources.config_files.iter().any(|f| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            same_path(&parent_dir(f), &parent_dir(p))
                && (f.file_name() == p.file_name() || name.starts_with(".."))
        })
    }
}

/// Path equality that tolerates `./x` vs `x` and symlinked temp dirs.
fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn warn_restart_only(old: &Config, new: &Config) {
    let (o, n) = (&old.serve, &new.serve);
    if o.proxy.host != n.proxy.host
        || o.proxy.port != n.proxy.port
        || o.api.host != n.api.host
        || o.api.port != n.api.port
        || o.prometheus != n.prometheus
        || o.proxy.upstream != n.proxy.upstream
    {
        tracing::warn!("listener settings changed in the config; they apply after a restart");
    }
    if old.log.format != new.log.format {
        tracing::warn!(
            "log.format changed in the config; it applies after a restart (log.level applies now)"
        );
    }
}

/// Run the watcher until shutdown.
pub fn spawn(reloader: Arc<Reloader>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    // The watches are in place before this returns: a change made right after start-up is seen.
    let (tx, mut rx) = mpsc::unbounded_channel::<(PathBuf, Seen)>();
    let mut watcher = match notify::recommended_watcher(
        move |res: notify::Result<notify::Event>| {
            use notify::event::{AccessKind, AccessMode, ModifyKind};
            use notify::EventKind;
            let Ok(ev) = res else { return };
            let seen = match ev.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Closed,
                // Reading the files (our own reload) produces the other access events.
                EventKind::Access(_) => return,
                EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => Seen::Written,
                _ => Seen::Other,
            };
            for p in ev.paths {
                let _ = tx.send((p, seen));
            }
        },
    ) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "cannot watch files; rules and config will not hot-reload");
            None
        }
    };
    let mut watched = Watched::new();
    rewatch(&reloader, watcher.as_mut(), &mut watched);
    tokio::spawn(async move {
        let poll_every = reloader
            .state
            .snapshot()
            .config
            .access_rules
            .poll_interval
            .0
            .max(Duration::from_secs(1));
        let mut poll = tokio::time::interval(poll_every);
        poll.tick().await;
        let mut pending = Changes::default();
        let mut deadline: Option<tokio::time::Instant> = None;
        // Watched files written and not closed yet, with when the first write was seen.
        let mut open: BTreeMap<PathBuf, tokio::time::Instant> = BTreeMap::new();
        // When the first change not reloaded yet was seen.
        let mut since: Option<tokio::time::Instant> = None;
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some((path, seen)) = rx.recv() => {
                    let config = reloader.is_config_path(&path);
                    let rules = reloader.is_rule_path(&path);
                    if config || rules {
                        let now = tokio::time::Instant::now();
                        match seen {
                            Seen::Written => {
                                open.entry(path).or_insert(now);
                            }
                            Seen::Closed | Seen::Other => {
                                open.remove(&path);
                            }
                        }
                        pending.config |= config;
                        pending.rules |= rules;
                        let first = *since.get_or_insert(now);
                        deadline = Some((now + DEBOUNCE).min(first + MAX_DELAY));
                    }
                }
                _ = sleep => {
                    // A writer still has a file open: wait for it to close it (or give up
                    // waiting after WRITE_WAIT), so a half-written file is not read.
                    let now = tokio::time::Instant::now();
                    open.retain(|_, first_write| now.duration_since(*first_write) < WRITE_WAIT);
                    if !open.is_empty() {
                        deadline = Some(now + DEBOUNCE);
                        continue;
                    }
                    deadline = None;
                    since = None;
                    let changes = std::mem::take(&mut pending);
                    let _ = reloader.reload(changes).await;
                    rewatch(&reloader, watcher.as_mut(), &mut watched);
                }
                _ = poll.tick() => {
                    // A replaced directory (or a switched symlink to one) may have come and
                    // gone without an event this watcher could see: look, and catch up.
                    let stale = moved(&watched);
                    if reloader.poll_remote().await || stale {
                        let changes = Changes { remote: true, rules: stale, config: stale };
                        let _ = reloader.reload(changes).await;
                        rewatch(&reloader, watcher.as_mut(), &mut watched);
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    })
}

/// The watched directories, each with the identity (device, inode) it had when its watch was
/// placed: a watch follows the directory, not its path.
type Watched = BTreeMap<PathBuf, Option<(u64, u64)>>;

/// The directory `p` names now (through symlinks), `None` when there is none.
fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a watched path names another directory than the one its watch is on (a directory
/// replaced by `rm -rf d; mv d.new d`, or a symlink to it switched): its watch sees nothing.
fn moved(watched: &Watched) -> bool {
    watched.iter().any(|(p, id)| identity(p) != *id)
}

/// Keep the watched directory set in line with the current config, and every watch on the
/// directory its path names now.
fn rewatch(
    reloader: &Reloader,
    watcher: Option<&mut notify::RecommendedWatcher>,
    watched: &mut Watched,
) {
    let Some(w) = watcher else { return };
    let wanted = reloader.watch_targets();
    // Two paths for one directory (`.` and its absolute path) share one inotify watch:
    // removing the watch of a path no longer wanted must not remove the one a wanted path
    // still needs (the watcher went deaf for good).
    let wanted_ids: BTreeSet<Option<(u64, u64)>> = wanted.iter().map(|p| identity(p)).collect();
    watched.retain(|path, id| {
        let keep = wanted.contains(path);
        let shared = id.is_some() && wanted_ids.contains(id);
        if !keep && !shared {
            let _ = w.unwatch(path);
        }
        keep
    });
    for path in wanted {
        let now = identity(&path);
        match watched.get(&path) {
            Some(id) if *id == now => continue,
            Some(_) => {
                let _ = w.unwatch(&path);
            }
            None => {}
        }
        if let Err(e) = w.watch(&path, RecursiveMode::NonRecursive) {
            tracing::warn!(path = %path.display(), error = %e, "cannot watch");
        }
        watched.insert(path, now);
    }
}
