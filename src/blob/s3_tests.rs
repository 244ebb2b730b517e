use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn parse(url: &str) -> Result<S3Object, String> {
    S3Object::parse(url, &env_of(&[("HOME", "/nonexistent")]))
}

fn example_creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_owned),
        expires: None,
    }
}

/// 2015-08-30T12:36:00Z, the AWS signature test suite's moment.
fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn header(sig: &[(HeaderName, String)], name: &str) -> String {
    sig.iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name}"))
}

// SPEC §2.5: `s3://bucket/key` addresses, as gocloud's s3blob and the AWS SDKs build them.
#[test]
fn addresses() {
    let cases: &[(&str, &str)] = &[
        (
            "s3://bucket/rules.json?region=eu-west-1",
            "https://bucket.s3.eu-west-1.amazonaws.com/rules.json",
        ),
        (
            "s3://bucket/dir/a%20b+c.yaml?region=us-east-1",
            "https://bucket.s3.us-east-1.amazonaws.com/dir/a%20b%2Bc.yaml",
        ),
        (
            "s3://bucket/k.json?region=cn-north-1",
            "https://bucket.s3.cn-north-1.amazonaws.com.cn/k.json",
        ),
        (
            "s3://bucket/k.json?region=us-east-1&fips=true&dualstack=true",
            "https://bucket.s3-fips.dualstack.us-east-1.amazonaws.com/k.json",
        ),
        (
            "s3://bucket/k.json?region=us-east-1&s3ForcePathStyle=true",
            "https://s3.us-east-1.amazonaws.com/bucket/k.json",
        ),
        (
            "s3://bucket/k.json?region=us-east-1&use_path_style=true&disable_https=true",
            "http://s3.us-east-1.amazonaws.com/bucket/k.json",
        ),
        // Dots in a bucket's name break the certificate of a per-bucket host name.
        (
            "s3://my.bucket/k.json?region=us-east-1",
            "https://s3.us-east-1.amazonaws.com/my.bucket/k.json",
        ),
        // Not a host label.
        (
            "s3://My_Bucket/k.json?region=us-east-1",
            "https://s3.us-east-1.amazonaws.com/My_Bucket/k.json",
        ),
        // MinIO / LocalStack style endpoints.
        (
            "s3://bucket/k.json?region=us-east-1&endpoint=127.0.0.1:9000&disableSSL=true",
            "http://127.0.0.1:9000/bucket/k.json",
        ),
        (
            "s3://bucket/k.json?region=us-east-1&endpoint=http://localhost:4566",
            "http://localhost:4566/bucket/k.json",
        ),
        (
            "s3://bucket/k.json?region=us-east-1&endpoint=https://minio.internal",
            "https://bucket.minio.internal/k.json",
        ),
        (
            "s3://bucket/k.json?region=auto&endpoint=https://acct.r2.cloudflarestorage.com&awssdk=v2",
            "https://bucket.acct.r2.cloudflarestorage.com/k.json",
        ),
    ];
    for (url, want) in cases {
        let o = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(o.url().as_str(), *want, "{url}");
    }
    let o = parse("s3://bucket/dir/a%20b.json?region=us-east-1").expect("parse");
    assert_eq!(o.key, "dir/a b.json");
    // Dots inside a segment are ordinary characters.
    let o = parse("s3://bucket/a..b/.hidden/x.json?region=us-east-1").expect("dots");
    assert_eq!(o.url().path(), "/a..b/.hidden/x.json");
}

#[test]
fn region_from_the_environment_and_profile() {
    let o = S3Object::parse("s3://b/k.json", &env_of(&[("AWS_REGION", "ap-south-1")]))
        .expect("AWS_REGION");
    assert_eq!(o.region, "ap-south-1");
    let o = S3Object::parse(
        "s3://b/k.json",
        &env_of(&[("AWS_DEFAULT_REGION", "sa-east-1")]),
    )
    .expect("AWS_DEFAULT_REGION");
    assert_eq!(o.region, "sa-east-1");

    let dir = tempfile::TempDir::new().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[default]\nregion = eu-north-1\n\n[profile ops]\nregion = us-west-2\n",
    )
    .expect("write");
    let config = config.to_string_lossy().into_owned();
    let env = env_of(&[("AWS_CONFIG_FILE", &config)]);
    assert_eq!(
        S3Object::parse("s3://b/k.json", &env)
            .expect("default")
            .region,
        "eu-north-1"
    );
    let o = S3Object::parse("s3://b/k.json?profile=ops", &env).expect("ops");
    assert_eq!(
        (o.region.as_str(), o.profile.as_deref()),
        ("us-west-2", Some("ops"))
    );
    // The URL's region wins over everything.
    let o = S3Object::parse("s3://b/k.json?region=us-east-2", &env).expect("param");
    assert_eq!(o.region, "us-east-2");
    // An endpoint for every object from the environment.
    let env = env_of(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566"),
    ]);
    let o = S3Object::parse("s3://b2b/k.json", &env).expect("endpoint env");
    assert_eq!(o.url().as_str(), "http://127.0.0.1:4566/b2b/k.json");
}

