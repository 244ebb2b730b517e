//! `access_rules` (SPEC §2.5).

use serde::{Deserialize, Serialize};

use super::duration::Duration;

config_struct! {
    /// `access_rules`.
    pub struct AccessRules {
        /// Rule repository URLs (`file://`, bare path, `inline://`, `http(s)://`, ...). Kept as
        /// strings: the repository loader owns scheme handling (a bare path means a file).
        pub repositories: Vec<String> = Vec::new(),
        pub matching_strategy: MatchingStrategy = MatchingStrategy::Regexp,
        /// Accepted because Oathkeeper's own kitchen-sink config sets it (`false`); not in the
        /// v26 schema and not implemented: the rules module should refuse `true`.
        #[serde(deserialize_with = "crate::format::de_bool")]
        pub prefix_matching_enabled: bool = false,
        /// gatehouse extension: how often `http(s)://` repositories are polled (conditional
        /// GET with ETag / If-Modified-Since).
        pub poll_interval: Duration = Duration::from_secs(30),
    }
}

/// `access_rules.matching_strategy`; the empty string means `regexp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchingStrategy {
    #[default]
    #[serde(alias = "")]
    Regexp,
    Glob,
}
