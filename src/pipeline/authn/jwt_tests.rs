//! Unit tests of the `jwt` authenticator (SPEC §5.1, DESIGN §6): algorithm list, key selection,
//! key type vs `alg`, claim checks and scope normalisation. End-to-end cases with real key types
//! and a JWKS server are in `tests/authn_jwt.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::claims::{normalise_scope, Checks, Prepared};
use super::*;
use crate::config::duration::Duration as CfgDuration;
use crate::config::types::Uri;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// A JWKS file with one HS256 key `h` (use sig) and one RSA-shaped key `r`.
fn jwks_file(dir: &tempfile::TempDir) -> String {
    let doc = json!({"keys": [
        {"kty": "oct", "use": "sig", "kid": "h", "k": b64(SECRET)},
        {"kty": "oct", "kid": "nouse", "k": b64(SECRET)},
        {"kty": "RSA", "use": "sig", "kid": "r", "n": b64(SECRET), "e": "AQAB"},
    ]});
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, doc.to_string()).expect("write");
    format!("file://{}", path.display())
}

fn config(url: &str, extra: Value) -> JwtConfig {
    let mut base = json!({"jwks_urls": [url], "allowed_algorithms": ["HS256", "RS256"]});
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    serde_json::from_value(base).expect("config")
}

fn handler(dir: &tempfile::TempDir, extra: Value) -> Jwt {
    let cache = JwksCache::new(Duration::from_secs(5));
    let c = config(&jwks_file(dir), extra);
    Jwt::with_cache(c, &JwtConfig::default(), &cache).expect("build")
}

fn hs_token(kid: Option<&str>, claims: Value) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(SECRET)).expect("sign")
}

fn request(token: &str) -> RequestInfo {
    let mut r = RequestInfo::default();
    r.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    r
}

async fn run(h: &Jwt, token: &str) -> Result<(AuthnOutcome, Session), PipelineError> {
    let mut s = Session::default();
    h.authenticate(&request(token), &mut s)
        .await
        .map(|o| (o, s))
}

#[test]
fn allowed_algorithms_are_checked_at_load() {
    assert_eq!(parse_alg("RS256"), Ok(Alg::RS256));
    assert_eq!(parse_alg("EdDSA"), Ok(Alg::EdDSA));
    assert_eq!(parse_alg("ES512"), Ok(Alg::ES512));
    for bad in ["none", "None", "rs256", "HS1"] {
        assert!(parse_alg(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let c = config(
        &jwks_file(&dir),
        json!({"allowed_algorithms": ["RS256", "none"]}),
    );
    let err = Jwt::new(c, &JwtConfig::default()).expect_err("none");
    assert_eq!(err.path, "config.allowed_algorithms[1]");
    let c = config("s3://bucket/jwks.json", json!({}));
    assert!(Jwt::new(c, &JwtConfig::default()).is_err());
    // An empty list means RS256 (Oathkeeper's default).
    let h = handler(&dir, json!({"allowed_algorithms": []}));
    assert_eq!(h.allowed, vec![("RS256".to_owned(), Alg::RS256)]);
}

// SPEC §5.1: not responsible without a token or with anything but three parts.
#[tokio::test]
async fn responsibility() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({}));
    for t in ["opaque", "a.b", "a.b.c.d"] {
        assert_eq!(
            run(&h, t).await.expect("ok").0,
            AuthnOutcome::NotResponsible
        );
    }
    let mut s = Session::default();
    let none = h.authenticate(&RequestInfo::default(), &mut s).await;
    assert_eq!(none.expect("ok"), AuthnOutcome::NotResponsible);
    // Three parts that are not a JWT: responsible, and invalid.
    let e = run(&h, "a.b.c").await.expect_err("invalid");
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn accepts_and_fills_the_session() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({}));
    let (o, s) = run(
        &h,
        &hs_token(Some("h"), json!({"sub": "alice", "scope": "a b"})),
    )
    .await
    .expect("valid");
    assert_eq!(o, AuthnOutcome::Authenticated);
    assert_eq!(s.subject, "alice");
    assert_eq!(s.extra.get("scp"), Some(&json!(["a", "b"])));
    assert!(s.extra.get("scope").is_none());
}

