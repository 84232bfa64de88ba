//! Encoder for new segments: values are escaped, raw pieces copied verbatim.

use super::delim::Delimiters;
use super::escape::{EscapeError, escape};

/// Builds one segment's text field by field.
///
/// `SegmentBuilder::msh(d)` writes `MSH|^~\&` (MSH-1 and MSH-2); following calls add
/// MSH-3, MSH-4, ... For any other id, calls add field 1, 2, ...
#[derive(Debug, Clone)]
pub struct SegmentBuilder {
    d: Delimiters,
    out: String,
}

impl SegmentBuilder {
    /// A non-header segment.
    pub fn new(id: &str, d: Delimiters) -> Self {
        SegmentBuilder {
            d,
            out: id.to_owned(),
        }
    }

    /// An MSH segment with MSH-1/MSH-2 from `d`.
    pub fn msh(d: Delimiters) -> Self {
        let mut out = String::from("MSH");
        out.push(d.field);
        out.push_str(&d.encoding_characters());
        SegmentBuilder { d, out }
    }

    /// Appends a field copied verbatim (already in wire form for these delimiters).
    pub fn raw(mut self, raw: &str) -> Self {
        self.out.push(self.d.field);
        self.out.push_str(raw);
        self
    }

    /// Appends a text field, escaping delimiters.
    pub fn text(self, text: &str) -> Result<Self, EscapeError> {
        let v = escape(text, &self.d)?;
        Ok(self.raw(&v))
    }

    /// Appends a field made of text components (each escaped), trailing empty
    /// components trimmed.
    pub fn components(self, comps: &[&str]) -> Result<Self, EscapeError> {
        let v = self.join_components(comps)?;
        Ok(self.raw(&v))
    }

    /// Escapes and joins components with the component separator. Without a
    /// component separator only the first component can be sent.
    pub fn join_components(&self, comps: &[&str]) -> Result<String, EscapeError> {
        let last = comps
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        let mut v = String::new();
        for (i, c) in comps.iter().take(last).enumerate() {
            if i > 0 {
                match self.d.component {
                    Some(sep) => v.push(sep),
                    None => break,
                }
            }
            v.push_str(&escape(c, &self.d)?);
        }
        Ok(v)
    }

    /// The finished segment text (no terminator).
    pub fn build(self) -> String {
        self.out
    }
}
