//! criterion micro-benchmarks (bench/README.md): rule matching at 10 / 1,000 / 10,000 rules,
//! template rendering, the whole pipeline of a JWT rule without network I/O (one token repeated:
//! a verified-token cache hit by default, and with `cache.enabled: false`), id_token signing
//! with and without the token cache. Run with `cargo bench --bench gatehouse`; not part of the
//! test command (`cargo test --all-targets` only compiles this file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse::app::Snapshot;
use gatehouse::pipeline::template::Template;
use gatehouse::pipeline::{DisabledHandlers, RequestInfo};
use gatehouse::rules::matcher::{MatchIndex, Pattern, Strategy};
use gatehouse::rules::remote::RemoteStore;
use http::HeaderMap;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn patterns(strategy: Strategy, n: usize) -> Vec<Pattern> {
    (0..n)
        .map(|i| {
            let p = match strategy {
                Strategy::Regexp => format!("<http|https>://<[^/]+>/svc-{i}/v<[0-9]+>/<.*>"),
                // `*` stops at `.` and `/` (Oathkeeper's glob separators): a literal host.
                Strategy::Glob => format!("<{{http,https}}>://api.example.com/svc-{i}/v1/<**>"),
            };
            Pattern::compile(strategy, &p).unwrap()
        })
        .collect()
}

/// Time to find the rules of one URL that matches the middle rule of the set: flat from 10 to
/// 10,000 rules is the index's promise (DESIGN.md §4; target: 10,000 <= 1.5 x 10).
fn matching(c: &mut Criterion) {
    for (name, strategy) in [("regexp", Strategy::Regexp), ("glob", Strategy::Glob)] {
        let mut g = c.benchmark_group(format!("match/{name}"));
        for n in SIZES {
            let index = MatchIndex::build(patterns(strategy, n));
            let url = format!("https://api.example.com/svc-{}/v1/users/42", n / 2);
            assert_eq!(index.find(&url).unwrap().as_slice(), [n / 2]);
            g.bench_with_input(BenchmarkId::from_parameter(n), &url, |b, url| {
                b.iter(|| index.find(black_box(url)).unwrap())
            });
        }
        g.finish();
    }
}

fn templates(c: &mut Criterion) {
    let mut session = gatehouse::pipeline::session::Session {
        subject: "user-42".into(),
        ..Default::default()
    };
    std::sync::Arc::make_mut(&mut session.extra).insert("email".into(), "a@example.com".into());
    session.match_context.regexp_capture_groups = vec!["https".into(), "42".into()];
    let cases = [
        ("subject", "{{ print .Subject }}"),
        (
            "extra+capture",
            "{{ print .Extra.email }}/{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}",
        ),
    ];
    let mut g = c.benchmark_group("template");
    for (name, src) in cases {
        let t = Template::parse(src).unwrap();
        g.bench_function(name, |b| b.iter(|| t.render(black_box(&session)).unwrap()));
    }
    g.finish();
}