// DESIGN §6: key selection by kid + use sig, key type must fit alg.
#[tokio::test]
async fn key_selection() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({}));
    let cases = [
        (None, "no `kid`"),
        (Some("nouse"), "no signing key"),
        (Some("unknown"), "no signing key"),
        // An HS256 token naming an RSA key: the RSA key is never an HMAC secret.
        (Some("r"), "cannot verify HS256"),
    ];
    for (kid, want) in cases {
        let claims = json!({"sub": "x", "secret": 1});
        let e = run(&h, &hs_token(kid, claims)).await.expect_err("reject");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{kid:?}");
        let reason = e.reason.clone().unwrap_or_default();
        assert!(reason.contains(want), "{kid:?}: {reason}");
        let details = e.details.clone().expect("details");
        assert_eq!(details["jwt_claims"], json!({"sub": "x", "secret": 1}));
    }
}

#[tokio::test]
async fn header_checks() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({"allowed_algorithms": ["HS256"]}));
    let valid = hs_token(Some("h"), json!({"sub": "x"}));
    let (_, rest) = valid.split_once('.').expect("parts");
    let with_header = |hdr: Value| format!("{}.{rest}", b64(hdr.to_string().as_bytes()));
    let cases = [
        (json!({"alg": "none", "kid": "h"}), "not allowed"),
        (json!({"alg": "RS256", "kid": "h"}), "not allowed"),
        (json!({"kid": "h"}), "no `alg`"),
        (
            json!({"alg": "HS256", "kid": "h", "crit": ["x"]}),
            "critical",
        ),
        // A different header over the same signature: the signature covers the header.
        (
            json!({"alg": "HS256", "kid": "h", "typ": "other"}),
            "signature",
        ),
    ];
    for (hdr, want) in cases {
        let e = run(&h, &with_header(hdr.clone()))
            .await
            .expect_err("reject");
        let reason = e.reason.clone().unwrap_or_default();
        assert!(reason.contains(want), "{hdr}: {reason}");
    }
}

// jsonwebtoken must treat an ECDSA signature with r = s = 0 as invalid ("psychic signatures").
#[test]
fn es256_zero_signature_is_invalid() {
    let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let point = sk.verifying_key().to_encoded_point(false);
    let key = jsonwebtoken::DecodingKey::from_ec_der(point.as_bytes());
    let zero = b64(&[0u8; 64]);
    let ok = jsonwebtoken::crypto::verify(
        &zero,
        b"header.claims",
        &key,
        jsonwebtoken::Algorithm::ES256,
    );
    assert!(!ok.unwrap_or(false));
}

fn checks(extra: Value) -> Checks {
    let c = config("file:///x", extra);
    Checks {
        required_scope: c.required_scope,
        scope_strategy: c.scope_strategy,
        target_audience: c.target_audience,
        trusted_issuers: c.trusted_issuers,
        leeway: c.leeway.get().as_secs_f64(),
    }
}

fn check(c: &Checks, claims: Value, now: f64) -> Result<Map<String, Value>, String> {
    let Value::Object(m) = claims else {
        panic!("object")
    };
    let p = Prepared::new(m);
    c.check(&p, now).map(|()| (*p.claims).clone())
}

// SPEC §5.1 exp/nbf/iat, DESIGN §3 leeway.
#[test]
fn time_claims() {
    let strict = checks(json!({}));
    let lenient = Checks {
        leeway: CfgDuration::from_secs(30).get().as_secs_f64(),
        ..checks(json!({}))
    };
    let now = 1_000_000.0;
    let cases = [
        (json!({"exp": 999_999}), false, true),
        (json!({"exp": 1_000_000}), true, true),
        (json!({"exp": 999_960}), false, false),
        (json!({"nbf": 1_000_010}), false, true),
        (json!({"iat": 1_000_010}), false, true),
        (
            json!({"iat": 999_000, "nbf": 999_000, "exp": 1_000_100}),
            true,
            true,
        ),
        (json!({"exp": "tomorrow"}), false, false),
        // golang-jwt: a `null` date is "invalid", not absent.
        (json!({"exp": null}), false, false),
        (json!({"nbf": null}), false, false),
        (json!({"iat": null}), false, false),
    ];
    for (claims, strict_ok, lenient_ok) in cases {
        assert_eq!(
            check(&strict, claims.clone(), now).is_ok(),
            strict_ok,
            "{claims}"
        );
        assert_eq!(
            check(&lenient, claims.clone(), now).is_ok(),
            lenient_ok,
            "{claims}"
        );
    }
}

