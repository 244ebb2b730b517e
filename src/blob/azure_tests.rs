use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::blob::stub::{env_of, stub, Seen};

const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A URL, its environment, and what it should give.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);

fn parse(url: &str, vars: Vec<(&str, String)>) -> Result<AzureBlob, String> {
    AzureBlob::parse(url, &env_of(vars))
}

// gocloud's azureblob URLs: the service URL from the account and the URL's (or the
// environment's) domain, protocol, CDN and emulator settings.
#[test]
fn addresses() {
    let key = || ("AZURE_STORAGE_KEY", DEV_KEY.to_owned());
    let acct = || ("AZURE_STORAGE_ACCOUNT", "acct".to_owned());
    let cases: Vec<Case> = vec![
        (
            "azblob://rules/prod/a%20b.yaml",
            vec![acct(), key()],
            "https://acct.blob.core.windows.net/rules/prod/a%20b.yaml",
        ),
        (
            "azblob://rules/a.json?domain=blob.core.chinacloudapi.cn",
            vec![acct(), key()],
            "https://acct.blob.core.chinacloudapi.cn/rules/a.json",
        ),
        (
            "azblob://rules/a.json?protocol=http&domain=127.0.0.1:10000&localemulator=true",
            vec![acct(), key()],
            "http://127.0.0.1:10000/acct/rules/a.json",
        ),
        (
            "azblob://rules/a.json?protocol=http&domain=127.0.0.1:10000&localemu=true",
            vec![acct(), key()],
            "http://127.0.0.1:10000/acct/rules/a.json",
        ),
        // gocloud: a loopback domain is an emulator.
        (
            "azblob://rules/a.json?protocol=http&domain=localhost:10000",
            vec![acct(), key()],
            "http://localhost:10000/acct/rules/a.json",
        ),
        // The portal's SAS connection string names no account.
        (
            "azblob://rules/a.json",
            vec![(
                "AZURE_STORAGE_CONNECTION_STRING",
                "BlobEndpoint=https://fromhost.blob.core.windows.net/;SharedAccessSignature=sv=1&sig=x".into(),
            )],
            "https://fromhost.blob.core.windows.net/rules/a.json?sv=1&sig=x",
        ),
        (
            "azblob://rules/a.json?cdn=true&domain=cdn.example.com",
            vec![acct(), key()],
            "https://cdn.example.com/rules/a.json",
        ),
        (
            "azblob://rules/a.json",
            vec![
                acct(),
                key(),
                ("AZURE_STORAGE_DOMAIN", "blob.core.usgovcloudapi.net".into()),
            ],
            "https://acct.blob.core.usgovcloudapi.net/rules/a.json",
        ),
        (
            "azblob://rules/a.json?storage_account=other",
            vec![("AZURE_STORAGE_SAS_TOKEN", "?sv=2021&sig=abc%3D".into())],
            "https://other.blob.core.windows.net/rules/a.json?sv=2021&sig=abc%3D",
        ),
        (
            "azblob://rules/a.json",
            vec![(
                "AZURE_STORAGE_CONNECTION_STRING",
                format!(
                    "DefaultEndpointsProtocol=https;AccountName=cs;AccountKey={DEV_KEY};EndpointSuffix=core.windows.net"
                ),
            )],
            "https://cs.blob.core.windows.net/rules/a.json",
        ),
        (
            "azblob://rules/a.json",
            vec![(
                "AZURE_STORAGE_CONNECTION_STRING",
                "UseDevelopmentStorage=true".into(),
            )],
            "http://127.0.0.1:10000/devstoreaccount1/rules/a.json",
        ),
        (
            "azblob://rules/win\\dir\\a.json",
            vec![acct(), key()],
            "https://acct.blob.core.windows.net/rules/win/dir/a.json",
        ),
    ];
    for (url, vars, want) in cases {
        let b = parse(url, vars).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(b.url().as_str(), want, "{url}");
    }
    // gocloud's order: a SAS token before a connection string.
    let b = parse(
        "azblob://rules/a.json",
        vec![
            acct(),
            ("AZURE_STORAGE_SAS_TOKEN", "sv=2&sig=y".into()),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                format!("AccountName=cs;AccountKey={DEV_KEY}"),
            ),
        ],
    )
    .expect("sas first");
    assert!(b.auth == Auth::Sas && b.url().query() == Some("sv=2&sig=y"));
    let b = parse(
        "azblob://rules/a.json",
        vec![(
            "AZURE_STORAGE_CONNECTION_STRING",
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=1"
                .into(),
        )],
    )
    .expect("emulator sas");
    assert_eq!(b.account, "devstoreaccount1");
    // Without a key, SAS or connection string: an Entra ID token.
    let b = parse("azblob://rules/a.json", vec![acct()]).expect("entra");
    assert!(b.auth == Auth::EntraId);
}

