//! Rule repositories and JWKS documents in object stores (SPEC §2.5 `access_rules.repositories`,
//! §2.6 `jwks_urls`), end to end against emulators that check every request's signature, both
//! installed by `scripts/install-test-deps`:
//! - `s3://bucket/key`: moto's S3, IAM and STS server (`fixtures/s3_moto.py`), which checks the
//!   AWS Signature Version 4 with botocore and the key's IAM policy;
//! - `azblob://container/blob`: Azurite (`fixtures/azurite.py`), which checks Shared Key
//!   signatures and SAS tokens;
//! - `gs://bucket/object`: gcp-storage-emulator (`fixtures/gcs_emulator.py`), which takes no
//!   credentials (Google's token flows are checked in `src/blob/gcs_tests.rs`).
//!
//! So these tests fail if gatehouse signs differently from the stores' own SDKs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{repo_root, send, spawn_serve, Proc, Resp, Setup};
use http::Method;
use serde_json::{json, Value};

/// An emulator driven by a fixture script (its first line: JSON about it; then `put`
/// commands), with a bucket or container `gatehouse-config`; killed on drop.
struct Store {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    info: Value,
}

impl Store {
    fn start(script: &str) -> Store {
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fixtures").join(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 tests/fixtures/{script}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("moto's first line");
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("{script} did not start ({e}; scripts/install-test-deps installs it): {line:?}")
        });
        Store {
            child,
            stdin,
            stdout,
            info,
        }
    }

    fn put(&mut self, key: &str, body: &str) {
        let cmd = json!({"put": key, "body": body});
        writeln!(self.stdin, "{cmd}").expect("command");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        assert_eq!(line.trim(), "ok");
    }

    fn endpoint(&self) -> &str {
        self.info["endpoint"].as_str().unwrap()
    }

    /// `s3://gatehouse-config/<key>` on moto.
    fn s3(&self, key: &str) -> String {
        format!(
            "s3://gatehouse-config/{key}?region=us-east-1&endpoint={}&s3ForcePathStyle=true",
            self.endpoint()
        )
    }

    fn keys(&self, user: &str) -> (String, String) {
        let k = &self.info[user];
        (
            k["id"].as_str().unwrap().to_owned(),
            k["secret"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(rules: &str, jwks: &str) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "{rules}" ]
  poll_interval: 1s
authenticators:
  jwt: {{ enabled: true, config: {{ jwks_urls: [ "{jwks}" ] }} }}
authorizers:
  allow: {{ enabled: true }}
mutators:
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
log:
  level: info
"#,
    )
}

fn rules(header: &str) -> String {
    format!(
        "- id: api\n  match: {{ url: 'http://h/api/<.*>', methods: [GET] }}\n  authenticators: [{{ handler: jwt }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-User: '{header}' }} }} }}]\n"
    )
}

/// An environment with no credentials of its own (no home, no instance metadata).
fn env(extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("HOME".into(), "/nonexistent".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ];
    v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.clone())));
    v
}

fn serve(setup: &Setup, env: &[(String, String)]) -> Result<Proc, String> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_serve(&["-c", "config.yaml"], &env, setup.path())
}

async fn decide(p: &Proc, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    send(
        p.api,
        Method::GET,
        "/decisions/api/x",
        &[("X-Forwarded-Host", "h"), ("Authorization", &auth)],
        Bytes::new(),
    )
    .await
}

