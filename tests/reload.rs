//! Hot reload (SPEC §7 amended by DESIGN §3; SPEC §8.1 `test/reload` rewritten for a local
//! upstream; Appendix B case 24).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::upstream::Upstream;
use common::{Gate, Setup};

/// Poll until `f` returns true (at most 15 s); the reload is asynchronous.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Reloads rejected so far (config or rules).
fn reloads_failed(g: &Gate) -> u64 {
    g.running()
        .state
        .reloads_failed
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// An instance started from the config file `cfg` of `setup`.
async fn start(setup: Setup, cfg: &Path) -> Gate {
    Gate::start_files(setup, &[cfg.to_path_buf()], &[])
        .await
        .expect("start")
}

/// An instance on one rule file, `a.json` (rule `a`: GET `/a` allowed), with the paths of that
/// file and of its config.
async fn one_rule_file(up: &Upstream) -> (Gate, PathBuf, PathBuf) {
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let a = dir.join("a.json");
    std::fs::write(&a, rules_json("a", "/a", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&a], true)).unwrap();
    (start(setup, &cfg).await, a, cfg)
}

fn write(path: &Path, content: &str) {
    // Write-then-rename, as editors and `cp` via temp files do.
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config(repos: &[&Path], anonymous_enabled: bool) -> String {
    let repos: Vec<String> = repos
        .iter()
        .map(|p| format!("\"file://{}\"", p.display()))
        .collect();
    format!(
        "access_rules:\n  repositories: [{}]\nauthenticators:\n  noop: {{ enabled: true }}\n  anonymous: {{ enabled: {anonymous_enabled} }}\nauthorizers:\n  allow: {{ enabled: true }}\n  deny: {{ enabled: true }}\nmutators:\n  noop: {{ enabled: true }}\n  header: {{ enabled: true, config: {{ headers: {{}} }} }}\nlog: {{ level: error }}\n",
        repos.join(", ")
    )
}

fn rules_json(id: &str, path: &str, authn: &str, authz: &str, upstream: &str) -> String {
    format!(
        r#"[{{"id":"{id}","upstream":{{"url":"{upstream}"}},"match":{{"url":"http://<[^/]+>{path}","methods":["GET"]}},"authenticators":[{{"handler":"{authn}"}}],"authorizer":{{"handler":"{authz}"}},"mutators":[{{"handler":"noop"}}]}}]"#
    )
}

// SPEC §8.1 test/reload, steps 1–8, and Appendix B case 24.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_reload_scenario() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let cfg = dir.join("config.yaml");
    let (r1, r2, r3) = (
        dir.join("rules.1.json"),
        dir.join("rules.2.json"),
        dir.join("rules.3.json"),
    );
    std::fs::write(&r1, rules_json("r1", "/rules", "noop", "allow", &up.url())).unwrap();
    std::fs::write(
        &r2,
        rules_json("r2", "/rules", "anonymous", "deny", &up.url()),
    )
    .unwrap();
    std::fs::write(&cfg, config(&[], true)).unwrap();
    let g = start(setup, &cfg).await;
    let status = |path: &'static str| {
        let g = &g;
        async move { g.proxy("GET", path, &[]).await.status }
    };
    // 1) no repositories
    assert_eq!(status("/rules").await, 404);
    // 2) rules.1: noop/allow
    write(&cfg, &config(&[&r1], true));
    eventually("rules.1 allows", || async { status("/rules").await == 200 }).await;
    // 3) rules.2: anonymous/deny
    write(&cfg, &config(&[&r2], true));
    eventually("rules.2 denies", || async { status("/rules").await == 403 }).await;
    // 4) anonymous disabled while a loaded rule uses it -> 500 (case 24)
    write(&cfg, &config(&[&r2], false));
    eventually("disabled handler fails closed", || async {
        status("/rules").await == 500
    })
    .await;
    // 5)
    assert_eq!(status("/other-rules").await, 404);
    // 6) a second repository
    std::fs::write(
        &r3,
        rules_json("r3", "/other-rules", "anonymous", "allow", &up.url()),
    )
    .unwrap();
    write(&cfg, &config(&[&r2, &r3], true));
    eventually("rules.3 loaded", || async {
        status("/other-rules").await == 200
    })
    .await;
    assert_eq!(status("/rules").await, 403);
    // 7) rules.3 rewritten: deny
    write(
        &r3,
        &rules_json("r3", "/other-rules", "anonymous", "deny", &up.url()),
    );
    eventually("rules.3 rewritten", || async {
        status("/other-rules").await == 403
    })
    .await;
    // 8) no repositories: both gone
    write(&cfg, &config(&[], true));
    eventually("repositories removed", || async {
        status("/rules").await == 404 && status("/other-rules").await == 404
    })
    .await;
    assert!(
        g.running()
            .state
            .reloads_ok
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 6
    );
}

