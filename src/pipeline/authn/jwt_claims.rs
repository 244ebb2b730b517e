//! Claim checks of the `jwt` authenticator (SPEC §5.1, §5.7): `exp`/`nbf`/`iat` with leeway,
//! audiences, issuers, and scopes (normalised into `scp`).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::handlers::ScopeStrategy;
use crate::pipeline::authn::scope;

/// What a verified token's claims must satisfy.
#[derive(Debug)]
pub(super) struct Checks {
    pub required_scope: Vec<String>,
    pub scope_strategy: ScopeStrategy,
    pub target_audience: Vec<String>,
    pub trusted_issuers: Vec<String>,
    /// Allowed clock skew in seconds (gatehouse extension `leeway`, default 0).
    pub leeway: f64,
}

/// A verified token's claims prepared for the checks, once per verification (the
/// verified-token cache keeps it with the proof): the claims with the scope normalised into
/// `scp` (what the session gets), and the values the checks compare.
#[derive(Debug)]
pub(super) struct Prepared {
    /// The claims, scope normalised.
    pub claims: Arc<Map<String, Value>>,
    exp: Result<Option<f64>, String>,
    nbf: Result<Option<f64>, String>,
    iat: Result<Option<f64>, String>,
    aud: Vec<String>,
    /// `iss` when it is a string, else `""`.
    iss: String,
    granted: Vec<String>,
}

impl Prepared {
    pub fn new(mut claims: Map<String, Value>) -> Self {
        let aud = audiences(claims.get("aud"));
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (exp, nbf, iat) = (
            time_claim(&claims, "exp"),
            time_claim(&claims, "nbf"),
            time_claim(&claims, "iat"),
        );
        let granted = normalise_scope(&mut claims);
        Self {
            claims: Arc::new(claims),
            exp,
            nbf,
            iat,
            aud,
            iss,
            granted,
        }
    }
}

impl Checks {
    /// Check prepared claims at time `now` (Unix seconds). `Err` is the reason of the 401.
    pub fn check(&self, claims: &Prepared, now: f64) -> Result<(), String> {
        if let Some(exp) = claims.exp.clone()? {
            if now > exp + self.leeway {
                return Err("token is expired".to_owned());
            }
        }
        if let Some(nbf) = claims.nbf.clone()? {
            if now + self.leeway < nbf {
                return Err("token is not valid yet".to_owned());
            }
        }
        if let Some(iat) = claims.iat.clone()? {
            if now + self.leeway < iat {
                return Err("token used before issued".to_owned());
            }
        }
        let aud = &claims.aud;
        for want in &self.target_audience {
            if !aud.iter().any(|a| a == want) {
                // Oathkeeper's wording (SPEC Appendix A), the audience list as Go's `%v` prints it.
                return Err(format!(
                    "Token audience [{}] is not intended for target audience {want}",
                    aud.join(" ")
                ));
            }
        }
        if !self.trusted_issuers.is_empty() {
            let iss = &claims.iss;
            if !self.trusted_issuers.iter().any(|t| t == iss) {
                return Err(format!(
                    "Token issuer does not match any trusted issuer {iss}"
                ));
            }
        }
        if !self.required_scope.is_empty() {
            if self.scope_strategy == ScopeStrategy::None {
                return Err(
                    "Scope validation was requested but scope strategy is set to \"none\"."
                        .to_owned(),
                );
            }
            for want in &self.required_scope {
                if !scope::satisfies(self.scope_strategy, &claims.granted, want) {
                    return Err(format!(
                        "JSON Web Token is missing required scope {want:?}."
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A numeric date claim; present but not a number (`null` included, as golang-jwt's
/// `parseNumericDate` has it: "exp is invalid") is an error.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("claim `{name}` is not a number")),
    }
}

/// `aud` as a list: a string is one audience, an array its string members.
fn audiences(aud: Option<&Value>) -> Vec<String> {
    match aud {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The granted scopes from `scp`, else `scope`, else `scopes` (array or space-separated
/// string: split on single spaces only, as Oathkeeper's `stringsx.Splitx(s, " ")`, so a tab
/// or newline stays inside one scope and `"a  b"` keeps an empty one); written back as the array `scp`, the original key removed. A token without any of
/// them gets an empty `scp`, as Oathkeeper's verifier sets it unconditionally.
pub(super) fn normalise_scope(claims: &mut Map<String, Value>) -> Vec<String> {
    let Some(key) = ["scp", "scope", "scopes"]
        .into_iter()
        .find(|k| claims.contains_key(*k))
    else {
        claims.insert("scp".to_owned(), Value::Array(Vec::new()));
        return Vec::new();
    };
    let granted: Vec<String> = match claims.remove(key) {
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => s.split(' ').map(str::to_owned).collect(),
        // A non-string element becomes "" (Go's zero value), keeping the positions.
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    claims.insert(
        "scp".to_owned(),
        Value::Array(granted.iter().cloned().map(Value::from).collect()),
    );
    granted
}
