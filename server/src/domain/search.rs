//! What a search query means: the text a record must contain (the "needle") and the ways
//! it may match. The SQL that ranks the matches is `search_records` (migration
//! `20261129400001_search_indexes.sql`); this module prepares its arguments.

use super::FieldError;

/// The longest query, in characters, after trimming.
pub const QUERY_MAX: usize = 200;

/// The fewest digits a query of phone characters needs to be searched as a phone number.
const PHONE_MIN_DIGITS: usize = 4;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// Lower-cased and trimmed; for a phone number, its digits without leading zeros.
    pub text: String,
    /// `%text%` with LIKE's wildcards escaped; `None` when the text has no run of three
    /// letters or digits, which is what a trigram index can look up (without one it would
    /// read the whole index).
    pub like: Option<String>,
    /// A POSIX regular expression: the text at the start of a word.
    pub word_start: String,
    /// Whether to look for typos (trigram similarity). Not for phone numbers (a
    /// "similar" number is another number) nor for needles too short to have trigrams.
    pub fuzzy: bool,
    /// The text whose words must all start words of a record, in any order (the
    /// database splits it into words as its full-text index does, and makes each a
    /// prefix); `None` for a phone number or a query without letters or digits.
    pub words: Option<String>,
}

impl Needle {
    /// `q` as sent: trimmed, it must have 1 to [`QUERY_MAX`] characters and no control
    /// character.
    pub fn parse(q: &str) -> Result<Self, FieldError> {
        let q = q.trim();
        if q.is_empty() {
            return Err(FieldError::new("q", "required", "must not be blank"));
        }
        if q.chars().count() > QUERY_MAX {
            return Err(FieldError::new(
                "q",
                "too_long",
                format!("must be at most {QUERY_MAX} characters"),
            ));
        }
        if q.chars().any(char::is_control) {
            return Err(FieldError::new(
                "q",
                "invalid_characters",
                "must not contain control characters",
            ));
        }
        if let Some(digits) = phone_digits(q) {
            return Ok(Self {
                like: Some(format!("%{digits}%")),
                word_start: word_start(&digits),
                fuzzy: false,
                words: None,
                text: digits,
            });
        }
        let text = q.to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let trigrams = words.iter().any(|w| w.chars().count() >= 3);
        Ok(Self {
            like: trigrams.then(|| format!("%{}%", escape_like(&text))),
            word_start: word_start(&text),
            fuzzy: trigrams,
            words: (!words.is_empty()).then(|| text.clone()),
            text,
        })
    }
}

/// The digits of a query made only of phone characters (digits, spaces, `+`, `-`, `.`,
/// parentheses), leading zeros dropped, if at least [`PHONE_MIN_DIGITS`] remain: so
/// `+44 20 7946 0958`, `0044 20 7946 0958` and the national `020 7946 0958` all find the
/// stored `+442079460958` (the last as a substring).
fn phone_digits(q: &str) -> Option<String> {
    if !q
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '.' | '(' | ')'))
    {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    // Counted without the leading zeros, so the digits searched for always have
    // trigrams for the index to look up.
    (significant.len() >= PHONE_MIN_DIGITS).then(|| significant.to_owned())
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` at the start of a word, as a PostgreSQL (ARE) regular expression. Every
/// character that is not a letter or digit is escaped: in an ARE a backslash before one
/// always means the character itself.
fn word_start(text: &str) -> String {
    let mut out = String::from("(^|[^[:alnum:]])");
    for c in text.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_and_become_prefixes() {
        let n = Needle::parse("  Ada LOVElace ").unwrap();
        assert_eq!(n.text, "ada lovelace");
        assert_eq!(n.like.as_deref(), Some("%ada lovelace%"));
        assert_eq!(n.words.as_deref(), Some("ada lovelace"));
        assert_eq!(n.word_start, r"(^|[^[:alnum:]])ada\ lovelace");
        assert!(n.fuzzy);
    }

    #[test]
    fn phone_numbers_are_searched_by_their_digits() {
        for q in ["+44 20 7946 0958", "0044 (20) 7946-0958", "442079460958"] {
            let n = Needle::parse(q).unwrap();
            assert_eq!(n.text, "442079460958", "{q}");
            assert!(!n.fuzzy && n.words.is_none());
        }
        assert_eq!(Needle::parse("020 7946 0958").unwrap().text, "2079460958");
        // Too few digits to be a phone number: an ordinary query.
        assert_eq!(Needle::parse("+44").unwrap().text, "+44");
        assert_eq!(Needle::parse("0042").unwrap().text, "0042");
    }

    #[test]
    fn wildcards_and_regex_characters_are_literal() {
        let n = Needle::parse("50%_off.*").unwrap();
        assert_eq!(n.like.as_deref(), Some(r"%50\%\_off.*%"));
        assert_eq!(n.word_start, r"(^|[^[:alnum:]])50\%\_off\.\*");
        assert_eq!(n.words.as_deref(), Some("50%_off.*"));
    }

    #[test]
    fn short_needles_use_only_the_full_text_index() {
        let n = Needle::parse("ad").unwrap();
        assert!(n.like.is_none() && !n.fuzzy);
        assert_eq!(n.words.as_deref(), Some("ad"));
        let n = Needle::parse("@@").unwrap();
        assert!(n.like.is_none() && n.words.is_none());
    }

    #[test]
    fn blank_long_and_control_queries_are_refused_naming_q() {
        for (q, code) in [
            ("   ", "required"),
            (&"x".repeat(201), "too_long"),
            ("a\u{7}b", "invalid_characters"),
        ] {
            let err = Needle::parse(q).unwrap_err();
            assert_eq!((err.field.as_str(), err.code), ("q", code), "{q:?}");
        }
        assert!(Needle::parse(&format!("  {}  ", "x".repeat(200))).is_ok());
    }
}
