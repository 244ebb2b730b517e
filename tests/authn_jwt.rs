//! `jwt` authenticator black-box tests through `/decisions` (SPEC §5.1, §5.5, §5.7, §9 items 7
//! and 21, DESIGN §6; Appendix B case 5), against a JWKS server on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/jwks.rs"]
mod jwks;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use common::{Gate, Resp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwks::JwksServer;
use keys::{claims, forge, now, TestKey};
use serde_json::{json, Value};

const H: (&str, &str) = ("X-Forwarded-Host", "h");

/// Config with jwt (global `jwks_urls`), anonymous, allow, header mutator, verbose JSON errors.
fn config(jwks_url: &str) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  anonymous: {{ enabled: true }}
  jwt: {{ enabled: true, config: {{ jwks_urls: [ "{jwks_url}" ] }} }}
authorizers:
  allow: {{ enabled: true }}
mutators:
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log:
  level: error
"#
    )
}

/// A rule on `http://h/<path>` running `[jwt(config), anonymous]` and `X-User: {{ print .Subject }}`.
fn rule(id: &str, path: &str, jwt_config: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: 'http://h/{path}', methods: [GET] }}\n  authenticators: [{{ handler: jwt, config: {jwt_config} }}, {{ handler: anonymous }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-User: '{{{{ print .Subject }}}}', X-Scp: '{{{{ print .Extra.scp }}}}' }} }} }}]\n"
    )
}

async fn get(g: &Gate, path: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    g.req("GET", path, &[H, ("Authorization", &auth)]).await
}

/// 401 "Access credentials are invalid" with the unverified claims and never the token.
fn assert_invalid(r: &Resp, token: &str, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    let body = r.json();
    assert_eq!(
        body["error"]["message"], "Access credentials are invalid",
        "{what}"
    );
    assert!(!r.body.contains(token), "{what}: token echoed");
}

fn jwks_of(keys: &[&TestKey]) -> Value {
    Value::Array(keys.iter().map(|k| k.jwk.clone()).collect())
}