/// Ask `/decisions/api/x` until `done` holds for the answer (the poll picked a change up), for
/// at most 15 s; `what` names the awaited change in the failure, with gatehouse's log.
async fn until(p: &Proc, token: &str, what: &str, done: impl Fn(&Resp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = decide(p, token).await;
        if done(&r) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}: {} {:?}\n{}",
            r.status,
            r.header("x-user"),
            p.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// SPEC §2.5 and §2.6: the rules and the JWKS that verifies the token both come from S3, read
// with the environment's keys; a changed rule object is picked up by the poll.
#[tokio::test]
async fn rules_and_keys_from_s3() {
    let mut moto = Store::start("s3_moto.py");
    let key = keys::rsa(0, "s3-key");
    moto.put("keys/jwks.json", &json!({"keys": [key.jwk]}).to_string());
    moto.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(&moto.s3("rules/gatehouse.yaml"), &moto.s3("keys/jwks.json")),
    );
    let (id, secret) = moto.keys("reader");
    let p = serve(
        &setup,
        &env(&[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)]),
    )
    .expect("serve");

    let token = key.sign(&keys::claims("alice"));
    let r = decide(&p, &token).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, p.log.lock().unwrap());
    assert_eq!(r.header("x-user"), Some("alice"));
    assert_eq!(decide(&p, "not-a-jwt").await.status, 401);

    // The rule object changes; the next poll (1 s) serves the new rule.
    moto.put("rules/gatehouse.yaml", &rules("user={{ print .Subject }}"));
    until(&p, &token, "the changed rule", |r| {
        r.header("x-user") == Some("user=alice")
    })
    .await;

    // An emptied object is refused and the rules stay; it is not kept as the last good copy,
    // so `[]` afterwards removes the rules (it was never picked up).
    moto.put("rules/gatehouse.yaml", "");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        decide(&p, &token).await.header("x-user"),
        Some("user=alice")
    );
    moto.put("rules/gatehouse.yaml", "[]");
    until(&p, &token, "[] applied", |r| r.status == 404).await;
}

// EKS service accounts: no keys in the environment, a web identity token and a role; STS
// (moto's) hands out temporary credentials that S3 then accepts.
#[tokio::test]
async fn web_identity_credentials() {
    let mut moto = Store::start("s3_moto.py");
    let key = keys::rsa(0, "s3-key");
    moto.put("keys/jwks.json", &json!({"keys": [key.jwk]}).to_string());
    moto.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(&moto.s3("rules/gatehouse.yaml"), &moto.s3("keys/jwks.json")),
    );
    let token_file = setup.write("token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sig");
    let p = serve(
        &setup,
        &env(&[
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            (
                "AWS_ROLE_ARN",
                moto.info["role_arn"].as_str().unwrap().to_owned(),
            ),
            ("AWS_ENDPOINT_URL_STS", moto.endpoint().to_owned()),
        ]),
    )
    .expect("serve");
    let r = decide(&p, &key.sign(&keys::claims("bob"))).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, p.log.lock().unwrap());
    assert_eq!(r.header("x-user"), Some("bob"));
}

// Fail closed and say why: a wrong secret is refused by S3 at start-up with its error code, and
// the process does not start without its rules.
#[tokio::test]
async fn a_bad_signature_stops_start_up_with_s3s_reason() {
    let mut moto = Store::start("s3_moto.py");
    moto.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    moto.put("keys/jwks.json", r#"{"keys": []}"#);
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(&moto.s3("rules/gatehouse.yaml"), &moto.s3("keys/jwks.json")),
    );
    let (id, _) = moto.keys("reader");
    let err = match serve(
        &setup,
        &env(&[
            ("AWS_ACCESS_KEY_ID", id),
            ("AWS_SECRET_ACCESS_KEY", "wrong-secret".into()),
        ]),
    ) {
        Ok(_) => panic!("started with a wrong secret"),
        Err(e) => e,
    };
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(err.contains("rules/gatehouse.yaml"), "{err}");

    // No credentials anywhere: the chain's message names every place it looked.
    let err = match serve(&setup, &env(&[])) {
        Ok(_) => panic!("started without credentials"),
        Err(e) => e,
    };
    assert!(
        err.contains("AWS credentials: none found: no AWS_ACCESS_KEY_ID"),
        "{err}"
    );
}

impl Store {
    /// `azblob://gatehouse-config/<name>` on Azurite, named by the service URL's parts.
    fn azblob(&self, name: &str) -> String {
        let host = self
            .endpoint()
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        format!("azblob://gatehouse-config/{name}?protocol=http&domain={host}&localemulator=true")
    }
}

