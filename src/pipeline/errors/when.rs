//! `when` clauses of error handlers (SPEC §4.7): OR between clauses; inside a clause the error
//! kinds AND the request conditions (remote IP, Content-Type, Accept) must hold. Both
//! `request.cidr` and `request.remote_ip.match` are honoured (DESIGN §3).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::handlers::errors::WhenClause;
use crate::pipeline::{BuildError, RequestInfo};

#[derive(Debug, Default)]
pub struct When {
    clauses: Vec<Clause>,
}

#[derive(Debug, Default)]
struct Clause {
    errors: Vec<String>,
    cidrs: Vec<IpNet>,
    respect_forwarded_for: bool,
    content_types: Vec<String>,
    accepts: Vec<String>,
}

impl When {
    pub fn build(clauses: &[WhenClause]) -> Result<Self, BuildError> {
        let mut out = Vec::with_capacity(clauses.len());
        for c in clauses {
            let r = &c.request;
            out.push(Clause {
                errors: c.error.iter().map(|e| e.as_str().to_string()).collect(),
                cidrs: r.ip_ranges().copied().collect(),
                respect_forwarded_for: r.remote_ip.respect_forwarded_for_header,
                content_types: r
                    .header
                    .content_type
                    .iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect(),
                accepts: r
                    .header
                    .accept
                    .iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect(),
            });
        }
        Ok(Self { clauses: out })
    }

    /// Whether the handler is responsible for an error of `kind` on `req`.
    pub fn matches(&self, kind: &str, req: &RequestInfo) -> bool {
        self.clauses.is_empty() || self.clauses.iter().any(|c| c.matches(kind, req))
    }
}

impl Clause {
    fn matches(&self, kind: &str, req: &RequestInfo) -> bool {
        if !self.errors.is_empty() && !self.errors.iter().any(|e| e == kind) {
            return false;
        }
        if !self.cidrs.is_empty() && !self.ip_matches(req) {
            return false;
        }
        if !self.content_types.is_empty() {
            let ct = req
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(media_type)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "application/octet-stream".to_string());
            if !self.content_types.iter().any(|l| mime_matches(l, &ct)) {
                return false;
            }
        }
        if !self.accepts.is_empty() {
            let accept = req
                .headers
                .get_all(http::header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            let accept = if accept.trim().is_empty() {
                "application/octet-stream".to_string()
            } else {
                accept
            };
            let hit = accept
                .split(',')
                .map(media_type)
                .filter(|m| !m.is_empty())
                .any(|m| self.accepts.iter().any(|l| mime_matches(l, &m)));
            if !hit {
                return false;
            }
        }
        true
    }

    fn ip_matches(&self, req: &RequestInfo) -> bool {
        let in_nets = |ip: IpAddr| self.cidrs.iter().any(|n| n.contains(&ip));
        if req.remote_addr.is_some_and(in_nets) {
            return true;
        }
        if self.respect_forwarded_for && req.forwarded_trusted {
            return req
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .any(in_nets);
        }
        false
    }
}

/// `text/html; q=0.9` -> `text/html`.
fn media_type(s: &str) -> String {
    s.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A listed `type/*` or `*/*` is a wildcard; a wildcard in the request only matches an identical
/// listed value.
fn mime_matches(listed: &str, actual: &str) -> bool {
    if listed == actual || listed == "*/*" {
        return true;
    }
    if actual.ends_with("/*") {
        return false;
    }
    match (listed.strip_suffix("/*"), actual.split_once('/')) {
        (Some(t), Some((at, _))) => t == at,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC §4.7: wildcard semantics of Accept / Content-Type matching.
    #[test]
    fn mime_wildcards() {
        assert!(mime_matches("text/*", "text/html"));
        assert!(mime_matches("*/*", "application/json"));
        assert!(!mime_matches("text/html", "*/*"));
        assert!(mime_matches("*/*", "*/*"));
        assert!(!mime_matches("text/*", "*/*"));
        assert!(!mime_matches("application/json", "text/html"));
    }
}
