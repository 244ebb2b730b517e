//! CORS for the proxy and API listeners (SPEC §2.4 `serve.{proxy,api}.cors`), following the
//! behaviour of the `rs/cors` middleware Oathkeeper uses: preflights are answered here (204) and
//! never reach rules; other responses from allowed origins get `Access-Control-Allow-Origin`.
//!
//! Built once from config ([`Cors::from_config`]); a disabled config builds a no-op that
//! allocates nothing.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::config::serve::Cors as CorsConfig;
use crate::server::Body;

/// The CORS layer of one listener.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    enabled: bool,
    any_origin: bool,
    exact: Vec<String>,
    wildcards: Vec<Wildcard>,
    /// Patterns dropped at build time (see [`Cors::ignored`]).
    ignored: Vec<String>,
    /// Upper-case method names.
    methods: Vec<&'static str>,
    any_header: bool,
    /// Lower-case header names.
    headers: Vec<String>,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

/// `prefix*suffix` where `*` stands for one or more host labels.
#[derive(Debug, Clone)]
struct Wildcard {
    prefix: String,
    suffix: String,
}

impl Wildcard {
    fn matches(&self, origin: &str) -> bool {
        origin.len() > self.prefix.len() + self.suffix.len()
            && origin.starts_with(&self.prefix)
            && origin.ends_with(&self.suffix)
    }
}

impl Cors {
    /// Compile `serve.<listener>.cors`. Invalid wildcard patterns are dropped, as Oathkeeper
    /// does; [`Cors::ignored`] lists them so the caller can log them once.
    pub fn from_config(config: &CorsConfig) -> Cors {
        if !config.enabled {
            return Cors::default();
        }
        let mut cors = Cors {
            enabled: true,
            methods: config.allowed_methods.iter().map(|m| m.as_str()).collect(),
            credentials: config.allow_credentials,
            expose: join(&config.exposed_headers),
            max_age: (config.max_age > 0).then(|| HeaderValue::from(config.max_age)),
            ..Cors::default()
        };
        for origin in &config.allowed_origins {
            let o = origin.trim().to_ascii_lowercase();
            if o == "*" {
                cors.any_origin = true;
            } else if !o.contains('*') {
                cors.exact.push(o);
            } else if let Some(w) = wildcard(&o) {
                cors.wildcards.push(w);
            } else {
                cors.ignored.push(origin.clone());
            }
        }
        for h in &config.allowed_headers {
            let h = h.trim().to_ascii_lowercase();
            if h == "*" {
                cors.any_header = true;
            }
            cors.headers.push(h);
        }
        // rs/cors always allows `Origin` as a request header.
        cors.headers.push("origin".to_owned());
        cors
    }