// SPEC §2.5 and §2.6 with `azblob://`: Shared Key from AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY; the poll's `If-None-Match` is signed with the rest, and a changed blob is
// picked up.
#[tokio::test]
async fn rules_and_keys_from_azure_blob_storage() {
    let mut azure = Store::start("azurite.py");
    let key = keys::rsa(0, "azure-key");
    azure.put("keys/jwks.json", &json!({"keys": [key.jwk]}).to_string());
    azure.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(
            &azure.azblob("rules/gatehouse.yaml"),
            &azure.azblob("keys/jwks.json"),
        ),
    );
    let account = azure.info["account"].as_str().unwrap().to_owned();
    let secret = azure.info["key"].as_str().unwrap().to_owned();
    let p = serve(
        &setup,
        &env(&[
            ("AZURE_STORAGE_ACCOUNT", account.clone()),
            ("AZURE_STORAGE_KEY", secret),
        ]),
    )
    .expect("serve");
    let token = key.sign(&keys::claims("carol"));
    let r = decide(&p, &token).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, p.log.lock().unwrap());
    assert_eq!(r.header("x-user"), Some("carol"));

    azure.put("rules/gatehouse.yaml", &rules("user={{ print .Subject }}"));
    until(&p, &token, "the changed rule", |r| {
        r.header("x-user") == Some("user=carol")
    })
    .await;
    drop(p);

    // A wrong key: Azure's own reason, and no start without the rules.
    let err = match serve(
        &setup,
        &env(&[
            ("AZURE_STORAGE_ACCOUNT", account),
            ("AZURE_STORAGE_KEY", "d3Jvbmcta2V5".into()),
        ]),
    ) {
        Ok(_) => panic!("started with a wrong key"),
        Err(e) => e,
    };
    // (Azure says `AuthenticationFailed`, Azurite `AuthorizationFailure`; the message is theirs.)
    assert!(
        err.contains("HTTP 403 Forbidden")
            && err.contains("Server failed to authenticate the request"),
        "{err}"
    );
}

// A connection string holding a read-only SAS (made by Microsoft's SDK) and the blob endpoint:
// no account key anywhere.
#[tokio::test]
async fn azure_connection_string_with_a_sas() {
    let mut azure = Store::start("azurite.py");
    let key = keys::rsa(0, "azure-key");
    azure.put("keys/jwks.json", &json!({"keys": [key.jwk]}).to_string());
    azure.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(
            "azblob://gatehouse-config/rules/gatehouse.yaml",
            "azblob://gatehouse-config/keys/jwks.json",
        ),
    );
    let conn = format!(
        "BlobEndpoint={};SharedAccessSignature={};AccountName={}",
        azure.endpoint(),
        azure.info["sas"].as_str().unwrap(),
        azure.info["account"].as_str().unwrap()
    );
    let p = serve(&setup, &env(&[("AZURE_STORAGE_CONNECTION_STRING", conn)])).expect("serve");
    let r = decide(&p, &key.sign(&keys::claims("dave"))).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, p.log.lock().unwrap());
    assert_eq!(r.header("x-user"), Some("dave"));
}

// SPEC §2.5 and §2.6 with `gs://`: rules and keys from Google Cloud Storage's emulator
// (STORAGE_EMULATOR_HOST, unauthenticated as Google's clients treat an emulator), and a changed
// object picked up by the poll.
#[tokio::test]
async fn rules_and_keys_from_google_cloud_storage() {
    let mut gcs = Store::start("gcs_emulator.py");
    let key = keys::rsa(0, "gcs-key");
    gcs.put("keys/jwks.json", &json!({"keys": [key.jwk]}).to_string());
    gcs.put("rules/gatehouse.yaml", &rules("{{ print .Subject }}"));
    let setup = Setup::new();
    setup.write(
        "config.yaml",
        &config(
            "gs://gatehouse-config/rules/gatehouse.yaml",
            "gs://gatehouse-config/keys/jwks.json",
        ),
    );
    let host = gcs.info["host"].as_str().unwrap().to_owned();
    let p = serve(&setup, &env(&[("STORAGE_EMULATOR_HOST", host)])).expect("serve");
    let token = key.sign(&keys::claims("erin"));
    let r = decide(&p, &token).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, p.log.lock().unwrap());
    assert_eq!(r.header("x-user"), Some("erin"));

    gcs.put("rules/gatehouse.yaml", &rules("user={{ print .Subject }}"));
    until(&p, &token, "the changed rule", |r| {
        r.header("x-user") == Some("user=erin")
    })
    .await;

    // A missing object: the store's answer, and no start.
    setup.write(
        "config.yaml",
        &config(
            "gs://gatehouse-config/rules/missing.yaml",
            "gs://gatehouse-config/keys/jwks.json",
        ),
    );
    drop(p);
    let host = gcs.info["host"].as_str().unwrap().to_owned();
    let err = match serve(&setup, &env(&[("STORAGE_EMULATOR_HOST", host)])) {
        Ok(_) => panic!("started without its rules"),
        Err(e) => e,
    };
    assert!(
        err.contains("rules/missing.yaml") && err.contains("HTTP 404"),
        "{err}"
    );
}
