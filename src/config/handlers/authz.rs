//! Authorizer configs and the `authorizers` section (SPEC §2.8, §5.2).

use std::collections::BTreeMap;

use super::authn::require;
use super::{default_timeout, Handler, HandlerConfig, NoConfig, Retry};
use crate::config::duration::Duration;
use crate::config::types::Uri;

config_struct! {
    /// `authorizers`.
    pub struct Authorizers {
        pub allow: Handler<NoConfig> = Handler::default(),
        pub deny: Handler<NoConfig> = Handler::default(),
        pub keto_engine_acp_ory: Handler<KetoConfig> = Handler::default(),
        pub remote: Handler<RemoteConfig> = Handler::default(),
        pub remote_json: Handler<RemoteJsonConfig> = Handler::default(),
    }
}

config_struct! {
    /// `keto_engine_acp_ory` (legacy Keto ACP API). Extension: `timeout` (default 5s).
    pub struct KetoConfig {
        /// Required when enabled.
        pub base_url: Option<Uri> = None,
        /// Template; required when enabled.
        pub required_action: Option<String> = None,
        /// Template; required when enabled.
        pub required_resource: Option<String> = None,
        /// Template; empty = the session subject.
        pub subject: String = String::new(),
        /// Oathkeeper's code default `regex`.
        pub flavor: String = "regex".to_owned(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for KetoConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.base_url.is_some(), "base_url")?;
        require(self.required_action.is_some(), "required_action")?;
        require(self.required_resource.is_some(), "required_resource")
    }
}

config_struct! {
    /// `remote`. Extension: `timeout` (per attempt, default 5s).
    pub struct RemoteConfig {
        /// Required when enabled.
        pub remote: Option<Uri> = None,
        /// Header name → template.
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
        pub forward_response_headers_to_upstream: Vec<String> = Vec::new(),
        pub retry: Retry = Retry::default(),
        pub timeout: Duration = default_timeout(),
    }
}

impl HandlerConfig for RemoteConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.remote.is_some(), "remote")
    }
}

config_struct! {
    /// `remote_json`. Extensions: `timeout` (per attempt, default 5s) and `response`.
    pub struct RemoteJsonConfig {
        /// Required when enabled.
        pub remote: Option<Uri> = None,
        /// Template producing JSON; required when enabled.
        pub payload: Option<String> = None,
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
        pub forward_response_headers_to_upstream: Vec<String> = Vec::new(),
        pub retry: Retry = Retry::default(),
        pub timeout: Duration = default_timeout(),
        pub response: RemoteJsonResponse = RemoteJsonResponse::default(),
    }
}

impl HandlerConfig for RemoteJsonConfig {
    fn check_required(&self) -> Result<(), String> {
        require(self.remote.is_some(), "remote")?;
        require(self.payload.is_some(), "payload")
    }
}

config_struct! {
    /// gatehouse extension `remote_json.response`: how to read the authorizer's 200 body.
    pub struct RemoteJsonResponse {
        /// GJSON path that must be `true` in the response body for access to be allowed; unset:
        /// the status code alone decides (Oathkeeper behaviour).
        pub allowed_path: Option<String> = None,
    }
}
