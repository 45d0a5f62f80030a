//! Free-text fields. In: names, roles, titles and evidence notes typed by people.
//! Out: trimmed text in Unicode NFC that is non-empty where required, within its length
//! limit and free of control characters; and ASCII slugs used as stable keys
//! ("Nguyễn Văn An" → "nguyen-van-an").
//!
//! Vietnamese can be typed precomposed (NFC, "ễ" one code point) or decomposed (NFD,
//! "e" + two combining marks; some macOS and older Windows input methods do this). Both
//! look the same but compare, sort, search and count differently, so every text a
//! person types is stored as NFC. Ops already made elsewhere are never rewritten: their
//! text is checked, not changed.

use crate::error::DomainError;
use unicode_normalization::UnicodeNormalization;

/// Limit for names and roles.
pub const NAME_MAX: usize = 120;
/// Limit for task titles.
pub const TITLE_MAX: usize = 500;
/// Limit for evidence notes.
pub const EVIDENCE_MAX: usize = 2000;

/// Limit for the "entered by" name an officer gives at the start of a session.
pub const BY_MAX: usize = 40;

/// Checks the "entered by" name carried by an op (empty allowed): as an officer's
/// name is stored — trimmed, NFC, within [`BY_MAX`], one line. Ops from elsewhere are
/// checked, never rewritten.
pub fn entered_by(value: &str) -> Result<(), DomainError> {
    let v = optional("entered by", value, BY_MAX)?;
    if v != value || v.contains(['\n', '\t']) {
        return Err(DomainError::UnstoredText {
            field: "entered by",
        });
    }
    Ok(())
}

/// Trims and checks a required field.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = optional(field, value, max)?;
    if v.is_empty() {
        return Err(DomainError::EmptyText { field });
    }
    Ok(v)
}

/// Trims, NFC-normalises and checks an optional field (empty allowed). Newlines and
/// tabs are allowed in long notes; other control characters are not.
pub fn optional(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let v: String = value.trim().nfc().collect();
    let v = v.as_str();
    let len = v.chars().count();
    if len > max {
        return Err(DomainError::TextTooLong { field, len, max });
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::ControlChars { field });
    }
    Ok(v.to_string())
}

/// An ASCII key for a person's name: diacritics folded (đ → d), lower case, words
/// joined by `-`. Two spellings that differ only in accents or spacing get one key.
pub fn slug(value: &str) -> String {
    let folded = deunicode::deunicode(value).to_ascii_lowercase();
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_fold_vietnamese() {
        assert_eq!(slug("Nguyễn Văn  An"), "nguyen-van-an");
        assert_eq!(slug("ĐỖ THỊ HƯƠNG"), "do-thi-huong");
        assert_eq!(slug("  "), "");
    }

    #[test]
    fn checks_text() {
        assert_eq!(required("signer", "  An ", 10).unwrap(), "An");
        assert!(required("signer", "   ", 10).is_err());
        assert!(required("signer", "a\u{7}b", 10).is_err());
        assert!(required("signer", "abcdefghijk", 10).is_err());
        assert!(optional("evidence", "line1\nline2", 100).is_ok());
    }

    #[test]
    fn typed_text_is_stored_precomposed() {
        // "Nguyễn" typed decomposed: e + circumflex + tilde.
        let nfd = "Nguye\u{302}\u{303}n Va\u{306}n An";
        let stored = required("signer", nfd, NAME_MAX).unwrap();
        assert_eq!(stored, "Nguyễn Văn An");
        assert_eq!(stored.chars().count(), 13);
        assert_eq!(slug(nfd), slug(&stored));
        // The limit counts what is stored, so a decomposed name is not refused early.
        assert!(required("signer", &"e\u{302}".repeat(10), 10).is_ok());
    }
}
