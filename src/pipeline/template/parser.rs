//! Parser from tokens to the tree in [`super::ast`], following `text/template/parse/parse.go`:
//! variables must be declared before use, functions must exist, `{{break}}`/`{{continue}}` only
//! inside `{{range}}`, literals cannot start a later pipeline stage.

use super::ast::{Arg, Cmd, Defs, Node, Pipe};
use super::funcs;
use super::lexer::{Tok, Token};

/// Nesting cap for control structures plus parenthesised pipelines.
pub(crate) const MAX_PARSE_DEPTH: usize = 100;

type PResult<T> = Result<T, (usize, String)>;

enum Stop {
    Eof,
    End,
    Else,
}

pub(crate) struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    end_pos: usize,
    vars: Vec<String>,
    depth: usize,
    in_range: usize,
    /// Templates defined so far (`{{define}}`, `{{block}}`).
    defs: Defs,
    /// Names called by `{{template}}`, with where: each must be defined by the end.
    calls: Vec<(usize, String)>,
}

/// Parse a number literal as text/template does: integers (decimal, `0x`, `0o`, `0b`, leading-0
/// octal, `_` between digits) become `Int`, anything with `.`/exponent becomes `Float`. As in Go,
/// an integer beyond int64 (`9223372036854775808`) is refused, not read as a float, while
/// `-9223372036854775808` is an int; a float beyond float64 (`1e400`) and misplaced underscores
/// (`1__0`, `1_.5`) are refused.
pub(crate) fn parse_number(text: &str) -> Option<Arg> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let prefixed = ["0x", "0o", "0b"].iter().find(|p| lower.starts_with(*p));
    let int_like = match prefixed {
        Some(p) => lower[p.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'_'),
        None => body.bytes().all(|b| b.is_ascii_digit() || b == b'_'),
    };
    if int_like && !body.is_empty() {
        // Go's base-0 integers: `_` only between digits (or right after a base prefix).
        let digits = match prefixed {
            Some(p) => lower[p.len()..]
                .strip_prefix('_')
                .unwrap_or(&lower[p.len()..]),
            None => &lower,
        };
        if digits.is_empty() || digits.split('_').any(str::is_empty) {
            return None;
        }
        let digits = digits.replace('_', "");
        let (radix, digits) = match prefixed.copied() {
            Some("0x") => (16, digits.as_str()),
            Some("0o") => (8, digits.as_str()),
            Some("0b") => (2, digits.as_str()),
            _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
            _ => (10, digits.as_str()),
        };
        let magnitude = u64::from_str_radix(digits, radix).ok()?;
        let value = match neg {
            true if magnitude == 1 << 63 => i64::MIN,
            true => -i64::try_from(magnitude).ok()?,
            false => i64::try_from(magnitude).ok()?,
        };
        return Some(Arg::Int(value));
    }
    let float_chars = body
        .bytes()
        .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
    if !float_chars || !body.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: f64 = body.parse().ok()?;
    if f.is_infinite() {
        return None;
    }
    Some(Arg::Float(if neg { -f } else { f }))
}

