//! Zero-copy views: field → repetition → component → sub-component.
//!
//! Indexes are 1-based like HL7. Asking for a missing element returns an empty
//! view (never panics, never `None`), so access chains stay short.

use super::charset::Charset;
use super::delim::Delimiters;
use super::escape::unescape;

/// Delimiters + charset: everything a view needs to split and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub d: Delimiters,
    pub charset: Charset,
}

fn nth(raw: &str, sep: Option<char>, i: usize) -> &str {
    if i == 0 {
        return "";
    }
    match sep {
        None if i == 1 => raw,
        None => "",
        Some(c) => raw.split(c).nth(i - 1).unwrap_or(""),
    }
}

fn count(raw: &str, sep: Option<char>) -> usize {
    if raw.is_empty() {
        return 0;
    }
    match sep {
        None => 1,
        Some(c) => raw.split(c).count(),
    }
}

macro_rules! common {
    ($t:ident) => {
        impl<'a> $t<'a> {
            /// Raw wire text (escapes not decoded).
            pub fn raw(&self) -> &'a str {
                self.raw
            }
            /// True when nothing was sent (empty or absent).
            pub fn is_empty(&self) -> bool {
                self.raw.is_empty()
            }
            /// True for the explicit HL7 null `""` (the receiver must delete the value).
            pub fn is_null(&self) -> bool {
                self.raw == "\"\""
            }
            /// Decoded text (escape sequences resolved), including any delimiters of
            /// lower levels still present.
            pub fn text(&self) -> String {
                unescape(self.raw, &self.ctx.d, self.ctx.charset)
            }
            /// Decoded text, `None` when empty or explicit null.
            pub fn value(&self) -> Option<String> {
                if self.is_empty() || self.is_null() {
                    None
                } else {
                    Some(self.text())
                }
            }
        }
    };
}

/// One field of a segment (all repetitions).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub(crate) raw: &'a str,
    pub(crate) ctx: Ctx,
}
/// One repetition of a field.
#[derive(Debug, Clone, Copy)]
pub struct Repetition<'a> {
    pub(crate) raw: &'a str,
    pub(crate) ctx: Ctx,
}
/// One component.
#[derive(Debug, Clone, Copy)]
pub struct Component<'a> {
    pub(crate) raw: &'a str,
    pub(crate) ctx: Ctx,
}
/// One sub-component.
#[derive(Debug, Clone, Copy)]
pub struct Subcomponent<'a> {
    pub(crate) raw: &'a str,
    pub(crate) ctx: Ctx,
}
common!(Field);
common!(Repetition);
common!(Component);
common!(Subcomponent);

impl<'a> Field<'a> {
    /// Repetition `i` (1-based).
    pub fn repetition(&self, i: usize) -> Repetition<'a> {
        Repetition {
            raw: nth(self.raw, self.ctx.d.repetition, i),
            ctx: self.ctx,
        }
    }
    /// Number of repetitions (0 when empty).
    pub fn repetition_count(&self) -> usize {
        count(self.raw, self.ctx.d.repetition)
    }
    /// All repetitions in order.
    pub fn repetitions(&self) -> impl Iterator<Item = Repetition<'a>> + 'a {
        let ctx = self.ctx;
        let n = self.repetition_count();
        let raw = self.raw;
        (1..=n).map(move |i| Repetition {
            raw: nth(raw, ctx.d.repetition, i),
            ctx,
        })
    }
    /// Component `c` of the first repetition.
    pub fn component(&self, c: usize) -> Component<'a> {
        self.repetition(1).component(c)
    }
}

impl<'a> Repetition<'a> {
    /// Component `c` (1-based).
    pub fn component(&self, c: usize) -> Component<'a> {
        Component {
            raw: nth(self.raw, self.ctx.d.component, c),
            ctx: self.ctx,
        }
    }
    /// Number of components (0 when empty).
    pub fn component_count(&self) -> usize {
        count(self.raw, self.ctx.d.component)
    }
}

impl<'a> Component<'a> {
    /// Sub-component `s` (1-based).
    pub fn subcomponent(&self, s: usize) -> Subcomponent<'a> {
        Subcomponent {
            raw: nth(self.raw, self.ctx.d.subcomponent, s),
            ctx: self.ctx,
        }
    }
    /// Number of sub-components (0 when empty).
    pub fn subcomponent_count(&self) -> usize {
        count(self.raw, self.ctx.d.subcomponent)
    }
}
