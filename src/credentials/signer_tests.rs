#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::credentials::keygen::generate;

/// A freshly generated private JWK for `alg` with `kid`.
fn private(alg: &str, kid: &str) -> Value {
    generate(alg, Some(kid), None).unwrap()["keys"][0].clone()
}

fn public(jwk: &Value, kid: &str) -> Value {
    let mut p = jwk.clone();
    for m in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        p.as_object_mut().unwrap().remove(m);
    }
    p["kid"] = Value::from(kid);
    p
}

fn set(keys: Vec<Value>) -> KeySet {
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

fn header_kid(token: &str) -> String {
    let h = token.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

/// Verify `token` against a public JWK with the jwt authenticator's verifier (`ring`, or `p521`
/// for ES512; the independent check is in tests/mutate_id_token.rs).
fn verifies(token: &str, jwk: &Value) -> bool {
    let set = set(vec![jwk.clone()]);
    let key = &set.keys()[0];
    let (message, sig) = token.rsplit_once('.').unwrap();
    let alg = parse_alg(jwk["alg"].as_str().unwrap()).unwrap().0;
    key.verify(alg, message.as_bytes(), sig)
}

// SPEC §5.3: every supported algorithm signs, and the public JWK verifies it.
#[test]
fn signs_every_algorithm() {
    for alg in ["RS256", "PS384", "ES256", "ES384", "ES512", "EdDSA"] {
        let jwk = private(alg, "k1");
        let key = SigningKey::select(&set(vec![jwk.clone()])).unwrap();
        assert_eq!((key.kid(), key.alg_name), ("k1", alg));
        let mut claims = Map::new();
        claims.insert("sub".into(), "alice".into());
        let token = key.sign(&claims).unwrap();
        let public = key.public_jwk().unwrap();
        assert!(
            public.get("d").is_none() && public.get("p").is_none(),
            "{public}"
        );
        assert!(verifies(&token, public), "{alg}");
        assert_eq!(header_kid(&token), "k1");
    }
    let hs = SigningKey::select(&set(vec![private("HS256", "h")])).unwrap();
    assert!(
        hs.public_jwk().is_none(),
        "symmetric keys are never published"
    );
    assert_eq!(hs.sign(&Map::new()).unwrap().split('.').count(), 3);
}

// SPEC §5.3 selection, following the code ([gap] the docs say "the first private key").
#[test]
fn key_selection() {
    let a = private("ES256", "a");
    let b = private("ES256", "b");
    let kid = |keys: Vec<Value>| {
        let k = SigningKey::select(&set(keys)).unwrap();
        (k.kid().to_owned(), k.public_jwk().unwrap()["x"].clone())
    };
    // A private key followed by a public key: the private key under the public key's kid.
    assert_eq!(
        kid(vec![a.clone(), public(&a, "pub-a")]),
        ("pub-a".into(), a["x"].clone())
    );
    // Only private keys: the last one.
    assert_eq!(
        kid(vec![a.clone(), b.clone()]),
        ("b".into(), b["x"].clone())
    );
    // A public key first, then a private key.
    assert_eq!(
        kid(vec![public(&b, "pub-b"), a.clone()]),
        ("pub-b".into(), a["x"].clone())
    );
    // Private keys up to the first public key: the last of those.
    assert_eq!(
        kid(vec![
            a.clone(),
            b.clone(),
            public(&b, "pub-b"),
            private("ES256", "c")
        ]),
        ("pub-b".into(), b["x"].clone())
    );
    // A key declared for encryption never signs.
    let mut enc = b.clone();
    enc["use"] = "enc".into();
    assert_eq!(kid(vec![a.clone(), enc]), ("a".into(), a["x"].clone()));
}

#[test]
fn unusable_sets() {
    assert_eq!(
        SigningKey::select(&set(vec![])).unwrap_err(),
        SignerError::NoKey
    );
    let a = private("ES256", "a");
    assert_eq!(
        SigningKey::select(&set(vec![public(&a, "p")])).unwrap_err(),
        SignerError::NoKey
    );
    let mut no_kid = a.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_eq!(
        SigningKey::select(&set(vec![no_kid])).unwrap_err(),
        SignerError::NoKey
    );
    let mut no_alg = a.clone();
    no_alg.as_object_mut().unwrap().remove("alg");
    assert!(matches!(
        SigningKey::select(&set(vec![no_alg])),
        Err(SignerError::BadKey { .. })
    ));
    // The key type must fit the alg: never an EC key for RS256 or HS256.
    for alg in ["RS256", "HS256", "ES384", "none"] {
        let mut wrong = a.clone();
        wrong["alg"] = alg.into();
        assert!(
            matches!(
                SigningKey::select(&set(vec![wrong])),
                Err(SignerError::BadKey { .. })
            ),
            "{alg}"
        );
    }
    let mut bad_d = a.clone();
    bad_d["d"] = "AAAA".into();
    assert!(SigningKey::select(&set(vec![bad_d])).is_err());
}

// STYLE: anything holding a secret prints only its id.
#[test]
fn debug_prints_kid_and_alg_only() {
    let jwk = private("HS256", "secret-key");
    let key = SigningKey::select(&set(vec![jwk.clone()])).unwrap();
    let shown = format!("{key:?}");
    assert!(
        shown.contains("secret-key") && shown.contains("HS256"),
        "{shown}"
    );
    assert!(!shown.contains(jwk["k"].as_str().unwrap()), "{shown}");
}

// SPEC §5.1 (RSA keys "supported" as go-jose reads them): a modulus or exponent with a leading
// zero byte (Java's `BigInteger.toByteArray()`) and base64url members with `=` padding verify,
// as they do in Oathkeeper, PyJWT and jwcrypto; `ring` alone refuses the non-minimal form.
#[test]
fn rsa_jwk_with_leading_zero_and_padding_verifies() {
    let jwk = private("RS256", "r");
    let key = SigningKey::select(&set(vec![jwk.clone()])).unwrap();
    let token = key.sign(&Map::new()).unwrap();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    let padded = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE.encode(bytes);
    let mut n0 = vec![0u8];
    n0.extend(b64(&jwk["n"]));
    let mut e0 = vec![0u8];
    e0.extend(b64(&jwk["e"]));
    let mut odd = public(&jwk, "r");
    odd["n"] = Value::from(URL_SAFE_NO_PAD.encode(&n0));
    odd["e"] = Value::from(padded(&e0));
    assert!(odd["e"].as_str().unwrap().ends_with('='), "{odd}");
    assert!(verifies(&token, &odd), "{odd}");
    let mut padded_n = public(&jwk, "r");
    padded_n["n"] = Value::from(padded(&b64(&jwk["n"])[1..]));
    assert!(
        !verifies(&token, &padded_n),
        "a different modulus must not verify"
    );
    // Published in the minimal, unpadded form.
    let published = set(vec![odd.clone()]).public_jwks();
    assert_eq!(published[0]["n"], jwk["n"]);
    assert_eq!(published[0]["e"], jwk["e"]);
}

// SPEC §6.2 ("the public parts"): the published JWK is rebuilt from an allow-list per key type,
// as go-jose re-serialises keys. A private member of a key type we do not know (`priv` of an
// ML-DSA key) never leaves; neither do WebCrypto's `key_ops`/`ext`, which make strict
// verifiers (jwcrypto, WebCrypto `importKey(..., ["verify"])`) refuse the key.
#[test]
fn published_jwks_keep_only_public_members() {
    let mut ec = private("ES256", "main");
    ec["key_ops"] = json!(["sign"]);
    ec["ext"] = json!(true);
    ec["x5t#S256"] = json!("dGh1bWI");
    let keys = vec![
        ec.clone(),
        json!({"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "use": "sig", "pub": "AAAA", "priv": "BBBB"}),
        json!({"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA", "d": "BBBB"}),
        json!({"kty": "EC", "crv": "secp256k1", "kid": "k", "x": "AAAA", "y": "AAAA", "d": "BBBB"}),
        json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"}),
        private("EdDSA", "ed"),
    ];
    let published = set(keys).public_jwks();
    let kids: Vec<_> = published.iter().map(|k| k["kid"].clone()).collect();
    assert_eq!(kids, vec![json!("main"), json!("ed")]);
    let mut members: Vec<_> = published[0].as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(
        members,
        ["alg", "crv", "kid", "kty", "use", "x", "x5t#S256", "y"]
    );
    assert_eq!(published[0]["x"], ec["x"]);
    let ed: Vec<_> = published[1].as_object().unwrap().keys().cloned().collect();
    assert!(!ed.contains(&"d".to_owned()), "{ed:?}");
    // The signer publishes the same shape under the kid its tokens carry.
    let signer = SigningKey::select(&set(vec![ec])).unwrap();
    let public = signer.public_jwk().unwrap();
    assert!(
        public.get("key_ops").is_none() && public.get("d").is_none(),
        "{public}"
    );
}
