//! Authenticator configs and the `authenticators` section (SPEC §2.8, §5.1).

use std::collections::BTreeMap;

use super::{default_timeout, Handler, HandlerConfig, NoConfig, Retry, ScopeStrategy, TokenFrom};
use crate::config::duration::{Duration, GoDuration};
use crate::config::types::{Secret, Uri};

config_struct! {
    /// `authenticators`.
    pub struct Authenticators {
        pub anonymous: Handler<AnonymousConfig> = Handler::default(),
        pub noop: Handler<NoConfig> = Handler::default(),
        pub unauthorized: Handler<NoConfig> = Handler::default(),
        pub cookie_session: Handler<CookieSessionConfig> = Handler::default(),
        pub bearer_token: Handler<BearerTokenConfig> = Handler::default(),
        pub jwt: Handler<JwtConfig> = Handler::default(),
        pub oauth2_client_credentials: Handler<ClientCredentialsConfig> = Handler::default(),
        pub oauth2_introspection: Handler<IntrospectionConfig> = Handler::default(),
    }
}

config_struct! {
    /// `anonymous`.
    pub struct AnonymousConfig {
        /// Subject of anonymous requests (an empty value also means `anonymous`).
        pub subject: String = "anonymous".to_owned(),
    }
}

impl HandlerConfig for AnonymousConfig {}

config_struct! {
    /// gatehouse extension: cache of session-check results for `cookie_session` / `bearer_token`
    /// (keyed by credential hash and endpoint; TTL capped by the session's `expires_at`).
    pub struct SessionCache {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        pub ttl: Duration = Duration::from_secs(60),
        pub max_entries: u64 = 10_000,
    }
}

config_struct! {
    /// `cookie_session`. Extensions: `cache`, `timeout` (per session-check call, default 5s).
    pub struct CookieSessionConfig {
        /// Required when enabled.
        pub check_session_url: Option<Uri> = None,
        /// Cookie names that make this authenticator responsible; empty = any cookie.
        pub only: Vec<String> = Vec::new(),
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_query: bool = true,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_path: bool = false,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_host: bool = false,
        /// Empty = the original method.
        pub force_method: String = String::new(),
        /// `Cookie` is always forwarded in addition.
        pub forward_http_headers: Vec<String> = Vec::new(),
        pub additional_headers: BTreeMap<String, String> = BTreeMap::new(),
        /// GJSON path of `extra` in the response.
        pub extra_from: String = "extra".to_owned(),
        /// GJSON path of the subject in the response.
        pub subject_from: String = "subject".to_owned(),
        pub cache: SessionCache = SessionCache::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for CookieSessionConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.check_session_url.is_some(), "check_session_url")
    }
}

config_struct! {
    /// `bearer_token`. Extensions: `cache`, `timeout` (per session-check call, default 5s).
    pub struct BearerTokenConfig {
        /// Required when enabled.
        pub check_session_url: Option<Uri> = None,
        pub token_from: Option<TokenFrom> = None,
        /// The token must start with this to make the authenticator responsible.
        pub prefix: String = String::new(),
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_query: bool = true,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_path: bool = false,
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_host: bool = false,
        pub force_method: String = String::new(),
        /// `Authorization` is always forwarded in addition.
        pub forward_http_headers: Vec<String> = Vec::new(),
        pub additional_headers: BTreeMap<String, String> = BTreeMap::new(),
        pub extra_from: String = "extra".to_owned(),
        pub subject_from: String = "sub".to_owned(),
        pub cache: SessionCache = SessionCache::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for BearerTokenConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.check_session_url.is_some(), "check_session_url")
    }
}

config_struct! {
    /// `jwt`. Extensions: `leeway` (clock skew allowed for `exp`/`nbf`/`iat`, default 0s),
    /// `cache` (verified-token cache, on by default).
    /// `jwks_max_wait`/`jwks_ttl` take Go duration syntax; only the global values are used.
    pub struct JwtConfig {
        /// Required when enabled (http(s), file, s3, gs, azblob URLs).
        pub jwks_urls: Option<Vec<Uri>> = None,
        pub required_scope: Vec<String> = Vec::new(),
        pub target_audience: Vec<String> = Vec::new(),
        pub trusted_issuers: Vec<String> = Vec::new(),
        /// Oathkeeper's code default; an empty list also means `["RS256"]`.
        pub allowed_algorithms: Vec<String> = vec!["RS256".to_owned()],
        pub scope_strategy: ScopeStrategy = ScopeStrategy::None,
        pub token_from: Option<TokenFrom> = None,
        pub jwks_max_wait: GoDuration = GoDuration::from_secs(1),
        pub jwks_ttl: GoDuration = GoDuration::from_secs(30),
        pub leeway: Duration = Duration::from_secs(0),
        pub cache: JwtCache = JwtCache::default(),
    }
}

