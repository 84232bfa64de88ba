//! String normalisation for default string matching: case- and accent-insensitive.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower-cases and strips accents (NFD, combining marks removed): "Müller" → "muller".
pub fn normalize(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(normalize("Müller"), "muller");
        assert_eq!(normalize("ÉLODIE"), "elodie");
        assert_eq!(normalize("Godínez202"), "godinez202");
        assert_eq!(normalize("straße"), "straße");
    }
}
