//! Test harness: start gatehouse in-process (or as the real binary) on 127.0.0.1:0 with a
//! config and rule files written to a temporary directory, and talk to it over real HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod upstream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use gatehouse::app::{self, Running, Snapshot};
use gatehouse::pipeline::DisabledHandlers;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A scratch directory with a config file and rule files. `{dir}` in any file is replaced by
/// the directory's path.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        let content = content.replace("{dir}", &self.dir.path().display().to_string());
        std::fs::write(&p, content).expect("write");
        p
    }
}

/// Environment every in-process instance gets: loopback and ephemeral ports.
pub fn base_env() -> Vec<(String, String)> {
    [
        ("SERVE_API_HOST", "127.0.0.1"),
        ("SERVE_API_PORT", "0"),
        ("SERVE_PROXY_HOST", "127.0.0.1"),
        ("SERVE_PROXY_PORT", "0"),
        ("SERVE_PROMETHEUS_HOST", "127.0.0.1"),
        ("SERVE_PROMETHEUS_PORT", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A running in-process instance.
pub struct Gate {
    pub api: SocketAddr,
    pub proxy: SocketAddr,
    pub metrics: SocketAddr,
    running: Option<Running>,
    pub setup: Setup,
}

impl Gate {
    /// Start with one config file (`config.yaml`) and rule files, all under one temp dir.
    pub async fn start(config: &str, rules: &[(&str, &str)]) -> Gate {
        Self::try_start(config, rules, &[])
            .await
            .unwrap_or_else(|e| panic!("start failed: {e}"))
    }

    pub async fn try_start(
        config: &str,
        rules: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Gate, String> {
        let setup = Setup::new();
        let cfg = setup.write("config.yaml", config);
        for (name, content) in rules {
            setup.write(name, content);
        }
        Self::start_files(setup, &[cfg], env).await
    }

    pub async fn start_files(
        setup: Setup,
        files: &[PathBuf],
        env: &[(&str, &str)],
    ) -> Result<Gate, String> {
        let mut vars = base_env();
        vars.extend(env.iter().map(|(k, v)| {
            (
                k.to_string(),
                v.replace("{dir}", &setup.path().display().to_string()),
            )
        }));
        let config =
            gatehouse::config::load_with_env(files, vars.clone()).map_err(|e| e.to_string())?;
        let remote = std::sync::Arc::new(gatehouse::rules::remote::RemoteStore::default());
        let snapshot = Snapshot::build(
            std::sync::Arc::new(config),
            &remote,
            DisabledHandlers::Reject,
        )
        .await
        .map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let mut running = app::start(snapshot).await.map_err(|e| e.to_string())?;
        running.watch(
            gatehouse::rules::watch::Sources {
                config_files: files.to_vec(),
                env: vars,
            },
            remote,
        );
        Ok(Gate {
            api: running.api_addr,
            proxy: running.proxy_addr,
            metrics: running.metrics_addr,
            running: Some(running),
            setup,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.api, Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn req(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        send(
            self.api,
            Method::from_bytes(method.as_bytes()).unwrap(),
            path,
            headers,
            Bytes::new(),
        )
        .await
    }

    /// A request to the proxy port.
    pub async fn proxy(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        send(
            self.proxy,
            Method::from_bytes(method.as_bytes()).unwrap(),
            path,
            headers,
            Bytes::new(),
        )
        .await
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// One HTTP/1.1 request to `addr`.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(body)).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Bytes written as they are to `addr` (a request no well-behaved client would send), and the
/// whole answer up to the server's close (send `Connection: close`).
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    raw_bytes(addr, request.as_bytes()).await
}

/// [`raw`] for a request that is not UTF-8 (header values with obs-text bytes).
pub async fn raw_bytes(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the server did not close the connection")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// The real binary, started with `serve`; killed on drop.
pub struct Proc {
    pub child: Child,
    pub api: SocketAddr,
    pub proxy: Option<SocketAddr>,
    /// Everything it logged after start-up, so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_gatehouse")
}

/// Run `gatehouse serve -c ...` and wait for the API listener's address in its log.
pub fn spawn_serve(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Result<Proc, String> {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in base_env() {
        cmd.env(k, v);
    }
    cmd.env("LOG_FORMAT", "text");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    let mut line = String::new();
    let mut proxy = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            let status = child.wait().map_err(|e| e.to_string())?;
            return Err(format!("exited with {status}: {seen}"));
        }
        seen.push_str(&line);
        if line.contains("listening")
            && (line.contains("service=\"proxy\"") || line.contains("service=proxy"))
        {
            proxy = line
                .split("address=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|a| a.trim_matches('"').parse().ok());
        }
        if line.contains("listening") && line.contains("service=\"api\"")
            || line.contains("service=api")
        {
            if let Some(addr) = line
                .split("address=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
            {
                let api: SocketAddr = addr
                    .trim_matches('"')
                    .parse()
                    .map_err(|e| format!("{e}: {line}"))?;
                // Keep draining stderr so the child never blocks on a full pipe.
                let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                let kept = log.clone();
                std::thread::spawn(move || {
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        kept.lock().unwrap().push_str(&line);
                        line.clear();
                    }
                });
                return Ok(Proc {
                    child,
                    api,
                    proxy,
                    log,
                });
            }
        }
    }
}

/// Run the binary to completion: (exit code, stdout, stderr).
pub fn run_bin(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run gatehouse");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The repository root (for rules/, config.yaml, deploy/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config enabling the handlers of this build, verbose JSON errors.
pub const BASE_CONFIG: &str = r#"
access_rules:
  repositories: [ "file://{dir}/rules.yaml" ]
authenticators:
  noop: { enabled: true }
  anonymous: { enabled: true }
  unauthorized: { enabled: true }
authorizers:
  allow: { enabled: true }
  deny: { enabled: true }
mutators:
  noop: { enabled: true }
  header:
    enabled: true
    config:
      headers: {}
errors:
  handlers:
    json: { enabled: true, config: { verbose: true } }
    www_authenticate: { enabled: true }
log:
  level: warn
"#;
