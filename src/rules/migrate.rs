//! Rule migration by `version` (SPEC §3.2), applied to each rule's JSON before it is decoded,
//! as Oathkeeper's `migrateRuleJSON` does:
//!
//! - no `version`, or an empty one: the rule is current, nothing changes;
//! - `v` and a semantic version, else the rule is refused (`version` is named in the error);
//! - up to 0.32.0-beta.1: a hydrator's `retry.number_of_retries` / `delay_in_milliseconds`
//!   become `give_up_after` (retries x delay ms) and `max_delay` (delay ms);
//! - up to 0.37.0: `$N` in a `keto_engine_acp_ory` authorizer's `required_action` and
//!   `required_resource` becomes the template printing capture group N.
//!
//! Every step is idempotent: a migrated rule read back from `GET /rules` migrates to itself.

use semver::{BuildMetadata, Version};
use serde_json::{Map, Value};

/// Migrate `rule` in place. `Err` is the message for the rule's `version` key.
pub fn migrate(rule: &mut Value) -> Result<(), String> {
    let Some(Value::String(raw)) = rule.get("version") else {
        // Absent, or not a string (the decoder names the wrong type).
        return Ok(());
    };
    if raw.is_empty() {
        return Ok(());
    }
    let mut version = Version::parse(raw.strip_prefix('v').unwrap_or(raw))
        .map_err(|e| format!("`{raw}` is not a semantic version (e.g. v0.40.9): {e}"))?;
    // Precedence ignores build metadata (`v0.32.0-beta.1+oryOS.12` is 0.32.0-beta.1).
    version.build = BuildMetadata::EMPTY;
    let at_most = |v: &str| Version::parse(v).is_ok_and(|limit| version <= limit);
    if at_most("0.32.0-beta.1") {
        if let Some(Value::Array(mutators)) = rule.get_mut("mutators") {
            mutators
                .iter_mut()
                .filter(|m| m.get("handler").and_then(Value::as_str) == Some("hydrator"))
                .filter_map(|m| m.get_mut("config").and_then(Value::as_object_mut))
                .for_each(hydrator_retry);
        }
    }
    if at_most("0.37.0") {
        let keto = rule
            .get_mut("authorizer")
            .filter(|a| a.get("handler").and_then(Value::as_str) == Some("keto_engine_acp_ory"))
            .and_then(|a| a.get_mut("config"))
            .and_then(Value::as_object_mut);
        if let Some(config) = keto {
            for key in ["required_action", "required_resource"] {
                if let Some(Value::String(s)) = config.get_mut(key) {
                    *s = capture_group_templates(s);
                }
            }
        }
    }
    Ok(())
}

/// The legacy retry keys of a hydrator config. Oathkeeper's migration reads and writes them at
/// `config.retry`, where its own schema then refuses them; the hydrator has always read
/// `config.api.retry`. Both places are read here and the result lands in `api.retry`, so an
/// old rule works instead of failing (a value already in `api.retry` is kept).
fn hydrator_retry(config: &mut Map<String, Value>) {
    let mut found: Vec<(&str, String)> = Vec::new();
    // `api.retry` first: where both hold a legacy key, the one the hydrator read wins.
    for outer in [false, true] {
        let retry = match outer {
            true => config.get_mut("retry"),
            false => config.get_mut("api").and_then(|a| a.get_mut("retry")),
        };
        let Some(retry) = retry.and_then(Value::as_object_mut) else {
            continue;
        };
        let delay = retry.remove("delay_in_milliseconds").map(|d| int(&d));
        let retries = retry.remove("number_of_retries").map(|r| int(&r));
        if let Some(d) = delay {
            found.push(("max_delay", format!("{d}ms")));
        }
        if let Some(r) = retries {
            let d = delay.unwrap_or(100);
            found.push(("give_up_after", format!("{}ms", r.saturating_mul(d))));
        }
    }
    if found.is_empty() {
        return;
    }
    if config
        .get("retry")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        config.remove("retry");
    }
    let api = config
        .entry("api")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(api) = api.as_object_mut() else {
        return;
    };
    let retry = api
        .entry("retry")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(retry) = retry.as_object_mut() {
        for (key, value) in found {
            retry.entry(key).or_insert(Value::from(value));
        }
    }
}

