//! Precedence-climbing parser producing [`Expr`]. Depth is bounded so hostile
//! input (e.g. 10,000 nested parentheses or a very long chain) yields an error
//! instead of overflowing the stack during parsing, evaluation or drop.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::ast::{BinaryOp, Expr, Literal, TypeOp, TypeSpec};
use crate::error::ParseError;
use crate::lexer::{Tok, Token, tokenize};
use crate::temporal::Temporal;

/// Maximum depth of the expression tree (R4 SearchParameter expressions need
/// under 40). Sized so parsing and evaluating the deepest accepted expression
/// fits a 2 MiB thread stack even in debug builds.
pub const MAX_DEPTH: usize = 64;

/// Parses a FHIRPath expression.
pub fn parse(expr: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(expr)?;
    let mut p = Parser { tokens, i: 0 };
    let (e, _) = p.expression(0, 0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(ParseError::new(
            t.pos,
            format!("unexpected {}", describe(&t.tok)),
        ));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
}

/// Binary operator precedence (higher binds tighter), from the FHIRPath grammar.
fn binary_op(tok: &Tok) -> Option<(BinaryOp, u8)> {
    let op = match tok {
        Tok::Punct(p) => match *p {
            "*" => (BinaryOp::Mul, 9),
            "/" => (BinaryOp::Div, 9),
            "+" => (BinaryOp::Add, 8),
            "-" => (BinaryOp::Sub, 8),
            "&" => (BinaryOp::Concat, 8),
            "|" => (BinaryOp::Union, 6),
            "<" => (BinaryOp::Lt, 5),
            ">" => (BinaryOp::Gt, 5),
            "<=" => (BinaryOp::Le, 5),
            ">=" => (BinaryOp::Ge, 5),
            "=" => (BinaryOp::Eq, 4),
            "!=" => (BinaryOp::Ne, 4),
            "~" => (BinaryOp::Equiv, 4),
            "!~" => (BinaryOp::NotEquiv, 4),
            _ => return None,
        },
        Tok::Ident {
            name,
            delimited: false,
        } => match name.as_str() {
            "div" => (BinaryOp::IntDiv, 9),
            "mod" => (BinaryOp::Mod, 9),
            "in" => (BinaryOp::In, 3),
            "contains" => (BinaryOp::Contains, 3),
            "and" => (BinaryOp::And, 2),
            "or" => (BinaryOp::Or, 1),
            "xor" => (BinaryOp::Xor, 1),
            "implies" => (BinaryOp::Implies, 0),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// Precedence of `is` / `as` (between additive and union).
const TYPE_OP_PREC: u8 = 7;

const CALENDAR_UNITS: [&str; 16] = [
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident { name, .. } => format!("identifier '{name}'"),
        Tok::Str(_) => "string".into(),
        Tok::Number(n) => format!("number {n}"),
        Tok::Temporal(s) => format!("@{s}"),
        Tok::External(s) => format!("%{s}"),
        Tok::Special(s) => format!("${s}"),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::Eof => "end of expression".into(),
    }
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens.get(self.i).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            pos: 0,
        })
    }

    fn peek_at(&self, k: usize) -> Tok {
        self.tokens
            .get(self.i + k)
            .map(|t| t.tok.clone())
            .unwrap_or(Tok::Eof)
    }

    fn advance(&mut self) -> Token {
        let t = self.peek();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, p: &'static str) -> Result<(), ParseError> {
        let t = self.advance();
        if t.tok == Tok::Punct(p) {
            Ok(())
        } else {
            Err(ParseError::new(
                t.pos,
                format!("expected '{p}', found {}", describe(&t.tok)),
            ))
        }
    }

    fn check_depth(depth: usize, pos: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            Err(ParseError::new(pos, "expression nested too deeply"))
        } else {
            Ok(())
        }
    }

    /// Returns the expression and its tree depth.
    fn expression(&mut self, min_prec: u8, depth: usize) -> Result<(Expr, usize), ParseError> {
        let pos = self.peek().pos;
        Self::check_depth(depth, pos)?;
        let (mut left, mut ldepth) = self.unary(depth)?;
        loop {
            let t = self.peek();
            if let Tok::Ident {
                name,
                delimited: false,
            } = &t.tok
                && (name == "is" || name == "as")
                && TYPE_OP_PREC >= min_prec
            {
                let op = if name == "is" { TypeOp::Is } else { TypeOp::As };
                self.advance();
                let type_spec = self.type_spec()?;
                ldepth += 1;
                Self::check_depth(depth + ldepth, t.pos)?;
                left = Expr::TypeOp {
                    op,
                    operand: Box::new(left),
                    type_spec,
                };
                continue;
            }
            let Some((op, prec)) = binary_op(&t.tok) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.advance();
            let (right, rdepth) = self.expression(prec + 1, depth + 1)?;
            ldepth = ldepth.max(rdepth) + 1;
            Self::check_depth(depth + ldepth, t.pos)?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok((left, ldepth))
    }

    fn type_spec(&mut self) -> Result<TypeSpec, ParseError> {
        let t = self.advance();
        let Tok::Ident { name, .. } = t.tok else {
            return Err(ParseError::new(t.pos, "expected a type name"));
        };
        // Only a namespace prefix may be followed by '.'; `(x as Quantity).value` needs parens anyway.
        if (name == "FHIR" || name == "System") && self.peek().tok == Tok::Punct(".") {
            self.advance();
            let t2 = self.advance();
            let Tok::Ident { name: n2, .. } = t2.tok else {
                return Err(ParseError::new(
                    t2.pos,
                    "expected a type name after namespace",
                ));
            };
            return Ok(TypeSpec {
                namespace: Some(name),
                name: n2,
            });
        }
        Ok(TypeSpec {
            namespace: None,
            name,
        })
    }

    fn unary(&mut self, depth: usize) -> Result<(Expr, usize), ParseError> {
        let t = self.peek();
        if t.tok == Tok::Punct("-") || t.tok == Tok::Punct("+") {
            self.advance();
            Self::check_depth(depth + 1, t.pos)?;
            let (e, d) = self.unary(depth + 1)?;
            if t.tok == Tok::Punct("+") {
                return Ok((e, d));
            }
            // Fold negative numeric literals so `-5` is a literal.
            let folded = match e {
                Expr::Literal(Literal::Integer(i)) => Expr::Literal(Literal::Integer(-i)),
                Expr::Literal(Literal::Decimal(v)) => Expr::Literal(Literal::Decimal(-v)),
                Expr::Literal(Literal::Quantity { value, unit }) => {
                    Expr::Literal(Literal::Quantity {
                        value: -value,
                        unit,
                    })
                }
                other => Expr::Negate(Box::new(other)),
            };
            return Ok((folded, d + 1));
        }
        self.postfix(depth)
    }

    fn postfix(&mut self, depth: usize) -> Result<(Expr, usize), ParseError> {
        let (mut e, mut d) = self.term(depth)?;
        loop {
            let t = self.peek();
            match t.tok {
                Tok::Punct(".") => {
                    self.advance();
                    let (inv, id) = self.invocation(Some(e), depth + d)?;
                    e = inv;
                    d = d.max(id) + 1;
                }
                Tok::Punct("[") => {
                    self.advance();
                    let (idx, id) = self.expression(0, depth + d + 1)?;
                    self.expect("]")?;
                    e = Expr::Index {
                        target: Box::new(e),
                        index: Box::new(idx),
                    };
                    d = d.max(id) + 1;
                }
                _ => break,
            }
            Self::check_depth(depth + d, t.pos)?;
        }
        Ok((e, d))
    }

    /// An identifier or function call, applied to `target` (None = current focus).
    fn invocation(
        &mut self,
        target: Option<Expr>,
        depth: usize,
    ) -> Result<(Expr, usize), ParseError> {
        let t = self.advance();
        let target = target.map(Box::new);
        match t.tok {
            Tok::Ident { name, .. } => {
                if self.peek().tok == Tok::Punct("(") {
                    self.advance();
                    let mut args = Vec::new();
                    let mut d = 0;
                    if self.peek().tok != Tok::Punct(")") {
                        loop {
                            let (a, ad) = self.expression(0, depth + 1)?;
                            d = d.max(ad);
                            args.push(a);
                            if self.peek().tok == Tok::Punct(",") {
                                self.advance();
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(")")?;
                    Ok((Expr::Function { target, name, args }, d + 1))
                } else {
                    Ok((Expr::Member { target, name }, 1))
                }
            }
            Tok::Special(s) if target.is_none() => Ok((special(&s), 1)),
            other => Err(ParseError::new(
                t.pos,
                format!(
                    "expected identifier or function, found {}",
                    describe(&other)
                ),
            )),
        }
    }

    fn term(&mut self, depth: usize) -> Result<(Expr, usize), ParseError> {
        let t = self.peek();
        let lit = |l| Ok((Expr::Literal(l), 1));
        match t.tok {
            Tok::Punct("(") => {
                self.advance();
                let (e, d) = self.expression(0, depth + 1)?;
                self.expect(")")?;
                Ok((e, d))
            }
            Tok::Punct("{}") => {
                self.advance();
                Ok((Expr::Empty, 1))
            }
            Tok::Str(s) => {
                self.advance();
                lit(Literal::String(s))
            }
            Tok::Number(n) => {
                self.advance();
                self.number(&n, t.pos)
            }
            Tok::Temporal(s) => {
                self.advance();
                let parsed = if let Some(time) = s.strip_prefix('T') {
                    Temporal::parse_time(time)
                } else if s.contains('T') {
                    Temporal::parse_datetime(&s)
                } else {
                    Temporal::parse_date(&s)
                };
                match parsed {
                    Some(v) => lit(Literal::Temporal(v)),
                    None => Err(ParseError::new(t.pos, format!("invalid date/time @{s}"))),
                }
            }
            Tok::External(name) => {
                self.advance();
                Ok((Expr::Variable(name), 1))
            }
            Tok::Special(s) => {
                self.advance();
                Ok((special(&s), 1))
            }
            Tok::Ident {
                ref name,
                delimited: false,
            } if (name == "true" || name == "false") && self.peek_at(1) != Tok::Punct("(") => {
                self.advance();
                lit(Literal::Boolean(name == "true"))
            }
            Tok::Ident { .. } => self.invocation(None, depth),
            other => Err(ParseError::new(
                t.pos,
                format!("unexpected {}", describe(&other)),
            )),
        }
    }

    fn number(&mut self, n: &str, pos: usize) -> Result<(Expr, usize), ParseError> {
        let is_decimal = n.contains('.');
        // A number followed by a unit string or calendar keyword is a Quantity.
        let unit = match self.peek().tok {
            Tok::Str(u) => Some(u),
            Tok::Ident {
                name,
                delimited: false,
            } if CALENDAR_UNITS.contains(&name.as_str()) => Some(name),
            _ => None,
        };
        let bad = |_| ParseError::new(pos, format!("invalid number {n}"));
        if let Some(unit) = unit {
            self.advance();
            let value = Decimal::from_str(n).map_err(bad)?;
            return Ok((Expr::Literal(Literal::Quantity { value, unit }), 1));
        }
        let l = if is_decimal {
            Literal::Decimal(Decimal::from_str(n).map_err(bad)?)
        } else {
            Literal::Integer(
                n.parse::<i64>()
                    .map_err(|_| ParseError::new(pos, format!("integer out of range {n}")))?,
            )
        };
        Ok((Expr::Literal(l), 1))
    }
}

fn special(s: &str) -> Expr {
    match s {
        "index" => Expr::IndexVar,
        "total" => Expr::Total,
        _ => Expr::This,
    }
}