#[test]
fn credentials_file() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let path = dir.path().join("azure.json");
    std::fs::write(
        &path,
        format!(r#"{{"AccountName": "fromfile", "AccountKey": "{DEV_KEY}"}}"#),
    )
    .expect("write");
    let url = format!("azblob://rules/a.json?cred_path={}", path.display());
    let b = parse(&url, vec![]).expect("cred_path");
    assert_eq!(b.account, "fromfile");
    assert!(matches!(b.auth, Auth::SharedKey { .. }));
    std::fs::write(&path, r#"{"AccountName": "fromfile"}"#).expect("write");
    let err = parse(&url, vec![]).expect_err("no key");
    assert!(err.contains("neither AccountKey nor SASToken"), "{err}");
}

#[test]
fn refused() {
    let acct = || vec![("AZURE_STORAGE_ACCOUNT", "acct".to_owned())];
    let cases: Vec<Case> = vec![
        ("azblob:///a.json", acct(), "no bucket"),
        ("azblob://rules", acct(), "no object name"),
        (
            "azblob://rules/x/../a.json",
            acct(),
            "has a `.` or `..` segment",
        ),
        (
            "azblob://rules/a.json",
            vec![],
            "no storage account: set AZURE_STORAGE_ACCOUNT",
        ),
        (
            "azblob://rules/a.json?prefix=x",
            acct(),
            "unknown query parameter `prefix` (allowed: domain, protocol,",
        ),
        (
            "azblob://rules/a.json?protocol=ftp",
            acct(),
            "protocol `ftp`",
        ),
        (
            "azblob://rules/a.json?cdn=maybe",
            acct(),
            "cdn: `maybe` is not a boolean",
        ),
        (
            "azblob://rules/a.json",
            vec![
                ("AZURE_STORAGE_ACCOUNT", "acct".into()),
                ("AZURE_STORAGE_KEY", "not base64!".into()),
            ],
            "the account key is not base64",
        ),
        (
            "azblob://rules/a.json",
            vec![("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=abc".into())],
            "connection string: no AccountName",
        ),
    ];
    for (url, vars, want) in cases {
        let err = parse(url, vars).expect_err(url);
        assert!(err.contains(want), "{url}: {err}");
    }
}

#[test]
fn dates() {
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(1_795_575_258)),
        "Wed, 25 Nov 2026 02:54:18 GMT"
    );
}

// Shared Key: the string to sign as Azure documents it, conditional headers included (a poll
// sends `If-None-Match`), checked against a signature Microsoft's Python SDK
// (azure-storage-blob 12.26) computed for the same request.
#[test]
fn shared_key_signature() {
    let b = parse(
        "azblob://gatehouse-config/rules/g.yaml?protocol=http&domain=127.0.0.1:10000&localemulator=true",
        vec![
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1".into()),
            ("AZURE_STORAGE_KEY", DEV_KEY.into()),
        ],
    )
    .expect("parse");
    let Auth::SharedKey { key } = &b.auth else {
        panic!("shared key")
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-ms-date",
        HeaderValue::from_static("Wed, 25 Nov 2026 02:54:18 GMT"),
    );
    headers.insert("x-ms-version", HeaderValue::from_static(VERSION));
    headers.insert(
        http::header::IF_NONE_MATCH,
        HeaderValue::from_static("\"0x8DD1\""),
    );
    assert_eq!(
        b.shared_key(key, &headers),
        "SharedKey devstoreaccount1:CpO22ysDckqxeisgk3pzYRnnEZ6rvHUm0NkSSkbqDbg="
    );
}

