//! Telemetry: logging (SPEC §2.3 `log`: level and format, to stderr), the access log and
//! Prometheus metrics (SPEC §6.3).

pub mod access;
pub mod endpoint;
pub mod metrics;
pub mod process;

use std::sync::atomic::{AtomicU8, Ordering};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::Metadata;

use crate::config::Config;

/// Install the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init_logging(config: &Config) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    LEVEL.store(level_of(config.log.level.as_str()) as u8, Ordering::Relaxed);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(LiveLevel);
    let _ = match config.log.format.as_str() {
        "json" | "json_pretty" | "gelf" => {
            let installed = registry.with(fmt.json()).try_init();
            if installed.is_ok() {
                JSON.store(true, Ordering::Relaxed);
            }
            installed
        }
        _ => registry.with(fmt.with_ansi(false)).try_init(),
    };
}

/// The log is JSON (fields are JSON strings, escaped by the encoder), not text.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn json_logs() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Apply `log.level` from a reloaded config (SPEC §7: log settings apply live; the format
/// needs a restart).
pub fn set_level(level: &str) {
    let next = level_of(level) as u8;
    if LEVEL.swap(next, Ordering::Relaxed) != next {
        // Callsites cache whether they are enabled: ask them again.
        tracing::callsite::rebuild_interest_cache();
    }
}

/// The most verbose level logged, as 0 (error) ..= 4 (trace).
static LEVEL: AtomicU8 = AtomicU8::new(2);

fn level_of(name: &str) -> usize {
    match name {
        "trace" => 4,
        "debug" => 3,
        "warn" | "warning" => 1,
        "error" | "fatal" | "panic" => 0,
        _ => 2,
    }
}

fn current() -> LevelFilter {
    match LEVEL.load(Ordering::Relaxed) {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::WARN,
        2 => LevelFilter::INFO,
        3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The level filter that a reload can change: callsites get `always` / `never` for the level in
/// force (no per-event check), and are asked again when it changes.
struct LiveLevel;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LiveLevel {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() <= current() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: tracing_subscriber::layer::Context<'_, S>) -> bool {
        *meta.level() <= current()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(current())
    }
}
