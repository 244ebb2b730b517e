//! JSON Web Keys parsed once into verification keys (SPEC §5.1): a fetched JWKS document becomes
//! a [`KeySet`] whose [`VerifyKey`]s carry a ready `DecodingKey` and the key type, so a request
//! only looks a key up and verifies — it never parses key material.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;

use super::Alg;
use serde_json::{Map, Value};

/// What kind of key a JWK is; decides which `alg` it may verify (never an RSA/EC key as an HMAC
/// secret, never an HMAC secret for RS*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    /// ECDSA on P-256 (`ES256`).
    P256,
    /// ECDSA on P-384 (`ES384`).
    P384,
    /// ECDSA on P-521 (`ES512`).
    P521,
    /// EdDSA on Ed25519.
    Ed25519,
    /// A shared secret (`kty: oct`).
    Hmac,
}

impl KeyKind {
    /// Whether a token signed with `alg` can be verified with a key of this kind.
    pub fn fits(self, alg: Alg) -> bool {
        use Alg::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => alg == ES256,
            Self::P384 => alg == ES384,
            Self::P521 => alg == ES512,
            Self::Ed25519 => alg == EdDSA,
            Self::Hmac => matches!(alg, HS256 | HS384 | HS512),
        }
    }
}

/// A signature-verification key (`use: sig`) from a JWKS. Private parameters of the JWK are
/// never kept here: only the public part (or the `oct` secret, which is the key).
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one: the token's `alg` must then be exactly this.
    pub alg: Option<String>,
    pub kind: KeyKind,
    pub key: DecodingKey,
    /// The public key in the form `ring` verifies with (RSA, ECDSA, Ed25519): several times
    /// faster than the pure-Rust backend for RSA. `None` for `oct` keys.
    public: Option<PublicKey>,
}

/// Public key material for `ring`.
#[derive(Clone)]
enum PublicKey {
    Rsa(ring::signature::RsaPublicKeyComponents<Vec<u8>>),
    /// Uncompressed point `04 || x || y`.
    Ec(Vec<u8>),
    /// P-521, which `ring` lacks: parsed (and checked to be on the curve) when the set loads.
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(Vec<u8>),
}

// Hand-written: an `oct` key is a secret.
impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Whether `signature_b64` (base64url, as in the token) is a valid signature of `message`
    /// under `alg`. Callers check [`Self::accepts`] first. RSA below 2048 bits never verifies.
    pub fn verify(&self, alg: Alg, message: &[u8], signature_b64: &str) -> bool {
        use ring::signature as sig;
        let Some(public) = &self.public else {
            let Some(hmac) = alg.hmac() else {
                return false;
            };
            return jsonwebtoken::crypto::verify(signature_b64, message, &self.key, hmac)
                .unwrap_or(false);
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature_b64) else {
            return false;
        };
        let ec = |params: &'static sig::EcdsaVerificationAlgorithm, point: &[u8]| {
            sig::UnparsedPublicKey::new(params, point)
                .verify(message, &signature)
                .is_ok()
        };
        match (public, alg) {
            (PublicKey::Rsa(k), _) => {
                let params: &sig::RsaParameters = match alg {
                    Alg::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                k.verify(params, message, &signature).is_ok()
            }
            (PublicKey::Ec(point), Alg::ES256) if self.kind == KeyKind::P256 => {
                ec(&sig::ECDSA_P256_SHA256_FIXED, point)
            }
            (PublicKey::Ec(point), Alg::ES384) if self.kind == KeyKind::P384 => {
                ec(&sig::ECDSA_P384_SHA384_FIXED, point)
            }
            (PublicKey::P521(key), Alg::ES512) => {
                use p521::ecdsa::signature::Verifier;
                // The fixed-size form only (r || s, 66 bytes each), as for the other curves.
                p521::ecdsa::Signature::from_slice(&signature)
                    .is_ok_and(|s| key.verify(message, &s).is_ok())
            }
            (PublicKey::Ed25519(x), Alg::EdDSA) => sig::UnparsedPublicKey::new(&sig::ED25519, x)
                .verify(message, &signature)
                .is_ok(),
            _ => false,
        }
    }

    /// Whether this key may verify a token with header `alg` (key type and the JWK's `alg`).
    pub fn accepts(&self, alg: Alg, alg_name: &str) -> bool {
        self.kind.fits(alg) && self.alg.as_deref().is_none_or(|a| a == alg_name)
    }
}

