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
}

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
