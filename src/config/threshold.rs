//! Thresholds: pass / fail checks written as strings in a scenario, in the spirit of k6's thresholds, e.g.
//! `gateway.p99_ms < 400`, `gateway.mean_ms < legacy.mean_ms * 0.8`, `legacy.availability >= 0.99`.
//!
//! Grammar (whitespace is ignored between tokens):
//! ```text
//! comparison = expr OP expr            OP: < <= > >= == !=
//! expr       = term (('+' | '-') term)*
//! term       = factor (('*' | '/') factor)*
//! factor     = number | metric_ref | '(' expr ')' | '-' factor
//! metric_ref = ident '.' ident         target name . metric name
//! ident      = [A-Za-z_][A-Za-z0-9_-]*
//! number     = digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]
//! ```
//! As identifiers may contain `-`, write a subtraction after a metric with spaces: `a.x - 5`, not `a.x-5`.
//! `==` and `!=` compare floats exactly.

use std::fmt;

use crate::config::metric::{Metric, UnknownMetric};

/// A threshold that failed to parse (with the 1-based column, in characters) or to evaluate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ThresholdError {
    #[error("column {column}: expected {expected}, found {found}")]
    Syntax {
        column: usize,
        expected: String,
        found: String,
    },
    #[error("no value for metric `{target}.{metric}`")]
    MissingMetric { target: String, metric: String },
    #[error("the {side} side of `{threshold}` is not a number")]
    NotANumber {
        side: &'static str,
        threshold: String,
    },
    /// A metric name [`Threshold::resolve`] does not know, with the target it was written after.
    #[error("{error}")]
    UnknownMetric {
        target: String,
        error: UnknownMetric,
    },
}

/// Arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    pub(crate) fn holds(self, l: f64, r: f64) -> bool {
        match self {
            CmpOp::Lt => l < r,
            CmpOp::Le => l <= r,
            CmpOp::Gt => l > r,
            CmpOp::Ge => l >= r,
            CmpOp::Eq => l == r,
            CmpOp::Ne => l != r,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Arithmetic expression over numbers and `target.metric` references: the parser writes metric names as it read
/// them (`M = String`); [`Threshold::resolve`] turns them into [`Metric`]s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr<M = String> {
    Number(f64),
    Metric {
        target: String,
        metric: M,
    },
    Neg(Box<Expr<M>>),
    Binary {
        op: BinOp,
        lhs: Box<Expr<M>>,
        rhs: Box<Expr<M>>,
    },
}

impl Expr<String> {
    fn resolve(self) -> Result<Expr<Metric>, ThresholdError> {
        Ok(match self {
            Expr::Number(v) => Expr::Number(v),
            Expr::Metric { target, metric } => match Metric::from_name(&metric) {
                Ok(metric) => Expr::Metric { target, metric },
                Err(error) => return Err(ThresholdError::UnknownMetric { target, error }),
            },
            Expr::Neg(e) => Expr::Neg(Box::new(e.resolve()?)),
            Expr::Binary { op, lhs, rhs } => Expr::Binary {
                op,
                lhs: Box::new(lhs.resolve()?),
                rhs: Box::new(rhs.resolve()?),
            },
        })
    }
}

impl<M> Expr<M> {
    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary { op, .. } => op.precedence(),
            _ => 3,
        }
    }
}

impl<M: Clone + PartialEq + fmt::Display> Expr<M> {
    fn eval(&self, lookup: &dyn Fn(&str, &M) -> Option<f64>) -> Result<f64, ThresholdError> {
        Ok(match self {
            Expr::Number(v) => *v,
            Expr::Metric { target, metric } => {
                lookup(target, metric).ok_or_else(|| ThresholdError::MissingMetric {
                    target: target.clone(),
                    metric: metric.to_string(),
                })?
            }
            Expr::Neg(e) => -e.eval(lookup)?,
            Expr::Binary { op, lhs, rhs } => {
                let (l, r) = (lhs.eval(lookup)?, rhs.eval(lookup)?);
                match op {
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div => l / r,
                }
            }
        })
    }

    fn collect_refs(&self, out: &mut Vec<(String, M)>) {
        match self {
            Expr::Number(_) => {}
            Expr::Metric { target, metric } => {
                let r = (target.clone(), metric.clone());
                if !out.contains(&r) {
                    out.push(r);
                }
            }
            Expr::Neg(e) => e.collect_refs(out),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.collect_refs(out);
                rhs.collect_refs(out);
            }
        }
    }
}