// Bad input: every message says what is wrong and what is allowed.
#[test]
fn refused() {
    let cases: &[(&str, &str)] = &[
        ("s3:///k.json?region=x", "no bucket"),
        // Dot segments: a URL would resolve them and read another object, even another bucket.
        ("s3://b/x/../y.json?region=x", "has a `.` or `..` segment"),
        (
            "s3://b/..%2Fother%2Fk.json?region=x",
            "has a `.` or `..` segment",
        ),
        ("s3://b/%2E%2E/k.json?region=x", "has a `.` or `..` segment"),
        ("s3://b/./k.json?region=x", "has a `.` or `..` segment"),
        ("s3://b/%FF.json?region=x", "does not decode to UTF-8"),
        (
            "s3://b/k.json?region=x&region=y",
            "the parameter `region` is given twice",
        ),
        ("s3://bucket?region=x", "no object name"),
        ("s3://bucket/?region=x", "no object name"),
        ("s3://bucket/k.json", "no region for bucket `bucket`"),
        (
            "s3://bucket/k.json?region=x&prefix=a",
            "unknown query parameter `prefix` (allowed: region, endpoint,",
        ),
        (
            "s3://bucket/k.json?region=x&disableSSL=yes",
            "disableSSL: `yes` is not a boolean",
        ),
        (
            "s3://bucket/k.json?region=x&awssdk=v3",
            "awssdk: `v3` is not v1 or v2",
        ),
        (
            "s3://bucket/k.json?region=a/b",
            "region `a/b` is not a region name",
        ),
        (
            "s3://bucket/k.json?region=x&endpoint=ftp://h",
            "expected an http:// or https:// URL",
        ),
        (
            "s3://bucket/k.json?region=x&endpoint=http://u:p@h",
            "no query, fragment or user info",
        ),
    ];
    for (url, want) in cases {
        let err = parse(url).expect_err(url);
        assert!(err.contains(want), "{url}: {err}");
    }
}

// Signature Version 4, checked against botocore's `S3SigV4Auth` for the same request, keys and
// moment (the AWS test suite's example credentials).
#[test]
fn signature_matches_botocore() {
    let o = parse("s3://examplebucket/rules/prod%20a.json?region=us-east-1").expect("parse");
    let sig = o.signature(&example_creds(None), example_time());
    assert_eq!(
        header(&sig, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
         Signature=1f12d680410125da5629a8903b1826b8fa400259e555f935b63542b15aa95b30"
    );
    assert_eq!(header(&sig, "x-amz-date"), "20150830T123600Z");
    assert_eq!(header(&sig, "x-amz-content-sha256"), EMPTY_SHA256);
    assert!(!sig.iter().any(|(n, _)| n == "x-amz-security-token"));

    // Path style on a port, with a session token.
    let o = parse("s3://my.bucket/k~e_y-1.json?region=eu-west-3&endpoint=http://127.0.0.1:9000")
        .expect("parse");
    assert_eq!(o.host, "127.0.0.1:9000");
    let sig = o.signature(
        &example_creds(Some("FQoGZXIvYXdzEXAMPLE/token+=")),
        example_time(),
    );
    assert_eq!(
        header(&sig, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/s3/aws4_request, \
         SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
         Signature=79936187dbed3ea92024389f4a490f0fddb7b5347bbdace518cdb0bbe95c3128"
    );
    assert_eq!(
        header(&sig, "x-amz-security-token"),
        "FQoGZXIvYXdzEXAMPLE/token+="
    );
}

#[test]
fn secrets_stay_out_of_debug() {
    let c = example_creds(Some("tok"));
    let shown = format!("{c:?}");
    assert!(
        shown.contains("AKIDEXAMPLE") && !shown.contains("EXAMPLEKEY") && !shown.contains("tok")
    );
}
