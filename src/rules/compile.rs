//! Compile decoded rule documents into the runtime [`RuleSet`]: patterns, handlers (global config
//! merged with the rule's, SPEC §2.7) and templates are built here, once. A rule that compiled
//! cannot fail for configuration reasons at request time.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use super::matcher::{
    canonical_host_pattern, host_case_unreachable, MatchIndex, Pattern, Strategy,
};
use super::memo::Memo;
use super::repository::RuleDocument;
use super::spec::{HandlerRef, RuleSpec, UpstreamSpec};
use super::LoadError;
use crate::config::Config;
use crate::pipeline::authn::Authenticator;
use crate::pipeline::authz::Authorizer;
use crate::pipeline::errors::ErrorHandlerEntry;
use crate::pipeline::mutate::Mutator;
use crate::pipeline::{BuildError, DisabledHandlers, PipelineError, RequestInfo};

/// A compiled access rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    /// File or source the rule came from.
    pub origin: String,
    /// The rule as written (served by `GET /rules`).
    pub spec: RuleSpec,
    /// Upper-cased `match.methods`.
    pub methods: Vec<String>,
    pub headers: Vec<(HeaderName, Pattern)>,
    pub priority: i64,
    pub upstream: Option<Upstream>,
    pub authenticators: Vec<Authenticator>,
    pub authorizer: Authorizer,
    pub mutators: Vec<Mutator>,
    pub errors: Vec<ErrorHandlerEntry>,
    /// gatehouse extension: the rule's rate limit, checked between authenticators and authorizer.
    pub rate_limit: Option<std::sync::Arc<crate::pipeline::rate_limit::RateLimiter>>,
    /// Every header name this rule's mutators set (client copies are stripped before forwarding).
    pub mutator_headers: Vec<HeaderName>,
    /// A handler of this rule reads the request body: the proxy buffers it (bounded) before
    /// the pipeline and forwards the buffered copy.
    pub needs_body: bool,
    /// A handler of this rule may read `MatchContext` (a template naming it, or the hydrator):
    /// only then does matching extract the regexp capture groups and the session carry the
    /// request's URL, method and headers.
    pub reads_match_context: bool,
}

/// Where a rule forwards to (SPEC §4.6).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub url: url::Url,
    pub preserve_host: bool,
    /// Normalised `"/" + strip_path.trim("/")`, when set.
    pub strip_path: Option<String>,
}

/// Every rule plus the index that finds them.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    index: MatchIndex,
    by_id: HashMap<String, usize>,
    /// Each thread's recent matches, in front of `index`.
    memo: Memo,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            index: MatchIndex::build(Vec::new()),
            by_id: HashMap::new(),
            memo: Memo::new(true),
        }
    }
}