/// A JSON number as gjson's `Int()` reads it (strings holding a number count too).
fn int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// `my:action:$1` -> `my:action:{{ printIndex .MatchContext.RegexpCaptureGroups (sub 1 1 | int)}}`
/// (Oathkeeper's replacement, byte for byte; `$` without digits stays).
fn capture_group_templates(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
        } else {
            out.push_str("{{ printIndex .MatchContext.RegexpCaptureGroups (sub ");
            out.push_str(&after[..digits]);
            out.push_str(" 1 | int)}}");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn migrated(rule: Value) -> Value {
        let mut r = rule;
        migrate(&mut r).expect("migrates");
        r
    }

    // SPEC §3.2: `version` is optional; an empty one (what some generators write, and what
    // `GET /rules` prints for a rule without one) is the current version.
    #[test]
    fn absent_or_empty_version_is_current() {
        for rule in [
            json!({"id": "a"}),
            json!({"id": "a", "version": ""}),
            json!({"id": "a", "version": "v0.40.9"}),
            json!({"id": "a", "version": "26.2.0"}),
        ] {
            assert_eq!(migrated(rule.clone()), rule);
        }
    }

    // SPEC §3.2: an unparseable semver fails the rule.
    #[test]
    fn bad_versions_are_refused() {
        for v in ["latest", "v1.2", "0.40", "vv1.2.3", "1.2.3.4", "01.2.3"] {
            let err = migrate(&mut json!({"version": v})).expect_err(v);
            assert!(err.contains("not a semantic version"), "{err}");
        }
    }

    // SPEC §3.2 (and Oathkeeper's rule_migrator_test "should migrate to 0.33.0"): hydrator retry
    // keys up to 0.32.0-beta.1, build metadata ignored.
    #[test]
    fn hydrator_retry_keys() {
        let rule = |version: &str, retry: Value| {
            json!({"version": version, "mutators": [
                {"handler": "header"},
                {"handler": "hydrator", "config": {"api": {"url": "http://h", "retry": retry}}},
            ]})
        };
        let old = json!({"delay_in_milliseconds": 500, "number_of_retries": 5});
        let new = json!({"max_delay": "500ms", "give_up_after": "2500ms"});
        for v in ["v0.30.0-beta.1", "0.32.0-beta.1", "v0.32.0-beta.1+oryOS.12"] {
            assert_eq!(migrated(rule(v, old.clone())), rule(v, new.clone()), "{v}");
        }
        // Later versions are not migrated: the legacy keys stay (and the handler refuses them).
        for v in ["v0.32.0", "v0.33.0-beta.1"] {
            assert_eq!(migrated(rule(v, old.clone())), rule(v, old.clone()), "{v}");
        }
        // Defaults: 3 retries, 100 ms.
        let only_retries = json!({"number_of_retries": 4});
        assert_eq!(
            migrated(rule("v0.30.0", only_retries)),
            rule("v0.30.0", json!({"give_up_after": "400ms"}))
        );
        let only_delay = json!({"delay_in_milliseconds": 250});
        assert_eq!(
            migrated(rule("v0.30.0", only_delay)),
            rule("v0.30.0", json!({"max_delay": "250ms"}))
        );
        // Where Oathkeeper's migration looks (`config.retry`): moved to `api.retry`.
        let top = json!({"version": "v0.19.0", "mutators": [{"handler": "hydrator", "config": {
            "api": {"url": "http://h"},
            "retry": {"delay_in_milliseconds": 200, "number_of_retries": 2},
        }}]});
        assert_eq!(
            migrated(top)["mutators"][0]["config"],
            json!({"api": {"url": "http://h", "retry": {"max_delay": "200ms", "give_up_after": "400ms"}}})
        );
        // Both places: the values under `api.retry` (the ones the hydrator read) win.
        let both = json!({"version": "v0.19.0", "mutators": [{"handler": "hydrator", "config": {
            "api": {"url": "http://h", "retry": {"delay_in_milliseconds": 10}},
            "retry": {"delay_in_milliseconds": 1000},
        }}]});
        assert_eq!(
            migrated(both)["mutators"][0]["config"]["api"]["retry"],
            json!({"max_delay": "10ms"})
        );
        // Idempotent.
        let once = migrated(rule("v0.30.0", old));
        assert_eq!(migrated(once.clone()), once);
    }

    // SPEC §3.2: keto `$N` placeholders up to 0.37.0.
    #[test]
    fn keto_placeholders() {
        let rule = |version: &str, action: &str| {
            json!({"version": version, "authorizer": {"handler": "keto_engine_acp_ory", "config": {
                "required_action": action,
                "required_resource": "my:resource:$2:foo:$1",
                "subject": "$1",
            }}})
        };
        let group = |n: &str| {
            format!("{{{{ printIndex .MatchContext.RegexpCaptureGroups (sub {n} 1 | int)}}}}")
        };
        let got = migrated(rule("v0.33.0-beta.1", "my:action:$1"));
        let config = &got["authorizer"]["config"];
        assert_eq!(
            config["required_action"],
            format!("my:action:{}", group("1"))
        );
        assert_eq!(
            config["required_resource"],
            format!("my:resource:{}:foo:{}", group("2"), group("1"))
        );
        assert_eq!(config["subject"], "$1", "only action and resource migrate");
        let twelve = migrated(rule("v0.37.0", "a:$12:$:$x"));
        assert_eq!(
            twelve["authorizer"]["config"]["required_action"],
            format!("a:{}:$:$x", group("12"))
        );
        for v in ["v0.37.1", "v0.38.0", ""] {
            assert_eq!(migrated(rule(v, "a:$1")), rule(v, "a:$1"), "{v}");
        }
        // Other authorizers are left alone.
        let remote = json!({"version": "v0.30.0", "authorizer": {"handler": "remote_json", "config": {"required_action": "$1"}}});
        assert_eq!(migrated(remote.clone()), remote);
        let once = migrated(rule("v0.30.0", "x:$1"));
        assert_eq!(migrated(once.clone()), once);
    }
}
