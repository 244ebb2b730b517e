//! Telemetry: logging (SPEC §2.3 `log`: level and format, to stderr), the access log and
//! Prometheus metrics (SPEC §6.3).

pub mod access;
pub mod endpoint;
pub mod metrics;

use crate::config::Config;

/// Install the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init_logging(config: &Config) {
    let level = match config.log.level.as_str() {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "warn" | "warning" => tracing::Level::WARN,
        "error" | "fatal" | "panic" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match config.log.format.as_str() {
        "json" | "json_pretty" | "gelf" => builder.json().try_init(),
        _ => builder.with_ansi(false).try_init(),
    };
}
