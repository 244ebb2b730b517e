use super::*;

use crate::config::types::Uri;

fn config(url: &str) -> CheckConfig {
    CheckConfig {
        handler: "cookie_session",
        check_session_url: Some(Uri::parse(url).expect("url")),
        preserve_query: true,
        preserve_path: false,
        preserve_host: false,
        force_method: String::new(),
        forward_http_headers: vec!["Cookie".into()],
        additional_headers: BTreeMap::new(),
        subject_from: "subject".into(),
        extra_from: "extra".into(),
        cache: SessionCache::default(),
        timeout: Duration::from_secs(1),
        config_json: "{}".into(),
    }
}

fn request() -> RequestInfo {
    let mut r = RequestInfo {
        method: "POST".into(),
        ..RequestInfo::default()
    };
    r.url.host = "app.example".into();
    r.url.path = "/orders/a b".into();
    r.url.raw_query = "x=1&y=2".into();
    for (k, v) in [
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("x-trace", "t1"),
        ("x-other", "o"),
        ("authorization", "Bearer secret"),
    ] {
        r.headers
            .append(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    r
}

// SPEC §5.1: path = original unless preserve_path; query = own unless !preserve_query; method
// = original unless force_method; only listed headers (+ Cookie), then additional headers, then
// X-Forwarded-Host.
#[test]
fn prepare_follows_spec() {
    let check = SessionCheck::new(config("http://kratos/sessions/whoami?own=1")).expect("build");
    let call = check.prepare(&request());
    assert_eq!(call.method, Method::POST);
    assert_eq!(call.url.as_str(), "http://kratos/orders/a%20b?own=1");
    assert_eq!(call.headers.len(), 1);
    assert_eq!(call.headers["cookie"], "a=1; b=2");

    let mut c = config("http://kratos/sessions/whoami?own=1");
    c.preserve_path = true;
    c.preserve_query = false;
    c.preserve_host = true;
    c.force_method = "GET".into();
    c.forward_http_headers = vec!["X-Trace".into(), "Cookie".into()];
    c.additional_headers = BTreeMap::from([
        ("X-Trace".to_string(), "override".to_string()),
        ("X-Forwarded-Host".to_string(), "ignored".to_string()),
    ]);
    let call = SessionCheck::new(c).expect("build").prepare(&request());
    assert_eq!(call.method, Method::GET);
    assert_eq!(call.url.as_str(), "http://kratos/sessions/whoami?x=1&y=2");
    assert_eq!(call.headers["x-trace"], "override");
    assert_eq!(call.headers["x-forwarded-host"], "app.example");
    assert!(call.headers.get("x-other").is_none());
    assert!(call.headers.get("authorization").is_none());

    // preserve_query false and no original query: no `?` at all.
    let mut c = config("http://kratos/s?own=1");
    c.preserve_query = false;
    let mut r = request();
    r.url.raw_query.clear();
    let call = SessionCheck::new(c).expect("build").prepare(&r);
    assert_eq!(call.url.query(), None);
}

// SPEC §5.1 ("path = original request path"): the decoded path goes re-encoded, as Go's
// `URL.EscapedPath` sends it, so the store reads the path that was matched (DESIGN §6).
#[test]
fn path_is_reencoded() {
    let check = SessionCheck::new(config("http://kratos/s")).expect("build");
    for (decoded, sent) in [("/csd/100%", "/csd/100%25"), ("/csd/%41", "/csd/%2541")] {
        let mut r = request();
        r.url.path = decoded.into();
        assert_eq!(check.prepare(&r).url.path(), sent, "{decoded}");
    }
}

// SPEC §5.1 (Go's client writes `Host` and the framing itself): `Host`, `Content-Length` and
// hop-by-hop names in `forward_http_headers` or `additional_headers` never reach the store.
#[test]
fn host_and_framing_are_not_forwarded() {
    let mut c = config("http://kratos/s");
    c.forward_http_headers = ["Host", "Content-Length", "Connection", "Cookie"]
        .map(String::from)
        .to_vec();
    c.additional_headers = BTreeMap::from([
        ("Host".to_string(), "session.internal".to_string()),
        ("Transfer-Encoding".to_string(), "chunked".to_string()),
        ("X-A".to_string(), "a".to_string()),
    ]);
    let mut r = request();
    for (k, v) in [
        ("host", "client.example"),
        ("content-length", "5"),
        ("connection", "close"),
    ] {
        r.headers
            .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let call = SessionCheck::new(c).expect("build").prepare(&r);
    let mut names: Vec<&str> = call.headers.keys().map(HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["cookie", "x-a"]);
}

#[test]
fn bad_config_is_a_build_error() {
    let mut c = config("http://kratos/s");
    c.force_method = "G ET".into();
    assert_eq!(
        SessionCheck::new(c).expect_err("method").path,
        "config.force_method"
    );
    let mut c = config("http://kratos/s");
    c.additional_headers = BTreeMap::from([("X-A".to_string(), "a\nb".to_string())]);
    assert_eq!(
        SessionCheck::new(c).expect_err("value").path,
        "config.additional_headers.X-A"
    );
    let mut c = config("http://kratos/s");
    c.check_session_url = None;
    assert!(SessionCheck::new(c).is_err());
}

// The key covers every part of the request the call is built from, and the config.
#[test]
fn cache_key_covers_the_request() {
    let check = SessionCheck::new(config("http://kratos/s")).expect("build");
    let k = check.cache_key(&[0; 32], &request());
    assert_eq!(k, check.cache_key(&[0; 32], &request()));
    assert_ne!(k, check.cache_key(&[1; 32], &request()));
    let mut other = request();
    other
        .headers
        .insert(http::header::COOKIE, HeaderValue::from_static("a=2"));
    assert_ne!(k, check.cache_key(&[0; 32], &other));
    let mut other = request();
    other.url.path = "/elsewhere".into();
    assert_ne!(k, check.cache_key(&[0; 32], &other));
    // A header that is not forwarded does not split the cache.
    let mut other = request();
    other
        .headers
        .insert("x-other", HeaderValue::from_static("something else"));
    assert_eq!(k, check.cache_key(&[0; 32], &other));
}

/// Randomized: whenever two requests make different calls to the session store (method, URL or
/// headers), their cache keys differ, under every combination of the config's choices. Fails
/// when the key leaves out anything `prepare` reads.
#[test]
fn different_calls_never_share_a_cache_key() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let methods = ["GET", "POST"];
    let paths = ["/a", "/b", "/a b"];
    let queries = ["", "x=1", "x=2"];
    let hosts = ["one.example", "two.example"];
    let values = ["a=1", "b=2", "a=1; b=2"];
    for variant in 0..32u32 {
        let bit = |i: u32| variant & (1 << i) != 0;
        let mut c = config("http://kratos/sessions/whoami?own=1");
        c.preserve_path = bit(0);
        c.preserve_query = bit(1);
        c.preserve_host = bit(2);
        if bit(3) {
            c.force_method = "GET".into();
        }
        c.forward_http_headers = if bit(4) {
            vec!["Cookie".into(), "X-Trace".into()]
        } else {
            vec!["Cookie".into()]
        };
        let check = SessionCheck::new(c).expect("build");
        let requests: Vec<RequestInfo> = (0..40)
            .map(|_| {
                let mut r = RequestInfo {
                    method: methods[next(methods.len())].into(),
                    ..RequestInfo::default()
                };
                r.url.path = paths[next(paths.len())].into();
                r.url.raw_query = queries[next(queries.len())].into();
                r.url.host = hosts[next(hosts.len())].into();
                for name in ["cookie", "x-trace", "x-other"] {
                    for _ in 0..next(3) {
                        r.headers.append(
                            HeaderName::from_static(name),
                            HeaderValue::from_static(values[next(values.len())]),
                        );
                    }
                }
                r
            })
            .collect();
        let calls: Vec<(Call, Key)> = requests
            .iter()
            .map(|r| (check.prepare(r), check.cache_key(&[7; 32], r)))
            .collect();
        for (a, ka) in &calls {
            for (b, kb) in &calls {
                let same_call = a.method == b.method && a.url == b.url && a.headers == b.headers;
                if !same_call {
                    assert_ne!(ka, kb, "variant {variant}: {} vs {}", a.url, b.url);
                }
            }
        }
    }
}

// SPEC §5.1: GJSON subject_from / extra_from, `@this` is the root, wrong types -> 403.
#[test]
fn parse_subject_and_extra() {
    let body = br#"{"identity":{"id":"123"},"session":{"foo":"bar"},"active":true,"expires_at":"2030-01-01T00:00:00Z"}"#;
    let (id, meta) = parse(body, "identity.id", "@this").expect("parse");
    assert_eq!(id.subject, "123");
    assert_eq!(id.extra["session"]["foo"], "bar");
    assert_eq!(meta.active, Some(true));
    assert_eq!(meta.expires_at.as_deref(), Some("2030-01-01T00:00:00Z"));

    let (id, _) = parse(br#"{"subject":"u","extra":{"a":1}}"#, "subject", "extra").expect("ok");
    assert_eq!(id.subject, "u");
    assert_eq!(id.extra["a"], 1);

    // Absent or null -> empty.
    let (id, meta) = parse(br#"{"subject":null}"#, "subject", "extra").expect("ok");
    assert_eq!(id, Identity::default());
    assert_eq!(meta, SessionMeta::default());

    // Nested session object (`session.expires_at`).
    let (_, meta) = parse(
        br#"{"session":{"active":false,"expires_at":"x"}}"#,
        "s",
        "e",
    )
    .expect("ok");
    assert_eq!(meta.active, Some(false));
    assert_eq!(meta.expires_at.as_deref(), Some("x"));

    for (body, key) in [
        (&br#"{"subject":1}"#[..], "subject_from"),
        (br#"{"subject":{"a":1}}"#, "subject_from"),
        (br#"{"subject":"u","extra":[1]}"#, "extra_from"),
        (br#"{"subject":"u","extra":"x"}"#, "extra_from"),
    ] {
        let e = parse(body, "subject", "extra").expect_err("wrong type");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let reason = e.reason.clone().unwrap_or_default();
        assert!(
            reason.starts_with(&format!(
                "The configured {key} GJSON path returned an error"
            )),
            "{reason}"
        );
    }
    let e = parse(b"not json", "subject", "extra").expect_err("garbage");
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    let e = parse(b"", "subject", "extra").expect_err("empty");
    assert_eq!(e.status, StatusCode::FORBIDDEN);
}
