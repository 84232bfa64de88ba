//! Typed errors for parsing and evaluation.

use thiserror::Error;

/// A syntax error, with the byte offset where it was detected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("FHIRPath parse error at {position}: {message}")]
pub struct ParseError {
    /// Byte offset into the expression text.
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// A runtime error while evaluating an expression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// A function, operator or type that this engine does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A function was called with the wrong number of arguments.
    #[error("function {name} expects {expected} argument(s), got {got}")]
    Arity {
        name: String,
        expected: String,
        got: usize,
    },
    /// An operand or function input had more than one item where one was required.
    #[error("expected a single item for {0}, got a collection of {1}")]
    NotSingleton(String, usize),
    /// Operand types that cannot be combined (e.g. `1 < 'a'`).
    #[error("type error: {0}")]
    Type(String),
    /// `%name` that is not defined.
    #[error("undefined variable %{0}")]
    UndefinedVariable(String),
    /// Invalid regular expression passed to matches()/replaceMatches().
    #[error("invalid regex: {0}")]
    Regex(String),
    /// Arithmetic overflow or similar numeric failure.
    #[error("arithmetic error: {0}")]
    Arithmetic(String),
    /// Evaluation nested too deeply (guards the stack).
    #[error("evaluation nested too deeply")]
    TooDeep,
}
