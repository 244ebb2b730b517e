//! Configuration loading through the public entry points (SPEC §2.1, §2.7; Appendix B case 25).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_bin, Gate, Setup, BASE_CONFIG};

const RULES: &str = "- id: r\n  match: { url: 'http://h/<.*>', methods: [GET] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: header }]\n";

// SPEC §2.1: several config files, later ones override earlier ones (objects merge, arrays
// replace).
#[tokio::test]
async fn two_config_files_merge() {
    let setup = Setup::new();
    let a = setup.write("a.yaml", &(BASE_CONFIG.to_string() + "\n"));
    let b = setup.write(
        "b.yaml",
        "authenticators:\n  anonymous:\n    config: { subject: from-b }\nmutators:\n  header:\n    config:\n      headers: { X-User: '{{ print .Subject }}' }\n",
    );
    setup.write("rules.yaml", RULES);
    let g = Gate::start_files(setup, &[a, b], &[]).await.expect("start");
    let r = g
        .req("GET", "/decisions/x", &[("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("from-b"));
}

// SPEC §3.1: a rule file listed twice, or as itself and through its directory, is read once
// (its rules are not duplicates of themselves).
#[tokio::test]
async fn a_repository_listed_twice_is_read_once() {
    let config = BASE_CONFIG.replace(
        r#"repositories: [ "file://{dir}/rules.yaml" ]"#,
        r#"repositories: [ "file://{dir}/r/rules.yaml", "file://{dir}/r/rules.yaml", "{dir}/r" ]"#,
    );
    let g = Gate::try_start(&config, &[("r/rules.yaml", RULES)], &[])
        .await
        .expect("start");
    let r = g
        .req("GET", "/decisions/x", &[("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// SPEC §2.1: an environment variable overrides a nested handler key.
#[tokio::test]
async fn env_overrides_nested_handler_key() {
    let config = BASE_CONFIG.replace("headers: {}", "headers: { X-User: '{{ print .Subject }}' }");
    let g = Gate::try_start(
        &config,
        &[("rules.yaml", RULES)],
        &[("AUTHENTICATORS_ANONYMOUS_CONFIG_SUBJECT", "from-env")],
    )
    .await
    .expect("start");
    let r = g
        .req("GET", "/decisions/x", &[("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.header("x-user"), Some("from-env"));
}

// SPEC §2.7: the rule's handler config is merged over the global one.
#[tokio::test]
async fn rule_config_merges_over_global() {
    let config = BASE_CONFIG.replace("headers: {}", "headers: { X-Global: g }");
    let rules = "- id: r\n  match: { url: 'http://h/<.*>', methods: [GET] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: header, config: { headers: { X-Rule: r } } }]\n";
    let g = Gate::try_start(&config, &[("rules.yaml", rules)], &[])
        .await
        .expect("start");
    let r = g
        .req("GET", "/decisions/x", &[("X-Forwarded-Host", "h")])
        .await;
    // Objects merge key by key.
    assert_eq!(r.header("x-global"), Some("g"));
    assert_eq!(r.header("x-rule"), Some("r"));
}

// SPEC Appendix B case 25: an unknown top-level key, or jwt enabled without jwks_urls, stops
// start-up with a message naming the file and key, and exit status 255 as Oathkeeper's (SPEC §2.1).
#[test]
fn case25_invalid_config_exits_non_zero() {
    let setup = Setup::new();
    let bad = setup.write("bad.yaml", "serve: {}\nsurprise: 1\n");
    let (code, _, err) = run_bin(&["serve", "-c", bad.to_str().unwrap()], &[], setup.path());
    assert_eq!(code, 255);
    assert!(
        err.contains("bad.yaml") && err.contains("surprise"),
        "{err}"
    );

    let jwt = setup.write("jwt.yaml", "authenticators:\n  jwt:\n    enabled: true\n");
    let (code, _, err) = run_bin(&["serve", "-c", jwt.to_str().unwrap()], &[], setup.path());
    assert_eq!(code, 255);
    assert!(err.contains("jwks_urls"), "{err}");

    let dur = setup.write(
        "dur.yaml",
        "serve:\n  api:\n    timeout:\n      read: 1.5s\n",
    );
    let (code, _, err) = run_bin(&["serve", "-c", dur.to_str().unwrap()], &[], setup.path());
    assert_eq!(code, 255);
    assert!(
        err.contains("serve.api.timeout.read") && err.contains("1.5s"),
        "{err}"
    );
}

// A rule file naming a disabled handler is rejected at start-up (DESIGN §3).
#[tokio::test]
async fn disabled_handler_rejects_rule_at_startup() {
    let config = BASE_CONFIG.replace("deny: { enabled: true }", "deny: { enabled: false }");
    let rules = "- id: d\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: deny }\n  mutators: [{ handler: noop }]\n";
    let err = Gate::try_start(&config, &[("rules.yaml", rules)], &[])
        .await
        .err()
        .expect("must fail");
    assert!(
        err.contains("rule \"d\"")
            && err.contains("authorizer.handler")
            && err.contains("disabled"),
        "{err}"
    );
}
