//! Listener TLS (SPEC §2.4 `serve.{proxy,api}.tls`, DESIGN §4): a rustls `ServerConfig` built
//! from PEM files or base64 PEM, offering ALPN `h2` and `http/1.1`, and hot-reloaded when the
//! certificate files change.
//!
//! The config in force lives behind an `ArcSwap`; every new connection takes the current one, so
//! a rotation never touches connections already established. Oathkeeper loads certificates once;
//! reloading is a gatehouse extension. A certificate that fails to load keeps the old one serving.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{mpsc, watch};

use crate::config::serve::{Tls, TlsSource};

/// How often the files are re-read even without a file-system event (inotify can miss events on
/// some volume types, and the watcher itself may fail to start).
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Let a writer finish both files before reading them after an event.
const SETTLE: Duration = Duration::from_millis(150);

/// Why a TLS configuration could not be loaded.
// The cause is part of the message (not only `source()`): these errors are printed once at
// start-up or in a reload log line, where the reader needs the whole story in one line.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{prefix} is partially configured: {missing} is not set but {present} is (TLS needs both a certificate and a key)")]
    Partial {
        prefix: String,
        missing: String,
        present: String,
    },
    #[error("{key}: cannot read {path}: {source}")]
    Read {
        key: String,
        path: String,
        source: io::Error,
    },
    #[error("{key}: invalid base64: {source}")]
    Base64 {
        key: String,
        source: base64::DecodeError,
    },
    #[error("{key}: no PEM certificate found")]
    NoCertificate { key: String },
    #[error("{key}: no PEM private key found ({reason})")]
    NoKey { key: String, reason: String },
    #[error("{prefix}: invalid certificate or key: {source}")]
    Rustls {
        prefix: String,
        source: rustls::Error,
    },
}

/// Where the PEM pair comes from.
#[derive(Clone)]
enum Origin {
    /// Files, watched for changes.
    Files { cert: PathBuf, key: PathBuf },
    /// Inline base64 (static).
    Inline,
}

/// One listener's TLS: the current `ServerConfig` and where it was loaded from.
#[derive(Clone)]
pub struct TlsSettings {
    prefix: String,
    origin: Origin,
    current: Arc<ArcSwap<ServerConfig>>,
}

// Hand-written: the config holds a private key.
impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsSettings");
        d.field("prefix", &self.prefix);
        match &self.origin {
            Origin::Files { cert, key } => d.field("cert", cert).field("key", key),
            Origin::Inline => d.field("source", &"base64"),
        };
        d.finish()
    }
}

impl TlsSettings {
    /// Build from `serve.<which>.tls` (`which` is `proxy` or `api`, used in messages). `None`
    /// when none of the four keys is set. The base64 pair wins when both pairs are complete.
    pub fn from_config(tls: &Tls, which: &str) -> Result<Option<Self>, TlsError> {
        if !tls.is_configured() {
            return Ok(None);
        }
        let prefix = format!("serve.{which}.tls");
        let (origin, config) = match (&tls.cert, &tls.key) {
            (
                TlsSource {
                    base64: Some(c), ..
                },
                TlsSource {
                    base64: Some(k), ..
                },
            ) => {
                let cert = decode_b64(&format!("{prefix}.cert.base64"), c)?;
                let key = decode_b64(&format!("{prefix}.key.base64"), k)?;
                (Origin::Inline, build(&prefix, &cert, &key)?)
            }
            (TlsSource { path: Some(c), .. }, TlsSource { path: Some(k), .. }) => {
                let (cert, key) = (PathBuf::from(c), PathBuf::from(k));
                let config = load_files(&prefix, &cert, &key)?;
                (Origin::Files { cert, key }, config)
            }
            _ => return Err(partial(&prefix, tls)),
        };
        Ok(Some(Self {
            prefix,
            origin,
            current: Arc::new(ArcSwap::from_pointee(config)),
        }))
    }