// DESIGN §3: invalid rule files and invalid config edits keep the rules in force; a deleted
// file's rules go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_edits_keep_last_good_and_deletions_apply() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let rules_dir = dir.join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    let (a, b) = (rules_dir.join("a.json"), rules_dir.join("b.json"));
    std::fs::write(&a, rules_json("a", "/a", "noop", "allow", &up.url())).unwrap();
    std::fs::write(&b, rules_json("b", "/b", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&rules_dir], true)).unwrap();
    let g = start(setup, &cfg).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    let failed = || reloads_failed(&g);

    // Broken JSON: rejected, /a still allowed.
    write(&a, "[{\"id\": \"a\", ");
    eventually("broken file rejected", || async { failed() >= 1 }).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    // A semantically invalid rule (unknown handler): rejected too.
    write(&a, &rules_json("a", "/a", "noop", "alow", &up.url()));
    eventually("invalid rule rejected", || async { failed() >= 2 }).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    // Invalid config: rejected, rules stay.
    write(&cfg, "access_rules: {repositories: 12}\n");
    eventually("invalid config rejected", || async { failed() >= 3 }).await;
    assert_eq!(g.proxy("GET", "/b", &[]).await.status, 200);
    // Fix the config and rule a (now deny); delete b.
    write(&cfg, &config(&[&rules_dir], true));
    write(&a, &rules_json("a", "/a", "noop", "deny", &up.url()));
    eventually("fixed rule applied", || async {
        g.proxy("GET", "/a", &[]).await.status == 403
    })
    .await;
    std::fs::remove_file(&b).unwrap();
    eventually("deleted file's rules go", || async {
        g.proxy("GET", "/b", &[]).await.status == 404
    })
    .await;
}

// A rules directory replaced whole (`rm -rf d; mv d.new d`, as deploy scripts do), twice, then
// edited in place: every step applies. The watch follows the directory the path names, not the
// first one it named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_directory_keeps_being_watched() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let rules_dir = dir.join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    let file = |authz: &str| rules_json("d", "/d", "noop", authz, &up.url());
    std::fs::write(rules_dir.join("d.json"), file("allow")).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&rules_dir], true)).unwrap();
    let g = start(setup, &cfg).await;
    assert_eq!(g.proxy("GET", "/d", &[]).await.status, 200);
    let replace = |authz: &str| {
        let next = dir.join("rules.new");
        std::fs::create_dir(&next).unwrap();
        std::fs::write(next.join("d.json"), file(authz)).unwrap();
        std::fs::remove_dir_all(&rules_dir).unwrap();
        std::fs::rename(&next, &rules_dir).unwrap();
    };
    let status = |want: u16| {
        let g = &g;
        move || async move { g.proxy("GET", "/d", &[]).await.status == want }
    };
    replace("deny");
    eventually("first replacement applied", status(403)).await;
    replace("allow");
    eventually("second replacement applied", status(200)).await;
    write(&rules_dir.join("d.json"), &file("deny"));
    eventually("edit in the replaced directory applied", status(403)).await;
}

