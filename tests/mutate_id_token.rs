//! id_token mutator through the proxy (SPEC §5.3, §5.5, §6.2, §6.5; Appendix B case 22): the
//! echo upstream receives `Authorization: Bearer <JWT>`, verified against
//! `GET /.well-known/jwks.json` with an independent JWT implementation (jwt-simple, never
//! jsonwebtoken, which gatehouse itself uses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::upstream::Upstream;
use common::{repo_root, run_bin, Gate};
use jwt_simple::prelude::*;
use serde_json::{Map, Value};

const ISSUER: &str = "https://gate.example/";

/// Config: anonymous (subject alice) and noop authenticators, id_token with the global key set
/// `{dir}/global.json`, ttl `ttl`, JWKS refreshed every second.
fn config(ttl: &str) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  anonymous: {{ enabled: true, config: {{ subject: alice }} }}
  noop: {{ enabled: true }}
  jwt: {{ config: {{ jwks_ttl: 1s }} }}
authorizers:
  allow: {{ enabled: true }}
mutators:
  id_token:
    enabled: true
    config:
      issuer_url: {ISSUER}
      jwks_url: file://{{dir}}/global.json
      ttl: {ttl}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log:
  level: warn
"#
    )
}

/// One rule per name: `/t/<name>/...` signs with `{dir}/<name>.json`, claims template `claims`.
fn rules(upstream: &str, names: &[&str], authn: &str, claims: &str) -> String {
    let mut out = String::from(if names.is_empty() { "[]" } else { "" });
    for name in names {
        out.push_str(&format!(
            r#"
- id: {name}
  match: {{ url: "<http|https>://<[^/]+>/t/{name}/<.*>", methods: [GET] }}
  upstream: {{ url: "{upstream}" }}
  authenticators: [ {{ handler: {authn} }} ]
  authorizer: {{ handler: allow }}
  mutators:
    - handler: id_token
      config:
        jwks_url: file://{{dir}}/{name}.json
        claims: '{claims}'
"#
        ));
    }
    out
}

fn generate(alg: &str) -> String {
    let (code, out, err) = run_bin(
        &["credentials", "generate", "--alg", alg],
        &[],
        &repo_root(),
    );
    assert_eq!(code, 0, "{err}");
    out
}

async fn start(ttl: &str, names: &[&str], authn: &str, claims: &str) -> (Gate, Upstream) {
    let up = Upstream::start().await;
    let rules = rules(&up.url(), names, authn, claims);
    let g = Gate::start(&config(ttl), &[("rules.yaml", &rules)]).await;
    g.setup.write("global.json", &generate("ES256"));
    (g, up)
}

/// The JWT the upstream received for `GET path` through the proxy.
async fn token_via_proxy(g: &Gate, up: &Upstream, path: &str, headers: &[(&str, &str)]) -> String {
    let r = g.proxy("GET", path, headers).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    let values: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(values.len(), 1, "exactly one Authorization upstream");
    let auth = values[0].to_str().unwrap();
    auth.strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a bearer token: {auth}"))
        .to_owned()
}

fn part(token: &str, i: usize) -> Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn b64(jwk: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(
            jwk[name]
                .as_str()
                .unwrap_or_else(|| panic!("`{name}` in {jwk}")),
        )
        .unwrap()
}

/// Verify `token` with jwt-simple against the JWK of `jwks` named by the token's `kid`.
fn verify(token: &str, jwks: &Value) -> JWTClaims<Map<String, Value>> {
    let header = part(token, 0);
    let kid = header["kid"].as_str().expect("kid header").to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not published in {jwks}"));
    let options = VerificationOptions {
        required_key_id: Some(kid),
        allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
        ..Default::default()
    };
    let xy = || [vec![4u8], b64(jwk, "x"), b64(jwk, "y")].concat();
    let alg = header["alg"].as_str().unwrap();
    assert_eq!(jwk["alg"], alg);
    let r = match alg {
        "RS256" => RS256PublicKey::from_components(&b64(jwk, "n"), &b64(jwk, "e"))
            .unwrap()
            .verify_token(token, Some(options)),
        "PS256" => PS256PublicKey::from_components(&b64(jwk, "n"), &b64(jwk, "e"))
            .unwrap()
            .verify_token(token, Some(options)),
        "ES256" => ES256PublicKey::from_bytes(&xy())
            .unwrap()
            .verify_token(token, Some(options)),
        "ES384" => ES384PublicKey::from_bytes(&xy())
            .unwrap()
            .verify_token(token, Some(options)),
        "EdDSA" => Ed25519PublicKey::from_bytes(&b64(jwk, "x"))
            .unwrap()
            .verify_token(token, Some(options)),
        other => panic!("unexpected alg {other}"),
    };
    r.unwrap_or_else(|e| panic!("{alg} token does not verify: {e}"))
}

async fn jwks(g: &Gate) -> Value {
    let r = g.get("/.well-known/jwks.json").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    // SPEC §6.2: nothing private, no symmetric key, ever.
    for k in v["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "`{private}` published: {k}");
        }
        assert_ne!(k["kty"], "oct");
    }
    v
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

