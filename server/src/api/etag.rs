//! The `ETag` of each wire type: the version of the resource it carries. Versions, tags
//! and the conditional headers are defined in `app::version`, where a precondition is
//! compared inside the transaction that changes the resource.

pub use crate::app::version::{
    endpoint_version, IfMatch, IfNoneMatch, Versioned, CONDITION_PATTERN, IF_MATCH, IF_NONE_MATCH,
};

#[cfg(test)]
mod tests {
    use crate::app::version::{well_formed as parses, CONDITION_PATTERN};

    #[test]
    fn the_documented_pattern_and_the_parser_agree() {
        use poem_openapi::validation::{Pattern, Validator};
        let pattern = Pattern::new(CONDITION_PATTERN);
        let well_formed = [
            "*",
            "\"abc\"",
            "\"\"",
            "W/\"abc\"",
            "\"1\" , \"abc\"",
            "\"1\",,\"abc\"",
            ",\"a\"",
            "\"a\",",
            "\"a\"\t,\tW/\"b\"",
            "\"!#~\"",
        ];
        for header in well_formed {
            assert!(parses(header), "{header:?}");
            assert!(pattern.check(&header), "{header:?}");
        }
        let malformed = [
            "",
            "abc",
            "\"abc",
            "\"a\" \"b\"",
            "**",
            "\"a\"x",
            "W/abc",
            "\"a b\"",
            ",",
            "*,*",
            "\"a\"\"b\"",
            "w/\"a\"",
        ];
        for header in malformed {
            assert!(!parses(header), "{header:?}");
            assert!(!pattern.check(&header), "{header:?}");
        }
    }
}
