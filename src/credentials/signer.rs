//! id_token signing keys (SPEC §5.3): a fetched JWKS is parsed **once** into a [`SigningKey`]
//! holding ready-to-use key material, so minting a token only serialises and signs.
//!
//! Asymmetric keys are held as RustCrypto key types (the crates jsonwebtoken's `rust_crypto`
//! backend uses) rather than jsonwebtoken `EncodingKey`s: an `EncodingKey` stores DER and
//! jsonwebtoken re-decodes (and, for RSA, re-validates and re-precomputes) it on every
//! signature. HMAC keys are cheap to use and go through `jsonwebtoken::crypto::sign`.
//!
//! Key selection follows Oathkeeper's code (`credentials/signer_default.go`), not its docs
//! ([gap] the docs say "the first private key"): walk the set; a private key becomes the
//! candidate, a public key's `kid` becomes the header `kid`, a symmetric key is both; stop as
//! soon as there is a candidate and a non-empty `kid`. So `[private, public]` signs with the
//! private key under the public key's `kid`, and a set of private keys only signs with the
//! **last** one under its own `kid`.

use std::fmt;

use super::Alg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::jwk::{public_jwk, KeySet};

/// Why a key set cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error(
        "no suitable signing key in the JSON Web Key Set (a private key with a `kid` is required)"
    )]
    NoKey,
    #[error("signing key `{kid}`: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The parsed private key.
enum Material {
    Rs256(rsa::pkcs1v15::SigningKey<Sha256>),
    Rs384(rsa::pkcs1v15::SigningKey<Sha384>),
    Rs512(rsa::pkcs1v15::SigningKey<Sha512>),
    Ps256(rsa::pss::BlindedSigningKey<Sha256>),
    Ps384(rsa::pss::BlindedSigningKey<Sha384>),
    Ps512(rsa::pss::BlindedSigningKey<Sha512>),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    Es512(p521::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Hmac(jsonwebtoken::EncodingKey),
}

/// A key ready to sign id_tokens.
pub struct SigningKey {
    /// The header `kid` (possibly the following public key's, see the module docs).
    kid: String,
    alg: Alg,
    alg_name: &'static str,
    material: Material,
    /// The public JWK that verifies this key's tokens, `kid` = the header `kid`; `None` for
    /// symmetric keys, which are never published.
    public_jwk: Option<Value>,
    /// sha256 of the private JWK as fetched: tells two keys apart even when a rotation reuses a
    /// `kid` (part of the token cache key).
    fingerprint: [u8; 32],
}

// Hand-written: this is a private key.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg_name)
            .finish_non_exhaustive()
    }
}