// SPEC Appendix B case 5.
#[tokio::test]
async fn case5_jwt_then_anonymous() {
    let key = keys::rsa(0, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let rules = rule("r", "jwt", "{ target_audience: [api] }");
    let g = Gate::start(&config(&server.url()), &[("rules.yaml", &rules)]).await;

    // Opaque token: jwt not responsible, anonymous not responsible (Authorization set) -> 401.
    let r = get(&g, "/decisions/jwt", "opaque-token").await;
    assert_invalid(&r, "opaque-token", "opaque");

    let mut c = claims("alice");
    c["aud"] = json!(["api"]);
    let r = get(&g, "/decisions/jwt", &key.sign(&c)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("alice"));

    let wrong_kid = key.sign_as(Algorithm::RS256, Some("other"), &c);
    let mut expired = c.clone();
    expired["exp"] = json!(now() - 60);
    let mut no_aud = c.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let cases = [
        ("wrong kid", wrong_kid),
        ("expired", key.sign(&expired)),
        ("wrong alg", key.sign_as(Algorithm::RS384, Some("k1"), &c)),
        ("missing aud", key.sign(&no_aud)),
    ];
    for (what, token) in cases {
        let r = get(&g, "/decisions/jwt", &token).await;
        assert_invalid(&r, &token, what);
        // SPEC §5.1: details.jwt_claims carries the unverified claims.
        assert_eq!(
            r.json()["error"]["details"]["jwt_claims"]["sub"],
            "alice",
            "{what}"
        );
    }
    // No Authorization at all: jwt not responsible, anonymous wins.
    let r = g.req("GET", "/decisions/jwt", &[H]).await;
    assert_eq!(r.header("x-user"), Some("anonymous"));
}

// DESIGN §6 / SPEC §5.1: every forged or invalid token is a 401.
#[tokio::test]
async fn rejection_suite() {
    let rsa = keys::rsa(0, "rsa");
    let ec = keys::p256("ec");
    let nouse = keys::rsa(1, "nouse");
    let mut nouse_jwk = nouse.jwk.clone();
    nouse_jwk.as_object_mut().unwrap().remove("use");
    let server = JwksServer::start(json!([rsa.jwk, ec.jwk, nouse_jwk])).await;
    let cfg = "{ allowed_algorithms: [RS256, HS256, ES256], target_audience: [api], trusted_issuers: ['https://issuer'] }";
    let g = Gate::start(
        &config(&server.url()),
        &[("rules.yaml", &rule("r", "x", cfg))],
    )
    .await;

    let mut good = claims("bob");
    good["aud"] = json!("api");
    good["iss"] = json!("https://issuer");
    assert_eq!(get(&g, "/decisions/x", &rsa.sign(&good)).await.status, 200);
    assert_eq!(get(&g, "/decisions/x", &ec.sign(&good)).await.status, 200);

    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let hs_with_secret = |secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rsa".into());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(secret)).unwrap()
    };
    let rsa_jwk_text = rsa.jwk.to_string();
    let signed = rsa.sign(&good);
    let (_, rest) = signed.split_once('.').unwrap();
    let swapped = format!(
        "{}.{rest}",
        keys::b64(
            json!({"alg": "RS256", "kid": "rsa", "typ": "JWT", "x": 1})
                .to_string()
                .as_bytes()
        )
    );
    let cases = [
        (
            "alg none",
            forge(&json!({"alg": "none", "kid": "rsa"}), &good, b""),
            "not allowed",
        ),
        (
            "HS256 with RSA DER",
            hs_with_secret(&rsa.public_der),
            "cannot verify HS256",
        ),
        (
            "HS256 with RSA JWK",
            hs_with_secret(rsa_jwk_text.as_bytes()),
            "cannot verify HS256",
        ),
        (
            "unknown kid",
            rsa.sign_as(Algorithm::RS256, Some("nope"), &good),
            "no signing key",
        ),
        (
            "missing kid",
            rsa.sign_as(Algorithm::RS256, None, &good),
            "no `kid`",
        ),
        (
            "expired",
            rsa.sign(&with("exp", json!(now() - 5))),
            "expired",
        ),
        (
            "nbf in the future",
            rsa.sign(&with("nbf", json!(now() + 60))),
            "not valid yet",
        ),
        (
            "iat in the future",
            rsa.sign(&with("iat", json!(now() + 60))),
            "before issued",
        ),
        (
            "wrong aud",
            rsa.sign(&with("aud", json!(["other"]))),
            "audience",
        ),
        (
            "wrong iss",
            rsa.sign(&with("iss", json!("https://evil"))),
            "issuer",
        ),
        (
            "ES256 r=s=0",
            forge(&json!({"alg": "ES256", "kid": "ec"}), &good, &[0u8; 64]),
            "signature is invalid",
        ),
        ("swapped header", swapped, "signature is invalid"),
        ("key without use", nouse.sign(&good), "no signing key"),
        (
            "ES256 token for an RSA kid",
            ec.sign_as(Algorithm::ES256, Some("rsa"), &good),
            "cannot verify ES256",
        ),
    ];
    for (what, token, want) in cases {
        let r = get(&g, "/decisions/x", &token).await;
        assert_invalid(&r, &token, what);
        let reason = r.json()["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(reason.contains(want), "{what}: {reason}");
    }
}

// SPEC §5.1: RS/PS/ES/EdDSA verify when allowed; the allow-list is per rule.
#[tokio::test]
async fn accepted_algorithms() {
    let rs = keys::rsa(0, "rs");
    let ps = rs.with("ps", Algorithm::PS256);
    let es256 = keys::p256("es256");
    let es384 = keys::p384("es384");
    let ed = keys::ed25519("ed");
    let all = [&rs, &ps, &es256, &es384, &ed];
    let server = JwksServer::start(jwks_of(&all)).await;
    let names = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];
    let rules: String = names
        .iter()
        .map(|n| rule(n, n, &format!("{{ allowed_algorithms: [{n}] }}")))
        .collect();
    let g = Gate::start(&config(&server.url()), &[("rules.yaml", &rules)]).await;
    for (key, name) in all.iter().zip(names) {
        let token = key.sign(&claims(name));
        let r = get(&g, &format!("/decisions/{name}"), &token).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert_eq!(r.header("x-user"), Some(name));
        // Any other rule allows only its own algorithm.
        let other = if name == "RS256" { "EdDSA" } else { "RS256" };
        let r = get(&g, &format!("/decisions/{other}"), &token).await;
        assert_invalid(&r, &token, name);
    }
}