// A repository path that is a symlink to a release directory, switched atomically
// (`ln -s v2 cur.tmp; mv -T cur.tmp cur`): the new release's rules apply, then its edits.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_directory_symlink_applies() {
    use std::os::unix::fs::symlink;
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let file = |authz: &str| rules_json("s", "/s", "noop", authz, &up.url());
    for (release, authz) in [("v1", "allow"), ("v2", "deny")] {
        std::fs::create_dir(dir.join(release)).unwrap();
        std::fs::write(dir.join(release).join("s.json"), file(authz)).unwrap();
    }
    let current = dir.join("cur");
    symlink(dir.join("v1"), &current).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&current], true)).unwrap();
    let g = start(setup, &cfg).await;
    assert_eq!(g.proxy("GET", "/s", &[]).await.status, 200);
    symlink(dir.join("v2"), dir.join("cur.tmp")).unwrap();
    std::fs::rename(dir.join("cur.tmp"), &current).unwrap();
    eventually("switched release applied", || async {
        g.proxy("GET", "/s", &[]).await.status == 403
    })
    .await;
    write(&dir.join("v2/s.json"), &file("allow"));
    eventually("edit in the new release applied", || async {
        g.proxy("GET", "/s", &[]).await.status == 200
    })
    .await;
}

// DESIGN §3: a listed rule file that is deleted takes its rules with it on the next reload, and
// does not block the other files' edits (a revocation must apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_listed_file_does_not_block_other_edits() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&a, rules_json("a", "/a", "noop", "allow", &up.url())).unwrap();
    std::fs::write(&b, rules_json("b", "/b", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&a, &b], true)).unwrap();
    let g = start(setup, &cfg).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    std::fs::remove_file(&a).unwrap();
    eventually("deleted listed file's rules go", || async {
        g.proxy("GET", "/a", &[]).await.status == 404
    })
    .await;
    write(&b, &rules_json("b", "/b", "noop", "deny", &up.url()));
    eventually("the other file's revocation applies", || async {
        g.proxy("GET", "/b", &[]).await.status == 403
    })
    .await;
}

// DESIGN §3 ("a typo in a path must not start an edge"): a config edit that lists a rule file
// that does not exist is refused on a reload as it is at start-up (it was taken for a deleted
// file, its other edits applied); a file listed before and deleted since still just goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_a_repository_that_never_existed() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let (a, c, typo) = (
        dir.join("a.json"),
        dir.join("c.json"),
        dir.join("typo.json"),
    );
    std::fs::write(&a, rules_json("a", "/a", "noop", "allow", &up.url())).unwrap();
    std::fs::write(&c, rules_json("c", "/c", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&a], true)).unwrap();
    let g = start(setup, &cfg).await;
    let failed = || reloads_failed(&g);
    write(&cfg, &config(&[&a, &c, &typo], true));
    eventually("the reload is refused", || async { failed() >= 1 }).await;
    assert_eq!(g.proxy("GET", "/c", &[]).await.status, 404);
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    // Fixed: applies.
    write(&cfg, &config(&[&a, &c], true));
    eventually("the fixed config applies", || async {
        g.proxy("GET", "/c", &[]).await.status == 200
    })
    .await;
}

