//! The README's `curl` examples answer as written: gatehouse is started on the repository's
//! default config (`config.yaml`, `rules/`) exactly as the README's run command does, and every
//! line between the `curl-examples` markers is replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{repo_root, send, spawn_serve};
use http::Method;

struct Example {
    method: String,
    headers: Vec<(String, String)>,
    path: String,
    status: u16,
    expect_headers: Vec<(String, String)>,
}

fn parse_examples(readme: &str) -> Vec<Example> {
    let start = readme.find("<!-- curl-examples -->").expect("start marker");
    let end = readme.find("<!-- /curl-examples -->").expect("end marker");
    let mut out = Vec::new();
    for line in readme[start..end]
        .lines()
        .filter(|l| l.starts_with("curl "))
    {
        let (cmd, expect) = line.split_once('#').expect("expectation after #");
        let mut method = "GET".to_string();
        let mut headers = Vec::new();
        let mut url = String::new();
        // Split on spaces, keeping single-quoted arguments whole.
        let mut args = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in cmd.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !cur.is_empty() {
                        args.push(std::mem::take(&mut cur));
                    }
                }
                _ => cur.push(c),
            }
        }
        let mut it = args.into_iter().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "-X" => method = it.next().unwrap(),
                "-H" => {
                    let h = it.next().unwrap();
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                // The harness sends the path as written, as `--path-as-is` makes curl do.
                "-i" | "-s" | "--path-as-is" => {}
                other => url = other.to_string(),
            }
        }
        let mut parts = expect.split(',').map(str::trim);
        let status = parts.next().unwrap().parse().expect("status");
        let expect_headers = parts
            .map(|p| {
                let (k, v) = p.split_once(':').unwrap();
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let path = url
            .strip_prefix("http://127.0.0.1:4456")
            .expect("examples use the API port")
            .to_string();
        out.push(Example {
            method,
            headers,
            path,
            status,
            expect_headers,
        });
    }
    out
}

#[tokio::test]
async fn readme_curl_examples_answer_as_written() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let examples = parse_examples(&readme);
    assert!(examples.len() >= 8, "found {} examples", examples.len());
    let p = spawn_serve(&["-c", "config.yaml"], &[("LOG_LEVEL", "info")], &root)
        .expect("serve default config");
    for ex in &examples {
        let headers: Vec<(&str, &str)> = ex
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = send(
            p.api,
            Method::from_bytes(ex.method.as_bytes()).unwrap(),
            &ex.path,
            &headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, ex.status, "{} {}: {}", ex.method, ex.path, r.body);
        for (k, v) in &ex.expect_headers {
            assert_eq!(
                r.header(k),
                Some(v.as_str()),
                "{} {}: header {k}",
                ex.method,
                ex.path
            );
        }
    }
}

/// The "Integrations" recipes are the files the gateway tests use: every block after a
/// `<!-- deploy-file: PATH -->` marker is byte-identical to PATH, and every gateway recipe under
/// deploy/ has such a block.
#[test]
fn readme_recipes_are_the_deploy_files() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let marker = "<!-- deploy-file: ";
    let mut shown = Vec::new();
    for (at, _) in readme.match_indices(marker) {
        let rest = &readme[at + marker.len()..];
        let (path, rest) = rest.split_once(" -->\n").expect("marker line");
        let rest = rest
            .strip_prefix("```")
            .expect("a fenced block right after the marker");
        let body = &rest[rest.find('\n').unwrap() + 1..];
        let end = body.find("\n```\n").expect("closing fence");
        let block = &body[..end + 1];
        let file =
            std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            block == file,
            "README block for {path} differs from the file: copy the file into the README"
        );
        shown.push(path.to_string());
    }
    for recipe in [
        "deploy/nginx/gatehouse.conf",
        "deploy/nginx/gatehouse-proxy.conf",
        "deploy/envoy/envoy.yaml",
        "deploy/caddy/Caddyfile",
        "deploy/traefik/dynamic.yml",
        "deploy/kong/kong.yml",
        "deploy/kong/kong-decisions.yml",
    ] {
        assert!(
            shown.iter().any(|s| s == recipe),
            "README shows no {recipe}"
        );
    }
}