impl<'t> Parser<'t> {
    pub(crate) fn new(toks: &'t [Token], src_len: usize) -> Self {
        Parser {
            toks,
            i: 0,
            end_pos: src_len,
            vars: vec!["$".into()],
            depth: 0,
            in_range: 0,
            defs: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// The main template and the ones it defines. Unlike Go, which finds a missing template
    /// only when `{{template}}` runs, a call to a name nothing defines fails here, at load.
    pub(crate) fn parse(mut self) -> PResult<(Vec<Node>, Defs)> {
        let (nodes, stop) = self.list()?;
        match stop {
            Stop::Eof => {}
            Stop::End => return Err((self.pos(), "unexpected {{end}}".into())),
            Stop::Else => return Err((self.pos(), "unexpected {{else}}".into())),
        }
        if let Some((pos, name)) = self
            .calls
            .iter()
            .find(|(_, name)| !self.defs.iter().any(|(n, _)| n == name))
        {
            return Err((*pos, format!("no such template \"{name}\"")));
        }
        Ok((nodes, self.defs))
    }

    /// After `{{define` or `{{block`: the name, then (`block`) the pipeline, `}}`, the body up
    /// to `{{end}}`, parsed with only `$` in scope and outside any `range`. A second non-empty
    /// body for one name is an error, an empty one keeps the first (Go's `parse.Tree.add`).
    fn definition(&mut self, word: &str, pos: usize) -> PResult<Option<Node>> {
        let name = self.template_name(word)?;
        let pipe = match word {
            "block" => Some(self.pipeline(word, false)?),
            _ => None,
        };
        self.expect(Tok::Right, word)?;
        self.enter(pos)?;
        let outer = (
            std::mem::replace(&mut self.vars, vec!["$".into()]),
            self.in_range,
        );
        self.in_range = 0;
        let (body, stop) = self.list()?;
        (self.vars, self.in_range) = outer;
        self.depth -= 1;
        match stop {
            Stop::End => {}
            Stop::Else => return Err((self.pos(), format!("unexpected {{{{else}}}} in {word}"))),
            Stop::Eof => return Err((self.end_pos, format!("unexpected EOF in {word}"))),
        }
        let empty = |nodes: &[Node]| {
            nodes
                .iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) if !empty(old) && !empty(&body) => {
                return Err((pos, format!("multiple definition of template \"{name}\"")))
            }
            Some((_, old)) if !empty(&body) => *old = body,
            Some(_) => {}
            None => self.defs.push((name.clone(), body)),
        }
        Ok(pipe.map(|pipe| {
            self.calls.push((pos, name.clone()));
            Node::Template {
                pos,
                name,
                pipe: Some(pipe),
            }
        }))
    }

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&mut self, word: &str) -> PResult<String> {
        let pos = self.pos();
        match self.next() {
            Some(Token {
                tok: Tok::Str(name),
                ..
            }) => Ok(name.clone()),
            Some(t) => Err((
                pos,
                format!("unexpected {} in {word} clause", describe(&t.tok)),
            )),
            None => Err((pos, format!("unexpected EOF in {word} clause"))),
        }
    }

    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.i)
    }

    fn pos(&self) -> usize {
        self.peek().map(|t| t.pos).unwrap_or(self.end_pos)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }

    fn expect(&mut self, want: Tok, ctx: &str) -> PResult<()> {
        let pos = self.pos();
        match self.next() {
            Some(t) if t.tok == want => Ok(()),
            Some(t) => Err((pos, format!("unexpected {} in {ctx}", describe(&t.tok)))),
            None => Err((pos, format!("unexpected EOF in {ctx}"))),
        }
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err((pos, format!("nesting deeper than {MAX_PARSE_DEPTH}")));
        }
        Ok(())
    }

    fn list(&mut self) -> PResult<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(t) = self.next() {
            match &t.tok {
                Tok::Text(s) => nodes.push(Node::Text(s.clone())),
                Tok::Left => match self.action(t.pos)? {
                    Ok(node) => nodes.push(node),
                    Err(stop) => return Ok((nodes, stop)),
                },
                other => return Err((t.pos, format!("unexpected {}", describe(other)))),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// After `{{`: a node, or the `{{end}}` / `{{else` that stops the enclosing list.
    fn action(&mut self, pos: usize) -> PResult<Result<Node, Stop>> {
        if let Some(Token {
            tok: Tok::Ident(word),
            ..
        }) = self.peek()
        {
            match word.as_str() {
                "if" | "range" | "with" => {
                    self.i += 1;
                    return self.control(word, pos).map(Ok);
                }
                "end" => {
                    self.i += 1;
                    self.expect(Tok::Right, "end")?;
                    return Ok(Err(Stop::End));
                }
                "else" => {
                    self.i += 1;
                    return Ok(Err(Stop::Else));
                }
                "break" | "continue" => {
                    self.i += 1;
                    if self.in_range == 0 {
                        return Err((pos, format!("{{{{{word}}}}} outside {{{{range}}}}")));
                    }
                    self.expect(Tok::Right, word)?;
                    return Ok(Ok(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }));
                }
                "define" | "block" => {
                    if word == "define" && self.depth > 0 {
                        return Err((pos, "{{define}} is only allowed at the top level".into()));
                    }
                    self.i += 1;
                    return match self.definition(word, pos)? {
                        Some(call) => Ok(Ok(call)),
                        // A definition prints nothing where it stands.
                        None => Ok(Ok(Node::Text(String::new()))),
                    };
                }
                "template" => {
                    self.i += 1;
                    let name = self.template_name(word)?;
                    let pipe = match self.peek() {
                        Some(Token {
                            tok: Tok::Right, ..
                        }) => None,
                        _ => Some(self.pipeline(word, false)?),
                    };
                    self.expect(Tok::Right, word)?;
                    self.calls.push((pos, name.clone()));
                    return Ok(Ok(Node::Template { pos, name, pipe }));
                }
                _ => {}
            }
        }
        let pipe = self.pipeline("command", false)?;
        self.expect(Tok::Right, "command")?;
        Ok(Ok(Node::Action { pos, pipe }))
    }

    fn control(&mut self, kind: &str, pos: usize) -> PResult<Node> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let pipe = self.pipeline(kind, kind == "range")?;
        self.expect(Tok::Right, kind)?;
        if kind == "range" {
            self.in_range += 1;
        }
        let (body, stop) = self.list()?;
        if kind == "range" {
            self.in_range -= 1;
        }
        let els = match stop {
            Stop::Eof => return Err((self.end_pos, format!("unexpected EOF in {kind}"))),
            Stop::End => None,
            Stop::Else => {
                let chained = matches!(self.peek(), Some(Token { tok: Tok::Ident(w), .. })
                    if (w == "if" || w == "with") && w == kind);
                if chained {
                    let at = self.pos();
                    self.i += 1;
                    Some(vec![self.control(kind, at)?])
                } else {
                    self.expect(Tok::Right, "else")?;
                    let (els, stop) = self.list()?;
                    match stop {
                        Stop::End => Some(els),
                        Stop::Else => {
                            return Err((self.pos(), "expected end; found {{else}}".into()))
                        }
                        Stop::Eof => {
                            return Err((self.end_pos, format!("unexpected EOF in {kind}")))
                        }
                    }
                }
            }
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(match kind {
            "if" => Node::If { pipe, body, els },
            "with" => Node::With { pipe, body, els },
            _ => Node::Range {
                pos,
                pipe,
                body,
                els,
            },
        })
    }

    fn pipeline(&mut self, ctx: &str, is_range: bool) -> PResult<Pipe> {
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        let is_decl = |p: &Self, k: usize| {
            matches!(
                p.toks.get(p.i + k).map(|t| &t.tok),
                Some(Tok::Declare | Tok::Assign | Tok::Comma)
            )
        };
        if let Some(Token {
            tok: Tok::Var(v), ..
        }) = self.peek()
        {
            if is_decl(self, 1) {
                decl.push(v.clone());
                self.i += 1;
                if let Some(Token {
                    tok: Tok::Comma,
                    pos: cpos,
                    ..
                }) = self.peek()
                {
                    if !is_range {
                        return Err((*cpos, "only range may declare two variables".into()));
                    }
                    self.i += 1;
                    match self.next() {
                        Some(Token {
                            tok: Tok::Var(v2), ..
                        }) => decl.push(v2.clone()),
                        _ => return Err((pos, "expected variable after comma in range".into())),
                    }
                }
                match self.next().map(|t| &t.tok) {
                    Some(Tok::Declare) => self.vars.extend(decl.iter().cloned()),
                    Some(Tok::Assign) => {
                        assign = true;
                        if let Some(v) = decl.iter().find(|v| !self.vars.contains(v)) {
                            return Err((pos, format!("undefined variable \"{v}\"")));
                        }
                    }
                    _ => return Err((pos, "too many declarations".into())),
                }
            }
        }
        if matches!(self.peek().map(|t| &t.tok), Some(Tok::Right | Tok::RParen)) {
            return Err((self.pos(), format!("missing value for {ctx}")));
        }
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.command()?);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Pipe) => self.i += 1,
                _ => break,
            }
        }
        for (n, c) in cmds.iter().enumerate().skip(1) {
            if !c.args.first().is_some_and(Arg::is_executable) {
                return Err((
                    c.pos,
                    format!("non executable command in pipeline stage {}", n + 1),
                ));
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            match self.peek() {
                None => return Err((pos, "unclosed action".into())),
                Some(t) if matches!(t.tok, Tok::Right | Tok::RParen | Tok::Pipe) => break,
                Some(t) if !args.is_empty() && !t.spaced => {
                    return Err((t.pos, format!("unexpected {} in operand", describe(&t.tok))));
                }
                Some(_) => args.push(self.operand()?),
            }
        }
        match args.first() {
            None => Err((pos, "missing value for command".into())),
            Some(Arg::Nil) => Err((pos, "nil is not a command".into())),
            Some(_) => Ok(Cmd { pos, args }),
        }
    }

    fn operand(&mut self) -> PResult<Arg> {
        let Some(t) = self.next() else {
            return Err((self.end_pos, "unexpected EOF".into()));
        };
        let mut arg = match &t.tok {
            Tok::Ident(name) => match funcs::lookup(name) {
                Some(f) => Arg::Func(f),
                None if is_keyword(name) => {
                    return Err((t.pos, format!("unexpected <{name}> in operand")));
                }
                None => {
                    let why = funcs::left_out(name)
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default();
                    return Err((t.pos, format!("function \"{name}\" not defined{why}")));
                }
            },
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Var(v) => {
                if !self.vars.contains(v) {
                    return Err((t.pos, format!("undefined variable \"{v}\"")));
                }
                Arg::Var(v.clone(), Vec::new())
            }
            Tok::Field(f) => Arg::Field(vec![f.clone()]),
            Tok::Bool(b) => Arg::Bool(*b),
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Char(c) => Arg::Int(*c),
            Tok::Number(n) => {
                parse_number(n).ok_or_else(|| (t.pos, format!("bad number syntax: {n:?}")))?
            }
            Tok::LParen => {
                self.enter(t.pos)?;
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.expect(Tok::RParen, "parenthesized pipeline")?;
                self.depth -= 1;
                Arg::Chain(Box::new(Arg::Pipe(Box::new(p))), Vec::new())
            }
            other => return Err((t.pos, format!("unexpected {} in operand", describe(other)))),
        };
        while let Some(Token {
            tok: Tok::Field(f),
            spaced: false,
            pos,
        }) = self.peek()
        {
            self.i += 1;
            match &mut arg {
                Arg::Field(names) | Arg::Var(_, names) | Arg::Chain(_, names) => {
                    names.push(f.clone())
                }
                Arg::Func(_) => arg = Arg::Chain(Box::new(arg), vec![f.clone()]),
                _ => return Err((*pos, "unexpected . after term".into())),
            }
        }
        Ok(arg)
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "if" | "else"
            | "end"
            | "range"
            | "with"
            | "break"
            | "continue"
            | "define"
            | "template"
            | "block"
    )
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::Right => "\"}}\"".into(),
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Field(s) => format!("<.{s}>"),
        Tok::Var(s) => format!("<{s}>"),
        Tok::Dot => "<.>".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(n) => format!("<{n}>"),
        Tok::Char(c) => format!("<{c}>"),
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
    }
}
