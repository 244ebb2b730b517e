use std::sync::Arc;

use super::*;
use crate::blob::stub::{env_of, stub, Answer, Seen};

async fn resolve(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    profile: Option<&str>,
) -> Result<Credentials, String> {
    Chain {
        env,
        region: "eu-west-1",
    }
    .resolve(profile)
    .await
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

const STS_ANSWER: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>
      <SecretAccessKey>web/secret+key</SecretAccessKey>
      <SessionToken>FwoGZX&amp;token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;

// The chain's order (module docs): environment keys, then the default profile; a named profile
// wins over the environment's keys.
#[tokio::test]
async fn environment_and_profiles() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let creds = write(
        &dir,
        "credentials",
        "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n\
         [ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=s2\naws_session_token = t2\n",
    );
    let config = write(
        &dir,
        "config",
        "[profile cfgkeys]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s3\n\
         s3 =\n  addressing_style = path\n\
         [profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = ops\n\
         [profile sso]\nsso_session = corp\n",
    );
    let files = vec![
        ("AWS_SHARED_CREDENTIALS_FILE", creds.clone()),
        ("AWS_CONFIG_FILE", config.clone()),
    ];
    let with_keys = {
        let mut v = files.clone();
        v.push(("AWS_ACCESS_KEY_ID", "AKIDENV".into()));
        v.push(("AWS_SECRET_ACCESS_KEY", "s0".into()));
        v.push(("AWS_SESSION_TOKEN", "t0".into()));
        v
    };
    let env = env_of(with_keys.clone());
    let c = resolve(&env, None).await.expect("env keys");
    assert_eq!(
        (c.access_key_id.as_str(), c.session_token.as_deref()),
        ("AKIDENV", Some("t0"))
    );
    let c = resolve(&env, Some("ops")).await.expect("named profile");
    assert_eq!(
        (
            c.access_key_id.as_str(),
            c.secret_access_key.as_str(),
            c.session_token.as_deref()
        ),
        ("AKIDOPS", "s2", Some("t2"))
    );

    // AWS_PROFILE names the profile read after the environment's keys, which win (the SDKs'
    // order); `?profile=` (the explicit argument) wins over both.
    let mut named = with_keys.clone();
    named.push(("AWS_PROFILE", "ops".into()));
    let env = env_of(named.clone());
    let c = resolve(&env, None)
        .await
        .expect("env keys over AWS_PROFILE");
    assert_eq!(c.access_key_id, "AKIDENV");
    let env = env_of(
        named
            .into_iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
            .collect(),
    );
    let c = resolve(&env, None).await.expect("AWS_PROFILE");
    assert_eq!(c.access_key_id, "AKIDOPS");

    let env = env_of(files);
    let c = resolve(&env, None).await.expect("default profile");
    assert_eq!(c.access_key_id, "AKIDDEFAULT");
    let c = resolve(&env, Some("cfgkeys"))
        .await
        .expect("keys in the config file");
    assert_eq!(c.access_key_id, "AKIDCFG");

    for (profile, want) in [
        ("nope", "the profile `nope` is in neither"),
        (
            "chained",
            "assuming a role from another profile (`source_profile`), which is not supported",
        ),
        ("sso", "uses SSO (`sso_session`)"),
    ] {
        let err = resolve(&env, Some(profile)).await.expect_err(profile);
        assert!(err.contains(want), "{profile}: {err}");
    }
}