// Microsoft Entra ID: a service principal's secret, a workload identity's federated token, and
// the managed identity endpoints, each against a recording stub.
#[tokio::test]
async fn entra_id_tokens() {
    let answer = Arc::new(|s: &Seen| {
        let body = match s.path.as_str() {
            p if p.starts_with("/tenant-1/oauth2/v2.0/token") => {
                r#"{"token_type":"Bearer","expires_in":3599,"access_token":"sp-token"}"#
            }
            p if p.starts_with("/metadata/identity/oauth2/token") => {
                r#"{"access_token":"imds-token","expires_on":"4102444800","resource":"https://storage.azure.com/"}"#
            }
            p if p.starts_with("/msi/token") => {
                r#"{"access_token":"appservice-token","expires_on":4102444800}"#
            }
            _ => {
                return (
                    400,
                    r#"{"error":"invalid_request","error_description":"AADSTS900144: no"}"#
                        .to_owned(),
                )
            }
        };
        (200, body.to_owned())
    });
    let (base, seen) = stub(answer).await;
    let form = |s: &Seen| -> HashMap<String, String> {
        url::form_urlencoded::parse(s.body.as_bytes())
            .into_owned()
            .collect()
    };

    let env = env_of(vec![
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("AZURE_TENANT_ID", "tenant-1".into()),
        ("AZURE_CLIENT_ID", "client-1".into()),
        ("AZURE_CLIENT_SECRET", "s3cret".into()),
    ]);
    let (token, _) = fetch_entra_token(&env).await.expect("client secret");
    assert_eq!(token, "sp-token");
    let f = form(&seen.lock().expect("seen")[0]);
    assert_eq!(
        (
            f["grant_type"].as_str(),
            f["client_id"].as_str(),
            f["client_secret"].as_str(),
            f["scope"].as_str()
        ),
        ("client_credentials", "client-1", "s3cret", SCOPE)
    );

    let dir = tempfile::TempDir::new().expect("tempdir");
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "federated.jwt\n").expect("write");
    let env = env_of(vec![
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("AZURE_TENANT_ID", "tenant-1".into()),
        ("AZURE_CLIENT_ID", "client-1".into()),
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
    ]);
    fetch_entra_token(&env).await.expect("workload identity");
    let f = form(&seen.lock().expect("seen")[1]);
    assert_eq!(f["client_assertion"], "federated.jwt");
    assert_eq!(
        f["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );

    let env = env_of(vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.clone())]);
    let (token, expires) = fetch_entra_token(&env).await.expect("imds");
    assert_eq!(token, "imds-token");
    assert_eq!(expires, UNIX_EPOCH + Duration::from_secs(4_102_444_800));
    let s = seen.lock().expect("seen")[2].clone();
    assert_eq!(s.headers["metadata"], "true");
    assert!(
        s.path.contains("api-version=2018-02-01")
            && s.path
                .contains("resource=https%3A%2F%2Fstorage.azure.com%2F"),
        "{}",
        s.path
    );

    let env = env_of(vec![
        ("IDENTITY_ENDPOINT", format!("{base}/msi/token")),
        ("IDENTITY_HEADER", "app-secret".into()),
        ("AZURE_CLIENT_ID", "user-assigned".into()),
    ]);
    let (token, _) = fetch_entra_token(&env).await.expect("app service");
    assert_eq!(token, "appservice-token");
    let s = seen.lock().expect("seen")[3].clone();
    assert_eq!(s.headers["x-identity-header"], "app-secret");
    assert!(s.path.contains("client_id=user-assigned"), "{}", s.path);

    let env = env_of(vec![
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("AZURE_TENANT_ID", "other".into()),
        ("AZURE_CLIENT_ID", "client-1".into()),
        ("AZURE_CLIENT_SECRET", "s3cret".into()),
    ]);
    let err = fetch_entra_token(&env).await.expect_err("refused");
    assert!(
        err.ends_with("HTTP 400 Bad Request AADSTS900144: no"),
        "{err}"
    );
}