impl<M: fmt::Display> fmt::Display for Expr<M> {
    /// Prints with the fewest parentheses that keep the same tree (operators are left-associative).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v) => write!(f, "{v}"),
            Expr::Metric { target, metric } => write!(f, "{target}.{metric}"),
            Expr::Neg(e) if e.precedence() < 3 => write!(f, "-({e})"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                if lhs.precedence() < p {
                    write!(f, "({lhs})")?;
                } else {
                    write!(f, "{lhs}")?;
                }
                write!(f, " {} ", op.symbol())?;
                if rhs.precedence() <= p {
                    write!(f, "({rhs})")
                } else {
                    write!(f, "{rhs}")
                }
            }
        }
    }
}

/// A parsed threshold: `lhs op rhs`, its metrics as names (`M = String`) or resolved ([`Metric`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Threshold<M = String> {
    pub(crate) lhs: Expr<M>,
    pub(crate) op: CmpOp,
    pub(crate) rhs: Expr<M>,
}

/// Outcome of [`Threshold::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    pub(crate) passed: bool,
    pub(crate) lhs: f64,
    pub(crate) rhs: f64,
    /// The comparison with the numbers filled in, e.g. `352.1 < 400`.
    pub(crate) text: String,
}

impl Threshold {
    /// Parse one threshold; errors give the column and what was expected there.
    pub(crate) fn parse(s: &str) -> Result<Threshold, ThresholdError> {
        let tokens = lex(s)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let lhs = p.expr()?;
        let op = match p.peek().kind {
            Tok::Cmp(op) => {
                p.pos += 1;
                op
            }
            _ => {
                return Err(p.error(
                    "a comparison operator (<, <=, >, >=, ==, !=) or an arithmetic operator",
                ))
            }
        };
        let rhs = p.expr()?;
        if p.peek().kind != Tok::End {
            return Err(p.error("an arithmetic operator or the end of the threshold"));
        }
        Ok(Threshold { lhs, op, rhs })
    }

    /// The same threshold with its metric names resolved into [`Metric`]s; an unknown name is an error with a
    /// did-you-mean suggestion.
    pub(crate) fn resolve(self) -> Result<Threshold<Metric>, ThresholdError> {
        Ok(Threshold {
            lhs: self.lhs.resolve()?,
            op: self.op,
            rhs: self.rhs.resolve()?,
        })
    }
}

impl<M: Clone + PartialEq + fmt::Display> Threshold<M> {
    /// Every `(target, metric)` referred to, in order of first appearance, without repeats.
    pub(crate) fn references(&self) -> Vec<(String, M)> {
        let mut out = Vec::new();
        self.lhs.collect_refs(&mut out);
        self.rhs.collect_refs(&mut out);
        out
    }

    /// Evaluate both sides with `lookup(target, metric)`; a metric it has no value for is an error naming it, and so is
    /// a side that comes out NaN (e.g. 0 / 0).
    pub(crate) fn evaluate(
        &self,
        lookup: &dyn Fn(&str, &M) -> Option<f64>,
    ) -> Result<Evaluation, ThresholdError> {
        let lhs = self.lhs.eval(lookup)?;
        let rhs = self.rhs.eval(lookup)?;
        for (side, v) in [("left", lhs), ("right", rhs)] {
            if v.is_nan() {
                return Err(ThresholdError::NotANumber {
                    side,
                    threshold: self.to_string(),
                });
            }
        }
        Ok(Evaluation {
            passed: self.op.holds(lhs, rhs),
            lhs,
            rhs,
            text: format!("{} {} {}", short(lhs), self.op, short(rhs)),
        })
    }
}

impl<M: fmt::Display> fmt::Display for Threshold<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op, self.rhs)
    }
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Threshold::parse(s)
    }
}