config_struct! {
    /// gatehouse extension `jwt.cache`: tokens whose signature verified, keyed by their SHA-256
    /// (the token itself is never stored), kept for `ttl` but never past their `exp`; at most
    /// `max_entries` per cache.
    ///
    /// On by default because a hit skips only what cannot change for the same bytes: decoding
    /// and the signature check against the same key. Everything else runs on every hit: the
    /// `alg` allow-list of the rule, the key lookup (a refetched, rotated or removed key means a
    /// new verification or a 401), and every claims check (`exp`/`nbf`/`iat` with leeway, `iss`,
    /// `aud`, scopes) at the current time. Failures are never cached.
    pub struct JwtCache {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = true,
        pub ttl: Duration = Duration::from_secs(60),
        pub max_entries: u64 = 10_000,
    }
}

impl HandlerConfig for JwtConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.jwks_urls.is_some(), "jwks_urls")
    }
}

config_struct! {
    /// `oauth2_client_credentials`. Extension: `timeout` (token request, default 5s).
    pub struct ClientCredentialsConfig {
        /// Required when enabled.
        pub token_url: Option<Uri> = None,
        pub required_scope: Vec<String> = Vec::new(),
        pub retry: Retry = Retry::default(),
        pub cache: ClientCredentialsCache = ClientCredentialsCache::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for ClientCredentialsConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.token_url.is_some(), "token_url")
    }
}

config_struct! {
    /// `oauth2_client_credentials.cache`.
    pub struct ClientCredentialsCache {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        /// Unset: the token's own expiry.
        pub ttl: Option<Duration> = None,
        pub max_tokens: u64 = 1000,
    }
}

config_struct! {
    /// `oauth2_introspection`. Extension: `timeout` (introspection call, default 5s).
    pub struct IntrospectionConfig {
        /// Required when enabled.
        pub introspection_url: Option<Uri> = None,
        pub scope_strategy: ScopeStrategy = ScopeStrategy::None,
        pub pre_authorization: PreAuthorization = PreAuthorization::default(),
        pub required_scope: Vec<String> = Vec::new(),
        pub target_audience: Vec<String> = Vec::new(),
        pub trusted_issuers: Vec<String> = Vec::new(),
        pub prefix: String = String::new(),
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub preserve_host: bool = false,
        pub introspection_request_headers: BTreeMap<String, String> = BTreeMap::new(),
        pub token_from: Option<TokenFrom> = None,
        pub retry: Retry = Retry::default(),
        pub cache: IntrospectionCache = IntrospectionCache::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for IntrospectionConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.introspection_url.is_some(), "introspection_url")?;
        let p = &self.pre_authorization;
        if p.enabled {
            require(p.client_id.is_some(), "pre_authorization.client_id")?;
            require(p.client_secret.is_some(), "pre_authorization.client_secret")?;
            require(p.token_url.is_some(), "pre_authorization.token_url")?;
        }
        Ok(())
    }
}

config_struct! {
    /// `oauth2_introspection.pre_authorization`: a client-credentials token for the
    /// introspection call. `client_id`, `client_secret`, `token_url` are required when enabled.
    pub struct PreAuthorization {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        pub client_id: Option<String> = None,
        pub client_secret: Option<Secret> = None,
        pub token_url: Option<Uri> = None,
        pub audience: Option<String> = None,
        pub scope: Vec<String> = Vec::new(),
    }
}

config_struct! {
    /// `oauth2_introspection.cache`.
    pub struct IntrospectionCache {
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub enabled: bool = false,
        /// Unset: no TTL (kept until evicted).
        pub ttl: Option<Duration> = None,
        pub max_cost: u64 = 100_000_000,
    }
}

/// `Err(key)` unless `present`.
pub(crate) fn require(present: bool, key: &str) -> Result<(), String> {
    if present {
        Ok(())
    } else {
        Err(key.to_owned())
    }
}