// SPEC §5.1 target_audience / trusted_issuers.
#[test]
fn audience_and_issuer() {
    let c = checks(json!({"target_audience": ["a", "b"], "trusted_issuers": ["https://i"]}));
    let ok = json!({"aud": ["b", "a", "c"], "iss": "https://i"});
    assert!(check(&c, ok, 0.0).is_ok());
    assert!(check(&c, json!({"aud": "a", "iss": "https://i"}), 0.0).is_err());
    assert!(check(&c, json!({"aud": ["a", "b"], "iss": "https://x"}), 0.0).is_err());
    assert!(check(&c, json!({"aud": ["a", "b"]}), 0.0).is_err());
    let single = checks(json!({"target_audience": ["a"]}));
    assert!(check(&single, json!({"aud": "a"}), 0.0).is_ok());
    // SPEC Appendix A: Oathkeeper's reasons.
    assert_eq!(
        check(&single, json!({"aud": ["b", "c"]}), 0.0).expect_err("audience"),
        "Token audience [b c] is not intended for target audience a"
    );
    assert_eq!(
        check(&c, json!({"aud": ["a", "b"], "iss": "https://x"}), 0.0).expect_err("issuer"),
        "Token issuer does not match any trusted issuer https://x"
    );
}

// SPEC §5.1: scp, else scope, else scopes; array or space-separated; normalised into `scp`.
// Split on single spaces (Oathkeeper's `stringsx.Splitx(s, " ")`): a tab or newline does not
// separate scopes, and a double space keeps an empty one.
#[test]
fn scope_normalisation() {
    let cases = [
        (json!({"scp": ["a", "b"]}), json!({"scp": ["a", "b"]})),
        (json!({"scope": "a  b"}), json!({"scp": ["a", "", "b"]})),
        (json!({"scope": "a\tb"}), json!({"scp": ["a\tb"]})),
        (json!({"scope": "a\nb c"}), json!({"scp": ["a\nb", "c"]})),
        (json!({"scope": ""}), json!({"scp": []})),
        (
            json!({"scp": ["a", 1, "b"]}),
            json!({"scp": ["a", "", "b"]}),
        ),
        (json!({"scopes": ["a"]}), json!({"scp": ["a"]})),
        (
            json!({"scope": "a", "scopes": ["b"]}),
            json!({"scopes": ["b"], "scp": ["a"]}),
        ),
        (
            json!({"scp": "x", "scope": "y"}),
            json!({"scope": "y", "scp": ["x"]}),
        ),
        // Oathkeeper's verifier sets `scp` whether or not the token has a scope.
        (json!({"sub": "s"}), json!({"sub": "s", "scp": []})),
    ];
    for (input, want) in cases {
        let Value::Object(mut m) = input.clone() else {
            panic!("object")
        };
        normalise_scope(&mut m);
        assert_eq!(Value::Object(m), want, "{input}");
    }
}

// SPEC §5.1, §5.7: required scopes under each strategy; `none` with required scopes fails.
#[test]
fn required_scope_strategies() {
    let cases = [
        ("exact", "foo.bar", "foo.bar", true),
        ("exact", "foo", "foo.bar", false),
        ("exact", "foo.bar baz", "baz", true),
        ("exact", "foo.bar\tbaz", "baz", false),
        ("hierarchic", "foo", "foo.bar", true),
        ("hierarchic", "foo.bar", "foo", false),
        ("wildcard", "foo.*", "foo.bar", true),
        ("wildcard", "foo.*", "foo", false),
        ("none", "foo", "foo", false),
    ];
    for (strategy, granted, required, ok) in cases {
        let c = checks(json!({"scope_strategy": strategy, "required_scope": [required]}));
        let got = check(&c, json!({"scope": granted}), 0.0);
        assert_eq!(got.is_ok(), ok, "{strategy} {granted} {required}: {got:?}");
    }
    let none = checks(json!({"scope_strategy": "none", "required_scope": ["a"]}));
    let err = check(&none, json!({"scp": ["a"]}), 0.0).expect_err("none");
    assert!(err.contains("scope strategy is set to \"none\""));
    // No required scope: any strategy passes.
    assert!(check(&checks(json!({"scope_strategy": "none"})), json!({}), 0.0).is_ok());
}

#[test]
fn jwks_urls_must_not_be_empty() {
    let mut c = config("file:///x", json!({}));
    c.jwks_urls = Some(Vec::<Uri>::new());
    assert!(Jwt::new(c, &JwtConfig::default()).is_err());
}

#[path = "jwt_cache_tests.rs"]
mod cache_tests;
