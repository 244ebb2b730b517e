//! Go `text/template`-compatible templates with the Sprig functions Oathkeeper configs use
//! (SPEC §4.2; used by the header/cookie/id_token mutators, keto and remote authorizers).
//!
//! Templates are parsed once when rules load ([`Template::parse`]: unknown functions, undefined
//! variables and syntax errors are rejected there, like Go) and rendered per request against the
//! [`Session`] ([`Template::render`]), with Go's `missingkey=zero` behaviour and Oathkeeper's
//! `print`/`printIndex` overrides.
//!
//! Rendering is bounded because request data is attacker-controlled: output is capped at 1 MiB,
//! evaluation steps, range iterations, built-value nesting and total bytes produced are capped,
//! and the parser limits nesting depth. Nothing here panics on any input.
//!
//! # Layout
//! - `lexer.rs`, `parser.rs`, `ast.rs`: source → tree.
//! - `exec.rs`: tree → output, limits.
//! - `value.rs`: the dynamic value; `context.rs`: session fields and Go methods.
//! - `funcs.rs`: function table and Go built-ins; `sprig.rs` (the Sprig table), `sprig_text.rs`,
//!   `sprig_case.rs`, `sprig_data.rs`, `sprig_dict.rs`, `sprig_num.rs`, `sprig_regex.rs`: Sprig.
//! - `format.rs`, `printf.rs`, `json.rs`: Go `fmt`, `Sprintf` and `encoding/json` output.
//!
//! As in Go, a field of a nil map element (`.Extra.identity.traits` without `identity`) is an
//! execution error, so the request fails closed; only the last step of a chain is
//! `missingkey=zero`.
//!
//! Deliberate differences from Go: integral JSON numbers are integers (Go decodes them as
//! float64, printing `1.234567e+06` for big ids, and `typeOf`/`kindOf` say `int` for them);
//! numbers compare across int/float; `print` accepts several operands; values are immutable, so
//! Sprig's `set`/`unset`/`merge*` rebind a variable passed to them instead of changing the map
//! in place, and never change `.Extra`; a missing key passed where Sprig wants a map
//! (`get .Extra.nope "k"`) is an empty map, not Go's "wrong type" error.

mod ast;
mod context;
mod exec;
mod format;
mod funcs;
mod json;
mod lexer;
mod parser;
mod printf;
mod simple;
mod sprig;
mod sprig_case;
mod sprig_data;
mod sprig_dict;
mod sprig_num;
mod sprig_path;
mod sprig_regex;
mod sprig_text;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_funcs;

use std::sync::Arc;

use crate::pipeline::session::{MatchContext, RequestUrl, Session};
use value::{Obj, Value};

/// A parsed template; cheap to clone and shareable across request tasks.
#[derive(Debug, Clone)]
pub struct Template {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: String,
    nodes: Vec<ast::Node>,
    /// Every node is text or a field chain printed as is (`{{ .Subject }}`,
    /// `X {{ print .Extra.email }}`): rendered by [`simple::render`] without the engine.
    simple: bool,
    /// Templates the source defines (`{{define}}`, `{{block}}`), for `{{template}}`.
    defs: ast::Defs,
}

/// Why a template failed to parse or render. Positions are 1-based `line:column`.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template parse error at {line}:{col}: {msg}")]
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("template execution error at {line}:{col}: {msg}")]
    Exec {
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("template output exceeds {limit} bytes")]
    OutputTooLarge { limit: usize },
    #[error("template exceeded the {0}")]
    Limit(&'static str),
}

/// 1-based line and column (in characters) of byte offset `pos`.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

impl Template {
    /// Parse once when rules load. Errors name the position and what is wrong.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let perr = |(pos, msg): (usize, String)| {
            let (line, col) = line_col(source, pos);
            TemplateError::Parse { line, col, msg }
        };
        let toks = lexer::lex(source).map_err(perr)?;
        let (nodes, defs) = parser::Parser::new(&toks, source.len())
            .parse()
            .map_err(perr)?;
        Ok(Template {
            inner: Arc::new(Inner {
                source: source.to_string(),
                simple: simple::applies(&nodes),
                nodes,
                defs,
            }),
        })
    }

    /// Render against a session (the `.` of the template is the session).
    pub fn render(&self, session: &Session) -> Result<String, TemplateError> {
        if self.inner.simple {
            if let Some(out) = simple::render(&self.inner.nodes, session) {
                return Ok(out);
            }
        }
        let root = Value::Obj(Obj::Session(session));
        exec::Exec::run(
            &self.inner.source,
            &self.inner.nodes,
            &self.inner.defs,
            root,
        )
    }

    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Whether rendering may read the session's `MatchContext` (and so its regexp capture
    /// groups). Conservative: true for any use of `.MatchContext` or `.RegexpCaptureGroups` in
    /// any field chain, and for any use of dot or `$` as a whole value (`{{ . }}`,
    /// `toJson .`, `index . "MatchContext"`), whatever dot is bound to at that point.
    pub fn reads_match_context(&self) -> bool {
        self.inner.nodes.iter().any(ast::Node::reads_match_context)
    }
}

/// The fixed session that [`fuzz_parse_render`] renders against (also used by tests).
pub(crate) fn sample_session() -> Session {
    let extra = serde_json::json!({
        "a": 1, "f": 1.5, "s": "str", "t": true, "n": null,
        "groups": ["admin", "dev"], "nested": {"k": "v", "list": [1, 2]}
    });
    let mut header = http::HeaderMap::new();
    header.insert("x-user", http::HeaderValue::from_static("alice"));
    let mut req_header = http::HeaderMap::new();
    req_header.append("x-foo", http::HeaderValue::from_static("foo1"));
    req_header.append("x-foo", http::HeaderValue::from_static("foo2"));
    req_header.insert("accept", http::HeaderValue::from_static("*/*"));
    Session {
        subject: "alice".into(),
        extra: match extra {
            serde_json::Value::Object(m) => Arc::new(m),
            _ => Arc::default(),
        },
        header,
        set_headers: Vec::new(),
        match_context: MatchContext {
            regexp_capture_groups: vec!["42".into(), "abc".into()],
            url: RequestUrl {
                scheme: "https".into(),
                host: "example.com:8443".into(),
                path: "/users/42/abc".into(),
                raw_query: "k=v1&k=v2&q=a+b".into(),
            },
            method: "GET".into(),
            header: req_header,
        },
    }
}

/// Fuzz entry point: parse arbitrary bytes (lossy UTF-8) and, if they parse, render against a
/// fixed sample session.
///
/// Invariant: never panics, and rendering terminates within the engine's limits (output ≤ 1 MiB,
/// bounded steps, iterations and nesting) whatever the input.
pub fn fuzz_parse_render(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    if let Ok(t) = Template::parse(&src) {
        let session = sample_session();
        if let Ok(out) = t.render(&session) {
            debug_assert!(out.len() <= exec::MAX_OUTPUT);
        }
    }
}