/// A number with 6 significant digits, trailing zeros trimmed.
fn short(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let decimals = (5 - v.abs().log10().floor() as i32).clamp(0, 15) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(f64),
    Ident(String),
    Dot,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Cmp(CmpOp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    /// 1-based column of the first character.
    column: usize,
    /// The source text, for messages.
    text: String,
}

fn syntax(column: usize, expected: &str, found: String) -> ThresholdError {
    ThresholdError::Syntax {
        column,
        expected: expected.to_string(),
        found,
    }
}

fn lex(s: &str) -> Result<Vec<Token>, ThresholdError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = if c.is_ascii_digit() {
            let digits = |i: &mut usize| {
                let from = *i;
                while *i < chars.len() && chars[*i].is_ascii_digit() {
                    *i += 1;
                }
                *i > from
            };
            digits(&mut i);
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                if !digits(&mut i) {
                    let found = chars
                        .get(i)
                        .map_or("the end".to_string(), |c| format!("`{c}`"));
                    return Err(syntax(i + 1, "a digit after the decimal point", found));
                }
            }
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                i += 1;
                if i < chars.len() && matches!(chars[i], '+' | '-') {
                    i += 1;
                }
                if !digits(&mut i) {
                    let found = chars
                        .get(i)
                        .map_or("the end".to_string(), |c| format!("`{c}`"));
                    return Err(syntax(i + 1, "the digits of an exponent", found));
                }
            }
            let text: String = chars[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Tok::Number(v),
                _ => return Err(syntax(start + 1, "a finite number", format!("`{text}`"))),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-')
            {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else {
            let next = chars.get(i + 1).copied();
            let (kind, len) = match (c, next) {
                ('<', Some('=')) => (Tok::Cmp(CmpOp::Le), 2),
                ('>', Some('=')) => (Tok::Cmp(CmpOp::Ge), 2),
                ('=', Some('=')) => (Tok::Cmp(CmpOp::Eq), 2),
                ('!', Some('=')) => (Tok::Cmp(CmpOp::Ne), 2),
                ('<', _) => (Tok::Cmp(CmpOp::Lt), 1),
                ('>', _) => (Tok::Cmp(CmpOp::Gt), 1),
                ('=', _) => return Err(syntax(i + 1, "`==` (comparison)", "`=`".into())),
                ('.', _) => (Tok::Dot, 1),
                ('+', _) => (Tok::Plus, 1),
                ('-', _) => (Tok::Minus, 1),
                ('*', _) => (Tok::Star, 1),
                ('/', _) => (Tok::Slash, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                _ => {
                    return Err(syntax(
                        i + 1,
                        "a number, a metric (target.metric), an operator or a parenthesis",
                        format!("`{c}`"),
                    ))
                }
            };
            i += len;
            kind
        };
        out.push(Token {
            kind,
            column: start + 1,
            text: chars[start..i].iter().collect(),
        });
    }
    out.push(Token {
        kind: Tok::End,
        column: chars.len() + 1,
        text: String::new(),
    });
    Ok(out)
}

/// Deepest nesting of parentheses and unary minus accepted (keeps the recursion bounded).
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn error(&self, expected: &str) -> ThresholdError {
        let t = self.peek();
        let found = if t.kind == Tok::End {
            "the end".to_string()
        } else {
            format!("`{}`", t.text)
        };
        syntax(t.column, expected, found)
    }

    fn expr(&mut self) -> Result<Expr, ThresholdError> {
        let mut lhs = self.term()?;
        loop {
            let op = match self.peek().kind {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.term()?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn term(&mut self) -> Result<Expr, ThresholdError> {
        let mut lhs = self.factor()?;
        loop {
            let op = match self.peek().kind {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.factor()?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn factor(&mut self) -> Result<Expr, ThresholdError> {
        const FACTOR: &str = "a number, a metric (target.metric), `(` or `-`";
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!(
                "at most {MAX_DEPTH} nested parentheses or minus signs"
            )));
        }
        self.depth += 1;
        let e = self.factor_inner(FACTOR);
        self.depth -= 1;
        e
    }

    fn factor_inner(&mut self, expected: &str) -> Result<Expr, ThresholdError> {
        match self.peek().kind.clone() {
            Tok::Number(v) => {
                self.pos += 1;
                Ok(Expr::Number(v))
            }
            Tok::Minus => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.factor()?)))
            }
            Tok::LParen => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek().kind != Tok::RParen {
                    return Err(self.error("`)` or an arithmetic operator"));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Ident(target) => {
                self.pos += 1;
                if self.peek().kind != Tok::Dot {
                    return Err(self.error(&format!(
                        "`.` and a metric name after target `{target}` (e.g. `{target}.p99_ms`)"
                    )));
                }
                self.pos += 1;
                match self.peek().kind.clone() {
                    Tok::Ident(metric) => {
                        self.next();
                        Ok(Expr::Metric { target, metric })
                    }
                    _ => Err(self.error(&format!("a metric name after `{target}.`"))),
                }
            }
            _ => Err(self.error(expected)),
        }
    }
}

#[cfg(test)]
mod tests;