    /// Whether `enabled: true`.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Configured origins that were ignored (a wildcard that is not a whole label followed by a
    /// registrable domain, or more than one `*`).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.any_origin {
            return true;
        }
        let o = origin.to_ascii_lowercase();
        self.exact.contains(&o) || self.wildcards.iter().any(|w| w.matches(&o))
    }

    fn method_allowed(&self, method: &str) -> bool {
        let m = method.to_ascii_uppercase();
        // Preflights themselves are OPTIONS: always allowed (rs/cors).
        m == "OPTIONS" || self.methods.iter().any(|a| *a == m)
    }

    fn headers_allowed(&self, requested: &[&str]) -> bool {
        self.any_header
            || requested
                .iter()
                .all(|r| self.headers.iter().any(|h| h.eq_ignore_ascii_case(r)))
    }

    /// Answer a preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`): 204 with
    /// the allow headers when allowed, 204 without them when not. `None` when CORS is disabled or
    /// the request is not a preflight (it then goes on to normal handling).
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
        if !self.enabled || method != Method::OPTIONS {
            return None;
        }
        // rs/cors: a preflight is an OPTIONS with a non-empty `Access-Control-Request-Method`;
        // with an empty one the request goes on to the rules like any OPTIONS.
        let req_method = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .filter(|v| !v.is_empty())?;
        let mut resp = Response::new(Body::default());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.append(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        let Some(origin) = origin_of(headers) else {
            return Some(resp);
        };
        let Ok(req_method) = req_method.to_str() else {
            return Some(resp);
        };
        let requested: Vec<&str> = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if !self.origin_allowed(origin)
            || !self.method_allowed(req_method)
            || !self.headers_allowed(&requested)
        {
            return Some(resp);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin(origin),
        );
        if let Ok(m) = HeaderValue::from_str(&req_method.to_ascii_uppercase()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if !requested.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&requested.join(", ")) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        if self.credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(age) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        Some(resp)
    }

    /// Decide the CORS headers of a normal (non-preflight) request before the request is
    /// consumed; apply them to the response with [`Actual::apply`].
    pub fn actual(&self, method: &Method, headers: &HeaderMap) -> Actual {
        if !self.enabled {
            return Actual::Off;
        }
        match origin_of(headers) {
            Some(o) if self.origin_allowed(o) && self.method_allowed(method.as_str()) => {
                Actual::Allow {
                    origin: self.allow_origin(o),
                    expose: self.expose.clone(),
                    credentials: self.credentials,
                }
            }
            _ => Actual::VaryOnly,
        }
    }

    /// [`Cors::actual`] and [`Actual::apply`] in one step, for callers that still hold the
    /// request headers.
    pub fn apply(&self, method: &Method, request: &HeaderMap, response: &mut HeaderMap) {
        self.actual(method, request).apply(response);
    }

    fn allow_origin(&self, origin: &str) -> HeaderValue {
        // With `*` configured rs/cors answers `*` even with credentials; browsers then refuse
        // credentialed requests, which is the safe reading of "allow every origin".
        if self.any_origin {
            HeaderValue::from_static("*")
        } else {
            HeaderValue::from_str(origin).unwrap_or_else(|_| HeaderValue::from_static("null"))
        }
    }
}

const TRUE: HeaderValue = HeaderValue::from_static("true");

/// The CORS headers decided for one normal request.
#[derive(Debug, Clone)]
pub enum Actual {
    /// CORS disabled: touch nothing.
    Off,
    /// No or a disallowed origin: only `Vary: Origin` (caches must not reuse the answer).
    VaryOnly,
    Allow {
        origin: HeaderValue,
        expose: Option<HeaderValue>,
        credentials: bool,
    },
}

impl Actual {
    /// Add the headers to a response.
    pub fn apply(self, h: &mut HeaderMap) {
        let (origin, expose, credentials) = match self {
            Actual::Off => return,
            Actual::VaryOnly => {
                h.append(header::VARY, HeaderValue::from_static("Origin"));
                return;
            }
            Actual::Allow {
                origin,
                expose,
                credentials,
            } => (origin, expose, credentials),
        };
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if let Some(e) = expose {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e);
        }
        if credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
    }
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

fn join(names: &[String]) -> Option<HeaderValue> {
    let valid: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
        .collect();
    if valid.is_empty() {
        return None;
    }
    HeaderValue::from_str(&valid.join(", ")).ok()
}

/// A lower-case pattern with `*`: honoured only when there is exactly one `*`, it is a whole
/// host label (`scheme://*.` or `.*.`), and the host after it is a registrable domain.
fn wildcard(pattern: &str) -> Option<Wildcard> {
    let star = pattern.find('*')?;
    if pattern[star + 1..].contains('*') {
        return None;
    }
    let (prefix, rest) = (&pattern[..star], &pattern[star + 1..]);
    if !(prefix.ends_with("://") || prefix.ends_with('.')) || !prefix.contains("://") {
        return None;
    }
    let domain = rest.strip_prefix('.')?;
    // `host[:port]`; a path is not part of an origin.
    let host = match domain.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => domain,
    };
    if !psl::is_registrable(host) {
        return None;
    }
    Some(Wildcard {
        prefix: prefix.to_owned(),
        suffix: rest.to_owned(),
    })
}

mod psl;

#[cfg(test)]
mod tests;
