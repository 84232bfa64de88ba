//! Tree-walking evaluator.

mod functions;
pub(crate) mod ops;
mod strings;

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::EvalContext;
use crate::ast::{BinaryOp, Expr, Literal, TypeOp};
use crate::error::EvalError;
use crate::item::Item;
use crate::model;

/// Per-scope state: `$this`, `$index`, `$total` and the shared context.
pub(crate) struct Env<'a, 'e> {
    pub ctx: &'e EvalContext<'a>,
    /// The evaluation input (for `%context`).
    pub input: &'a Value,
    pub this: Item<'a>,
    pub index: Option<usize>,
    pub total: Option<&'e [Item<'a>]>,
}

impl<'a> Env<'a, '_> {
    /// A child scope for iterating functions (`where`, `select`, ...).
    pub fn with_item<'f>(&'f self, this: Item<'a>, index: usize) -> Env<'a, 'f> {
        Env {
            ctx: self.ctx,
            input: self.input,
            this,
            index: Some(index),
            total: self.total,
        }
    }
}

pub(crate) type Collection<'a> = Vec<Item<'a>>;

pub(crate) fn literal<'a>(l: &Literal) -> Item<'a> {
    match l {
        Literal::Boolean(b) => Item::Boolean(*b),
        Literal::String(s) => Item::String(Cow::Owned(s.clone())),
        Literal::Integer(i) => Item::Integer(*i),
        Literal::Decimal(d) => Item::Decimal(*d),
        Literal::Temporal(t) => Item::temporal(t.clone()),
        Literal::Quantity { value, unit } => Item::Quantity {
            value: *value,
            unit: unit.clone(),
        },
    }
}

pub(crate) fn eval<'a>(
    expr: &Expr,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    // Each variant lives in its own function so the recursive path keeps small
    // stack frames (the parser bounds depth; this keeps that bound cheap).
    match expr {
        Expr::Literal(l) => Ok(vec![literal(l)]),
        Expr::Empty => Ok(Vec::new()),
        Expr::Member { target, name } => member(target.as_deref(), name, focus, env),
        Expr::Function { target, name, args } => {
            let base = match target {
                Some(t) => eval(t, focus, env)?,
                None => focus.to_vec(),
            };
            functions::call(name, base, args, env)
        }
        Expr::Index { target, index } => indexer(target, index, focus, env),
        Expr::This => Ok(vec![env.this.clone()]),
        Expr::IndexVar => Ok(env
            .index
            .and_then(|i| i64::try_from(i).ok())
            .map(Item::Integer)
            .into_iter()
            .collect()),
        Expr::Total => Ok(env.total.map(<[Item]>::to_vec).unwrap_or_default()),
        Expr::Variable(name) => variable(name, env),
        Expr::Negate(e) => negate(e, focus, env),
        Expr::Binary { op, left, right } => binary(*op, left, right, focus, env),
        Expr::TypeOp {
            op,
            operand,
            type_spec,
        } => type_op(*op, operand, type_spec, focus, env),
    }
}

#[inline(never)]
fn member<'a>(
    target: Option<&Expr>,
    name: &str,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let base;
    let items = match target {
        Some(t) => {
            base = eval(t, focus, env)?;
            &base[..]
        }
        None => focus,
    };
    let mut out = Vec::new();
    let type_like = target.is_none() && name.starts_with(|c: char| c.is_ascii_uppercase());
    for item in items {
        // A leading type name (`Patient.name`) selects matching resources.
        if type_like && model::is_resource_of_type(item, name) {
            out.push(item.clone());
        } else {
            model::children(item, name, env.ctx.types, &mut out);
        }
    }
    Ok(out)
}

#[inline(never)]
fn indexer<'a>(
    target: &Expr,
    index: &Expr,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let base = eval(target, focus, env)?;
    let idx = eval(index, std::slice::from_ref(&env.this), env)?;
    match singleton(&idx, "indexer")? {
        None => Ok(Vec::new()),
        Some(i) => match i.to_primitive() {
            Some(Item::Integer(n)) => Ok(usize::try_from(n)
                .ok()
                .and_then(|n| base.into_iter().nth(n))
                .into_iter()
                .collect()),
            _ => Err(EvalError::Type("indexer must be an integer".into())),
        },
    }
}

