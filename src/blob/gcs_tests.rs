use std::collections::HashMap;
use std::sync::Arc;

use jwt_simple::prelude::*;

use super::*;
use crate::blob::stub::{env_of, stub, Seen};

fn parse(url: &str, vars: Vec<(&str, String)>) -> Result<GcsObject, String> {
    GcsObject::parse(url, &env_of(vars))
}

// gocloud's gcsblob URLs: Google's XML API address; an emulator from STORAGE_EMULATOR_HOST,
// unauthenticated as Google's clients treat it.
#[test]
fn addresses() {
    let o = parse("gs://my-bucket/rules/a%20b.yaml", vec![]).expect("parse");
    assert_eq!(
        o.url().as_str(),
        "https://storage.googleapis.com/my-bucket/rules/a%20b.yaml"
    );
    assert!(!o.anonymous);
    let o = parse("gs://b/k.json?anonymous=true&access_id=x@y", vec![]).expect("anonymous");
    assert!(o.anonymous);
    for host in ["127.0.0.1:9023", "http://127.0.0.1:9023"] {
        let o = parse(
            "gs://b/dir/k.json",
            vec![("STORAGE_EMULATOR_HOST", host.to_owned())],
        )
        .expect("emulator");
        assert_eq!(o.url().as_str(), "http://127.0.0.1:9023/b/dir/k.json");
        assert!(o.anonymous);
    }
    for (url, want) in [
        ("gs:///k.json", "no bucket"),
        ("gs://b", "no object name"),
        ("gs://b/../other/k.json", "has a `.` or `..` segment"),
        (
            "gs://b/k.json?anonymous=true&anonymous=false",
            "given twice",
        ),
        (
            "gs://b/k.json?region=x",
            "unknown query parameter `region` (allowed: anonymous,",
        ),
        (
            "gs://b/k.json?anonymous=sure",
            "anonymous: `sure` is not a boolean",
        ),
    ] {
        let err = parse(url, vec![]).expect_err(url);
        assert!(err.contains(want), "{url}: {err}");
    }
}

// Application Default Credentials: a service account key (its JWT assertion checked with an
// independent JWT library against the key's public half), an authorized user's refresh token,
// and the metadata server, each against a recording stub.
#[tokio::test]
async fn application_default_credentials() {
    let (base, seen) = stub(Arc::new(|s: &Seen| match s.path.as_str() {
        "/token" => (
            200,
            r#"{"access_token":"ya29.file","expires_in":3599,"token_type":"Bearer"}"#.to_owned(),
        ),
        p if p.starts_with("/computeMetadata/v1/instance/service-accounts/default/token") => (
            200,
            r#"{"access_token":"ya29.metadata","expires_in":3599,"token_type":"Bearer"}"#
                .to_owned(),
        ),
        _ => (
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.to_owned(),
        ),
    }))
    .await;
    let form = |s: &Seen| -> HashMap<String, String> {
        url::form_urlencoded::parse(s.body.as_bytes())
            .into_owned()
            .collect()
    };
    let dir = tempfile::TempDir::new().expect("tempdir");
    let key = RS256KeyPair::generate(2048).expect("key");
    let account = dir.path().join("sa.json");
    std::fs::write(
        &account,
        serde_json::json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "kid-1",
            "private_key": key.to_pem().expect("pem"),
            "client_email": "rules-reader@p.iam.gserviceaccount.com",
            "token_uri": format!("{base}/token"),
        })
        .to_string(),
    )
    .expect("write");
    let (token, _) = from_file(&account.display().to_string())
        .await
        .expect("service account");
    assert_eq!(token, "ya29.file");
    let f = form(&seen.lock().expect("seen")[0]);
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let claims = key
        .public_key()
        .verify_token::<HashMap<String, serde_json::Value>>(
            &f["assertion"],
            Some(VerificationOptions {
                allowed_issuers: Some(HashSet::from_strings(&[
                    "rules-reader@p.iam.gserviceaccount.com",
                ])),
                allowed_audiences: Some(HashSet::from_strings(&[format!("{base}/token")])),
                ..Default::default()
            }),
        )
        .expect("the assertion verifies");
    assert_eq!(claims.custom["scope"], SCOPE);
    let header = Token::decode_metadata(&f["assertion"]).expect("header");
    assert_eq!(header.key_id(), Some("kid-1"));

    let user = dir.path().join("adc.json");
    std::fs::write(
        &user,
        format!(
            r#"{{"type":"authorized_user","client_id":"cid","client_secret":"cs","refresh_token":"1//rt","token_uri":"{base}/token"}}"#
        ),
    )
    .expect("write");
    from_file(&user.display().to_string())
        .await
        .expect("authorized user");
    let f = form(&seen.lock().expect("seen")[1]);
    assert_eq!(
        (
            f["grant_type"].as_str(),
            f["refresh_token"].as_str(),
            f["client_id"].as_str()
        ),
        ("refresh_token", "1//rt", "cid")
    );

    let host = base.trim_start_matches("http://").to_owned();
    let env = env_of(vec![
        ("GCE_METADATA_HOST", host),
        ("HOME", "/nonexistent".into()),
    ]);
    let token = access_token(&env).await.expect("metadata server");
    assert_eq!(token, "ya29.metadata");
    let s = seen.lock().expect("seen")[2].clone();
    assert_eq!(s.headers["metadata-flavor"], "Google");
    assert!(s.path.ends_with(&format!("?scopes={SCOPE}")), "{}", s.path);

    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"type":"external_account"}"#).expect("write");
    let err = from_file(&other.display().to_string())
        .await
        .expect_err("external");
    assert!(
        err.contains("credentials of type `external_account` are not supported"),
        "{err}"
    );

    std::fs::write(
        &user,
        format!(r#"{{"type":"authorized_user","refresh_token":"x","token_uri":"{base}/refused"}}"#),
    )
    .expect("write");
    let err = from_file(&user.display().to_string())
        .await
        .expect_err("refused");
    assert!(
        err.ends_with("HTTP 400 Bad Request Invalid JWT Signature."),
        "{err}"
    );
}
