//! X12 reader: delimiter discovery from the fixed-width ISA, tokenising,
//! envelope structure and control-number/count validation.

use crate::delimiters::Delimiters;
use crate::error::{ElementProblem, X12Error};
use crate::segment::{Element, Segment};

/// Widths of ISA01..ISA16; the ISA is fixed-width so delimiters can be found
/// before anything else is known.
pub const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];
/// "ISA" + 16 separators/fields + terminator.
pub const ISA_LEN: usize = 106;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSet {
    pub st: Segment,
    /// Segments strictly between ST and SE.
    pub body: Vec<Segment>,
    pub se: Segment,
}

impl TransactionSet {
    /// ST01, e.g. "837".
    pub fn code(&self) -> &str {
        self.st.el(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionalGroup {
    pub gs: Segment,
    pub sets: Vec<TransactionSet>,
    pub ge: Segment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interchange {
    pub delimiters: Delimiters,
    pub isa: Segment,
    pub groups: Vec<FunctionalGroup>,
    pub iea: Segment,
}

impl Interchange {
    /// All transaction sets of all groups, in order.
    pub fn sets(&self) -> impl Iterator<Item = &TransactionSet> {
        self.groups.iter().flat_map(|g| g.sets.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// When false, envelope mismatches (counts, control numbers) and trailing
    /// empty elements become warnings instead of errors. Syntax and structure
    /// errors are always fatal.
    pub lenient: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub interchanges: Vec<Interchange>,
    pub warnings: Vec<X12Error>,
}

/// Strict read of every interchange in `input`.
pub fn read(input: &str) -> Result<Vec<Interchange>, X12Error> {
    read_bytes(input.as_bytes(), ReadOptions::default()).map(|d| d.interchanges)
}

/// Lenient read: envelope mismatches are returned as warnings.
pub fn read_lenient(input: &str) -> Result<Document, X12Error> {
    read_bytes(input.as_bytes(), ReadOptions { lenient: true })
}

pub fn read_bytes(input: &[u8], opts: ReadOptions) -> Result<Document, X12Error> {
    let mut parser = Parser {
        input,
        pos: 0,
        seg_no: 0,
        delims: None,
        isa_delims: Vec::new(),
        opts,
        warnings: Vec::new(),
    };
    let segments = parser.tokenize()?;
    let interchanges = parser.structure(segments)?;
    Ok(Document {
        interchanges,
        warnings: parser.warnings,
    })
}

/// Parse the fixed-width ISA at the start of `b` (which begins with "ISA").
fn parse_isa(b: &[u8], position: usize) -> Result<(Delimiters, Segment), X12Error> {
    if b.len() < ISA_LEN {
        return Err(X12Error::IsaTruncated(b.len()));
    }
    let sep = b[3];
    let mut fields = Vec::with_capacity(16);
    let mut at = 4;
    for (i, w) in ISA_WIDTHS.iter().enumerate() {
        let end = at + w;
        let field = &b[at..end];
        // Where the separator actually is tells the real width of a bad field.
        let misplaced = field.iter().position(|c| *c == sep);
        let expected_sep_ok = i == 15 || b[end] == sep;
        if misplaced.is_some() || !expected_sep_ok {
            let found = match misplaced {
                Some(p) => p,
                None => b[at..]
                    .iter()
                    .position(|c| *c == sep)
                    .unwrap_or(b.len() - at),
            };
            return Err(X12Error::element(
                position,
                "ISA",
                i + 1,
                ElementProblem::WrongWidth {
                    expected: *w,
                    found,
                },
            ));
        }
        fields.push(String::from_utf8_lossy(field).into_owned());
        at = end + 1;
    }
    let component = b[104];
    let segment = b[105];
    let version = fields.get(11).map(String::as_str).unwrap_or("");
    // Repetition separator exists from version 00402 on; before, ISA11 is 'U'.
    let repetition = match version.parse::<u32>() {
        Ok(v) if v >= 402 => Some(b[82]),
        Ok(_) => None,
        Err(_) => {
            return Err(X12Error::element(
                position,
                "ISA",
                12,
                ElementProblem::NotInteger(version.to_string()),
            ));
        }
    };
    let delims = Delimiters {
        element: sep,
        component,
        repetition,
        segment,
    };
    delims.check().map_err(X12Error::BadDelimiters)?;
    let isa = Segment {
        id: "ISA".to_string(),
        elements: fields.into_iter().map(Element::simple).collect(),
        position,
    };
    Ok((delims, isa))
}

fn valid_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=3).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    seg_no: usize,
    delims: Option<Delimiters>,
    /// Delimiters of each ISA seen, in order (interchanges may differ).
    isa_delims: Vec<Delimiters>,
    opts: ReadOptions,
    warnings: Vec<X12Error>,
}

impl Parser<'_> {
    /// Record an envelope problem: fatal when strict, a warning when lenient.
    fn issue(&mut self, e: X12Error) -> Result<(), X12Error> {
        if self.opts.lenient {
            self.warnings.push(e);
            Ok(())
        } else {
            Err(e)
        }
    }

    fn skip_line_breaks(&mut self) {
        while let Some(c) = self.input.get(self.pos) {
            if *c == b'\r' || *c == b'\n' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn at_isa(&self) -> bool {
        let rest = &self.input[self.pos..];
        rest.starts_with(b"ISA") && rest.get(3).is_some_and(|c| !c.is_ascii_alphanumeric())
    }

    fn tokenize(&mut self) -> Result<Vec<Segment>, X12Error> {
        // Leading whitespace and a UTF-8 BOM are tolerated; anything else
        // before the ISA means this is not an interchange.
        if self.input.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        }
        while self
            .input
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        if !self.at_isa() {
            return Err(X12Error::NoInterchange);
        }
        let mut out = Vec::new();
        loop {
            if self.delims.is_some() {
                self.skip_line_breaks();
            }
            if self.pos >= self.input.len() {
                break;
            }
            self.seg_no += 1;
            if self.at_isa() {
                let (d, isa) = parse_isa(&self.input[self.pos..], self.seg_no)?;
                self.delims = Some(d);
                self.isa_delims.push(d);
                self.pos += ISA_LEN;
                out.push(isa);
                continue;
            }
            let Some(d) = self.delims else {
                return Err(X12Error::NoInterchange);
            };
            let rest = &self.input[self.pos..];
            let Some(len) = rest.iter().position(|c| *c == d.segment) else {
                if rest.iter().all(|c| c.is_ascii_whitespace()) {
                    break;
                }
                return Err(X12Error::UnexpectedEnd(format!(
                    "segment {} is not terminated by {:?}",
                    self.seg_no,
                    char::from(d.segment)
                )));
            };
            let seg = self.split_segment(&rest[..len], d)?;
            self.pos += len + 1;
            out.push(seg);
        }
        Ok(out)
    }

    fn split_segment(&mut self, raw: &[u8], d: Delimiters) -> Result<Segment, X12Error> {
        let mut parts = raw.split(|c| *c == d.element);
        let id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        if !valid_segment_id(&id) {
            return Err(X12Error::BadSegmentId {
                position: self.seg_no,
                id,
            });
        }
        let raw_elements: Vec<&[u8]> = parts.collect();
        let elements: Vec<Element> = raw_elements.iter().map(|e| split_element(e, d)).collect();
        if raw_elements.last().is_some_and(|e| e.is_empty()) {
            let non_empty = raw_elements.iter().rposition(|e| !e.is_empty());
            let first_empty = non_empty.map_or(1, |i| i + 2);
            self.issue(X12Error::segment(
                self.seg_no,
                &id,
                format!(
                    "trailing element separators: elements {id}{first_empty:02} to {id}{:02} are empty at the end of the segment",
                    raw_elements.len()
                ),
            ))?;
        }
        Ok(Segment {
            id,
            elements,
            position: self.seg_no,
        })
    }

    fn structure(&mut self, segments: Vec<Segment>) -> Result<Vec<Interchange>, X12Error> {
        let mut out = Vec::new();
        let mut it = segments.into_iter();
        let mut isa_delims = std::mem::take(&mut self.isa_delims).into_iter();
        while let Some(isa) = it.next() {
            if isa.id != "ISA" {
                return Err(X12Error::segment(
                    isa.position,
                    &isa.id,
                    "segment outside an interchange (expected ISA)",
                ));
            }
            let delimiters = isa_delims.next().unwrap_or_default();
            let mut groups = Vec::new();
            let iea = loop {
                let Some(seg) = it.next() else {
                    return Err(X12Error::UnexpectedEnd(format!(
                        "interchange {} has no IEA trailer",
                        isa.el(13)
                    )));
                };
                match seg.id.as_str() {
                    "GS" => groups.push(self.group(seg, &mut it)?),
                    "IEA" => break seg,
                    _ => {
                        return Err(X12Error::segment(
                            seg.position,
                            &seg.id,
                            "unexpected segment in interchange (expected GS or IEA)",
                        ));
                    }
                }
            };
            self.check_count(&iea, 1, groups.len(), "functional groups")?;
            self.check_control(&iea, 2, "ISA13", isa.el(13), true)?;
            out.push(Interchange {
                delimiters,
                isa,
                groups,
                iea,
            });
        }
        Ok(out)
    }

    fn group(
        &mut self,
        gs: Segment,
        it: &mut impl Iterator<Item = Segment>,
    ) -> Result<FunctionalGroup, X12Error> {
        let mut sets = Vec::new();
        let ge = loop {
            let Some(seg) = it.next() else {
                return Err(X12Error::UnexpectedEnd(format!(
                    "functional group {} has no GE trailer",
                    gs.el(6)
                )));
            };
            match seg.id.as_str() {
                "ST" => sets.push(self.set(seg, it)?),
                "GE" => break seg,
                _ => {
                    return Err(X12Error::segment(
                        seg.position,
                        &seg.id,
                        "unexpected segment in functional group (expected ST or GE)",
                    ));
                }
            }
        };
        self.check_count(&ge, 1, sets.len(), "transaction sets")?;
        self.check_control(&ge, 2, "GS06", gs.el(6), true)?;
        Ok(FunctionalGroup { gs, sets, ge })
    }

    fn set(
        &mut self,
        st: Segment,
        it: &mut impl Iterator<Item = Segment>,
    ) -> Result<TransactionSet, X12Error> {
        let mut body = Vec::new();
        let se = loop {
            let Some(seg) = it.next() else {
                return Err(X12Error::UnexpectedEnd(format!(
                    "transaction set {} has no SE trailer",
                    st.el(2)
                )));
            };
            match seg.id.as_str() {
                "SE" => break seg,
                "ISA" | "IEA" | "GS" | "GE" | "ST" => {
                    return Err(X12Error::segment(
                        seg.position,
                        &seg.id,
                        format!("transaction set {} is not closed by SE", st.el(2)),
                    ));
                }
                _ => body.push(seg),
            }
        };
        self.check_count(&se, 1, body.len() + 2, "segments (ST through SE)")?;
        self.check_control(&se, 2, "ST02", st.el(2), false)?;
        Ok(TransactionSet { st, body, se })
    }

    fn check_count(
        &mut self,
        seg: &Segment,
        n: usize,
        counted: usize,
        what: &'static str,
    ) -> Result<(), X12Error> {
        let found = seg.el(n);
        let ok = found.bytes().all(|b| b.is_ascii_digit())
            && found.parse::<usize>().is_ok_and(|v| v == counted);
        if !ok {
            self.issue(seg.err(
                n,
                ElementProblem::CountMismatch {
                    found: found.to_string(),
                    counted,
                    what,
                },
            ))?;
        }
        Ok(())
    }

    /// ISA13/IEA02 and GS06/GE02 are numeric (compared as numbers);
    /// ST02/SE02 is alphanumeric (compared as text).
    fn check_control(
        &mut self,
        seg: &Segment,
        n: usize,
        other: &'static str,
        expected: &str,
        numeric: bool,
    ) -> Result<(), X12Error> {
        let found = seg.el(n);
        let same = if numeric {
            match (found.parse::<u64>(), expected.parse::<u64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => found == expected,
            }
        } else {
            found == expected
        };
        if !same {
            self.issue(seg.err(
                n,
                ElementProblem::ControlMismatch {
                    found: found.to_string(),
                    other,
                    expected: expected.to_string(),
                },
            ))?;
        }
        Ok(())
    }
}

fn split_element(raw: &[u8], d: Delimiters) -> Element {
    let reps: Vec<&[u8]> = match d.repetition {
        Some(r) => raw.split(|c| *c == r).collect(),
        None => vec![raw],
    };
    Element(
        reps.into_iter()
            .map(|rep| {
                rep.split(|c| *c == d.component)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect()
            })
            .collect(),
    )
}