// SPEC §7 / Appendix B case 24 with DESIGN §3: after a config edit disabled a handler a loaded
// rule uses (that rule answers 500), a good edit to another rule file still applies; a new or
// edited rule naming the disabled handler is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_handler_does_not_block_other_files() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&a, rules_json("a", "/a", "anonymous", "allow", &up.url())).unwrap();
    std::fs::write(&b, rules_json("b", "/b", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&a, &b], true)).unwrap();
    let g = start(setup, &cfg).await;
    write(&cfg, &config(&[&a, &b], false));
    eventually("the disabled handler fails closed", || async {
        g.proxy("GET", "/a", &[]).await.status == 500
    })
    .await;
    write(&b, &rules_json("b", "/b", "noop", "deny", &up.url()));
    eventually("the other file's edit applies", || async {
        g.proxy("GET", "/b", &[]).await.status == 403
    })
    .await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 500);
    // Editing the rule that names the disabled handler is refused: it keeps its 500.
    let failed = || reloads_failed(&g);
    let before = failed();
    write(&a, &rules_json("a", "/a2", "anonymous", "allow", &up.url()));
    eventually("the edited rule is refused", || async { failed() > before }).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 500);
    assert_eq!(g.proxy("GET", "/a2", &[]).await.status, 404);
}

// DESIGN §3: a config file emptied on disk (a writer that truncates first, a mistake) is refused
// on a reload: every default would come back, no rule repository among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_config_is_refused() {
    let up = Upstream::start().await;
    let (g, _, cfg) = one_rule_file(&up).await;
    let failed = || reloads_failed(&g);
    std::fs::write(&cfg, "").unwrap();
    eventually("the empty config is refused", || async { failed() >= 1 }).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
}

// SPEC §7 ("undecodable file: the previous rules stay"), DESIGN §3 (a bad rule file never
// replaces good rules). A rule file written in place in steps is read once its writer closes
// it: the valid prefix holding only the allow rule never took effect, which had let
// `/p/admin` through while the deny rule was not written yet. A file emptied on disk is
// refused like an emptied config (`[]` empties it on purpose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_written_and_emptied_rule_files_keep_the_rules() {
    use std::io::Write;
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let rules = dir.join("rules.yaml");
    let rule = |id: &str, path: &str, authz: &str, priority: u8| {
        format!("- id: {id}\n  priority: {priority}\n  upstream: {{ url: '{}' }}\n  match: {{ url: 'http://<[^/]+>{path}', methods: [GET] }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: {authz} }}\n  mutators: [{{ handler: noop }}]\n", up.url())
    };
    let (open, deny) = (
        rule("open", "/p/<.*>", "allow", 0),
        rule("admin", "/p/admin", "deny", 9),
    );
    std::fs::write(&rules, format!("{open}{deny}")).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&rules], true)).unwrap();
    let g = start(setup, &cfg).await;
    assert_eq!(g.proxy("GET", "/p/admin", &[]).await.status, 403);

    // Truncated, the allow rule written, the writer pauses well past the debounce.
    let mut f = std::fs::File::create(&rules).unwrap();
    f.write_all(open.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(g.proxy("GET", "/p/admin", &[]).await.status, 403);
    f.write_all(
        rule("admin", "/p/admin", "deny", 9)
            .replace("/p/admin", "/p/<admin|root>")
            .as_bytes(),
    )
    .unwrap();
    drop(f);
    eventually("the whole file applies once closed", || async {
        g.proxy("GET", "/p/root", &[]).await.status == 403
    })
    .await;
    assert_eq!(g.proxy("GET", "/p/x", &[]).await.status, 200);

    // Emptied: refused, the rules stay; `[]` then removes them.
    let failed = reloads_failed(&g);
    std::fs::write(&rules, "").unwrap();
    eventually("the empty file is refused", || async {
        reloads_failed(&g) > failed
    })
    .await;
    assert_eq!(g.proxy("GET", "/p/admin", &[]).await.status, 403);
    std::fs::write(&rules, "[]").unwrap();
    eventually("`[]` removes the rules", || async {
        g.proxy("GET", "/p/x", &[]).await.status == 404
    })
    .await;
}

