//! Delimiter set of an interchange.

use crate::error::WriteError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub element: u8,
    pub component: u8,
    /// Only 5010-style interchanges (ISA12 >= 00402) have one; else ISA11 is 'U'.
    pub repetition: Option<u8>,
    pub segment: u8,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            element: b'*',
            component: b':',
            repetition: Some(b'^'),
            segment: b'~',
        }
    }
}

impl Delimiters {
    /// Delimiters must be distinct ASCII characters that cannot occur in
    /// segment ids or ordinary alphanumeric data.
    pub fn check(&self) -> Result<(), String> {
        let mut all = vec![
            ("element", self.element),
            ("component", self.component),
            ("segment", self.segment),
        ];
        if let Some(r) = self.repetition {
            all.push(("repetition", r));
        }
        for (name, b) in &all {
            if !b.is_ascii() || b.is_ascii_alphanumeric() || *b == b' ' {
                return Err(format!(
                    "{name} separator {:?} is not allowed",
                    char::from(*b)
                ));
            }
        }
        for (i, (na, a)) in all.iter().enumerate() {
            for (nb, b) in all.iter().skip(i + 1) {
                if a == b {
                    return Err(format!(
                        "{na} and {nb} separators are both {:?}",
                        char::from(*a)
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_write(&self) -> Result<(), WriteError> {
        self.check().map_err(WriteError::BadDelimiters)
    }

    /// Whether `c` is one of the delimiters (or CR/LF, which we never write inside data).
    pub fn is_reserved(&self, c: char) -> bool {
        let b = u32::from(c);
        c == '\r'
            || c == '\n'
            || b == u32::from(self.element)
            || b == u32::from(self.component)
            || b == u32::from(self.segment)
            || self.repetition.is_some_and(|r| b == u32::from(r))
    }
}
