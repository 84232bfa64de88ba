//! Segments and typed element access.

use crate::decimal::Decimal;
use crate::error::{ElementProblem, X12Error};

/// One element: repetitions of composites (a simple element is `[[text]]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element(pub Vec<Vec<String>>);

impl Element {
    pub fn simple(text: impl Into<String>) -> Self {
        Element(vec![vec![text.into()]])
    }

    pub fn composite<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Element(vec![parts.into_iter().map(Into::into).collect()])
    }

    /// First component of the first repetition ("" when absent).
    pub fn text(&self) -> &str {
        self.0
            .first()
            .and_then(|r| r.first())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Component `n` (1-based) of the first repetition.
    pub fn component(&self, n: usize) -> &str {
        n.checked_sub(1)
            .and_then(|i| self.0.first().and_then(|r| r.get(i)))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|r| r.iter().all(String::is_empty))
    }
}

/// A segment with its 1-based position in the input (0 for built segments).
#[derive(Debug, Clone, Default)]
pub struct Segment {
    pub id: String,
    pub elements: Vec<Element>,
    pub position: usize,
}

impl PartialEq for Segment {
    /// Position is provenance, not content.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.elements == other.elements
    }
}
impl Eq for Segment {}

impl Segment {
    /// Build a segment of simple elements.
    pub fn new<I, S>(id: &str, elements: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Segment {
            id: id.to_string(),
            elements: elements.into_iter().map(Element::simple).collect(),
            position: 0,
        }
    }

    /// Element `n` (1-based, as in CLM02).
    pub fn get(&self, n: usize) -> Option<&Element> {
        n.checked_sub(1).and_then(|i| self.elements.get(i))
    }

    /// Text of element `n` ("" when absent).
    pub fn el(&self, n: usize) -> &str {
        self.get(n).map(Element::text).unwrap_or("")
    }

    /// Component `c` of element `n`, both 1-based.
    pub fn comp(&self, n: usize, c: usize) -> &str {
        self.get(n).map(|e| e.component(c)).unwrap_or("")
    }

    /// All repetitions of element `n` (first component of each).
    pub fn repeats(&self, n: usize) -> Vec<&str> {
        self.get(n)
            .map(|e| {
                e.0.iter()
                    .filter_map(|r| r.first().map(String::as_str))
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn err(&self, element: usize, problem: ElementProblem) -> X12Error {
        X12Error::element(self.position, &self.id, element, problem)
    }

    pub fn required(&self, n: usize) -> Result<&str, X12Error> {
        let v = self.el(n);
        if v.is_empty() {
            Err(self.err(n, ElementProblem::Missing))
        } else {
            Ok(v)
        }
    }

    /// Optional decimal (X12 `R`).
    pub fn decimal_opt(&self, n: usize) -> Result<Option<Decimal>, X12Error> {
        let v = self.el(n);
        if v.is_empty() {
            return Ok(None);
        }
        Decimal::parse_x12(v)
            .map(Some)
            .ok_or_else(|| self.err(n, ElementProblem::NotDecimal(v.to_string())))
    }

    pub fn decimal(&self, n: usize) -> Result<Decimal, X12Error> {
        self.decimal_opt(n)?
            .ok_or_else(|| self.err(n, ElementProblem::Missing))
    }

    /// Non-negative integer (X12 `N0`).
    pub fn integer(&self, n: usize) -> Result<u64, X12Error> {
        let v = self.required(n)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(n, ElementProblem::NotInteger(v.to_string())));
        }
        v.parse::<u64>()
            .map_err(|_| self.err(n, ElementProblem::NotInteger(v.to_string())))
    }

    /// Date CCYYMMDD as FHIR `YYYY-MM-DD`.
    pub fn date(&self, n: usize) -> Result<String, X12Error> {
        let v = self.required(n)?;
        crate::dates::x12_to_fhir_date(v)
            .ok_or_else(|| self.err(n, ElementProblem::NotDate(v.to_string())))
    }
}
