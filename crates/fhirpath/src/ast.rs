//! Parsed expression tree.

use rust_decimal::Decimal;

use crate::temporal::Temporal;

/// A parsed FHIRPath expression. Build with [`crate::parse`]; cheap to clone and share.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// `{}`
    Empty,
    /// `target.name`, or a bare `name` (target None) applied to the current focus.
    Member {
        target: Option<Box<Expr>>,
        name: String,
    },
    /// `target.name(args)`, or a bare `name(args)` applied to the current focus.
    Function {
        target: Option<Box<Expr>>,
        name: String,
        args: Vec<Expr>,
    },
    /// `target[index]`
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    This,
    IndexVar,
    Total,
    /// `%name`
    Variable(String),
    Negate(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `operand is T` / `operand as T`
    TypeOp {
        op: TypeOp,
        operand: Box<Expr>,
        type_spec: TypeSpec,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Boolean(bool),
    String(String),
    Integer(i64),
    Decimal(Decimal),
    Temporal(Temporal),
    Quantity { value: Decimal, unit: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeOp {
    Is,
    As,
}

/// A (possibly namespace-qualified) type name such as `Quantity`, `FHIR.Period`, `System.String`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}
