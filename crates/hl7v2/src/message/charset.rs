//! MSH-18 character sets: bytes ⇄ text.

use super::error::ParseError;

/// Character set of a message (first repetition of MSH-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    /// `ASCII`. Leniency: bytes that are valid UTF-8 are accepted (common mislabel).
    Ascii,
    /// `UNICODE UTF-8`, `UTF-8`, bare `UNICODE`, or MSH-18 empty (the default).
    #[default]
    Utf8,
    /// `8859/1`: each byte is one Latin-1 character.
    Latin1,
}

impl Charset {
    /// Interprets an MSH-18 value (already split to its first repetition).
    pub fn from_msh18(value: &str) -> Result<Self, ParseError> {
        let v = value.trim();
        match v.to_ascii_uppercase().as_str() {
            "" | "UNICODE UTF-8" | "UTF-8" | "UTF8" | "UNICODE" => Ok(Charset::Utf8),
            "ASCII" => Ok(Charset::Ascii),
            "8859/1" => Ok(Charset::Latin1),
            _ => Err(ParseError::UnsupportedCharset { value: v.into() }),
        }
    }

    /// Decodes wire bytes into text.
    pub fn decode(self, bytes: &[u8]) -> Result<String, ParseError> {
        match self {
            Charset::Latin1 => Ok(bytes.iter().map(|b| char::from(*b)).collect()),
            Charset::Ascii | Charset::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(s.to_owned()),
                Err(e) => Err(ParseError::InvalidEncoding {
                    charset: self,
                    byte_offset: e.valid_up_to(),
                }),
            },
        }
    }

    /// Encodes text to wire bytes. Characters outside Latin-1 become `?` in 8859/1
    /// (the encoder cannot represent them; escape them before if it matters).
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Charset::Ascii | Charset::Utf8 => text.as_bytes().to_vec(),
        }
    }

    /// Decodes the bytes of a `\Xhh..\` escape in this charset; bytes that are not
    /// valid UTF-8 fall back to Latin-1 so decoding never fails.
    pub(crate) fn decode_hex_bytes(self, bytes: &[u8]) -> String {
        match self {
            Charset::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
            Charset::Ascii | Charset::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => bytes.iter().map(|b| char::from(*b)).collect(),
            },
        }
    }
}
