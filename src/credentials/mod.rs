//! Key material from outside: JSON Web Key Sets fetched and cached per URL (DESIGN §5, SPEC §5.5).
//!
//! - `alg` — the JWS algorithms (jsonwebtoken's and ES512).
//! - `jwk` — JWKs parsed once into verification keys (`use: sig` only, public parts only).
//! - `jwks` — the fetcher and process-wide cache: TTL, bounded wait with stale fallback, single
//!   flight, rate-limited refetch on unknown `kid`.
//! - `signer` — a fetched set's id_token signing key, selected and parsed once.
//! - `published` — keys that signed recently, published for one token lifetime after rotation.
//! - `keygen` — `credentials generate`: new private JWKs.

pub mod alg;
pub mod jwk;
pub mod jwks;
pub mod keygen;
pub mod published;
pub mod signer;

pub use alg::Alg;
pub use jwk::{KeyKind, KeySet, VerifyKey};
pub use jwks::{Fetched, JwksCache, JwksSource};
pub use published::PublishedKeys;
pub use signer::SigningKey;
