//! Executes a parsed tree against a session with text/template semantics (`missingkey=zero`),
//! under hard limits: output size, evaluation steps, range iterations and total bytes built.

use super::ast::{Arg, Cmd, Defs, Node, Pipe};
use super::context;
use super::format::{write_v, Buf};
use super::funcs::{Func, Imp};
use super::value::Value;
use super::{line_col, TemplateError};

/// Cap on the rendered output.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;
/// Cap on evaluated nodes and commands per render.
const MAX_STEPS: u64 = 1_000_000;
/// Cap on range iterations per render (all loops together).
const MAX_RANGE_ITERATIONS: u64 = 100_000;
/// Cap on bytes/elements produced by functions per render (repeated large concatenations).
const MAX_WORK: u64 = 64 << 20;
/// Cap on nested `{{template}}` calls (a template may call itself).
const MAX_TEMPLATE_DEPTH: usize = 100;
/// Cap on nested bodies being walked (control structures inside template calls inside ...):
/// the parser bounds one template's nesting, this bounds what calls stack up, so that the
/// deepest render fits a worker thread's stack.
const MAX_WALK_DEPTH: usize = 200;

type R<T> = Result<T, TemplateError>;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// What a nil field-chain receiver is in Go's reflect terms, which decides what a field step on
/// it does (SPEC §4.2: `missingkey=zero` only covers the last step of a chain).
#[derive(Clone, Copy)]
enum NilKind {
    /// The result of a pipeline (`(index .Extra "a")`, `$x := .Extra.a`): Go unwraps a nil
    /// `interface{}` to an invalid value there, and a field of that is nil again.
    Invalid,
    /// A map element or a range element: a nil `interface{}`. A field of it is Go's
    /// "nil pointer evaluating interface {}.name" error, whatever `missingkey` says.
    Iface,
    /// `URL.User`, a nil `*url.Userinfo`: its methods work, fields do not.
    Userinfo,
}

/// Sprig functions that change their first argument, a map, in place in Go (`set`, `merge`, ...).
/// Values are immutable here, so when that argument is a variable the variable is rebound to
/// the result: `{{ $_ := set $d "k" 1 }}{{ $d.k }}` works as in Go. Other references to the same
/// map (another variable, `.Extra`, a map holding it) keep the old contents.
const MUTATES_FIRST: [&str; 6] = [
    "set",
    "unset",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
];

pub(crate) struct Exec<'a> {
    src: &'a str,
    out: String,
    /// Variables in scope, innermost last; the flag marks range elements (a nil one is a nil
    /// `interface{}`, see [`NilKind`]).
    vars: Vec<(&'a str, Value<'a>, bool)>,
    steps: u64,
    work: u64,
    iters: u64,
    defs: &'a Defs,
    /// `{{template}}` calls in progress.
    calls: usize,
    /// Bodies being walked.
    depth: usize,
}