/// Config + rules + keys in a temp dir: a JWT rule with a header mutator, and id_token rules.
struct Fixture {
    _dir: tempfile::TempDir,
    snapshot: Snapshot,
    token: String,
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

fn fixture(rt: &tokio::runtime::Runtime) -> Fixture {
    use gatehouse::credentials::{jwk::KeySet, keygen, signer::SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jwt_keys = keygen::generate("RS256", Some("bench"), None).unwrap();
    let set = KeySet::parse(jwt_keys.to_string().as_bytes()).unwrap();
    let public = serde_json::json!({ "keys": set.public_jwks() }).to_string();
    let public = write(d, "public.json", &public);
    let claims = serde_json::json!({"sub": "bench-user", "exp": 4_102_444_800u64});
    let token = SigningKey::select(&set)
        .unwrap()
        .sign(claims.as_object().unwrap())
        .unwrap();
    let idt_rs = write(
        d,
        "idt-rs.json",
        &keygen::generate("RS256", None, None).unwrap().to_string(),
    );
    let idt_es = write(
        d,
        "idt-es.json",
        &keygen::generate("ES256", None, None).unwrap().to_string(),
    );
    let rules_dir = d.join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    let rule = |id: &str, authn: &str, mutator: serde_json::Value| {
        serde_json::json!({
            "id": id, "match": {"url": format!("http://bench/{id}/<.*>"), "methods": ["GET"]},
            "authenticators": [{"handler": authn}], "authorizer": {"handler": "allow"},
            "mutators": [mutator],
        })
    };
    // The path is in the claims: a new path is a token cache miss (a new signature).
    let idt = |jwks: &str| {
        serde_json::json!({"handler": "id_token", "config": {
            "jwks_url": format!("file://{jwks}"),
            "claims": "{\"path\": \"{{ .MatchContext.URL.Path }}\"}"}})
    };
    // The same JWT rule with the verified-token cache off: every request verifies RS256.
    let mut nocache = rule(
        "jwt-nocache",
        "jwt",
        serde_json::json!({"handler": "header"}),
    );
    nocache["authenticators"][0]["config"] = serde_json::json!({"cache": {"enabled": false}});
    let rules = serde_json::json!([
        rule("jwt", "jwt", serde_json::json!({"handler": "header"})),
        nocache,
        rule("idt-rs", "anonymous", idt(&idt_rs)),
        rule("idt-es", "anonymous", idt(&idt_es)),
    ]);
    write(&rules_dir, "rules.json", &rules.to_string());
    let config = serde_json::json!({
        "access_rules": {"repositories": [format!("file://{}", rules_dir.display())]},
        "authenticators": {
            "anonymous": {"enabled": true},
            "jwt": {"enabled": true, "config": {"jwks_urls": [format!("file://{public}")]}},
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {
            "header": {"enabled": true, "config": {"headers": {"X-User": "{{ print .Subject }}"}}},
            "id_token": {"enabled": true, "config": {
                "issuer_url": "https://gatehouse.bench/", "jwks_url": format!("file://{idt_rs}")}},
        },
    });
    let config = write(d, "config.json", &config.to_string());
    let config = Arc::new(gatehouse::config::load(&[config.into()]).unwrap());
    let snapshot = rt
        .block_on(Snapshot::build(
            config,
            &RemoteStore::default(),
            DisabledHandlers::Reject,
        ))
        .unwrap();
    Fixture {
        _dir: dir,
        snapshot,
        token,
    }
}

fn request(path: &str, token: Option<&str>) -> RequestInfo {
    let mut headers = HeaderMap::new();
    if let Some(t) = token {
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    RequestInfo {
        method: "GET".into(),
        url: gatehouse::pipeline::session::RequestUrl {
            scheme: "http".into(),
            host: "bench".into(),
            path: path.into(),
            raw_query: String::new(),
        },
        headers,
        remote_addr: None,
        forwarded_trusted: false,
        original_uri: path.into(),
        body: None,
    }
}

/// Match + pipeline, as a request would run it (no listener, no upstream).
async fn decide(snapshot: &Snapshot, req: &RequestInfo) -> http::HeaderMap {
    let (index, captures) = snapshot.rules.find(req).unwrap();
    let mut session = req.new_session(captures);
    gatehouse::pipeline::run(&snapshot.rules.rules()[index], req, &mut session)
        .await
        .unwrap();
    session.header
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = fixture(&rt);
    let jwt = request("/jwt/x", Some(&f.token));
    assert!(rt
        .block_on(decide(&f.snapshot, &jwt))
        .contains_key("x-user"));
    c.bench_function("pipeline/jwt_rs256+header", |b| {
        b.iter(|| rt.block_on(decide(&f.snapshot, black_box(&jwt))))
    });
    let nocache = request("/jwt-nocache/x", Some(&f.token));
    assert!(rt
        .block_on(decide(&f.snapshot, &nocache))
        .contains_key("x-user"));
    c.bench_function("pipeline/jwt_rs256+header/cache_off", |b| {
        b.iter(|| rt.block_on(decide(&f.snapshot, black_box(&nocache))))
    });

    let mut g = c.benchmark_group("id_token");
    for alg in ["rs", "es"] {
        let cached = request(&format!("/idt-{alg}/x"), None);
        g.bench_function(format!("{alg}256/cached"), |b| {
            b.iter(|| rt.block_on(decide(&f.snapshot, black_box(&cached))))
        });
        let n = AtomicU64::new(0);
        g.bench_function(format!("{alg}256/uncached"), |b| {
            b.iter(|| {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let req = request(&format!("/idt-{alg}/{i}"), None);
                rt.block_on(decide(&f.snapshot, &req))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matching, templates, pipeline);
criterion_main!(benches);