/// One fetched JWKS document: the usable verification keys plus the document itself (the
/// id_token signer and `/.well-known/jwks.json` read key material the verifier ignores).
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
    /// The `keys` array as fetched, private members included.
    raw: Vec<Value>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("raw", &format_args!("<{} JWKs>", self.raw.len()))
            .finish()
    }
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksParseError {
    #[error("not a JSON Web Key Set: {0}")]
    NotJwks(String),
}

impl KeySet {
    /// Parse a JWKS document. Keys that cannot be used for verification (no `use: sig`, unknown
    /// `kty`/curve, bad encoding) are skipped; only a document that is not a JWKS is an error.
    pub fn parse(body: &[u8]) -> Result<Self, JwksParseError> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| JwksParseError::NotJwks(e.to_string()))?;
        let Some(Value::Array(raw)) = doc.get("keys") else {
            return Err(JwksParseError::NotJwks("no `keys` array".to_owned()));
        };
        let keys = raw
            .iter()
            .filter_map(|k| k.as_object())
            .filter_map(|k| match verify_key(k) {
                Ok(key) => key,
                Err(why) => {
                    tracing::warn!(kid = ?k.get("kid"), "skipping JWK: {why}");
                    None
                }
            })
            .collect();
        Ok(Self {
            keys,
            raw: raw.clone(),
        })
    }

    /// Verification keys usable for signatures (`use: sig`), in document order.
    pub fn keys(&self) -> &[VerifyKey] {
        &self.keys
    }

    /// The JWKs as fetched, private members included (for the id_token signer).
    pub fn raw(&self) -> &[Value] {
        &self.raw
    }

    /// The keys with `kid`.
    pub fn with_kid<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a VerifyKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| k.kid.as_deref() == Some(kid))
    }

    /// The public JWKs of this set (for `/.well-known/jwks.json`), see [`public_jwk`].
    pub fn public_jwks(&self) -> Vec<Value> {
        self.raw
            .iter()
            .filter_map(Value::as_object)
            .filter_map(public_jwk)
            .collect()
    }
}

/// Members every published key may carry besides its key material (RFC 7517 §4).
const COMMON_MEMBERS: [&str; 7] = ["kty", "kid", "use", "alg", "x5u", "x5c", "x5t"];

/// The public JWK of `jwk` as it is published (SPEC §6.2): rebuilt from an allow-list per key
/// type, as go-jose re-serialises a key, so no private member (RSA's `d`, a post-quantum key's
/// `priv`) and no member a strict verifier rejects (WebCrypto's `key_ops`, `ext`) ever leaves.
/// RSA integers come out minimal and every value unpadded. `None` for symmetric keys and for
/// key types or curves tokens cannot be verified with (RSA, EC P-256/384/521, Ed25519 only).
pub fn public_jwk(jwk: &Map<String, Value>) -> Option<Value> {
    let str_of = |name: &str| jwk.get(name).and_then(Value::as_str);
    let material: &[&str] = match (str_of("kty")?, str_of("crv")) {
        ("RSA", _) => &["n", "e"],
        ("EC", Some("P-256" | "P-384" | "P-521")) => &["crv", "x", "y"],
        ("OKP", Some("Ed25519")) => &["crv", "x"],
        _ => return None,
    };
    let mut out = Map::new();
    for name in COMMON_MEMBERS.iter().chain(["x5t#S256"].iter()) {
        if let Some(v) = jwk.get(*name) {
            out.insert((*name).to_owned(), v.clone());
        }
    }
    for name in material {
        let v = str_of(name)?;
        let v = match *name {
            "crv" => v.to_owned(),
            "n" | "e" => URL_SAFE_NO_PAD.encode(minimal(&b64url(v).ok()?)),
            _ => URL_SAFE_NO_PAD.encode(b64url(v).ok()?),
        };
        out.insert((*name).to_owned(), Value::from(v));
    }
    Some(Value::Object(out))
}

