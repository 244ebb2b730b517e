//! Key material from outside: JSON Web Key Sets fetched and cached per URL (DESIGN §5, SPEC §5.5).
//!
//! - `jwk` — JWKs parsed once into verification keys (`use: sig` only, public parts only).
//! - `jwks` — the fetcher and process-wide cache: TTL, bounded wait with stale fallback, single
//!   flight, rate-limited refetch on unknown `kid`.

pub mod jwk;
pub mod jwks;

pub use jwk::{KeyKind, KeySet, VerifyKey};
pub use jwks::{Fetched, JwksCache, JwksSource};
