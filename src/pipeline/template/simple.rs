//! The common header and cookie templates without the engine: text and field chains printed as
//! they are (`{{ .Subject }}`, `{{ print .Subject }}`, `id={{ .Extra.user_id }}`). A chain that
//! reaches a method, an error, or a value that is not a string or nil hands the render back to
//! the engine, so the output (and every error) is the engine's in every case.

use super::ast::{Arg, Node, Pipe};
use super::context;
use super::exec::MAX_OUTPUT;
use super::value::{Obj, Value};
use crate::pipeline::session::Session;

/// Whether every node is text or a printed field chain (see [`chain`]).
pub(super) fn applies(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text(_) => true,
        Node::Action { pipe, .. } => chain(pipe).is_some(),
        _ => false,
    })
}

/// `{{ .A.B }}` -> `(names, false)`, `{{ print .A.B }}` -> `(names, true)`; anything else (a
/// declaration, a pipe, other functions or arguments) -> `None`.
fn chain(pipe: &Pipe) -> Option<(&[String], bool)> {
    if !pipe.decl.is_empty() {
        return None;
    }
    let [cmd] = pipe.cmds.as_slice() else {
        return None;
    };
    match cmd.args.as_slice() {
        [Arg::Field(names)] => Some((names, false)),
        [Arg::Func(f), Arg::Field(names)] if f.name == "print" => Some((names, true)),
        _ => None,
    }
}

/// What one node prints, or `None` to leave the render to the engine. A missing value prints as
/// the engine prints it: `<no value>` bare, `""` through `print`.
fn piece<'a>(node: &'a Node, root: &Value<'a>) -> Option<Piece<'a>> {
    let (names, print) = match node {
        Node::Text(s) => return Some(Piece::Text(s)),
        Node::Action { pipe, .. } => chain(pipe)?,
        _ => return None,
    };
    let mut v = root.clone();
    for name in names {
        // A field of a nil is an error (or, under `URL.User`, a method): the engine's to report.
        if v.is_nil() || context::has_method(&v, name) {
            return None;
        }
        v = context::field(&v, name).ok()?;
    }
    match v {
        Value::Str(s) => Some(Piece::Value(s)),
        Value::Nil if print => Some(Piece::Text("")),
        Value::Nil => Some(Piece::Text("<no value>")),
        _ => None,
    }
}

enum Piece<'a> {
    Text(&'a str),
    Value(super::value::Str<'a>),
}

impl std::ops::Deref for Piece<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Piece::Text(s) => s,
            Piece::Value(s) => s,
        }
    }
}

/// Render `nodes` (for which [`applies`] holds) against `session`, into a string of exactly the
/// output's length; `None` when the engine must do it.
pub(super) fn render(nodes: &[Node], session: &Session) -> Option<String> {
    let root = Value::Obj(Obj::Session(session));
    let mut len = 0usize;
    for n in nodes {
        len = len.checked_add(piece(n, &root)?.len())?;
    }
    if len > MAX_OUTPUT {
        return None;
    }
    let mut out = String::with_capacity(len);
    for n in nodes {
        out.push_str(&piece(n, &root)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::{exec::Exec, sample_session, Template};
    use super::*;

    /// The engine's answer for `src`, never the shortcut.
    fn engine(t: &Template, session: &Session) -> Result<String, String> {
        let root = Value::Obj(Obj::Session(session));
        Exec::run(&t.inner.source, &t.inner.nodes, &t.inner.defs, root).map_err(|e| e.to_string())
    }

    // The shortcut takes the templates it is for, and its output is the engine's.
    #[test]
    fn same_output_as_the_engine() {
        let session = sample_session();
        let mut empty = sample_session();
        empty.subject.clear();
        empty.extra = Default::default();
        let taken = [
            "{{ print .Subject }}",
            "{{ .Subject }}",
            "{{- .Subject -}}",
            "user={{ .Subject }}; via=gatehouse",
            "{{ .Extra.s }}",
            "{{ print .Extra.s }}",
            "{{ .Extra.missing }}",
            "{{ print .Extra.missing }}",
            "{{ .Extra.nested.k }}/{{ .Extra.nested.missing }}",
            // SPEC §4.2: a field of a missing value is the engine's error, not `<no value>`.
            "{{ .Extra.nested.missing.deeper }}",
            "{{ print .Extra.n.deeper }}",
            "{{ .MatchContext.Method }} {{ .MatchContext.URL.Path }}",
            "{{ .MatchContext.URL.Host }}{{ .MatchContext.URL.RawQuery }}",
            "{{ .Extra.n }}",
            "plain text",
            "",
            // Reach the engine at render time: not a string, a method, an error.
            "{{ .Extra.a }}",
            "{{ print .Extra.groups }}",
            "{{ .Extra }}",
            "{{ .Header }}",
            "{{ .MatchContext.URL.Hostname }}",
            "{{ .Subject.Foo }}",
            "{{ .Nope }}",
        ];
        for src in taken {
            let t = Template::parse(src).expect(src);
            assert!(t.inner.simple, "{src:?} should take the shortcut");
            for s in [&session, &empty] {
                assert_eq!(
                    t.render(s).map_err(|e| e.to_string()),
                    engine(&t, s),
                    "{src:?}"
                );
            }
        }
        assert_eq!(
            Template::parse("{{ .Subject }}")
                .and_then(|t| t.render(&session))
                .ok()
                .as_deref(),
            Some("alice")
        );
        for src in [
            "{{ printf \"%s\" .Subject }}",
            "{{ .Subject | upper }}",
            "{{ print .Subject .Subject }}",
            "{{ $x := .Subject }}{{ $x }}",
            "{{ if .Subject }}{{ .Subject }}{{ end }}",
            "{{ . }}",
            "{{ print }}",
        ] {
            let t = Template::parse(src).expect(src);
            assert!(!t.inner.simple, "{src:?} is for the engine");
        }
    }

    // MAX_OUTPUT holds on the shortcut too: the engine reports the overflow.
    #[test]
    fn oversized_output_goes_to_the_engine() {
        let mut session = sample_session();
        session.subject = "x".repeat(MAX_OUTPUT + 1);
        let t = Template::parse("{{ .Subject }}").expect("parses");
        assert!(matches!(
            t.render(&session),
            Err(super::super::TemplateError::OutputTooLarge { .. })
        ));
    }
}