impl RuleSet {
    /// Compile all documents; every error is reported (file, rule id, key path, reason).
    pub fn compile(
        docs: &[RuleDocument],
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<RuleSet, Vec<LoadError>> {
        Self::compile_over(docs, config, disabled, None)
    }

    /// [`Self::compile`] on a reload, over the rule set in force: a rule kept exactly as it was
    /// (same id, file and text) keeps failing at request time under
    /// [`DisabledHandlers::Reject`] when it names a handler a config reload disabled; only new
    /// or edited rules are rejected for it. Otherwise a good edit to another file would be
    /// refused, naming a rule nobody touched.
    pub fn compile_over(
        docs: &[RuleDocument],
        config: &Config,
        disabled: DisabledHandlers,
        in_force: Option<&RuleSet>,
    ) -> Result<RuleSet, Vec<LoadError>> {
        let strategy = strategy_of(config);
        let mut errors = Vec::new();
        // Sized up front: at 10,000 rules the doubling of these vectors was a visible part of
        // the load-time peak.
        let total = docs.iter().map(|d| d.rules.len()).sum();
        let mut rules = Vec::with_capacity(total);
        let mut patterns = Vec::with_capacity(total);
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(total);
        let mut origins: HashMap<&str, &str> = HashMap::with_capacity(total);
        for doc in docs {
            for spec in &doc.rules {
                if let Some(first) = origins.get(spec.id.as_str()) {
                    errors.push(LoadError::rule(
                        &doc.origin,
                        &spec.id,
                        "id",
                        format!("duplicate rule id (also defined in {first})"),
                    ));
                    continue;
                }
                origins.insert(&spec.id, &doc.origin);
                let unchanged = || {
                    in_force
                        .and_then(|set| set.get(&spec.id))
                        .is_some_and(|r| r.origin == doc.origin && r.spec == *spec)
                };
                let mode = match disabled {
                    DisabledHandlers::Reject if unchanged() => DisabledHandlers::FailAtRequest,
                    mode => mode,
                };
                match compile_rule(spec, &doc.origin, config, strategy, mode) {
                    Ok((rule, pattern)) => {
                        by_id.insert(rule.id.clone(), rules.len());
                        rules.push(Arc::new(rule));
                        patterns.push(pattern);
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // With `match.headers`, the URL and method alone do not decide the match.
        let memo = Memo::new(rules.iter().all(|r| r.headers.is_empty()));
        Ok(RuleSet {
            rules,
            index: MatchIndex::build(patterns),
            by_id,
            memo,
        })
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Rule>> {
        self.by_id.get(id).map(|&i| &self.rules[i])
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The one rule for `req` (SPEC §3.4): none -> 404; several -> the highest `priority`, a tie
    /// at the top -> 500. With it, the regexp capture groups when one of its handlers may read
    /// `MatchContext` (`None` otherwise: nothing will read them). The rule is returned as its
    /// index in [`RuleSet::rules`], so that a caller holding the set need not clone the rule's
    /// `Arc` (a count every worker writes to).
    pub fn find(&self, req: &RequestInfo) -> Result<(usize, Option<Vec<String>>), PipelineError> {
        let key = self.memo.key(req);
        if let Some(i) = key.and_then(|k| self.memo.get(k, req)) {
            return Ok((i, None));
        }
        let url = req.match_string();
        // Only rules for the request's method: checked before the URL pattern runs.
        let eligible = |i: usize| {
            self.rules[i]
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&req.method))
        };
        let candidates = self.index.find_where(&url, eligible).map_err(|e| {
            PipelineError::internal(crate::pipeline::error::msg::INTERNAL)
                .with_reason(e.to_string())
        })?;
        let mut best: Option<usize> = None;
        let mut tie = false;
        for i in candidates {
            let rule = &self.rules[i];
            if !headers_match(&rule.headers, &req.headers) {
                continue;
            }
            match best {
                None => best = Some(i),
                Some(b) => {
                    let (p, bp) = (rule.priority, self.rules[b].priority);
                    if p > bp {
                        best = Some(i);
                        tie = false;
                    } else if p == bp {
                        tie = true;
                    }
                }
            }
        }
        let Some(i) = best else {
            return Err(PipelineError::not_found());
        };
        if tie {
            return Err(PipelineError::internal(
                crate::pipeline::error::msg::MULTIPLE_RULES,
            ));
        }
        let rule = &self.rules[i];
        if !rule.reads_match_context {
            if let Some(k) = key {
                self.memo.put(k, req, i);
            }
            return Ok((i, None));
        }
        let captures = self.index.pattern(i).captures(&url).map_err(|e| {
            PipelineError::internal(crate::pipeline::error::msg::INTERNAL)
                .with_reason(e.to_string())
        })?;
        Ok((i, Some(captures)))
    }
}

/// Whether `key` (`a.b`, `list[2].c`) names a value inside a rule's handler config.
fn has_key(config: Option<&serde_json::Value>, key: &str) -> bool {
    let mut at = config;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        at = at.and_then(|v| v.get(name));
        if let Some(i) = index {
            at = at.and_then(|v| v.get(i));
        }
    }
    at.is_some()
}

fn strategy_of(config: &Config) -> Strategy {
    match config.access_rules.matching_strategy {
        crate::config::MatchingStrategy::Glob => Strategy::Glob,
        _ => Strategy::Regexp,
    }
}

fn headers_match(wanted: &[(HeaderName, Pattern)], headers: &HeaderMap) -> bool {
    wanted.iter().all(|(name, pattern)| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| pattern.is_match(v).unwrap_or(false))
    })
}

fn compile_rule(
    spec: &RuleSpec,
    origin: &str,
    config: &Config,
    strategy: Strategy,
    disabled: DisabledHandlers,
) -> Result<(Rule, Pattern), Vec<LoadError>> {
    let id = spec.id.as_str();
    let mut errors = Vec::new();
    let err = |path: &str, msg: String| LoadError::rule(origin, id, path, msg);
    if id.trim().is_empty() {
        errors.push(err("id", "must not be empty".into()));
    }
    let pattern = match &spec.match_ {
        None => {
            errors.push(err("match", "must be set".into()));
            None
        }
        Some(m) if m.url.is_empty() => {
            errors.push(err("match.url", "must not be empty".into()));
            None
        }
        Some(m) => match Pattern::compile(
            strategy,
            &canonical_host_pattern(&m.url, strategy == Strategy::Glob),
        ) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(err("match.url", e.to_string()));
                None
            }
        },
    };
    if let Some(m) = spec
        .match_
        .as_ref()
        .filter(|m| host_case_unreachable(&m.url))
    {
        tracing::warn!(rule_id = id, origin, url = %m.url, "match.url spells its host in upper case inside a regex; request hosts are matched in lower case, so this rule cannot match them: write the host in lower case");
    }
    let mut methods = Vec::with_capacity(spec.match_.as_ref().map_or(0, |m| m.methods.len()));
    let mut headers = Vec::new();
    if let Some(m) = &spec.match_ {
        if m.methods.is_empty() {
            errors.push(err(
                "match.methods",
                "must list at least one method (an empty list never matches)".into(),
            ));
        }
        for (i, meth) in m.methods.iter().enumerate() {
            if http::Method::from_bytes(meth.as_bytes()).is_err() || meth.is_empty() {
                errors.push(err(
                    &format!("match.methods[{i}]"),
                    format!("`{meth}` is not an HTTP method"),
                ));
            }
            methods.push(meth.to_ascii_uppercase());
        }
        for (name, value) in m.headers.iter().flatten() {
            let path = format!("match.headers.{name}");
            let Ok(hn) = HeaderName::from_bytes(name.as_bytes()) else {
                errors.push(err(&path, format!("`{name}` is not a valid header name")));
                continue;
            };
            match Pattern::compile(strategy, value) {
                Ok(p) => headers.push((hn, p)),
                Err(e) => errors.push(err(&path, e.to_string())),
            }
        }
    }
    let upstream = match spec.upstream.as_ref().map(compile_upstream) {
        None | Some(Ok(None)) => None,
        Some(Ok(u)) => u,
        Some(Err(m)) => {
            errors.push(err("upstream.url", m));
            None
        }
    };
    // An error in a handler's config names the rule; when the key is not in the rule's own
    // config it came from the config file, which the message then says.
    let built = |path: String, section: &str, h: &HandlerRef, e: BuildError| {
        let message = match e.path.strip_prefix("config.") {
            Some(key) if !has_key(h.config.as_ref(), key) => format!(
                "{} (set in the config file at {section}.{}.{})",
                e.message, h.handler, e.path
            ),
            _ => e.message,
        };
        LoadError::rule(origin, id, format!("{path}.{}", e.path), message)
    };
    // Exact capacities: a vector grown by `push` starts at 4 elements, per rule.
    let mut authenticators = Vec::with_capacity(spec.authenticators.len());
    if spec.authenticators.is_empty() {
        errors.push(err(
            "authenticators",
            "must be set and can not be an empty array".into(),
        ));
    }
    for (i, h) in spec.authenticators.iter().enumerate() {
        match Authenticator::build(&h.handler, h.config.as_ref(), config, disabled) {
            Ok(a) => authenticators.push(a),
            Err(e) => errors.push(built(
                format!("authenticators[{i}]"),
                "authenticators",
                h,
                e,
            )),
        }
    }
    let authorizer = match &spec.authorizer {
        None => {
            errors.push(err("authorizer", "must be set".into()));
            None
        }
        Some(h) if h.handler.is_empty() => {
            errors.push(err("authorizer.handler", "can not be empty".into()));
            None
        }
        Some(h) => match Authorizer::build(&h.handler, h.config.as_ref(), config, disabled) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(built("authorizer".into(), "authorizers", h, e));
                None
            }
        },
    };
    let mut mutators = Vec::with_capacity(spec.mutators.len());
    if spec.mutators.is_empty() {
        errors.push(err(
            "mutators",
            "must be set and can not be an empty array".into(),
        ));
    }
    for (i, h) in spec.mutators.iter().enumerate() {
        match Mutator::build(&h.handler, h.config.as_ref(), config, disabled) {
            Ok(m) => mutators.push(m),
            Err(e) => errors.push(built(format!("mutators[{i}]"), "mutators", h, e)),
        }
    }
    let rate_limit = match &spec.rate_limit {
        None => None,
        Some(r) => match crate::pipeline::rate_limit::RateLimiter::for_rule(id, r) {
            Ok(l) => Some(l),
            Err((path, m)) => {
                errors.push(err(&format!("rate_limit.{path}"), m));
                None
            }
        },
    };
    let mut error_handlers = Vec::with_capacity(spec.errors.as_ref().map_or(0, Vec::len));
    for (i, h) in spec.errors.iter().flatten().enumerate() {
        match ErrorHandlerEntry::build(&h.handler, h.config.as_ref(), config, disabled) {
            Ok(e) => error_handlers.push(e),
            Err(e) => errors.push(built(format!("errors[{i}]"), "errors.handlers", h, e)),
        }
    }
    match (errors.is_empty(), pattern, authorizer) {
        (true, Some(pattern), Some(authorizer)) => {
            let mut mutator_headers: Vec<HeaderName> =
                mutators.iter().flat_map(Mutator::header_names).collect();
            mutator_headers.extend(authorizer.header_names());
            mutator_headers.dedup();
            let needs_body = authorizer.needs_body();
            let reads_match_context = authorizer.reads_match_context()
                || mutators.iter().any(Mutator::reads_match_context);
            let rule = Rule {
                id: id.to_string(),
                origin: origin.to_string(),
                spec: spec.clone(),
                methods,
                headers,
                priority: spec.priority.unwrap_or(0),
                upstream,
                authenticators,
                authorizer,
                mutators,
                errors: error_handlers,
                rate_limit,
                mutator_headers,
                needs_body,
                reads_match_context,
            };
            Ok((rule, pattern))
        }
        _ => Err(errors),
    }
}