// Changes that keep coming (a write every 100 ms, each restarting the quiet period) put a
// reload off by at most 2 s: before, none applied until they stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_changes_still_reload() {
    let up = Upstream::start().await;
    let (g, a, _) = one_rule_file(&up).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    let started = std::time::Instant::now();
    let mut applied = None;
    while started.elapsed() < Duration::from_secs(4) {
        write(&a, &rules_json("a", "/a", "noop", "deny", &up.url()));
        if applied.is_none() && g.proxy("GET", "/a", &[]).await.status == 403 {
            applied = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied = applied.expect("a reload while the writes went on");
    assert!(applied < Duration::from_secs(3), "{applied:?}");
}

// A config loaded through a relative path (`-c config.yaml`) beside a rule file listed by its
// absolute path: both name one directory and share one inotify watch (here through a symlink
// to the directory; tests share one working directory). A config edit that drops
// that rule file removed the shared watch, and no later edit was seen again.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_repository_in_the_config_directory_keeps_watching() {
    let up = Upstream::start().await;
    let setup = Setup::new();
    let dir = setup.path().to_path_buf();
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    let (a, b) = (dir.join("a.json"), other.join("b.json"));
    std::fs::write(&a, rules_json("a", "/a", "noop", "allow", &up.url())).unwrap();
    std::fs::write(&b, rules_json("b", "/b", "noop", "allow", &up.url())).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(&[&a, &b], true)).unwrap();
    // Another name for the same directory, as `.` is for the working directory.
    let alias = setup.path().join("alias");
    std::os::unix::fs::symlink(&dir, &alias).unwrap();
    let g = start(setup, &alias.join("config.yaml")).await;
    assert_eq!(g.proxy("GET", "/a", &[]).await.status, 200);
    write(&cfg, &config(&[&b], true));
    eventually("a.json dropped", || async {
        g.proxy("GET", "/a", &[]).await.status == 404
    })
    .await;
    write(&cfg, &config(&[&a, &b], true));
    eventually("a later config edit is still seen", || async {
        g.proxy("GET", "/a", &[]).await.status == 200
    })
    .await;
}

// Kubernetes ConfigMap volumes swap a `..data` symlink; the visible files are symlinks into it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_symlink_swap() {
    use std::os::unix::fs::symlink;
    let up = Upstream::start().await;
    let setup = Setup::new();
    let mount = setup.path().join("mount");
    std::fs::create_dir_all(mount.join("..v1")).unwrap();
    std::fs::write(
        mount.join("..v1/rules.json"),
        rules_json("cm", "/cm", "noop", "allow", &up.url()),
    )
    .unwrap();
    symlink("..v1", mount.join("..data")).unwrap();
    symlink("..data/rules.json", mount.join("rules.json")).unwrap();
    let cfg = setup.path().join("config.yaml");
    std::fs::write(&cfg, config(&[&mount], true)).unwrap();
    let g = Gate::start_files(setup, &[cfg], &[]).await.expect("start");
    assert_eq!(g.proxy("GET", "/cm", &[]).await.status, 200);
    // The kubelet's update: new dir, new symlink, atomic rename over ..data.
    std::fs::create_dir_all(mount.join("..v2")).unwrap();
    std::fs::write(
        mount.join("..v2/rules.json"),
        rules_json("cm", "/cm", "noop", "deny", &up.url()),
    )
    .unwrap();
    symlink("..v2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    eventually("configmap swap applied", || async {
        g.proxy("GET", "/cm", &[]).await.status == 403
    })
    .await;
}

