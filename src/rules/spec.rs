//! Raw access-rule types: exactly what a rule file says (SPEC §3.2, plus `priority` and
//! `match.headers` from DESIGN §3/§4). Unknown keys are rejected. Conversion into the runtime
//! rule happens once, in `compile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub match_: Option<MatchSpec>,
    #[serde(default)]
    pub upstream: Option<UpstreamSpec>,
    /// gatehouse extension: among several matching rules the highest priority wins; a tie at the
    /// top is still an error (500), as in Oathkeeper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default)]
    pub authenticators: Vec<HandlerRef>,
    #[serde(default)]
    pub authorizer: Option<HandlerRef>,
    #[serde(default)]
    pub mutators: Vec<HandlerRef>,
    #[serde(default)]
    pub errors: Option<Vec<HandlerRef>>,
    /// gatehouse extension: requests allowed per subject (or client address, or rule) and period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::pipeline::rate_limit::RateLimitSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub methods: Vec<String>,
    /// Header name -> value pattern (same delimiter syntax and strategy as `url`; a value without
    /// `<...>` is an exact match). Every listed header must match one of the request's values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    #[serde(default)]
    pub url: String,
    #[serde(default, deserialize_with = "crate::format::de_bool")]
    pub preserve_host: bool,
    #[serde(default)]
    pub strip_path: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HandlerRef {
    #[serde(default)]
    pub handler: String,
    #[serde(default)]
    pub config: Option<Value>,
}