#[inline(never)]
fn negate<'a>(
    e: &Expr,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let v = eval(e, focus, env)?;
    let Some(item) = singleton(&v, "unary -")? else {
        return Ok(Vec::new());
    };
    let neg = match item.to_primitive() {
        Some(Item::Integer(i)) => Item::Integer(
            i.checked_neg()
                .ok_or_else(|| EvalError::Arithmetic("overflow".into()))?,
        ),
        Some(Item::Decimal(d)) => Item::Decimal(-d),
        Some(Item::Quantity { value, unit }) => Item::Quantity {
            value: -value,
            unit,
        },
        _ => return Err(EvalError::Type("unary - needs a number".into())),
    };
    Ok(vec![neg])
}

#[inline(never)]
fn type_op<'a>(
    op: TypeOp,
    operand: &Expr,
    type_spec: &crate::ast::TypeSpec,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    let v = eval(operand, focus, env)?;
    match op {
        TypeOp::Is => match singleton(&v, "is")? {
            None => Ok(Vec::new()),
            Some(item) => Ok(vec![Item::Boolean(model::matches_type(item, type_spec))]),
        },
        // Lenient: filters collections like ofType(), as R4 search expressions rely on it.
        TypeOp::As => Ok(v
            .into_iter()
            .filter(|i| model::matches_type(i, type_spec))
            .collect()),
    }
}

/// The single item of a collection; error if more than one.
pub(crate) fn singleton<'c, 'a>(
    c: &'c [Item<'a>],
    what: &str,
) -> Result<Option<&'c Item<'a>>, EvalError> {
    match c.len() {
        0 => Ok(None),
        1 => Ok(c.first()),
        n => Err(EvalError::NotSingleton(what.to_string(), n)),
    }
}

/// Singleton evaluation of collections to a Boolean (FHIRPath §4.5).
pub(crate) fn to_bool(c: &[Item<'_>], what: &str) -> Result<Option<bool>, EvalError> {
    match singleton(c, what)? {
        None => Ok(None),
        Some(item) => Ok(Some(item.as_bool().unwrap_or(true))),
    }
}

fn variable<'a>(name: &str, env: &Env<'a, '_>) -> Result<Collection<'a>, EvalError> {
    if let Some(v) = env.ctx.variables.get(name) {
        return Ok(v.clone());
    }
    let s = |v: &'static str| Ok(vec![Item::String(Cow::Borrowed(v))]);
    match name {
        "resource" => Ok(vec![Item::node(env.ctx.resource)]),
        "rootResource" => Ok(vec![Item::node(
            env.ctx.root_resource.unwrap_or(env.ctx.resource),
        )]),
        "context" => Ok(vec![Item::node(env.input)]),
        "ucum" => s(model::UCUM),
        "sct" => s("http://snomed.info/sct"),
        "loinc" => s("http://loinc.org"),
        _ => {
            if let Some(rest) = name.strip_prefix("vs-") {
                return Ok(vec![Item::String(Cow::Owned(format!(
                    "http://hl7.org/fhir/ValueSet/{rest}"
                )))]);
            }
            if let Some(rest) = name.strip_prefix("ext-") {
                return Ok(vec![Item::String(Cow::Owned(format!(
                    "http://hl7.org/fhir/StructureDefinition/{rest}"
                )))]);
            }
            Err(EvalError::UndefinedVariable(name.to_string()))
        }
    }
}

#[inline(never)]
fn binary<'a>(
    op: BinaryOp,
    left: &Expr,
    right: &Expr,
    focus: &[Item<'a>],
    env: &Env<'a, '_>,
) -> Result<Collection<'a>, EvalError> {
    use BinaryOp as B;
    let l = eval(left, focus, env)?;
    // Short-circuit where the spec allows it (also avoids errors in the unused side).
    match op {
        B::And if to_bool(&l, "and")? == Some(false) => return Ok(vec![Item::Boolean(false)]),
        B::Or if to_bool(&l, "or")? == Some(true) => return Ok(vec![Item::Boolean(true)]),
        B::Implies if to_bool(&l, "implies")? == Some(false) => {
            return Ok(vec![Item::Boolean(true)]);
        }
        _ => {}
    }
    let r = eval(right, focus, env)?;
    combine(op, l, r)
}

