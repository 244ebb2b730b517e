//! Mutator configs and the `mutators` section (SPEC §2.8, §5.3).

use std::collections::BTreeMap;

use super::authn::require;
use super::{default_timeout, Handler, HandlerConfig, NoConfig, Retry};
use crate::config::duration::Duration;
use crate::config::types::{Secret, Uri};

config_struct! {
    /// `mutators`.
    pub struct Mutators {
        pub noop: Handler<NoConfig> = Handler::default(),
        pub cookie: Handler<CookieConfig> = Handler::default(),
        pub header: Handler<HeaderConfig> = Handler::default(),
        pub hydrator: Handler<HydratorConfig> = Handler::default(),
        pub id_token: Handler<IdTokenConfig> = Handler::default(),
    }
}

config_struct! {
    /// `cookie`.
    pub struct CookieConfig {
        /// Cookie name → template; required when enabled (`{}` is fine).
        pub cookies: Option<BTreeMap<String, String>> = None,
    }
}

impl HandlerConfig for CookieConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.cookies.is_some(), "cookies")
    }
}

config_struct! {
    /// `header`.
    pub struct HeaderConfig {
        /// Header name → template; required when enabled (`{}` is fine).
        pub headers: Option<BTreeMap<String, String>> = None,
    }
}

impl HandlerConfig for HeaderConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.headers.is_some(), "headers")
    }
}

config_struct! {
    /// `hydrator`. Extension: `timeout` (per attempt, default 5s; the legacy
    /// `api.retry.give_up_after`, when written, still bounds the whole call).
    pub struct HydratorConfig {
        pub api: HydratorApi = HydratorApi::default(),
        pub cache: HydratorCache = HydratorCache::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for HydratorConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.api.url.is_some(), "api.url")
    }
}

config_struct! {
    /// `hydrator.api`.
    pub struct HydratorApi {
        /// Required when enabled.
        pub url: Option<Uri> = None,
        pub auth: HydratorAuth = HydratorAuth::default(),
        pub retry: Retry = Retry::default(),
    }
}

config_struct! {
    /// `hydrator.api.auth`.
    pub struct HydratorAuth {
        pub basic: Option<BasicAuth> = None,
    }
}

/// `hydrator.api.auth.basic`: both keys are required when the block is present.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

config_struct! {
    /// `hydrator.cache`.
    pub struct HydratorCache {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        /// `0s` also means 1m (Oathkeeper code).
        pub ttl: Duration = Duration::from_secs(60),
        /// Extension: request headers whose values are part of the cache key, for hydrators
        /// that answer differently per header (tenant, locale...). Other forwarded headers are
        /// not in the key (SPEC §9 item 18). The credentials are by default: behind `noop` or
        /// `anonymous` the subject does not tell callers apart, and one caller must never get
        /// what was hydrated for another (`[]` leaves them out).
        pub key_headers: Vec<String> = vec!["Authorization".into(), "Cookie".into()],
    }
}

config_struct! {
    /// `id_token`.
    pub struct IdTokenConfig {
        /// `iss` of minted tokens; required when enabled.
        pub issuer_url: Option<String> = None,
        /// Signing keys; required when enabled.
        pub jwks_url: Option<Uri> = None,
        pub ttl: Duration = Duration::from_secs(15 * 60),
        /// Template producing a JSON object of extra claims; empty = none.
        pub claims: String = String::new(),
    }
}

impl HandlerConfig for IdTokenConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.issuer_url.is_some(), "issuer_url")?;
        require(self.jwks_url.is_some(), "jwks_url")
    }
}
