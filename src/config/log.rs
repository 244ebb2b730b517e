//! `log`, `tracing`, `profiling` and `version` (SPEC §2.3; schemas `ory://logging-config` and
//! `ory://tracing-config`).

use std::fmt;

use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize};

use super::types::Secret;

config_struct! {
    /// `log`.
    pub struct Log {
        pub level: LogLevel = LogLevel::Info,
        pub format: LogFormat = LogFormat::Text,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub leak_sensitive_values: bool = false,
        /// Replacement for redacted values; empty means the logger's built-in text.
        pub redaction_text: String = String::new(),
        pub additional_redacted_headers: Vec<String> = Vec::new(),
    }
}

/// `log.level`. `warning` (older Oathkeeper schemas) is accepted as `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Panic,
    Fatal,
    Error,
    #[serde(alias = "warning")]
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The level as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    JsonPretty,
    Gelf,
    #[default]
    Text,
}

impl LogFormat {
    /// The format as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::JsonPretty => "json_pretty",
            LogFormat::Gelf => "gelf",
            LogFormat::Text => "text",
        }
    }
}

config_struct! {
    /// `tracing`: accepted and typed; which providers are wired is up to telemetry.
    pub struct Tracing {
        pub provider: Option<TracingProvider> = None,
        /// Unset: the telemetry module's default service name.
        pub service_name: Option<String> = None,
        pub deployment_environment: Option<String> = None,
        pub providers: TracingProviders = TracingProviders::default(),
    }
}

/// `tracing.provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TracingProvider {
    Jaeger,
    Otel,
    Zipkin,
}

config_struct! {
    /// `tracing.providers`.
    pub struct TracingProviders {
        pub jaeger: Jaeger = Jaeger::default(),
        pub zipkin: Zipkin = Zipkin::default(),
        pub otlp: Otlp = Otlp::default(),
    }
}

config_struct! {
    /// `tracing.providers.jaeger`.
    pub struct Jaeger {
        /// `host:port` of the jaeger agent.
        pub local_agent_address: Option<String> = None,
        pub sampling: JaegerSampling = JaegerSampling::default(),
    }
}

config_struct! {
    /// `tracing.providers.jaeger.sampling`.
    pub struct JaegerSampling {
        pub server_url: Option<String> = None,
        pub trace_id_ratio: Option<f64> = None,
    }
}

config_struct! {
    /// `tracing.providers.zipkin`.
    pub struct Zipkin {
        pub server_url: Option<String> = None,
        pub sampling: Sampling = Sampling::default(),
    }
}

config_struct! {
    /// `tracing.providers.otlp`.
    pub struct Otlp {
        /// `host:port` of the OTLP/HTTP endpoint.
        pub server_url: Option<String> = None,
        /// Plain HTTP instead of HTTPS.
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub insecure: bool = false,
        pub sampling: Sampling = Sampling::default(),
        pub authorization_header: Option<Secret> = None,
    }
}

config_struct! {
    /// `tracing.providers.{zipkin,otlp}.sampling`.
    pub struct Sampling {
        pub sampling_ratio: Option<f64> = None,
    }
}

/// `profiling`: `cpu`, `mem` or `""` (off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profiling {
    #[default]
    #[serde(rename = "")]
    Off,
    Cpu,
    Mem,
}

/// `version`: the Oathkeeper version a config was written for, `v` + semver. Validated only.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(String);

impl Version {
    /// The version string, e.g. `v0.40.9`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_v_semver(&s) {
            Ok(Self(s))
        } else {
            Err(de::Error::invalid_value(
                Unexpected::Str(&s),
                &"`v` followed by a semantic version (e.g. v0.40.9)",
            ))
        }
    }
}

fn numeric_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn alnum_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The schema's semver pattern: `vMAJOR.MINOR.PATCH[-pre][+build]`, no leading zeros in numbers.
fn is_v_semver(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let core_ok = parts.len() == 3 && parts.iter().all(|p| numeric_id(p));
    let pre_ok = pre.is_none_or(|p| {
        p.split('.')
            .all(|id| alnum_id(id) && (numeric_id(id) || !id.bytes().all(|b| b.is_ascii_digit())))
    });
    let build_ok = build.is_none_or(|b| b.split('.').all(alnum_id));
    core_ok && pre_ok && build_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC §2.3: `version` is `v` + semver.
    #[test]
    fn version_pattern() {
        for ok in [
            "v0.40.9",
            "v26.2.0",
            "v1.0.0-rc.1",
            "v1.0.0-alpha-1+build.5",
            "v1.2.3+x",
        ] {
            assert!(is_v_semver(ok), "{ok}");
        }
        for bad in [
            "0.40.9",
            "v1.2",
            "v01.2.3",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3+",
            "v1.2.x",
            "",
        ] {
            assert!(!is_v_semver(bad), "{bad}");
        }
    }
}