impl<'a> Exec<'a> {
    pub(crate) fn run(
        src: &'a str,
        nodes: &'a [Node],
        defs: &'a Defs,
        root: Value<'a>,
    ) -> R<String> {
        let mut e = Exec {
            src,
            out: String::new(),
            vars: vec![("$", root.clone(), false)],
            steps: 0,
            work: 0,
            iters: 0,
            defs,
            calls: 0,
            depth: 0,
        };
        e.walk(&root, nodes)?;
        Ok(e.out)
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        let (line, col) = line_col(self.src, pos);
        TemplateError::Exec {
            line,
            col,
            msg: msg.into(),
        }
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(TemplateError::Limit("evaluation step limit"));
        }
        Ok(())
    }

    fn charge(&mut self, n: usize) -> R<()> {
        self.work = self.work.saturating_add(n as u64);
        if self.work > MAX_WORK {
            return Err(TemplateError::Limit("work limit"));
        }
        Ok(())
    }

    fn emit(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(TemplateError::OutputTooLarge { limit: MAX_OUTPUT });
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Value<'a>, nodes: &'a [Node]) -> R<Flow> {
        if self.depth >= MAX_WALK_DEPTH {
            return Err(TemplateError::Limit("nesting limit"));
        }
        self.depth += 1;
        let flow = self.walk_nodes(dot, nodes);
        self.depth -= 1;
        flow
    }

    fn walk_nodes(&mut self, dot: &Value<'a>, nodes: &'a [Node]) -> R<Flow> {
        for node in nodes {
            self.step()?;
            let flow = match node {
                Node::Text(s) => {
                    self.emit(s)?;
                    Flow::Normal
                }
                Node::Action { pos, pipe } => {
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(&v, *pos)?;
                    }
                    Flow::Normal
                }
                Node::If {
                    pipe, body, els, ..
                } => self.branch(dot, pipe, body, els, false)?,
                Node::With {
                    pipe, body, els, ..
                } => self.branch(dot, pipe, body, els, true)?,
                Node::Range {
                    pos,
                    pipe,
                    body,
                    els,
                } => self.range(dot, *pos, pipe, body, els)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
                Node::Template { pos, name, pipe } => {
                    self.template(dot, *pos, name, pipe.as_ref())?
                }
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// `{{template "name" pipeline}}`: the named body with dot the pipeline's value (nil
    /// without one) and a fresh scope holding only `$` (that value), as Go's `walkTemplate`.
    fn template(
        &mut self,
        dot: &Value<'a>,
        pos: usize,
        name: &str,
        pipe: Option<&'a Pipe>,
    ) -> R<Flow> {
        let Some((_, body)) = self.defs.iter().find(|(n, _)| n == name) else {
            return Err(self.err(pos, format!("no such template \"{name}\"")));
        };
        if self.calls >= MAX_TEMPLATE_DEPTH {
            return Err(TemplateError::Limit("template call depth limit"));
        }
        let new_dot = match pipe {
            Some(p) => self.pipe(dot, p)?,
            None => Value::Nil,
        };
        let outer = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone(), false)]);
        self.calls += 1;
        let done = self.walk(&new_dot, body);
        self.calls -= 1;
        self.vars = outer;
        done.map(|_| Flow::Normal)
    }

    /// Print a pipeline's value: a bare missing value shows as `<no value>` (Go's printableValue).
    fn print(&mut self, v: &Value<'a>, pos: usize) -> R<()> {
        if v.is_nil() {
            return self.emit("<no value>");
        }
        if let Value::Str(s) = v {
            return self.emit(s);
        }
        let mut b = Buf::default();
        write_v(&mut b, v, 0).map_err(|m| self.err(pos, m))?;
        self.emit(&b.s)
    }

    fn branch(
        &mut self,
        dot: &Value<'a>,
        pipe: &'a Pipe,
        body: &'a [Node],
        els: &'a Option<Vec<Node>>,
        with: bool,
    ) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.pipe(dot, pipe)?;
        let flow = if v.truth() {
            self.walk(if with { &v } else { dot }, body)?
        } else if let Some(els) = els {
            self.walk(dot, els)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn bind(&mut self, name: &'a str, v: Value<'a>, assign: bool, elem: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, ..)| *n == name) {
                *slot = (name, v, elem);
                return;
            }
        }
        self.vars.push((name, v, elem));
    }

    fn range(
        &mut self,
        dot: &Value<'a>,
        pos: usize,
        pipe: &'a Pipe,
        body: &'a [Node],
        els: &'a Option<Vec<Node>>,
    ) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.pipe_value(dot, pipe)?;
        let (len, entries) = match &v {
            Value::Nil => (0, None),
            Value::Int(n) if pipe.decl.len() < 2 => (usize::try_from(*n).unwrap_or(0), None),
            x if x.is_list() => (x.len().unwrap_or(0), None),
            x => match x.map_entries() {
                Some(e) => (e.len(), Some(e)),
                None => {
                    let shown = super::format::sprint_v(x).unwrap_or_default();
                    return Err(self.err(pos, format!("range can't iterate over {shown}")));
                }
            },
        };
        for i in 0..len {
            self.iters += 1;
            if self.iters > MAX_RANGE_ITERATIONS {
                return Err(TemplateError::Limit("range iteration limit"));
            }
            let (key, elem) = match (&entries, &v) {
                (Some(e), _) => match e.get(i) {
                    Some((k, x)) => (Value::string(k.as_str()), x.clone()),
                    None => break,
                },
                (None, Value::Int(_)) => (Value::Int(i as i64), Value::Int(i as i64)),
                (None, l) => (
                    Value::Int(i as i64),
                    l.list_get(i).flatten().unwrap_or_default(),
                ),
            };
            self.vars.truncate(mark);
            match pipe.decl.as_slice() {
                [one] => self.bind(one, elem.clone(), pipe.assign, true),
                [k, e] => {
                    self.bind(k, key, pipe.assign, true);
                    self.bind(e, elem.clone(), pipe.assign, true);
                }
                _ => {}
            }
            if let Flow::Break = self.walk(&elem, body)? {
                break;
            }
        }
        self.vars.truncate(mark);
        if len == 0 {
            if let Some(els) = els {
                self.walk(dot, els)?;
            }
        }
        Ok(Flow::Normal)
    }

    /// Evaluate a pipeline and apply its declarations (not for `range`, which binds per item).
    fn pipe(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> R<Value<'a>> {
        let v = self.pipe_value(dot, pipe)?;
        if let Some(name) = pipe.decl.first() {
            self.bind(name, v.clone(), pipe.assign, false);
        }
        Ok(v)
    }

    fn pipe_value(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> R<Value<'a>> {
        let mut v: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            v = Some(self.cmd(dot, cmd, v)?);
        }
        Ok(v.unwrap_or_default())
    }

    fn cmd(&mut self, dot: &Value<'a>, cmd: &'a Cmd, fin: Option<Value<'a>>) -> R<Value<'a>> {
        self.step()?;
        let pos = cmd.pos;
        let (first, rest) = cmd
            .args
            .split_first()
            .ok_or_else(|| self.err(pos, "empty command"))?;
        match first {
            // Dot is nil only inside `range`, as an element.
            Arg::Field(names) => {
                self.chain(dot, (dot.clone(), NilKind::Iface), names, rest, fin, pos)
            }
            Arg::Var(name, names) if !names.is_empty() => {
                let v = self.var(name, pos)?;
                self.chain(dot, v, names, rest, fin, pos)
            }
            Arg::Chain(base, names) if !names.is_empty() => {
                let v = self.arg(dot, base, pos)?;
                self.chain(dot, (v, NilKind::Invalid), names, rest, fin, pos)
            }
            Arg::Func(f) => self.call(dot, f, rest, fin, pos),
            Arg::Nil => Err(self.err(pos, "nil is not a command")),
            other => {
                if !rest.is_empty() || fin.is_some() {
                    return Err(self.err(pos, "can't give argument to non-function"));
                }
                self.arg(dot, other, pos)
            }
        }
    }

    fn var(&self, name: &str, pos: usize) -> R<(Value<'a>, NilKind)> {
        match self.vars.iter().rev().find(|(n, ..)| *n == name) {
            Some((_, v, elem)) => Ok((
                v.clone(),
                if *elem {
                    NilKind::Iface
                } else {
                    NilKind::Invalid
                },
            )),
            None => Err(self.err(pos, format!("undefined variable: {name}"))),
        }
    }

    fn arg(&mut self, dot: &Value<'a>, arg: &'a Arg, pos: usize) -> R<Value<'a>> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::str(s),
            Arg::Field(names) => {
                self.chain(dot, (dot.clone(), NilKind::Iface), names, &[], None, pos)?
            }
            Arg::Var(name, names) => {
                let v = self.var(name, pos)?;
                self.chain(dot, v, names, &[], None, pos)?
            }
            Arg::Func(f) => self.call(dot, f, &[], None, pos)?,
            Arg::Pipe(p) => self.pipe(dot, p)?,
            Arg::Chain(base, names) => {
                let v = self.arg(dot, base, pos)?;
                self.chain(dot, (v, NilKind::Invalid), names, &[], None, pos)?
            }
        })
    }

    /// `.A.B.C args`: intermediate names are fields or niladic methods; the last one gets the
    /// arguments. A missing map key is nil (`missingkey=zero`), but a field of that nil is an
    /// error, as in Go: `.Extra.identity.traits` fails when `identity` is absent, so a request
    /// whose template reads a missing claim fails closed (SPEC §4.2).
    fn chain(
        &mut self,
        dot: &Value<'a>,
        (mut recv, mut nil): (Value<'a>, NilKind),
        names: &'a [String],
        args: &'a [Arg],
        mut fin: Option<Value<'a>>,
        pos: usize,
    ) -> R<Value<'a>> {
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            if recv.is_nil() {
                match nil {
                    NilKind::Invalid => return Ok(Value::Nil),
                    NilKind::Iface => {
                        return Err(
                            self.err(pos, format!("nil pointer evaluating interface {{}}.{name}"))
                        )
                    }
                    NilKind::Userinfo => {
                        // `(*url.Userinfo)(nil).Username()` and `.String()` are "".
                        if !matches!(name.as_str(), "Username" | "String") {
                            return Err(self.err(
                                pos,
                                format!("can't evaluate field {name} in type *url.Userinfo"),
                            ));
                        }
                        if last && (!args.is_empty() || fin.is_some()) {
                            return Err(
                                self.err(pos, format!("wrong number of args for {name}: want 0"))
                            );
                        }
                        recv = Value::str("");
                        continue;
                    }
                }
            }
            if context::has_method(&recv, name) {
                let mut argv = Vec::new();
                if last {
                    for a in args {
                        argv.push(self.arg(dot, a, pos)?);
                    }
                    argv.extend(fin.take());
                }
                recv = context::call_method(&recv, name, argv).map_err(|m| self.err(pos, m))?;
                self.charge(recv.cost())?;
            } else {
                if last && (!args.is_empty() || fin.is_some()) {
                    return Err(self.err(pos, format!("{name} is not a method but has arguments")));
                }
                nil = match recv {
                    Value::Obj(super::value::Obj::Url(_)) if name == "User" => NilKind::Userinfo,
                    _ => NilKind::Iface,
                };
                recv = context::field(&recv, name).map_err(|m| self.err(pos, m))?;
            }
        }
        Ok(recv)
    }

    fn call(
        &mut self,
        dot: &Value<'a>,
        f: &Func,
        args: &'a [Arg],
        fin: Option<Value<'a>>,
        pos: usize,
    ) -> R<Value<'a>> {
        let total = args.len() + usize::from(fin.is_some());
        f.check_arity(total).map_err(|m| self.err(pos, m))?;
        match f.imp {
            Imp::And | Imp::Or => {
                let want = matches!(f.imp, Imp::Or);
                let mut last = Value::Nil;
                for a in args {
                    let v = self.arg(dot, a, pos)?;
                    if v.truth() == want {
                        return Ok(v);
                    }
                    last = v;
                }
                Ok(fin.unwrap_or(last))
            }
            Imp::Native(fun) => {
                let mut argv = Vec::with_capacity(total);
                for a in args {
                    argv.push(self.arg(dot, a, pos)?);
                }
                argv.extend(fin);
                self.charge(argv.iter().map(Value::cost).sum())?;
                let v = fun(argv)
                    .map_err(|m| self.err(pos, format!("error calling {}: {m}", f.name)))?;
                self.charge(v.cost())?;
                if let (true, Some(Arg::Var(name, fields))) =
                    (MUTATES_FIRST.contains(&f.name), args.first())
                {
                    if fields.is_empty() {
                        self.bind(name, v.clone(), true, false);
                    }
                }
                Ok(v)
            }
        }
    }
}
