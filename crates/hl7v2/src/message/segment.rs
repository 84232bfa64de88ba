//! One segment: raw text plus field boundaries.

use super::delim::Delimiters;
use super::view::{Ctx, Field};

/// A parsed segment. The raw text is kept verbatim (lossless round trip);
/// field boundaries are computed once at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    raw: String,
    /// Byte ranges of the parts split on the field separator; part 0 is the id.
    parts: Vec<(usize, usize)>,
    ctx: Ctx,
}

/// Segments whose field 1 is the field separator itself (MSH-1 convention).
pub(crate) fn is_header_id(id: &str) -> bool {
    matches!(id, "MSH" | "FHS" | "BHS")
}

impl Segment {
    pub(crate) fn new(raw: String, ctx: Ctx) -> Self {
        let mut parts = Vec::new();
        let mut start = 0;
        for (i, c) in raw.char_indices() {
            if c == ctx.d.field {
                parts.push((start, i));
                start = i + c.len_utf8();
            }
        }
        parts.push((start, raw.len()));
        Segment { raw, parts, ctx }
    }

    /// Segment id (`PID`, `ZDR`, ...).
    pub fn id(&self) -> &str {
        self.part(0)
    }

    /// The raw segment text, without terminator.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    fn part(&self, i: usize) -> &str {
        self.parts
            .get(i)
            .and_then(|(s, e)| self.raw.get(*s..*e))
            .unwrap_or("")
    }

    fn is_header(&self) -> bool {
        is_header_id(self.id())
    }

    /// Field `n` with HL7 numbering. For MSH/FHS/BHS field 1 is the field separator
    /// and field 2 the encoding characters; both are returned literally (unsplit).
    pub fn field(&self, n: usize) -> Field<'_> {
        let literal = Ctx {
            d: Delimiters::literal(self.ctx.d.field),
            charset: self.ctx.charset,
        };
        if self.is_header() {
            match n {
                0 => Field {
                    raw: "",
                    ctx: self.ctx,
                },
                1 => Field {
                    raw: self
                        .raw
                        .get(3..3 + self.ctx.d.field.len_utf8())
                        .unwrap_or(""),
                    ctx: literal,
                },
                2 => Field {
                    raw: self.part(1),
                    ctx: literal,
                },
                _ => Field {
                    raw: self.part(n - 1),
                    ctx: self.ctx,
                },
            }
        } else if n == 0 {
            Field {
                raw: "",
                ctx: self.ctx,
            }
        } else {
            Field {
                raw: self.part(n),
                ctx: self.ctx,
            }
        }
    }

    /// Number of fields present (HL7 numbering: the highest field number sent).
    pub fn field_count(&self) -> usize {
        let n = self.parts.len().saturating_sub(1);
        if self.is_header() { n + 1 } else { n }
    }

    /// The delimiters in force for this segment.
    pub fn delimiters(&self) -> &Delimiters {
        &self.ctx.d
    }
}