// Reload under load: requests run continuously while the rule file is rewritten 20 times,
// alternating valid and invalid content. Every answer comes from a valid rule set: 200 with a
// version that was written as valid; never a 5xx, never the invalid files' marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let setup = Setup::new();
    let rules = setup.path().join("rules.yaml");
    let versioned = |v: &str, extra: &str| {
        format!("- id: v\n  match: {{ url: 'http://<[^/]+>/v', methods: [GET] }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-Version: '{v}' }} }} }}]\n{extra}")
    };
    std::fs::write(&rules, versioned("v0", "")).unwrap();
    let cfg = setup.path().join("config.yaml");
    std::fs::write(&cfg, config(&[&rules], true)).unwrap();
    let g = Arc::new(Gate::start_files(setup, &[cfg], &[]).await.expect("start"));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (g, stop) = (g.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = g.req("GET", "/decisions/v", &[]).await;
                seen.push((r.status, r.header("x-version").unwrap_or("").to_string()));
            }
            seen
        })
    };
    let mut valid = vec!["v0".to_string()];
    for i in 1..=20 {
        if i % 2 == 0 {
            let v = format!("v{i}");
            write(&rules, &versioned(&v, ""));
            valid.push(v.clone());
            eventually("valid version served", || async {
                g.req("GET", "/decisions/v", &[]).await.header("x-version") == Some(v.as_str())
            })
            .await;
        } else {
            // Invalid: an unknown key next to a rule carrying the BAD marker.
            write(&rules, &versioned(&format!("BAD{i}"), "  surprise: true\n"));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.unwrap();
    assert!(seen.len() > 20, "only {} requests ran", seen.len());
    for (status, version) in &seen {
        assert_eq!(*status, 200, "version {version}");
        assert!(
            valid.contains(version),
            "served by a rejected rule set: {version}"
        );
    }
}

// DESIGN §3: http(s) repositories are polled with conditional requests; the last good copy is
// kept when the source fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_repository_polling() {
    use std::sync::{Arc, Mutex};
    let body = Arc::new(Mutex::new((
        1u32,
        rules_json("remote", "/remote", "noop", "allow", "http://127.0.0.1:9"),
    )));
    let conditional = Arc::new(Mutex::new(0u32));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let (body, conditional, up) = (body.clone(), conditional.clone(), up.clone());
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                let (body, conditional, up) = (body.clone(), conditional.clone(), up.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (version, json) = body.lock().unwrap().clone();
                            let etag = format!("\"v{version}\"");
                            let mut resp = http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(json),
                            ));
                            if !up.load(std::sync::atomic::Ordering::Relaxed) {
                                *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                            } else if req
                                .headers()
                                .get("if-none-match")
                                .and_then(|v| v.to_str().ok())
                                == Some(etag.as_str())
                            {
                                *conditional.lock().unwrap() += 1;
                                *resp.status_mut() = http::StatusCode::NOT_MODIFIED;
                                *resp.body_mut() = http_body_util::Full::new(bytes::Bytes::new());
                            }
                            resp.headers_mut().insert("etag", etag.parse().unwrap());
                            async move { Ok::<_, std::convert::Infallible>(resp) }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    }
    let setup = Setup::new();
    let cfg = setup.path().join("config.yaml");
    let conf = config(&[], true).replace(
        "repositories: []",
        &format!("repositories: [\"http://{addr}/rules.json\"]\n  poll_interval: 1s"),
    );
    std::fs::write(&cfg, conf).unwrap();
    let g = Gate::start_files(setup, &[cfg], &[]).await.expect("start");
    assert_eq!(g.req("GET", "/decisions/remote", &[]).await.status, 200);
    eventually("a conditional request answered 304", || async {
        *conditional.lock().unwrap() >= 1
    })
    .await;
    *body.lock().unwrap() = (
        2,
        rules_json("remote", "/remote", "noop", "deny", "http://127.0.0.1:9"),
    );
    eventually("remote change applied", || async {
        g.req("GET", "/decisions/remote", &[]).await.status == 403
    })
    .await;
    up.store(false, std::sync::atomic::Ordering::Relaxed);
    let failed = || reloads_failed(&g);
    // The failed refresh is counted (reloads_total{result="failure"}): something to alert on.
    eventually("failed refresh counted", || async { failed() >= 1 }).await;
    assert_eq!(
        g.req("GET", "/decisions/remote", &[]).await.status,
        403,
        "last good copy kept"
    );
}
