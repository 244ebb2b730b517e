//! Telemetry: logging (SPEC §2.3 `log`: level and format, to stderr through a bounded queue,
//! `writer.rs`), the access log and Prometheus metrics (SPEC §6.3).

pub mod access;
pub mod endpoint;
pub mod metrics;
pub mod process;
pub mod writer;

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
        .with_writer(writer::Stderr)
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

/// A budget of warnings a second for one kind of failure that can come with every request (an
/// upstream refusing connections at 36k requests/s logged 21 MB a second).
pub struct WarnBudget {
    window: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU32,
    suppressed: std::sync::atomic::AtomicU64,
}

impl WarnBudget {
    /// Warnings logged a second; the rest are counted.
    const PER_SECOND: u32 = 10;

    pub const fn new() -> Self {
        Self {
            window: std::sync::atomic::AtomicU64::new(u64::MAX),
            count: std::sync::atomic::AtomicU32::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Default for WarnBudget {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether to log this occurrence: `Some(n)` (log it, with the `n` left out since the last one
/// logged) for the first ten in a second, `None` for the rest. Touches shared memory only on
/// the failure path.
pub fn warn_budget(b: &WarnBudget) -> Option<u64> {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let second = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs();
    if b.window.swap(second, Ordering::Relaxed) != second {
        b.count.store(0, Ordering::Relaxed);
    }
    if b.count.fetch_add(1, Ordering::Relaxed) < WarnBudget::PER_SECOND {
        Some(b.suppressed.swap(0, Ordering::Relaxed))
    } else {
        b.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
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

#[cfg(test)]
mod warn_budget_tests {
    use super::*;

    // Ten warnings a second; the rest are counted and handed to the next one logged.
    #[test]
    fn ten_a_second_then_counted() {
        let b = WarnBudget::new();
        let logged: Vec<Option<u64>> = (0..13).map(|_| warn_budget(&b)).collect();
        assert_eq!(&logged[..10], &[Some(0); 10]);
        assert_eq!(&logged[10..], &[None; 3]);
        // A new second: the first one logged carries the three left out.
        b.window.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(warn_budget(&b), Some(3));
        assert_eq!(warn_budget(&b), Some(0));
    }
}
