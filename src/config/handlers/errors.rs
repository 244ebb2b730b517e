//! Error handler configs, `when` clauses and the `errors` section (SPEC §2.8, §4.7, §5.4).

use std::fmt;

use ipnet::IpNet;
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::authn::require;
use super::{Handler, HandlerConfig};

config_struct! {
    /// `errors`.
    pub struct Errors {
        /// Error handler ids (`json`, `redirect`, `www_authenticate`) tried in order when no
        /// rule-level handler is responsible. Unknown ids are rejected; every entry must be enabled
        /// (checked at load; Oathkeeper answers 500 on every error instead).
        #[serde(deserialize_with = "fallback_names")]
        pub fallback: Vec<String> = vec!["json".to_owned()],
        pub handlers: ErrorHandlers = ErrorHandlers::default(),
    }
}

config_struct! {
    /// `errors.handlers`. `json` is enabled by default.
    pub struct ErrorHandlers {
        pub json: Handler<JsonConfig, true> = Handler::default(),
        pub redirect: Handler<RedirectConfig> = Handler::default(),
        pub www_authenticate: Handler<WwwAuthenticateConfig> = Handler::default(),
    }
}

/// An error handler id, as used in `errors.fallback` and in rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorHandlerName {
    Json,
    Redirect,
    WwwAuthenticate,
}

impl ErrorHandlerName {
    /// All error handler ids.
    pub const ALL: [Self; 3] = [Self::Json, Self::Redirect, Self::WwwAuthenticate];

    /// The handler with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == id)
    }

    /// The id as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorHandlerName::Json => "json",
            ErrorHandlerName::Redirect => "redirect",
            ErrorHandlerName::WwwAuthenticate => "www_authenticate",
        }
    }
}

fn fallback_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    for (i, name) in names.iter().enumerate() {
        if ErrorHandlerName::from_id(name).is_none() {
            return Err(de::Error::custom(format!(
                "unknown error handler `{name}` at index {i}, expected one of `json`, `redirect`, `www_authenticate`"
            )));
        }
    }
    Ok(names)
}

config_struct! {
    /// `errors.handlers.json`.
    pub struct JsonConfig {
        /// Include reason and details instead of the generic message.
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub verbose: bool = false,
        pub when: Vec<WhenClause> = Vec::new(),
    }
}

impl HandlerConfig for JsonConfig {}

config_struct! {
    /// `errors.handlers.redirect`.
    pub struct RedirectConfig {
        /// Redirect target (absolute or relative URL); required when enabled.
        pub to: Option<String> = None,
        pub code: RedirectCode = RedirectCode::FOUND,
        /// Query parameter that receives the original URL; empty = not added.
        #[serde(deserialize_with = "crate::config::types::query_param_name")]
        pub return_to_query_param: String = String::new(),
        pub when: Vec<WhenClause> = Vec::new(),
    }
}

impl HandlerConfig for RedirectConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.to.is_some(), "to")
    }
}

config_struct! {
    /// `errors.handlers.www_authenticate`.
    pub struct WwwAuthenticateConfig {
        pub realm: String = "Please authenticate.".to_owned(),
        pub when: Vec<WhenClause> = Vec::new(),
    }
}

impl HandlerConfig for WwwAuthenticateConfig {}

/// Redirect status code: 301 or 302 (the schema enum; other values are rejected at load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RedirectCode(u16);

impl RedirectCode {
    pub const MOVED_PERMANENTLY: Self = Self(301);
    pub const FOUND: Self = Self(302);

    /// The status code.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for RedirectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for RedirectCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for RedirectCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        match v {
            301 => Ok(Self::MOVED_PERMANENTLY),
            302 => Ok(Self::FOUND),
            _ => Err(de::Error::invalid_value(
                Unexpected::Unsigned(v),
                &"one of 301, 302",
            )),
        }
    }
}

config_struct! {
    /// One `when` clause (SPEC §4.7): `error` AND `request`; clauses are OR-ed.
    pub struct WhenClause {
        /// Error kinds; empty = any error.
        pub error: Vec<ErrorKind> = Vec::new(),
        pub request: WhenRequest = WhenRequest::default(),
    }
}

config_struct! {
    /// `when[].request`. Client-IP conditions may be written as `cidr` (schema) or
    /// `remote_ip.match` (code and docs); both are honoured (DESIGN §3), see [`Self::ip_ranges`].
    pub struct WhenRequest {
        #[serde(deserialize_with = "crate::config::types::ip_nets")]
        pub cidr: Vec<IpNet> = Vec::new(),
        pub remote_ip: RemoteIpCondition = RemoteIpCondition::default(),
        pub header: WhenHeader = WhenHeader::default(),
    }
}

impl WhenRequest {
    /// All client-IP ranges of the clause (`cidr` then `remote_ip.match`); empty = any client.
    pub fn ip_ranges(&self) -> impl Iterator<Item = &IpNet> {
        self.cidr.iter().chain(self.remote_ip.r#match.iter())
    }
}

config_struct! {
    /// `when[].request.remote_ip`.
    pub struct RemoteIpCondition {
        /// CIDR ranges, OR-ed.
        #[serde(deserialize_with = "crate::config::types::ip_nets")]
        pub r#match: Vec<IpNet> = Vec::new(),
        /// Also check every `X-Forwarded-For` entry.
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub respect_forwarded_for_header: bool = false,
    }
}

config_struct! {
    /// `when[].request.header`: media types; `type/*` and `*/*` act as wildcards.
    pub struct WhenHeader {
        pub content_type: Vec<String> = Vec::new(),
        pub accept: Vec<String> = Vec::new(),
    }
}

/// Error kind in `when[].error`: the schema's four values plus the kinds gatehouse itself produces
/// (`bad_request`, `too_many_requests`, `bad_gateway`, `service_unavailable`, `gateway_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Unauthorized,
    Forbidden,
    InternalServerError,
    NotFound,
    BadRequest,
    TooManyRequests,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
}

impl ErrorKind {
    /// The kind as written in config (`unauthorized`, `not_found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::InternalServerError => "internal_server_error",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::TooManyRequests => "too_many_requests",
            Self::BadGateway => "bad_gateway",
            Self::ServiceUnavailable => "service_unavailable",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }

    /// The kind of an HTTP status, if it has one.
    pub fn from_status(status: u16) -> Option<Self> {
        Some(match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::TooManyRequests,
            500 => Self::InternalServerError,
            502 => Self::BadGateway,
            503 => Self::ServiceUnavailable,
            504 => Self::GatewayTimeout,
            _ => return None,
        })
    }
}