    /// An acceptor for the config in force now (take one per connection).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Re-read the certificate files and swap the config in when they are valid. `Ok(false)` for
    /// an inline (base64) config, which cannot change.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Origin::Files { cert, key } = &self.origin else {
            return Ok(false);
        };
        let config = load_files(&self.prefix, cert, key)?;
        self.current.store(Arc::new(config));
        Ok(true)
    }

    /// Watch the certificate files until `shutdown` turns true, reloading on change. Returns
    /// `None` for an inline config (nothing to watch). Must be called inside a Tokio runtime.
    pub fn spawn_watcher(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Origin::Files { cert, key } = &self.origin else {
            return None;
        };
        let (cert, key) = (cert.clone(), key.clone());
        let this = self.clone();
        Some(tokio::spawn(async move {
            this.watch_files(cert, key, shutdown).await
        }))
    }

    async fn watch_files(self, cert: PathBuf, key: PathBuf, mut shutdown: watch::Receiver<bool>) {
        // A capacity of one coalesces bursts of events into one pending check.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let _watcher = fs_watcher(&[&cert, &key], tx);
        // What was last read (loaded or rejected), so an unchanged file is neither reloaded
        // nor reported again.
        let mut seen = read_pair(&cert, &key);
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.tick().await;
        loop {
            tokio::select! {
                Some(()) = rx.recv() => tokio::time::sleep(SETTLE).await,
                _ = poll.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Drain what arrived while settling: one read covers it.
            while rx.try_recv().is_ok() {}
            let now = read_pair(&cert, &key);
            if now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(_) => {
                    tracing::info!(config = %self.prefix, cert = %cert.display(), "TLS certificate reloaded")
                }
                Err(e) => tracing::error!(
                    config = %self.prefix,
                    error = %e,
                    "TLS certificate reload failed, keeping the previous certificate"
                ),
            }
        }
    }
}

/// Watch the parent directories (not the files): Kubernetes secret volumes rotate by swapping a
/// `..data` symlink in the directory, which a watch on the old file would never see.
fn fs_watcher(files: &[&Path], tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = tx.try_send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch TLS certificate files, polling only");
                return None;
            }
        };
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch TLS certificate directory, polling only");
        }
    }
    Some(watcher)
}

/// The raw bytes of both files (`None` for a file that cannot be read right now).
fn read_pair(cert: &Path, key: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    (std::fs::read(cert).ok(), std::fs::read(key).ok())
}

fn partial(prefix: &str, tls: &Tls) -> TlsError {
    let halves = [
        ("cert.base64", tls.cert.base64.is_some(), "key.base64"),
        ("key.base64", tls.key.base64.is_some(), "cert.base64"),
        ("cert.path", tls.cert.path.is_some(), "key.path"),
        ("key.path", tls.key.path.is_some(), "cert.path"),
    ];
    // Name the first half that is set whose partner is missing (always exists here: no pair is
    // complete but at least one key is set).
    let (present, missing) = halves
        .iter()
        .find(|(_, set, _)| *set)
        .map(|(p, _, m)| (*p, *m))
        .unwrap_or(("cert.path", "key.path"));
    TlsError::Partial {
        prefix: prefix.to_owned(),
        missing: format!("{prefix}.{missing}"),
        present: format!("{prefix}.{present}"),
    }
}

fn decode_b64(key: &str, value: &str) -> Result<Vec<u8>, TlsError> {
    // Tolerate line-wrapped base64 (as `base64` without `-w0` prints it).
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|source| TlsError::Base64 {
            key: key.to_owned(),
            source,
        })
}

fn load_files(prefix: &str, cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |k: &str, p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            key: format!("{prefix}.{k}"),
            path: p.display().to_string(),
            source,
        })
    };
    build(prefix, &read("cert.path", cert)?, &read("key.path", key)?)
}

/// A server config from a PEM certificate chain and a PEM private key.
fn build(prefix: &str, cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, TlsError> {
    crate::outbound::init_crypto();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            key: format!("{prefix}.cert"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            key: format!("{prefix}.cert"),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        key: format!("{prefix}.key"),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rustls_err = |source| TlsError::Rustls {
        prefix: prefix.to_owned(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rustls_err)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests;