/// What one JWK of the set is, for selection.
enum Entry<'a> {
    Private(&'a Map<String, Value>),
    Public(&'a str),
    Symmetric(&'a Map<String, Value>),
}

fn classify(jwk: &Map<String, Value>) -> Option<Entry<'_>> {
    // A key declared for encryption never signs (Oathkeeper ignores `use`; this is stricter).
    if jwk
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
    match jwk.get("kty").and_then(Value::as_str)? {
        "oct" => Some(Entry::Symmetric(jwk)),
        "RSA" | "EC" | "OKP" if jwk.contains_key("d") => Some(Entry::Private(jwk)),
        "RSA" | "EC" | "OKP" => Some(Entry::Public(kid)),
        _ => None,
    }
}

impl SigningKey {
    /// Select and parse the signing key of `set` (module docs).
    pub fn select(set: &KeySet) -> Result<Self, SignerError> {
        let mut candidate: Option<&Map<String, Value>> = None;
        let mut kid = "";
        for entry in set
            .raw()
            .iter()
            .filter_map(Value::as_object)
            .filter_map(classify)
        {
            match entry {
                Entry::Private(k) => candidate = Some(k),
                Entry::Public(id) => kid = id,
                Entry::Symmetric(k) => {
                    candidate = Some(k);
                    kid = k.get("kid").and_then(Value::as_str).unwrap_or("");
                }
            }
            if candidate.is_some() && !kid.is_empty() {
                break;
            }
        }
        let jwk = candidate.ok_or(SignerError::NoKey)?;
        let own_kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
        if own_kid.is_empty() {
            return Err(SignerError::NoKey);
        }
        let kid = if kid.is_empty() { own_kid } else { kid };
        Self::from_jwk(jwk, kid)
    }

    /// Parse one private (or `oct`) JWK; its `alg` decides the signature algorithm.
    pub fn from_jwk(jwk: &Map<String, Value>, kid: &str) -> Result<Self, SignerError> {
        let own_kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
        let bad = |reason: String| SignerError::BadKey {
            kid: own_kid.to_owned(),
            reason,
        };
        let alg_name = jwk
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the JWK has no `alg`".into()))?;
        let (alg, alg_name) = parse_alg(alg_name)
            .ok_or_else(|| bad(format!("unsupported algorithm `{alg_name}`")))?;
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
        let material = material(jwk, kty, alg).map_err(bad)?;
        // Published under the `kid` its tokens carry (which may be borrowed, SPEC §5.3).
        let public_jwk = public_jwk(jwk).map(|mut public| {
            public["kid"] = Value::from(kid);
            public
        });
        let fingerprint = Sha256::digest(Value::Object(jwk.clone()).to_string().as_bytes()).into();
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            alg_name,
            material,
            public_jwk,
            fingerprint,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public JWK verifying this key's tokens; `None` for symmetric keys.
    pub fn public_jwk(&self) -> Option<&Value> {
        self.public_jwk.as_ref()
    }

    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// A compact JWS of `claims` with header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, SignerError> {
        let header = serde_json::json!({"alg": self.alg_name, "kid": self.kid, "typ": "JWT"});
        let mut message = URL_SAFE_NO_PAD.encode(header.to_string());
        message.push('.');
        message.push_str(&URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string()));
        let mut rng = rand::thread_rng();
        let m = message.as_bytes();
        let signature = match &self.material {
            Material::Rs256(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Rs384(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Rs512(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Ps256(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Ps384(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Ps512(k) => k.sign_with_rng(&mut rng, m).to_vec(),
            Material::Es256(k) => {
                let s: p256::ecdsa::Signature = rsa::signature::Signer::sign(k, m);
                s.to_bytes().to_vec()
            }
            Material::Es384(k) => {
                let s: p384::ecdsa::Signature = rsa::signature::Signer::sign(k, m);
                s.to_bytes().to_vec()
            }
            Material::Es512(k) => {
                let s: p521::ecdsa::Signature =
                    p521::ecdsa::signature::RandomizedSigner::sign_with_rng(k, &mut rng, m);
                s.to_bytes().to_vec()
            }
            Material::EdDsa(k) => ed25519_dalek::Signer::sign(k, m).to_bytes().to_vec(),
            Material::Hmac(k) => {
                let hmac = self.alg.hmac().ok_or_else(|| {
                    SignerError::Sign(format!("{} is not an HMAC algorithm", self.alg.name()))
                })?;
                let sig = jsonwebtoken::crypto::sign(m, k, hmac)
                    .map_err(|e| SignerError::Sign(e.to_string()))?;
                return Ok(format!("{message}.{sig}"));
            }
        };
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Algorithms id_token can sign with: every [`Alg`], with its name as written in headers.
pub fn parse_alg(name: &str) -> Option<(Alg, &'static str)> {
    Alg::parse(name).map(|a| (a, a.name()))
}

fn b64(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing `{name}`"))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("`{name}` is not base64url"))
}

fn material(jwk: &Map<String, Value>, kty: &str, alg: Alg) -> Result<Material, String> {
    use Alg::*;
    let mismatch = || format!("a `{kty}` key cannot sign {alg:?}");
    match kty {
        "RSA" => {
            if !matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512) {
                return Err(mismatch());
            }
            let int = |name: &str| b64(jwk, name).map(|b| rsa::BigUint::from_bytes_be(&b));
            let primes = match (b64(jwk, "p"), b64(jwk, "q")) {
                (Ok(p), Ok(q)) => vec![
                    rsa::BigUint::from_bytes_be(&p),
                    rsa::BigUint::from_bytes_be(&q),
                ],
                // Without the primes, rsa recovers them from n, e and d.
                _ => Vec::new(),
            };
            let key = rsa::RsaPrivateKey::from_components(int("n")?, int("e")?, int("d")?, primes)
                .map_err(|e| format!("invalid RSA private key: {e}"))?;
            if rsa::traits::PublicKeyParts::size(&key) < 256 {
                return Err("RSA keys must have at least 2048 bits".into());
            }
            Ok(match alg {
                RS256 => Material::Rs256(rsa::pkcs1v15::SigningKey::new(key)),
                RS384 => Material::Rs384(rsa::pkcs1v15::SigningKey::new(key)),
                RS512 => Material::Rs512(rsa::pkcs1v15::SigningKey::new(key)),
                PS256 => Material::Ps256(rsa::pss::BlindedSigningKey::new(key)),
                PS384 => Material::Ps384(rsa::pss::BlindedSigningKey::new(key)),
                _ => Material::Ps512(rsa::pss::BlindedSigningKey::new(key)),
            })
        }
        "EC" => {
            let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
            let d = b64(jwk, "d")?;
            match (crv, alg) {
                ("P-256", ES256) => p256::ecdsa::SigningKey::from_slice(&d)
                    .map(Material::Es256)
                    .map_err(|_| "invalid P-256 private key".into()),
                ("P-384", ES384) => p384::ecdsa::SigningKey::from_slice(&d)
                    .map(Material::Es384)
                    .map_err(|_| "invalid P-384 private key".into()),
                ("P-521", ES512) => p521::ecdsa::SigningKey::from_slice(&d)
                    .map(Material::Es512)
                    .map_err(|_| "invalid P-521 private key".into()),
                _ => Err(format!("curve `{crv}` cannot sign {alg:?}")),
            }
        }
        "OKP" => {
            let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
            if crv != "Ed25519" || alg != EdDSA {
                return Err(format!("curve `{crv}` cannot sign {alg:?}"));
            }
            let d: [u8; 32] = b64(jwk, "d")?
                .try_into()
                .map_err(|_| "Ed25519 private key of the wrong length".to_owned())?;
            Ok(Material::EdDsa(ed25519_dalek::SigningKey::from_bytes(&d)))
        }
        "oct" => {
            if !matches!(alg, HS256 | HS384 | HS512) {
                return Err(mismatch());
            }
            let k = b64(jwk, "k")?;
            if k.is_empty() {
                return Err("empty symmetric key".into());
            }
            Ok(Material::Hmac(jsonwebtoken::EncodingKey::from_secret(&k)))
        }
        other => Err(format!("unsupported kty `{other}`")),
    }
}

#[cfg(test)]
#[path = "signer_tests.rs"]
mod tests;