/// Applies a binary operator to evaluated operands (no recursion into eval).
#[inline(never)]
fn combine<'a>(
    op: BinaryOp,
    l: Collection<'a>,
    r: Collection<'a>,
) -> Result<Collection<'a>, EvalError> {
    use BinaryOp as B;
    let boolean = |b: Option<bool>| Ok(b.map(Item::Boolean).into_iter().collect());
    match op {
        B::Union => {
            let mut out = Vec::with_capacity(l.len() + r.len());
            for item in l.into_iter().chain(r) {
                push_distinct(&mut out, item);
            }
            Ok(out)
        }
        B::And | B::Or | B::Xor | B::Implies => {
            let (a, b) = (to_bool(&l, "logic")?, to_bool(&r, "logic")?);
            boolean(match op {
                B::And => match (a, b) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                B::Or => match (a, b) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                B::Xor => match (a, b) {
                    (Some(x), Some(y)) => Some(x != y),
                    _ => None,
                },
                _ => match (a, b) {
                    (Some(false), _) => Some(true),
                    (Some(true), b) => b,
                    (None, Some(true)) => Some(true),
                    (None, _) => None,
                },
            })
        }
        B::Eq | B::Ne => {
            if l.is_empty() || r.is_empty() {
                return Ok(Vec::new());
            }
            let mut eq = Some(l.len() == r.len());
            if eq == Some(true) {
                for (a, b) in l.iter().zip(&r) {
                    match ops::equal(a, b) {
                        Some(true) => {}
                        Some(false) => {
                            eq = Some(false);
                            break;
                        }
                        None => eq = None,
                    }
                }
            }
            boolean(if op == B::Ne { eq.map(|e| !e) } else { eq })
        }
        B::Equiv | B::NotEquiv => {
            let eq = l.len() == r.len()
                && l.iter().all(|a| r.iter().any(|b| ops::equivalent(a, b)))
                && r.iter().all(|b| l.iter().any(|a| ops::equivalent(a, b)));
            boolean(Some(if op == B::NotEquiv { !eq } else { eq }))
        }
        B::Lt | B::Gt | B::Le | B::Ge => {
            let (Some(a), Some(b)) = (singleton(&l, "comparison")?, singleton(&r, "comparison")?)
            else {
                return Ok(Vec::new());
            };
            boolean(ops::compare(a, b)?.map(|o| match op {
                B::Lt => o == Ordering::Less,
                B::Gt => o == Ordering::Greater,
                B::Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        B::In | B::Contains => {
            let (needle, hay) = if op == B::In { (&l, &r) } else { (&r, &l) };
            match singleton(needle, "membership")? {
                None => Ok(Vec::new()),
                Some(n) => boolean(Some(hay.iter().any(|h| ops::equal(n, h) == Some(true)))),
            }
        }
        B::Concat => {
            let part = |c: &[Item<'a>]| -> Result<String, EvalError> {
                Ok(match singleton(c, "&")? {
                    None => String::new(),
                    Some(i) => functions::string_of(i)
                        .ok_or_else(|| EvalError::Type("& needs strings".into()))?,
                })
            };
            Ok(vec![Item::String(Cow::Owned(part(&l)? + &part(&r)?))])
        }
        B::Add | B::Sub | B::Mul | B::Div | B::IntDiv | B::Mod => {
            let (Some(a), Some(b)) = (singleton(&l, "arithmetic")?, singleton(&r, "arithmetic")?)
            else {
                return Ok(Vec::new());
            };
            Ok(ops::arithmetic(op, a, b)?.into_iter().collect())
        }
    }
}

/// Appends unless an equal item is already present (union semantics).
pub(crate) fn push_distinct<'a>(out: &mut Vec<Item<'a>>, item: Item<'a>) {
    if !out.iter().any(|o| same(o, &item)) {
        out.push(item);
    }
}

/// Identity-or-equality used for de-duplication: same node in the input, or equal values.
pub(crate) fn same(a: &Item<'_>, b: &Item<'_>) -> bool {
    if let (Item::Node(x), Item::Node(y)) = (a, b) {
        if x.value.is_null() || y.value.is_null() {
            // Extension-only primitives: identity of their `_name` companion.
            return match (x.extension, y.extension) {
                (Some(p), Some(q)) => std::ptr::eq(p, q),
                _ => false,
            };
        }
        if std::ptr::eq(x.value, y.value) {
            return true;
        }
    }
    ops::equal(a, b) == Some(true)
}