// Appendix B case 22 for RS256, ES256 and EdDSA keys; a template setting `sub`/`iss` is
// overridden, `aud` and other claims pass.
#[tokio::test]
async fn upstream_receives_a_verifiable_token() {
    let algs = ["RS256", "ES256", "EdDSA"];
    let claims =
        r#"{"sub": "mallory", "iss": "evil", "aud": ["orders"], "who": "{{ print .Subject }}"}"#;
    let (g, up) = start("10m", &algs, "anonymous", claims).await;
    for alg in algs {
        g.setup.write(&format!("{alg}.json"), &generate(alg));
    }
    let published = jwks(&g).await;
    for alg in algs {
        let token = token_via_proxy(&g, &up, &format!("/t/{alg}/x"), &[]).await;
        assert_eq!(part(&token, 0)["alg"], alg);
        let c = verify(&token, &published);
        assert_eq!(c.issuer.as_deref(), Some(ISSUER));
        assert_eq!(c.subject.as_deref(), Some("alice"));
        let (iat, exp) = (c.issued_at.unwrap(), c.expires_at.unwrap());
        assert_eq!((exp - iat).as_secs(), 600, "exp - iat = ttl");
        assert_eq!(c.invalid_before, Some(iat));
        assert!(c.jwt_id.is_some());
        assert!(c
            .audiences
            .unwrap()
            .contains(&HashSet::from_strings(&["orders"])));
        assert_eq!(c.custom["who"], "alice");
    }
    g.stop().await;
}

// DESIGN §6: a client-sent Authorization never reaches the upstream beside the minted one.
#[tokio::test]
async fn client_authorization_is_replaced() {
    let (g, up) = start("10m", &["noop"], "noop", "{}").await;
    g.setup.write("noop.json", &generate("ES256"));
    let headers = [
        ("Authorization", "Bearer forged"),
        ("authorization", "Basic eA=="),
    ];
    let token = token_via_proxy(&g, &up, "/t/noop/x", &headers).await;
    verify(&token, &jwks(&g).await);
    g.stop().await;
}

// SPEC §5.5: identical requests within 90% of the ttl get the same token; another claims
// rendering gets another; /decisions answers with the same header.
#[tokio::test]
async fn identical_requests_share_a_token() {
    let claims = r#"{"path": "{{ .MatchContext.URL.Path }}"}"#;
    let (g, up) = start("10m", &["cache"], "anonymous", claims).await;
    g.setup.write("cache.json", &generate("EdDSA"));
    let first = token_via_proxy(&g, &up, "/t/cache/a", &[]).await;
    assert_eq!(token_via_proxy(&g, &up, "/t/cache/a", &[]).await, first);
    assert_ne!(token_via_proxy(&g, &up, "/t/cache/b", &[]).await, first);
    let d = g.get("/decisions/t/cache/a").await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.header("authorization"),
        Some(format!("Bearer {first}").as_str())
    );
    g.stop().await;
}

/// Poll `f` every 100ms until it returns `Some`, at most `limit`.
async fn poll<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Key rotation: new tokens carry the new kid once the key file is re-read; the JWKS route lists
// the old key beside the new one until the old key's last token has expired (ttl 3s).
#[tokio::test]
async fn rotated_key_stays_published_for_one_ttl() {
    let (g, up) = start("3s", &["rot"], "anonymous", "{}").await;
    g.setup.write("rot.json", &generate("ES256"));
    let old = token_via_proxy(&g, &up, "/t/rot/x", &[]).await;
    let old_kid = part(&old, 0)["kid"].as_str().unwrap().to_owned();
    g.setup.write("rot.json", &generate("ES256"));

    let new = poll(
        Duration::from_secs(10),
        "a token with the new kid",
        || async {
            let t = token_via_proxy(&g, &up, "/t/rot/x", &[]).await;
            (part(&t, 0)["kid"] != old_kid.as_str()).then_some(t)
        },
    )
    .await;
    let new_kid = part(&new, 0)["kid"].as_str().unwrap().to_owned();
    let both = jwks(&g).await;
    let listed = kids(&both);
    assert!(
        listed.contains(&old_kid),
        "old key still published: {listed:?}"
    );
    assert!(listed.contains(&new_kid), "{listed:?}");
    verify(&old, &both);
    verify(&new, &both);

    // Once every old-key token has expired, only the new key remains (the new key keeps
    // signing, so it stays).
    poll(
        Duration::from_secs(15),
        "the old key to be dropped",
        || async {
            let _ = token_via_proxy(&g, &up, "/t/rot/x", &[]).await;
            let listed = kids(&jwks(&g).await);
            assert!(listed.contains(&new_kid));
            (!listed.contains(&old_kid)).then_some(())
        },
    )
    .await;
    g.stop().await;
}