fn compile_upstream(u: &UpstreamSpec) -> Result<Option<Upstream>, String> {
    if u.url.is_empty() {
        return Ok(None);
    }
    let url =
        url::Url::parse(&u.url).map_err(|e| format!("`{}` is not a valid url: {e}", u.url))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{}` must be an absolute http:// or https:// URL",
            u.url
        ));
    }
    let strip = u.strip_path.trim_matches('/');
    Ok(Some(Upstream {
        url,
        preserve_host: u.preserve_host,
        strip_path: (!u.strip_path.is_empty()).then(|| format!("/{strip}")),
    }))
}

/// Semantic version with an optional `v` prefix (`v0.40.9`, `1.2.3-beta.1+meta`).
#[cfg(test)]
mod tests {
    use super::*;

    // Every rule holds its handlers inline: large handler structs must be boxed in their enum
    // or 10,000 rules pay for them 10,000 times (issue 7, 64 MB at 10,000 rules).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn handler_enums_stay_small() {
        use std::mem::size_of;
        assert!(
            size_of::<Authenticator>() <= 32,
            "{}",
            size_of::<Authenticator>()
        );
        assert!(size_of::<Authorizer>() <= 32, "{}", size_of::<Authorizer>());
        assert!(size_of::<Mutator>() <= 32, "{}", size_of::<Mutator>());
    }
}
