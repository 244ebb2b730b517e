//! Small value types shared by several sections: absolute URIs and secrets.

use std::fmt;

use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An absolute URI (schema `format: uri`), parsed once at load.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Uri(url::Url);

impl Uri {
    /// Parses an absolute URI.
    pub fn parse(s: &str) -> Result<Self, url::ParseError> {
        url::Url::parse(s).map(Self)
    }

    /// The parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The URI as written (after URL normalisation).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Uri {
    type Target = url::Url;
    fn deref(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

impl Serialize for Uri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Uri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Uri::parse(&s)
            .map_err(|_| de::Error::invalid_value(Unexpected::Str(&s), &"an absolute URI"))
    }
}

/// A string that must not show up in logs: `Debug` prints only its length. It serializes to the
/// real value (merging and `Config::raw()` need it), so never log a serialized config.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; call sites are easy to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// Deserializes a string that must match `^[A-Za-z0-9,._~-]*$` (redirect `return_to_query_param`).
pub(crate) fn query_param_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '_' | '~' | '-'));
    if ok {
        Ok(s)
    } else {
        Err(de::Error::invalid_value(
            Unexpected::Str(&s),
            &"a query parameter name matching ^[A-Za-z0-9,._~-]*$",
        ))
    }
}

/// Deserializes a list of CIDR ranges; a bare IP address means that single host (`/32`, `/128`).
pub(crate) fn ip_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    de::Error::invalid_value(
                        Unexpected::Str(s),
                        &"a CIDR range (e.g. 10.0.0.0/8) or an IP address",
                    )
                })
        })
        .collect()
}
