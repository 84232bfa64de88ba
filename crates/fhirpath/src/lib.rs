//! FHIRPath (N1) engine over FHIR R4 JSON (`serde_json::Value`).
//!
//! ```
//! use hms_fhirpath::{parse, evaluate, EvalContext};
//! let patient = serde_json::json!({"resourceType": "Patient", "name": [{"given": ["Peter"]}]});
//! let expr = parse("Patient.name.given.first()").unwrap();
//! let ctx = EvalContext::new(&patient);
//! let out = evaluate(&expr, &patient, &ctx).unwrap();
//! assert_eq!(out[0].as_str(), Some("Peter"));
//! ```
//!
//! Results borrow from the input: [`Item::Node`] points into the JSON tree.
//! Pure code: no I/O. See README.md for what is and is not supported.

mod ast;
mod error;
mod eval;
mod item;
mod lexer;
mod model;
mod parser;
mod pointer;
mod temporal;

use std::collections::HashMap;

use serde_json::Value;

pub use ast::{BinaryOp, Expr, Literal, TypeOp, TypeSpec};
pub use error::{EvalError, ParseError};
pub use item::{Item, Node};
pub use model::TypeProvider;
pub use parser::{MAX_DEPTH, parse};
pub use pointer::json_pointer;
pub use rust_decimal::Decimal;
pub use temporal::{Temporal, TemporalKind};

/// Environment for an evaluation.
pub struct EvalContext<'a> {
    /// `%resource` (and the resource searched for contained references).
    pub resource: &'a Value,
    /// `%rootResource`, e.g. the Bundle holding `resource`; also searched by resolve().
    /// Defaults to `resource` when None.
    pub root_resource: Option<&'a Value>,
    /// External constants available as `%name`.
    pub variables: HashMap<String, Vec<Item<'a>>>,
    /// FHIR type information; without it types come from choice suffixes,
    /// resourceType and JSON kinds only.
    pub types: Option<&'a dyn TypeProvider>,
}

impl<'a> EvalContext<'a> {
    /// A context whose `%resource` is `resource`, with no variables or type provider.
    pub fn new(resource: &'a Value) -> Self {
        Self {
            resource,
            root_resource: None,
            variables: HashMap::new(),
            types: None,
        }
    }
}

/// Evaluates `expr` with `input` as the focus (`$this`, `%context`).
pub fn evaluate<'a>(
    expr: &Expr,
    input: &'a Value,
    ctx: &EvalContext<'a>,
) -> Result<Vec<Item<'a>>, EvalError> {
    let this = Item::node(input);
    let env = eval::Env {
        ctx,
        input,
        this: this.clone(),
        index: None,
        total: None,
    };
    eval::eval(expr, std::slice::from_ref(&this), &env)
}

/// Like [`evaluate`], but the focus is an item from an earlier result, keeping its
/// type (e.g. evaluating a composite SearchParameter component on an
/// `Observation.component` node so the TypeProvider can type its children).
/// `%context` is the node's JSON value; literals have no JSON and evaluate as null.
pub fn evaluate_item<'a>(
    expr: &Expr,
    focus: Item<'a>,
    ctx: &EvalContext<'a>,
) -> Result<Vec<Item<'a>>, EvalError> {
    let input = match &focus {
        Item::Node(n) => n.value,
        _ => &item::NULL,
    };
    let env = eval::Env {
        ctx,
        input,
        this: focus.clone(),
        index: None,
        total: None,
    };
    eval::eval(expr, std::slice::from_ref(&focus), &env)
}

/// Evaluates and applies the singleton-Boolean rule used by TestScript asserts and
/// invariants: empty → None; one Boolean → it; one other item → true; more → error.
pub fn evaluate_to_bool<'a>(
    expr: &Expr,
    input: &'a Value,
    ctx: &EvalContext<'a>,
) -> Result<Option<bool>, EvalError> {
    let out = evaluate(expr, input, ctx)?;
    eval::to_bool(&out, "boolean result")
}
