//! The parsed template tree (built once at rule load, shared read-only by renders).

use super::funcs::Func;

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: prints the value unless the pipeline declares/assigns variables.
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If {
        pipe: Pipe,
        body: Vec<Node>,
        els: Option<Vec<Node>>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        els: Option<Vec<Node>>,
    },
    Range {
        pos: usize,
        pipe: Pipe,
        body: Vec<Node>,
        els: Option<Vec<Node>>,
    },
    Break,
    Continue,
    /// `{{template "name" pipeline}}` (and the call half of `{{block}}`): the named template's
    /// body, run with dot the pipeline's value (nil without one) and only `$` in scope.
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// The templates a source defines with `{{define}}` or `{{block}}`, by name.
pub(crate) type Defs = Vec<(String, Vec<Node>)>;

/// `$x := cmd | cmd | …`
#[derive(Debug)]
pub(crate) struct Pipe {
    /// Declared or assigned variables (with `$`); two only in `range`.
    pub(crate) decl: Vec<String>,
    /// `=` rather than `:=`.
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Cmd>,
}

/// One pipeline stage: an operand followed by arguments.
#[derive(Debug)]
pub(crate) struct Cmd {
    pub(crate) pos: usize,
    pub(crate) args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B` relative to dot.
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    Func(Func),
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B` or `func.A` (fields may be empty for a bare parenthesised pipeline).
    Chain(Box<Arg>, Vec<String>),
}

impl Arg {
    /// Whether this can start a later pipeline stage (it can take the piped value).
    pub(crate) fn is_executable(&self) -> bool {
        matches!(
            self,
            Arg::Field(_) | Arg::Var(..) | Arg::Func(_) | Arg::Chain(..)
        )
    }
}

/// Field names through which a template reaches the capture groups.
const MATCH_CONTEXT_FIELDS: [&str; 2] = ["MatchContext", "RegexpCaptureGroups"];

impl Node {
    /// See `Template::reads_match_context`.
    pub(crate) fn reads_match_context(&self) -> bool {
        let body = |nodes: &[Node]| nodes.iter().any(Node::reads_match_context);
        match self {
            Node::Text(_) | Node::Break | Node::Continue => false,
            // The body reads whatever dot it is given; checked as if it could be the session.
            Node::Template { .. } => true,
            Node::Action { pipe, .. } => pipe.reads_match_context(),
            Node::If { pipe, body: b, els }
            | Node::With { pipe, body: b, els }
            | Node::Range {
                pipe, body: b, els, ..
            } => pipe.reads_match_context() || body(b) || els.as_deref().is_some_and(body),
        }
    }
}

impl Pipe {
    fn reads_match_context(&self) -> bool {
        self.cmds
            .iter()
            .flat_map(|c| &c.args)
            .any(Arg::reads_match_context)
    }
}

impl Arg {
    fn reads_match_context(&self) -> bool {
        let named = |names: &[String]| {
            names
                .iter()
                .any(|n| MATCH_CONTEXT_FIELDS.contains(&n.as_str()))
        };
        match self {
            Arg::Dot => true,
            Arg::Nil | Arg::Bool(_) | Arg::Int(_) | Arg::Float(_) | Arg::Str(_) | Arg::Func(_) => {
                false
            }
            Arg::Field(names) => named(names),
            // `$` is the session; any other variable holds what an earlier pipeline gave it,
            // which was itself checked (`$x := .` is a use of dot).
            Arg::Var(name, names) => (name == "$" && names.is_empty()) || named(names),
            Arg::Pipe(pipe) => pipe.reads_match_context(),
            Arg::Chain(arg, names) => arg.reads_match_context() || named(names),
        }
    }
}
