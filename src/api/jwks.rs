//! `GET /.well-known/jwks.json` (SPEC §6.2): the public half of every id_token key set in use
//! (`mutators.id_token.config.jwks_url` and every rule's id_token `jwks_url`), plus keys rotated
//! out of their set that signed tokens which have not expired yet ([`PublishedKeys`]).
//!
//! Private members and symmetric keys are never published. When no key set is configured or
//! none could be fetched: 500 "None of the provided URLs returned a valid JSON Web Key Set."

use std::collections::HashSet;

use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::app::Snapshot;
use crate::credentials::jwk::public_jwk;
use crate::credentials::published::identity;
use crate::credentials::{JwksSource, PublishedKeys};
use crate::server::{self, Body};

pub async fn well_known(snapshot: &Snapshot) -> Response<Body> {
    well_known_with(snapshot, PublishedKeys::global()).await
}

async fn well_known_with(snapshot: &Snapshot, published: &PublishedKeys) -> Response<Body> {
    let jwt = &snapshot.config.authenticators.jwt.config;
    let deadline = tokio::time::Instant::now() + jwt.jwks_max_wait.get();
    let fetched = JwksSource::get_all(&snapshot.id_token_jwks, jwt.jwks_ttl.get(), deadline).await;
    // The keys that signed unexpired tokens come first: a key set may give its signing key
    // another key's `kid` (Oathkeeper's selection, SPEC §5.3), and a verifier that takes the
    // first key with a token's `kid` must find the one that signed it.
    let mut keys = published.recent();
    let mut seen: HashSet<String> = keys.iter().map(identity).collect();
    let mut any = false;
    for (source, f) in snapshot.id_token_jwks.iter().zip(fetched) {
        match f.keys {
            Some(set) => {
                any = true;
                keys.extend(
                    set.public_jwks()
                        .into_iter()
                        .filter(|k| seen.insert(identity(k))),
                );
            }
            None => tracing::warn!(url = source.url(), "id_token key set unavailable"),
        }
    }
    if !any {
        return unavailable();
    }
    // Defence in depth: every key goes through the allow-list once more, whatever its source.
    let keys: Vec<Value> = keys
        .iter()
        .filter_map(Value::as_object)
        .filter_map(public_jwk)
        .collect();
    server::json(StatusCode::OK, &json!({ "keys": keys }))
}

/// No id_token key set is configured or none could be fetched (SPEC Appendix A).
pub fn unavailable() -> Response<Body> {
    server::json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"error": {
            "code": 500,
            "status": "Internal Server Error",
            "reason": "None of the provided URLs returned a valid JSON Web Key Set.",
            "message": crate::pipeline::error::msg::INTERNAL,
        }}),
    )
}