// SPEC §5.1: ES512 (P-521), which neither jsonwebtoken nor ring has, verifies when allowed; a
// token signed by another P-521 key under the same kid does not. The token is built and signed
// here with the `p521` crate, its JWK written out by hand.
#[tokio::test]
async fn es512_tokens() {
    use p521::ecdsa::signature::RandomizedSigner;
    use p521::elliptic_curve::sec1::ToEncodedPoint;
    let mut rng = rand::rngs::OsRng;
    let secret = p521::SecretKey::random(&mut rng);
    let point = secret.public_key().to_encoded_point(false);
    let key = p521::ecdsa::SigningKey::from_slice(&secret.to_bytes()).unwrap();
    let jwk = json!({
        "kty": "EC", "crv": "P-521", "use": "sig", "kid": "p521", "alg": "ES512",
        "x": keys::b64(point.x().unwrap()), "y": keys::b64(point.y().unwrap()),
    });
    let server = JwksServer::start(json!([jwk])).await;
    let rules =
        rule("es512", "es512", "{ allowed_algorithms: [ES512] }") + &rule("rs256", "rs256", "{}");
    let g = Gate::start(&config(&server.url()), &[("rules.yaml", &rules)]).await;
    let sign = |key: &p521::ecdsa::SigningKey| {
        let header = keys::b64(br#"{"alg":"ES512","kid":"p521","typ":"JWT"}"#);
        let body = keys::b64(claims("five-twenty-one").to_string().as_bytes());
        let message = format!("{header}.{body}");
        let sig: p521::ecdsa::Signature =
            key.sign_with_rng(&mut rand::rngs::OsRng, message.as_bytes());
        format!("{message}.{}", keys::b64(&sig.to_bytes()))
    };
    let token = sign(&key);
    let r = get(&g, "/decisions/es512", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("five-twenty-one"));
    // Not allowed on a rule with the default list (RS256).
    assert_invalid(
        &get(&g, "/decisions/rs256", &token).await,
        &token,
        "ES512 on RS256",
    );
    // Another key's signature.
    let other = p521::SecretKey::random(&mut rng).to_bytes();
    let other = sign(&p521::ecdsa::SigningKey::from_slice(&other).unwrap());
    assert_invalid(
        &get(&g, "/decisions/es512", &other).await,
        &other,
        "wrong P-521 key",
    );
}

// SPEC §5.1: file:// JWKS.
#[tokio::test]
async fn file_jwks() {
    let key = keys::p256("f");
    let doc = json!({ "keys": [key.jwk] }).to_string();
    let cfg = "{ allowed_algorithms: [ES256] }";
    let g = Gate::start(
        &config("file://{dir}/jwks.json"),
        &[("rules.yaml", &rule("r", "f", cfg)), ("jwks.json", &doc)],
    )
    .await;
    let r = get(&g, "/decisions/f", &key.sign(&claims("file"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("file"));
}

// SPEC §5.5, §9 item 7: a rotated key is picked up by one refetch; unknown kids do not amplify.
#[tokio::test]
async fn rotation_and_no_amplification() {
    let old = keys::rsa(0, "old");
    let new = keys::rsa(1, "new");
    let server = JwksServer::start(jwks_of(&[&old])).await;
    let g = Gate::start(
        &config(&server.url()),
        &[("rules.yaml", &rule("r", "rot", "{}"))],
    )
    .await;
    assert_eq!(
        get(&g, "/decisions/rot", &old.sign(&claims("a")))
            .await
            .status,
        200
    );
    assert_eq!(server.fetches(), 1);

    server.set_keys(jwks_of(&[&new]));
    let r = get(&g, "/decisions/rot", &new.sign(&claims("b"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("b"));
    assert_eq!(server.fetches(), 2, "one refetch for the new kid");

    let unknown = new.sign_as(Algorithm::RS256, Some("unknown"), &claims("c"));
    let auth = format!("Bearer {unknown}");
    for _ in 0..20 {
        let batch: Vec<_> = (0..50)
            .map(|_| {
                let (api, auth) = (g.api, auth.clone());
                tokio::spawn(async move {
                    let headers = [H, ("Authorization", auth.as_str())];
                    common::send(
                        api,
                        http::Method::GET,
                        "/decisions/rot",
                        &headers,
                        Default::default(),
                    )
                    .await
                    .status
                })
            })
            .collect();
        for t in batch {
            assert_eq!(t.await.unwrap(), 401);
        }
    }
    // At most one refetch per 5 s interval: a handful even on a slow machine.
    let extra = server.fetches() - 2;
    assert!(
        extra <= 3,
        "1000 unknown-kid requests caused {extra} JWKS fetches"
    );
    // The rotated-out key is gone.
    assert_eq!(
        get(&g, "/decisions/rot", &old.sign(&claims("a")))
            .await
            .status,
        401
    );
}

// DESIGN §3: `leeway` (default 0) for exp/nbf/iat.
#[tokio::test]
async fn leeway() {
    let key = keys::rsa(0, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let rules = rule("strict", "strict", "{}") + &rule("lenient", "lenient", "{ leeway: 30s }");
    let g = Gate::start(&config(&server.url()), &[("rules.yaml", &rules)]).await;
    let mut c = claims("l");
    c["exp"] = json!(now() - 10);
    let late = key.sign(&c);
    c["exp"] = json!(now() - 120);
    let too_late = key.sign(&c);
    let mut early = claims("l");
    early["iat"] = json!(now() + 10);
    early["nbf"] = json!(now() + 10);
    let early = key.sign(&early);
    assert_eq!(get(&g, "/decisions/strict", &late).await.status, 401);
    assert_eq!(get(&g, "/decisions/strict", &early).await.status, 401);
    assert_eq!(get(&g, "/decisions/lenient", &late).await.status, 200);
    assert_eq!(get(&g, "/decisions/lenient", &early).await.status, 200);
    assert_eq!(get(&g, "/decisions/lenient", &too_late).await.status, 401);
}

// SPEC §5.1, §5.7: required_scope under each strategy; `none` with required scopes -> 401.
#[tokio::test]
async fn scopes() {
    let key = keys::rsa(0, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let rules = [
        ("exact", "exact", "read"),
        ("hierarchic", "hierarchic", "foo.bar"),
        ("wildcard", "wildcard", "foo.bar"),
        ("none", "none", "read"),
    ]
    .iter()
    .map(|(id, s, req)| {
        rule(
            id,
            id,
            &format!("{{ scope_strategy: {s}, required_scope: [{req}] }}"),
        )
    })
    .collect::<String>();
    let g = Gate::start(&config(&server.url()), &[("rules.yaml", &rules)]).await;
    let with_scope = |k: &str, v: Value| {
        let mut c = claims("s");
        c[k] = v;
        key.sign(&c)
    };
    let cases = [
        ("exact", with_scope("scope", json!("read write")), 200),
        ("exact", with_scope("scp", json!(["write"])), 401),
        ("exact", with_scope("scopes", json!(["read"])), 200),
        ("hierarchic", with_scope("scp", json!(["foo"])), 200),
        ("hierarchic", with_scope("scp", json!(["foo.baz"])), 401),
        ("wildcard", with_scope("scope", json!("foo.*")), 200),
        ("wildcard", with_scope("scope", json!("bar.*")), 401),
        ("none", with_scope("scope", json!("read")), 401),
    ];
    for (path, token, want) in cases {
        let r = get(&g, &format!("/decisions/{path}"), &token).await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    let r = get(&g, "/decisions/none", &with_scope("scope", json!("read"))).await;
    let reason = r.json()["error"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        reason.contains("scope strategy is set to \"none\""),
        "{reason}"
    );
    // The scope claim is normalised into Extra.scp.
    let r = get(
        &g,
        "/decisions/exact",
        &with_scope("scope", json!("read write")),
    )
    .await;
    assert_eq!(r.header("x-scp"), Some("[read write]"));
}

// Fail closed: no JWKS could be fetched -> 503, never 200 or a silent 401.
#[tokio::test]
async fn jwks_unreachable_is_503() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", l.local_addr().unwrap());
    drop(l);
    let key = keys::rsa(0, "k");
    let g = Gate::start(&config(&url), &[("rules.yaml", &rule("r", "d", "{}"))]).await;
    let r = get(&g, "/decisions/d", &key.sign(&claims("x"))).await;
    assert_eq!(r.status, 503, "{}", r.body);
}

// DESIGN §6 (limits): a JWKS answer without `Content-Length` is refused as it passes 1 MiB,
// not read whole first (a 600 MB answer took 1.3 GB): the server cannot hand over its body.
#[tokio::test]
async fn endless_jwks_is_refused_while_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut head = [0u8; 4096];
        let _ = s.read(&mut head).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
        // 256 MiB if nobody stops reading.
        for _ in 0..256 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let key = keys::rsa(0, "k");
    let g = Gate::start(&config(&url), &[("rules.yaml", &rule("r", "d", "{}"))]).await;
    let r = get(&g, "/decisions/d", &key.sign(&claims("x"))).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let mib = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        mib < 64,
        "{mib} MiB handed over before the answer was refused"
    );
}
