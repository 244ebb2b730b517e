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
    for m in PRIVATE_MEMBERS {
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
