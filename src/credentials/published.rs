//! Keys `/.well-known/jwks.json` must keep publishing after they left their key set (SPEC §6.2,
//! DESIGN §4): when an id_token key file rotates, tokens signed with the old key are still in
//! flight until they expire, so their verifiers must still find the old public key.
//!
//! Every id_token signature records its key's public JWK here with "publish until" = signing
//! time + token ttl (the token's own `exp`). The JWKS route lists the keys of the sets in use now
//! plus every recorded key whose deadline has not passed. Only public JWKs of asymmetric keys
//! are ever recorded (symmetric keys are never published). Entries are few (one per key that
//! ever signed) and expired ones are dropped on every access.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tokio::time::Instant;

/// Recently used public signing keys.
#[derive(Debug, Default)]
pub struct PublishedKeys {
    /// identity → (public JWK, publish until).
    entries: Mutex<HashMap<String, (Value, Instant)>>,
}

impl PublishedKeys {
    /// The registry the id_token mutators of this process and the API route share.
    pub fn global() -> &'static Arc<PublishedKeys> {
        static GLOBAL: OnceLock<Arc<PublishedKeys>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(PublishedKeys::default()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Value, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A token signed with the key of `public_jwk` is valid until `until`.
    pub fn record(&self, public_jwk: &Value, until: Instant) {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, (_, t)| *t > now);
        let entry = entries
            .entry(identity(public_jwk))
            .or_insert_with(|| (public_jwk.clone(), until));
        if entry.1 < until {
            entry.1 = until;
        }
    }

    /// Public JWKs that signed tokens which have not expired yet.
    pub fn recent(&self) -> Vec<Value> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, (_, t)| *t > now);
        entries.values().map(|(jwk, _)| jwk.clone()).collect()
    }
}

/// What makes two public JWKs the same key for publishing: `kid` plus the key material, so a
/// rotation that reuses a `kid` with a new key still publishes both.
pub fn identity(jwk: &Value) -> String {
    let field = |n: &str| jwk.get(n).and_then(Value::as_str).unwrap_or("");
    ["kid", "kty", "crv", "n", "e", "x", "y"]
        .iter()
        .map(|n| field(n))
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    // A rotated key stays published for one token lifetime, then disappears.
    #[tokio::test(start_paused = true)]
    async fn keys_expire_after_their_tokens() {
        let reg = PublishedKeys::default();
        let a = json!({"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "AA"});
        let b = json!({"kty": "OKP", "crv": "Ed25519", "kid": "b", "x": "BB"});
        reg.record(&a, Instant::now() + Duration::from_secs(2));
        reg.record(&b, Instant::now() + Duration::from_secs(10));
        // Re-recording with an earlier deadline does not shorten it.
        reg.record(&a, Instant::now() + Duration::from_secs(5));
        reg.record(&a, Instant::now() + Duration::from_secs(1));
        assert_eq!(reg.recent().len(), 2);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(reg.recent(), vec![b.clone()]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(reg.recent().is_empty());
    }

    #[test]
    fn identity_includes_material() {
        let a = json!({"kty": "OKP", "kid": "k", "x": "AA"});
        let b = json!({"kty": "OKP", "kid": "k", "x": "BB"});
        assert_ne!(identity(&a), identity(&b));
        let a2 = json!({"x": "AA", "kid": "k", "kty": "OKP", "use": "sig"});
        assert_eq!(identity(&a), identity(&a2));
    }
}