// EKS service accounts: STS AssumeRoleWithWebIdentity with the projected token.
#[tokio::test]
async fn web_identity() {
    let (sts, seen) = stub(Arc::new(|_: &Seen| (200, STS_ANSWER.to_owned()))).await;
    let dir = tempfile::TempDir::new().expect("tempdir");
    let token = write(&dir, "token", "eyJhbGciOiJSUzI1NiJ9.e30.sig\n");
    let env = env_of(vec![
        ("HOME", "/nonexistent".into()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token),
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/rules-reader".into(),
        ),
        ("AWS_ROLE_SESSION_NAME", "gh-test".into()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
    ]);
    let c = resolve(&env, None).await.expect("web identity");
    assert_eq!(c.access_key_id, "ASIAWEBIDENTITY");
    assert_eq!(c.secret_access_key, "web/secret+key");
    assert_eq!(c.session_token.as_deref(), Some("FwoGZX&token"));
    assert_eq!(
        c.expires,
        crate::datetime::parse_rfc3339("2099-01-01T00:00:00Z")
    );
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    let form: HashMap<String, String> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["Action"], "AssumeRoleWithWebIdentity");
    assert_eq!(form["Version"], "2011-06-15");
    assert_eq!(
        form["RoleArn"],
        "arn:aws:iam::123456789012:role/rules-reader"
    );
    assert_eq!(form["RoleSessionName"], "gh-test");
    assert_eq!(form["WebIdentityToken"], "eyJhbGciOiJSUzI1NiJ9.e30.sig");
    assert!(!seen[0].headers.contains_key(http::header::AUTHORIZATION));

    // STS refusing says why.
    let (sts, _) = stub(Arc::new(|_: &Seen| {
        (
            403,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>"
                .to_owned(),
        )
    }))
    .await;
    let dir2 = tempfile::TempDir::new().expect("tempdir");
    let token = write(&dir2, "token", "t");
    let env = env_of(vec![
        ("HOME", "/nonexistent".into()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r".into()),
        ("AWS_ENDPOINT_URL", sts),
    ]);
    let err = resolve(&env, None).await.expect_err("denied");
    assert!(
        err.contains(
            "403 Forbidden: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
        ),
        "{err}"
    );
}

// ECS tasks and EKS Pod Identity: the container endpoint, with its authorization token.
#[tokio::test]
async fn container_endpoint() {
    let (base, seen) = stub(Arc::new(|s: &Seen| match s.path.as_str() {
        "/creds" => (
            200,
            r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"cs","Token":"ct","Expiration":"2099-01-01T00:00:00Z"}"#
                .to_owned(),
        ),
        _ => (404, String::new()),
    }))
    .await;
    let dir = tempfile::TempDir::new().expect("tempdir");
    let token = write(&dir, "eks-pod-identity-token", "pod-token\n");
    let env = env_of(vec![
        ("HOME", "/nonexistent".into()),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{base}/creds"),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let c = resolve(&env, None).await.expect("container");
    assert_eq!(
        (c.access_key_id.as_str(), c.session_token.as_deref()),
        ("ASIACONTAINER", Some("ct"))
    );
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen[0].headers[http::header::AUTHORIZATION], "pod-token");

    let env = env_of(vec![
        ("HOME", "/nonexistent".into()),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{base}/other"),
        ),
    ]);
    let err = resolve(&env, None).await.expect_err("404");
    assert!(err.contains("/other: HTTP 404"), "{err}");
}

// EC2: IMDSv2 (a session token, then the role's credentials), v1 when the token call is
// refused, nothing when it is disabled.
#[tokio::test]
async fn instance_metadata() {
    let imds = |v2: bool| -> Arc<Answer> {
        Arc::new(move |s: &Seen| {
            match (s.method.as_str(), s.path.as_str()) {
            ("PUT", "/latest/api/token") if v2 => (200, "imds-session".to_owned()),
            ("PUT", "/latest/api/token") => (403, String::new()),
            ("GET", _) if v2 && s.headers.get("x-aws-ec2-metadata-token").is_none_or(|t| t != "imds-session") => {
                (401, String::new())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "web-role\n".to_owned()),
            ("GET", "/latest/meta-data/iam/security-credentials/web-role") => (
                200,
                r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAEC2","SecretAccessKey":"es","Token":"et","Expiration":"2099-01-01T00:00:00Z"}"#
                    .to_owned(),
            ),
            _ => (404, String::new()),
        }
        })
    };
    for v2 in [true, false] {
        let (base, seen) = stub(imds(v2)).await;
        let env = env_of(vec![
            ("HOME", "/nonexistent".into()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", base),
        ]);
        let c = resolve(&env, None).await.expect("imds");
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("ASIAEC2", Some("et"))
        );
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(seen.len(), 3, "{v2}: {seen:?}");
        assert_eq!(
            seen[0].headers["x-aws-ec2-metadata-token-ttl-seconds"],
            "21600"
        );
    }
    let env = env_of(vec![
        ("HOME", "/nonexistent".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let err = resolve(&env, None).await.expect_err("nothing");
    assert!(
        err.starts_with("none found: no AWS_ACCESS_KEY_ID")
            && err.ends_with("disabled (AWS_EC2_METADATA_DISABLED)"),
        "{err}"
    );
}

#[test]
fn ini_sections() {
    let files = ini("[default]\nregion=us-east-1\n[ profile   x ]\n; c\nregion = eu-west-1 \n");
    assert_eq!(files["default"]["region"], "us-east-1");
    assert_eq!(files["profile x"]["region"], "eu-west-1");
}
