//! `gatehouse credentials generate` (SPEC §6.5): a JWKS holding one new private signing key
//! (`use: sig`, `alg`, a random UUID `kid` unless one is given), in the shape the id_token
//! mutator reads.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use serde_json::{json, Map, Value};

/// Smallest RSA modulus accepted (and the default).
pub const RSA_MIN_BITS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeygenError {
    #[error("unsupported algorithm `{0}`, expected one of {names}", names = super::Alg::names())]
    Alg(String),
    #[error("--bits {bits} is too small for {alg} (at least {min})")]
    Bits {
        alg: String,
        bits: usize,
        min: usize,
    },
    #[error("--bits does not apply to {0}")]
    BitsNotAllowed(String),
    #[error("key generation failed: {0}")]
    Failed(String),
}

fn b64(v: &[u8]) -> Value {
    Value::from(URL_SAFE_NO_PAD.encode(v))
}

/// A new private EC JWK on the curve of crate `$curve` (`p256`, `p384`, `p521`: one API, no
/// common trait short of elliptic-curve's generic bounds).
macro_rules! new_ec_jwk {
    ($curve:ident, $crv:literal, $rng:ident) => {{
        let sk = $curve::SecretKey::random(&mut $rng);
        let point = sk.public_key().to_encoded_point(false);
        ec_jwk(
            $crv,
            &sk.to_bytes(),
            point.x().map(|v| &v[..]),
            point.y().map(|v| &v[..]),
        )
    }};
}
/// A JWKS document `{"keys":[<private JWK>]}`.
pub fn generate(alg: &str, kid: Option<&str>, bits: Option<usize>) -> Result<Value, KeygenError> {
    let mut rng = rand::rngs::OsRng;
    let mut jwk = match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let bits = bits.unwrap_or(RSA_MIN_BITS);
            if bits < RSA_MIN_BITS {
                return Err(KeygenError::Bits {
                    alg: alg.into(),
                    bits,
                    min: RSA_MIN_BITS,
                });
            }
            rsa_jwk(&mut rng, bits)?
        }
        "ES256" | "ES384" | "ES512" | "EdDSA" if bits.is_some() => {
            return Err(KeygenError::BitsNotAllowed(alg.into()))
        }
        "ES256" => new_ec_jwk!(p256, "P-256", rng),
        "ES384" => new_ec_jwk!(p384, "P-384", rng),
        "ES512" => new_ec_jwk!(p521, "P-521", rng),
        "EdDSA" => {
            let sk = ed25519_dalek::SigningKey::generate(&mut rng);
            let mut m = Map::new();
            m.insert("kty".into(), "OKP".into());
            m.insert("crv".into(), "Ed25519".into());
            m.insert("x".into(), b64(sk.verifying_key().as_bytes()));
            m.insert("d".into(), b64(sk.as_bytes()));
            m
        }
        "HS256" | "HS384" | "HS512" => {
            // SPEC §6.5 defaults; at least the hash size (RFC 7518 §3.2).
            let (default, min) = match alg {
                "HS256" => (256, 256),
                "HS384" => (384, 384),
                _ => (1024, 512),
            };
            let bits = bits.unwrap_or(default);
            if bits < min {
                return Err(KeygenError::Bits {
                    alg: alg.into(),
                    bits,
                    min,
                });
            }
            let mut k = vec![0u8; bits.div_ceil(8)];
            rng.fill_bytes(&mut k);
            let mut m = Map::new();
            m.insert("kty".into(), "oct".into());
            m.insert("k".into(), b64(&k));
            m
        }
        other => return Err(KeygenError::Alg(other.into())),
    };
    let kid = kid.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    jwk.insert("use".into(), "sig".into());
    jwk.insert("alg".into(), alg.into());
    jwk.insert("kid".into(), kid.into());
    Ok(json!({ "keys": [Value::Object(jwk)] }))
}

fn ec_jwk(crv: &str, d: &[u8], x: Option<&[u8]>, y: Option<&[u8]>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kty".into(), "EC".into());
    m.insert("crv".into(), crv.into());
    m.insert("x".into(), b64(x.unwrap_or_default()));
    m.insert("y".into(), b64(y.unwrap_or_default()));
    m.insert("d".into(), b64(d));
    m
}

fn rsa_jwk(rng: &mut rand::rngs::OsRng, bits: usize) -> Result<Map<String, Value>, KeygenError> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let key = rsa::RsaPrivateKey::new(rng, bits).map_err(|e| KeygenError::Failed(e.to_string()))?;
    let [p, q] = key.primes() else {
        return Err(KeygenError::Failed("expected two primes".into()));
    };
    let one = rsa::BigUint::from(1u8);
    let d = key.d();
    let dp = d % (p - &one);
    let dq = d % (q - &one);
    let qi = key
        .crt_coefficient()
        .ok_or_else(|| KeygenError::Failed("no CRT coefficient".into()))?;
    let mut m = Map::new();
    m.insert("kty".into(), "RSA".into());
    m.insert("n".into(), b64(&key.n().to_bytes_be()));
    m.insert("e".into(), b64(&key.e().to_bytes_be()));
    m.insert("d".into(), b64(&d.to_bytes_be()));
    m.insert("p".into(), b64(&p.to_bytes_be()));
    m.insert("q".into(), b64(&q.to_bytes_be()));
    m.insert("dp".into(), b64(&dp.to_bytes_be()));
    m.insert("dq".into(), b64(&dq.to_bytes_be()));
    m.insert("qi".into(), b64(&qi.to_bytes_be()));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::signer::SigningKey;
    use crate::credentials::KeySet;

    fn set(doc: &Value) -> KeySet {
        KeySet::parse(doc.to_string().as_bytes()).expect("jwks")
    }

    // SPEC §6.5: one private key, `use: sig`, `alg`, a UUID kid; the id_token signer accepts it.
    #[test]
    fn generated_keys_sign() {
        for alg in [
            "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
        ] {
            let doc = generate(alg, None, None).expect(alg);
            let keys = doc["keys"].as_array().expect("keys");
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0]["use"], "sig");
            assert_eq!(keys[0]["alg"], alg);
            let kid = keys[0]["kid"].as_str().expect("kid");
            assert!(uuid::Uuid::parse_str(kid).is_ok(), "{kid}");
            let key = SigningKey::select(&set(&doc)).expect(alg);
            assert_eq!(key.kid(), kid);
            let claims = serde_json::Map::new();
            assert_eq!(key.sign(&claims).expect("sign").split('.').count(), 3);
        }
    }

    #[test]
    fn hs_sizes_and_kid() {
        let k = |alg, bits| {
            let doc = generate(alg, Some("mine"), bits).expect("gen");
            assert_eq!(doc["keys"][0]["kid"], "mine");
            URL_SAFE_NO_PAD
                .decode(doc["keys"][0]["k"].as_str().expect("k"))
                .expect("b64")
                .len()
        };
        assert_eq!(k("HS256", None), 32);
        assert_eq!(k("HS384", None), 48);
        assert_eq!(k("HS512", None), 128);
        assert_eq!(k("HS256", Some(512)), 64);
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            generate("none", None, None),
            Err(KeygenError::Alg(_))
        ));
        assert!(matches!(
            generate("RS256", None, Some(1024)),
            Err(KeygenError::Bits { .. })
        ));
        assert!(matches!(
            generate("HS512", None, Some(256)),
            Err(KeygenError::Bits { .. })
        ));
        assert!(matches!(
            generate("ES256", None, Some(256)),
            Err(KeygenError::BitsNotAllowed(_))
        ));
    }
}
