#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::*;
use crate::config::types::Uri;
use crate::credentials::keygen::generate;

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    cache: Arc<JwksCache>,
    published: Arc<PublishedKeys>,
}

fn fixture(alg: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(&path, generate(alg, Some("k1"), None).unwrap().to_string()).unwrap();
    Fixture {
        url: format!("file://{}", path.display()),
        _dir: dir,
        cache: JwksCache::new(Duration::from_secs(5)),
        published: Arc::new(PublishedKeys::default()),
    }
}

fn build(f: &Fixture, claims: &str, ttl: u64) -> Result<IdToken, BuildError> {
    let config = IdTokenConfig {
        issuer_url: Some("https://issuer.example/".into()),
        jwks_url: Some(Uri::parse(&f.url).unwrap()),
        ttl: crate::config::duration::Duration::from_secs(ttl),
        claims: claims.into(),
    };
    IdToken::with(config, &JwtConfig::default(), &f.cache, &f.published)
}

fn session(subject: &str) -> Session {
    Session {
        subject: subject.into(),
        ..Session::default()
    }
}

fn claims_of(session: &Session) -> (String, Map<String, Value>) {
    let auth = session.header["authorization"].to_str().unwrap();
    let token = auth.strip_prefix("Bearer ").unwrap().to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    (token, claims.as_object().unwrap().clone())
}

// SPEC §5.3: exp/iat/nbf/jti/iss/sub are overridden; other claims (aud) pass through.
#[tokio::test]
async fn reserved_claims_are_overridden() {
    let f = fixture("ES256");
    let m = build(
        &f,
        r#"{"sub": "mallory", "iss": "evil", "exp": 1, "aud": ["api"], "user": "{{ print .Subject }}"}"#,
        60,
    )
    .unwrap();
    let mut s = session("alice");
    m.mutate(&mut s).await.unwrap();
    let (_, c) = claims_of(&s);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["iss"], "https://issuer.example/");
    assert_eq!(c["aud"], serde_json::json!(["api"]));
    assert_eq!(c["user"], "alice");
    let (exp, iat) = (c["exp"].as_u64().unwrap(), c["iat"].as_u64().unwrap());
    assert_eq!(exp - iat, 60);
    assert_eq!(c["nbf"], c["iat"]);
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    // The signing key is now published for one token lifetime.
    assert_eq!(f.published.recent().len(), 1);
    assert_eq!(f.published.recent()[0]["kid"], "k1");
}

// SPEC §5.5: identical requests reuse the token; another subject or claims get another.
#[tokio::test]
async fn tokens_are_cached_per_subject_and_claims() {
    let f = fixture("EdDSA");
    let m = build(&f, "", 60).unwrap();
    let token = |subject: &'static str| {
        let m = &m;
        async move {
            let mut s = session(subject);
            m.mutate(&mut s).await.unwrap();
            claims_of(&s).0
        }
    };
    let first = token("alice").await;
    assert_eq!(token("alice").await, first);
    assert_ne!(token("bob").await, first);
    let other_claims = build(&f, r#"{"aud": "x"}"#, 60).unwrap();
    let mut s = session("alice");
    other_claims.mutate(&mut s).await.unwrap();
    assert_ne!(claims_of(&s).0, first);
}

#[tokio::test]
async fn claims_must_be_an_object() {
    let f = fixture("ES256");
    for claims in [r#"["a"]"#, r#"{"a": "#, "42"] {
        let m = build(&f, claims, 60).unwrap();
        let err = m.mutate(&mut session("alice")).await.unwrap_err();
        assert_eq!(
            err.status,
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "{claims}"
        );
    }
}

// SPEC §5.3 (claims decoded with Go's `json.Decoder` into `float64`s, then encoded): only the
// first JSON value counts, and whole numbers go out without a fraction.
#[tokio::test]
async fn claims_as_go_decodes_them() {
    let f = fixture("ES256");
    let m = build(
        &f,
        r#"{"a": 1.0, "b": 1e3, "c": [2.50, {"d": 1.9e9}], "e": 7} trailing {"x": 1}"#,
        60,
    )
    .unwrap();
    let mut s = session("alice");
    m.mutate(&mut s).await.unwrap();
    let token = claims_of(&s).0;
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let text = String::from_utf8(payload).unwrap();
    for part in [
        r#""a":1,"#,
        r#""b":1000,"#,
        r#""c":[2.5,{"d":1900000000}]"#,
        r#""e":7"#,
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(!text.contains(r#""x""#), "{text}");
}

#[tokio::test]
async fn missing_key_set_is_500() {
    let mut f = fixture("ES256");
    f.url = format!("file://{}/nope.json", f._dir.path().display());
    let m = build(&f, "", 60).unwrap();
    let err = m.mutate(&mut session("alice")).await.unwrap_err();
    assert_eq!(err.status, http::StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn build_errors() {
    let f = fixture("ES256");
    assert_eq!(build(&f, "{{ .Nope", 60).unwrap_err().path, "config.claims");
    assert_eq!(build(&f, "", 0).unwrap_err().path, "config.ttl");
}