// SPEC §6.5: `credentials generate` output is accepted by the id_token mutator for each
// algorithm; symmetric keys are never published.
#[tokio::test]
async fn generated_key_sets_sign_for_every_algorithm() {
    let algs = [
        "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256",
    ];
    let (g, up) = start("10m", &algs, "anonymous", "{}").await;
    let mut generated = Map::new();
    for alg in algs {
        let doc = generate(alg);
        g.setup.write(&format!("{alg}.json"), &doc);
        let doc: Value = serde_json::from_str(&doc).unwrap();
        generated.insert(alg.into(), doc["keys"][0].clone());
    }
    let published = jwks(&g).await;
    let listed = kids(&published);
    for alg in algs {
        let jwk = &generated[alg];
        let token = token_via_proxy(&g, &up, &format!("/t/{alg}/x"), &[]).await;
        assert_eq!(part(&token, 0)["kid"], jwk["kid"]);
        if alg == "ES512" {
            // jwt-simple has no ES512: the published P-521 key checks the signature through
            // the `p521` crate, and the claims are read as they are.
            use p521::ecdsa::signature::Verifier;
            let kid = jwk["kid"].as_str().unwrap();
            let public = published["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kid"] == kid)
                .unwrap_or_else(|| panic!("{kid} not published"));
            let point = [vec![4u8], b64(public, "x"), b64(public, "y")].concat();
            let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let (message, sig) = token.rsplit_once('.').unwrap();
            let sig =
                p521::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
            key.verify(message.as_bytes(), &sig)
                .expect("ES512 token verifies");
            assert_eq!(part(&token, 1)["sub"], "alice");
            assert_eq!(part(&token, 1)["iss"], ISSUER);
        } else if alg == "HS256" {
            assert!(!listed.contains(&jwk["kid"].as_str().unwrap().to_owned()));
            let key = HS256Key::from_bytes(&b64(jwk, "k"));
            let c = key
                .verify_token::<Map<String, Value>>(&token, None)
                .expect("HS256 token verifies with the shared secret");
            assert_eq!(c.subject.as_deref(), Some("alice"));
        } else {
            assert_eq!(verify(&token, &published).subject.as_deref(), Some("alice"));
        }
    }
    g.stop().await;
}

// SPEC §6.2 / Appendix A: no usable key set -> 500 with the catalogue reason.
#[tokio::test]
async fn jwks_route_without_key_sets() {
    let none = r#"
access_rules: { repositories: [] }
log: { level: warn }
"#;
    let g = Gate::start(none, &[]).await;
    let r = g.get("/.well-known/jwks.json").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["reason"],
        "None of the provided URLs returned a valid JSON Web Key Set."
    );
    g.stop().await;

    // Configured but unreadable.
    let (g, _up) = start("10m", &[], "anonymous", "{}").await;
    std::fs::remove_file(g.setup.path().join("global.json")).unwrap();
    let r = g.get("/.well-known/jwks.json").await;
    assert_eq!(r.status, 500);
    // SPEC §6.2: errors are plain `application/json`, successes carry the charset.
    assert_eq!(r.header("content-type"), Some("application/json"));
    g.stop().await;
}

#[test]
fn credentials_generate_cli() {
    let root = repo_root();
    let (code, out, _) = run_bin(
        &["credentials", "generate", "--alg", "EdDSA", "--kid", "k-1"],
        &[],
        &root,
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["keys"][0]["kid"], "k-1");
    assert_eq!(doc["keys"][0]["use"], "sig");
    // ES512 (P-521), as Oathkeeper's `credentials generate` offers it.
    let (code, out, err) = run_bin(&["credentials", "generate", "--alg", "ES512"], &[], &root);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["keys"][0]["crv"], "P-521");
    assert_eq!(doc["keys"][0]["alg"], "ES512");
    for bad in [
        &["--alg", "RS256", "--bits", "1024"][..],
        &["--alg", "ES521"],
        &["--alg", "none"],
    ] {
        let args = [&["credentials", "generate"][..], bad].concat();
        let (code, _, err) = run_bin(&args, &[], &root);
        assert_ne!(code, 0, "{bad:?}");
        assert!(!err.is_empty());
    }
}

// SPEC §5.3 (Oathkeeper's key selection): a set holding a private key `k1` and only the public
// half of `k2` signs with k1 under the kid `k2`. The JWKS route then lists two keys named `k2`;
// the one that signed comes first, so a verifier taking the first key with the token's kid
// (as `verify` here does) accepts the token.
#[tokio::test]
async fn a_borrowed_kid_lists_the_signing_key_first() {
    let (g, up) = start("10m", &["RS256"], "anonymous", "{}").await;
    let mut k1: Value = serde_json::from_str(&generate("RS256")).unwrap();
    let mut k2: Value = serde_json::from_str(&generate("RS256")).unwrap();
    k1["keys"][0]["kid"] = "k1".into();
    let public2 = k2["keys"][0].as_object_mut().unwrap();
    public2.insert("kid".into(), "k2".into());
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        public2.remove(private);
    }
    let set = serde_json::json!({ "keys": [k1["keys"][0], k2["keys"][0]] });
    g.setup.write("RS256.json", &set.to_string());
    let token = token_via_proxy(&g, &up, "/t/RS256/x", &[]).await;
    assert_eq!(part(&token, 0)["kid"], "k2");
    let published = jwks(&g).await;
    assert_eq!(kids(&published).iter().filter(|k| *k == "k2").count(), 2);
    verify(&token, &published);
}
