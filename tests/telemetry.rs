//! Metrics (SPEC §6.3 with gatehouse's additions) and request ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::upstream::Upstream;
use common::{send, Gate, BASE_CONFIG};
use http::Method;

// After traffic, `GET :9000/metrics` shows the request counter and histogram labelled by
// service, method, status and rule; reload counters, loaded rules and build info; other paths
// of the metrics port are 404, and the proxy port never serves metrics.
#[tokio::test]
async fn metrics_after_traffic() {
    let up = Upstream::start().await;
    let rules = format!(
        "- id: metered\n  match: {{ url: 'http://<[^/]+>/m/<.*>', methods: [GET] }}\n  upstream: {{ url: '{}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n",
        up.url()
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for _ in 0..3 {
        assert_eq!(g.proxy("GET", "/m/x", &[]).await.status, 200);
    }
    assert_eq!(g.req("GET", "/decisions/m/y", &[]).await.status, 200);
    assert_eq!(g.req("GET", "/decisions/none", &[]).await.status, 404);
    let r = send(g.metrics, Method::GET, "/metrics", &[], Bytes::new()).await;
    assert_eq!(r.status, 200);
    let m = r.body;
    let line = |needle: &str| {
        m.lines()
            .find(|l| l.starts_with(needle) && !l.starts_with('#'))
            .map(str::to_string)
    };
    let proxy = line("gatehouse_requests_total{service=\"gatehouse-proxy\",method=\"GET\",request=\"/m\",status_code=\"200\",rule=\"metered\"}")
        .unwrap_or_else(|| panic!("no proxy counter in:\n{m}"));
    // The metrics registry is process-wide: other tests in this binary may add to it.
    assert!(
        proxy
            .split_whitespace()
            .last()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            >= 3.0,
        "{proxy}"
    );
    assert!(line("gatehouse_requests_total{service=\"gatehouse-api\",method=\"GET\",request=\"/decisions\",status_code=\"404\",rule=\"\"}").is_some(), "{m}");
    assert!(
        m.contains("gatehouse_requests_duration_seconds_bucket{"),
        "{m}"
    );
    assert!(m.contains("gatehouse_rules_loaded "), "{m}");
    assert!(m.contains("gatehouse_build_info{version=\""), "{m}");
    assert!(m.contains("# TYPE gatehouse_reloads counter"), "{m}");
    assert_eq!(
        send(g.metrics, Method::GET, "/other", &[], Bytes::new())
            .await
            .status,
        404
    );
    // Not on the proxy port: /metrics there is just an unmatched request.
    assert_eq!(g.proxy("GET", "/metrics", &[]).await.status, 404);
}

// X-Request-Id: honoured when sent, generated otherwise; the upstream sees the same id.
#[tokio::test]
async fn request_ids() {
    let up = Upstream::start().await;
    let rules = format!(
        "- id: r\n  match: {{ url: 'http://<[^/]+>/r', methods: [GET] }}\n  upstream: {{ url: '{}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n",
        up.url()
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.proxy("GET", "/r", &[("X-Request-Id", "abc-123")]).await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    assert_eq!(up.last().headers.get("x-request-id").unwrap(), "abc-123");
    let r = g.proxy("GET", "/r", &[]).await;
    let generated = r.header("x-request-id").expect("generated id").to_string();
    assert_eq!(generated.len(), 36);
    assert_eq!(
        up.last()
            .headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        generated
    );
    // The verbose JSON error carries it too (SPEC §4.9 `request`).
    let r = g
        .req("GET", "/decisions/nothing", &[("X-Request-Id", "rid-9")])
        .await;
    assert_eq!(r.json()["error"]["request"], "rid-9");
}

// SPEC §7: `log.level` applies on reload (the format after a restart). At `error`, the reload's
// own info line is not written; back at `info`, it is.
#[test]
fn log_level_applies_on_reload() {
    use std::time::{Duration, Instant};
    let setup = common::Setup::new();
    let rule = |id: &str| {
        format!("- id: {id}\n  match: {{ url: 'http://h/{id}', methods: [GET] }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n")
    };
    let config = |level: &str| BASE_CONFIG.replace("level: warn", &format!("level: {level}"));
    let cfg = setup.write("config.yaml", &config("info"));
    setup.write("rules.yaml", &rule("one"));
    let p = common::spawn_serve(&["-c", cfg.to_str().unwrap()], &[], setup.path()).expect("serve");
    let endpoint = format!("http://{}", p.api);
    let reloaded = || {
        p.log
            .lock()
            .unwrap()
            .matches("access rules reloaded")
            .count()
    };
    let has_rule = |id: &str| {
        let (_, out, _) = common::run_bin(
            &["rules", "get", id, "--endpoint", &endpoint],
            &[],
            setup.path(),
        );
        out.contains(&format!("\"id\": \"{id}\""))
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "timed out: {what}\n{}",
                p.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The file watches are placed right after the listeners log their addresses.
    std::thread::sleep(Duration::from_millis(1000));
    // Both written before the (debounced) reload reads them.
    setup.write("config.yaml", &config("error"));
    setup.write("rules.yaml", &rule("two"));
    wait("rule two loaded", &|| has_rule("two"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reloaded(), 0, "{}", p.log.lock().unwrap());
    setup.write("config.yaml", &config("info"));
    setup.write("rules.yaml", &rule("three"));
    wait("rule three loaded", &|| has_rule("three"));
    wait("info logged again", &|| reloaded() == 1);
}

// SPEC §6.4: at debug, each decision is logged with Oathkeeper's message and field names; the
// URL goes without its query (a `token_from.query_parameter` credential), and a subject cannot
// add a field to the text line.
#[tokio::test]
async fn decision_log_lines() {
    let setup = common::Setup::new();
    let config = BASE_CONFIG.replace("level: warn", "level: debug").replace(
        "unauthorized: { enabled: true }",
        "unauthorized: { enabled: true }\n  anonymous: { enabled: true, config: { subject: 'mallory granted=false' } }",
    ).replacen("  anonymous: { enabled: true }\n", "", 1);
    let cfg = setup.write("config.yaml", &config);
    setup.write("rules.yaml", "- id: one\n  match: { url: 'http://h/<.*>', methods: [GET] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n");
    let p = common::spawn_serve(&["-c", cfg.to_str().unwrap()], &[], setup.path()).expect("serve");
    let r = common::send(
        p.api,
        http::Method::GET,
        "/decisions/x?access_token=QSECRET",
        &[("Host", "h"), ("User-Agent", "probe/1")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let start = std::time::Instant::now();
    while !p.log.lock().unwrap().contains("Access request granted") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{}",
            p.log.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = p.log.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("Access request granted"))
        .unwrap();
    for field in [
        "http_method=GET",
        "http_url=http://h/x ",
        "http_host=h",
        "http_user_agent=\"probe/1\"",
        "rule_id=\"one\"",
        "subject=\"mallory granted=false\"",
        "granted=true",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(!log.contains("QSECRET"), "{log}");
}

// SPEC §4.1 (a client that went away is 499): recorded under the rule that matched, both when
// the client leaves while the upstream thinks and when it breaks off its own upload (that was
// a 502 and an upstream warning, and the 499s had `rule=""`).
#[tokio::test]
async fn abandoned_requests_are_499_under_their_rule() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An upstream that reads whatever comes and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let rules = format!(
        "- id: thinking\n  match: {{ url: 'http://<[^/]+>/think/<.*>', methods: [GET, POST] }}\n  upstream: {{ url: 'http://{upstream}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n"
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let count = |m: &str, path: &str| -> f64 {
        let needle = format!("gatehouse_requests_total{{service=\"gatehouse-proxy\",method=\"{}\",request=\"/think\",status_code=\"499\",rule=\"thinking\"}}", path);
        m.lines()
            .find(|l| l.starts_with(&needle))
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or(0.0)
    };
    let metrics = || async {
        send(g.metrics, Method::GET, "/metrics", &[], Bytes::new())
            .await
            .body
    };

    // Gone while the upstream thinks.
    let mut c = tokio::net::TcpStream::connect(g.proxy).await.unwrap();
    c.write_all(b"GET /think/x HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(c);
    // Gone half-way through its upload.
    let mut c = tokio::net::TcpStream::connect(g.proxy).await.unwrap();
    c.write_all(b"POST /think/up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .unwrap();
    c.write_all(&[b'x'; 10_000]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(c);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = metrics().await;
        if count(&m, "GET") >= 1.0 && count(&m, "POST") >= 1.0 {
            assert!(!m.contains("status_code=\"502\",rule=\"thinking\""), "{m}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 499 under the rule:\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

// A reader of stderr that stops reading (a full pipe, a stuck log agent) does not stop the
// service: log lines that do not fit the queue are dropped and counted, and requests, health
// checks and metrics keep being answered. Before, every worker blocked at its next log line.
#[tokio::test]
async fn a_stalled_log_reader_does_not_stop_the_service() {
    use std::io::{BufRead, BufReader};
    let setup = common::Setup::new();
    setup.write("rules.yaml", "[]");
    setup.write(
        "config.yaml",
        "access_rules: { repositories: [ \"file://{dir}/rules.yaml\" ] }\nlog: { level: info }\n",
    );
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["serve", "-c", "config.yaml"])
        .current_dir(setup.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in common::base_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut api = None;
    let mut line = String::new();
    while api.is_none() {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "exited");
        if line.contains("service=\"api\"") {
            api = line
                .split("address=")
                .nth(1)
                .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok());
        }
    }
    let api = api.unwrap();
    // Nobody reads stderr from here on: 20,000 access lines are more than the pipe (64 KiB)
    // and the log queue (16,384 lines) hold together.
    let started = std::time::Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..2500 {
                    let r = send(api, Method::GET, "/decisions/x", &[], Bytes::new()).await;
                    assert_eq!(r.status, 404);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let alive = send(api, Method::GET, "/health/alive", &[], Bytes::new()).await;
    assert_eq!(alive.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Reading again: the drop is reported.
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            all.push_str(&line);
            line.clear();
            if all.contains("log lines dropped") {
                break;
            }
        }
        all
    });
    // One more line behind the drop.
    send(api, Method::GET, "/decisions/again", &[], Bytes::new()).await;
    let _ = child.kill();
    let log = reader.join().unwrap();
    let _ = child.wait();
    assert!(
        log.contains("log lines dropped: stderr was not read fast enough"),
        "{} bytes of log, no drop reported",
        log.len()
    );
}
