//! Deep merge of JSON trees (config files in order, env overrides, rule handler configs).

use serde_json::Value;

/// Keys whose value replaces instead of merging: `token_from` is "exactly one of header,
/// query_parameter, cookie", so merging a rule's `{cookie: x}` into a global `{header: y}` would
/// produce an invalid object. Oathkeeper merges (and then fails validation); replacing is the only
/// reading that can be meant.
const REPLACE_KEYS: &[&str] = &["token_from"];

/// Merges `over` into `base` (SPEC §2.7): objects merge key by key recursively; arrays, scalars and
/// `null` replace.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv)
                        if bv.is_object()
                            && v.is_object()
                            && !REPLACE_KEYS.contains(&k.as_str()) =>
                    {
                        deep_merge(bv, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Removes object entries whose value is `null`, recursively, so that serde applies the key's
/// default: a `null` anywhere means "unset" (YAML `key:` with no value, or a rule resetting a
/// global value). `null` inside arrays stays and is a type error later.
pub(crate) fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}