/// Base64url as go-jose reads JWK members: trailing `=` padding is tolerated.
fn b64url(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
}

/// A big-endian unsigned integer without leading zero bytes (Java's `BigInteger.toByteArray()`
/// adds one to moduli with the top bit set; go-jose reads them as integers, `ring` refuses them).
fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// `Ok(None)`: a valid JWK that is not for signatures (keys without `use` never match, SPEC §5.1).
fn verify_key(jwk: &Map<String, Value>) -> Result<Option<VerifyKey>, String> {
    if jwk.get("use").and_then(Value::as_str) != Some("sig") {
        return Ok(None);
    }
    let s = |name: &str| -> Result<&str, String> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing `{name}`"))
    };
    let b64 = |name: &str| -> Result<Vec<u8>, String> {
        b64url(s(name)?).map_err(|_| format!("`{name}` is not base64url"))
    };
    let (kind, key, public) = match s("kty")? {
        "RSA" => {
            let (n, e) = (b64("n")?, b64("e")?);
            let (n, e) = (minimal(&n).to_vec(), minimal(&e).to_vec());
            if n.is_empty() || e.is_empty() {
                return Err("empty RSA modulus or exponent".to_owned());
            }
            let key = DecodingKey::from_rsa_raw_components(&n, &e);
            (
                KeyKind::Rsa,
                key,
                Some(PublicKey::Rsa(ring::signature::RsaPublicKeyComponents {
                    n,
                    e,
                })),
            )
        }
        "EC" => {
            let (kind, len) = match s("crv")? {
                "P-256" => (KeyKind::P256, 32),
                "P-384" => (KeyKind::P384, 48),
                "P-521" => (KeyKind::P521, 66),
                other => return Err(format!("unsupported curve `{other}`")),
            };
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != len || y.len() != len {
                return Err("EC coordinates of the wrong length".to_owned());
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let public = match kind {
                KeyKind::P521 => PublicKey::P521(
                    p521::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|_| "the EC point is not on the P-521 curve".to_owned())?,
                ),
                _ => PublicKey::Ec(point.clone()),
            };
            (kind, DecodingKey::from_ec_der(&point), Some(public))
        }
        "OKP" => match s("crv")? {
            "Ed25519" => {
                let x = b64("x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key of the wrong length".to_owned());
                }
                (
                    KeyKind::Ed25519,
                    DecodingKey::from_ed_der(&x),
                    Some(PublicKey::Ed25519(x)),
                )
            }
            other => return Err(format!("unsupported curve `{other}`")),
        },
        "oct" => {
            let k = b64("k")?;
            if k.is_empty() {
                return Err("empty symmetric key".to_owned());
            }
            (KeyKind::Hmac, DecodingKey::from_secret(&k), None)
        }
        other => return Err(format!("unsupported kty `{other}`")),
    };
    Ok(Some(VerifyKey {
        kid: jwk.get("kid").and_then(Value::as_str).map(str::to_owned),
        alg: jwk.get("alg").and_then(Value::as_str).map(str::to_owned),
        kind,
        key,
        public,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: Value) -> KeySet {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).expect("jwks")
    }

    fn oct(kid: &str, usage: Option<&str>) -> Value {
        let mut k = serde_json::json!({"kty": "oct", "kid": kid, "k": "c2VjcmV0"});
        if let Some(u) = usage {
            k["use"] = Value::from(u);
        }
        k
    }

    // SPEC §5.1: only `use: sig` keys are usable; keys without `use` never match.
    #[test]
    fn only_sig_keys() {
        let s = set(serde_json::json!([
            oct("a", None),
            oct("b", Some("enc")),
            oct("c", Some("sig")),
            {"kty": "weird", "use": "sig", "kid": "d"},
        ]));
        let kids: Vec<_> = s.keys().iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, vec![Some("c".to_owned())]);
        assert_eq!(s.raw().len(), 4);
        assert_eq!(s.with_kid("a").count(), 0);
        assert_eq!(s.with_kid("c").count(), 1);
    }

    #[test]
    fn not_a_jwks() {
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"nope").is_err());
        assert!(KeySet::parse(br#"{"keys": []}"#).is_ok());
    }

    // A private RSA JWK is reduced to its public part; oct keys are never published.
    #[test]
    fn public_jwks_strip_private_parts() {
        let s = set(serde_json::json!([
            {"kty": "RSA", "use": "sig", "kid": "r", "n": "AQAB", "e": "AQAB", "d": "AQAB", "p": "AQAB"},
            oct("c", Some("sig")),
        ]));
        let public = s.public_jwks();
        assert_eq!(public.len(), 1);
        assert!(public[0].get("d").is_none() && public[0].get("p").is_none());
        assert_eq!(public[0]["n"], "AQAB");
        assert_eq!(s.keys()[0].kind, KeyKind::Rsa);
    }

    // ES512 against RFC 7515 Appendix A.4's published key and signature (P-521 is verified with
    // `p521`, not `ring`): an independent vector, and a tampered message fails.
    #[test]
    fn es512_rfc7515_vector() {
        let s = set(serde_json::json!([{
            "kty": "EC", "crv": "P-521", "use": "sig", "kid": "a4",
            "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
            "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
        }]));
        let key = &s.keys()[0];
        assert_eq!(key.kind, KeyKind::P521);
        let sig = "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
        assert!(key.accepts(Alg::ES512, "ES512"));
        assert!(key.verify(Alg::ES512, b"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA", sig));
        assert!(!key.verify(Alg::ES512, b"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZB", sig));
        assert!(!key.verify(Alg::ES384, b"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA", sig));
        // A point off the curve is refused when the set loads.
        let bad = KeySet::parse(
            serde_json::json!({"keys": [{
                "kty": "EC", "crv": "P-521", "use": "sig", "kid": "x",
                "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
                "y": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
            }]})
            .to_string()
            .as_bytes(),
        );
        assert!(bad.map_or(true, |s| s.keys().is_empty()));
    }

    // DESIGN §6: the key type must fit the algorithm.
    #[test]
    fn kind_fits_alg() {
        use Alg::*;
        assert!(KeyKind::Rsa.fits(RS256) && KeyKind::Rsa.fits(PS512));
        assert!(KeyKind::P521.fits(ES512) && !KeyKind::P521.fits(ES384));
        assert!(!KeyKind::P384.fits(ES512));
        assert!(!KeyKind::Rsa.fits(HS256) && !KeyKind::Rsa.fits(ES256));
        assert!(KeyKind::P256.fits(ES256) && !KeyKind::P256.fits(ES384));
        assert!(KeyKind::P384.fits(ES384) && !KeyKind::P384.fits(ES256));
        assert!(!KeyKind::P256.fits(HS256) && !KeyKind::Ed25519.fits(HS256));
        assert!(KeyKind::Hmac.fits(HS512) && !KeyKind::Hmac.fits(RS256));
        assert!(KeyKind::Ed25519.fits(EdDSA));
    }

    // A JWK that names its `alg` only verifies tokens of exactly that alg.
    #[test]
    fn jwk_alg_pins_token_alg() {
        let s = set(serde_json::json!([
            {"kty": "oct", "use": "sig", "kid": "h", "alg": "HS256", "k": "c2VjcmV0"},
        ]));
        let k = &s.keys()[0];
        assert!(k.accepts(Alg::HS256, "HS256"));
        assert!(!k.accepts(Alg::HS512, "HS512"));
    }

    #[test]
    fn bad_ec_coordinates_skipped() {
        let s = set(serde_json::json!([
            {"kty": "EC", "use": "sig", "kid": "e", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "EC", "use": "sig", "kid": "f", "crv": "P-521", "x": "AQAB", "y": "AQAB"},
        ]));
        assert!(s.keys().is_empty());
    }
}
