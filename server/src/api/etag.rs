//! The `ETag` of each wire type: the version of the resource it carries. Versions, tags
//! and the conditional headers are defined in `app::version`, where a precondition is
//! compared inside the transaction that changes the resource.

use chrono::{DateTime, Utc};

use super::{activities, companies, contacts, leads, pipelines, users, webhooks};
use crate::app::version::{by_field, by_updated_at};
pub use crate::app::version::{
    endpoint_version, IfMatch, IfNoneMatch, Versioned, CONDITION_PATTERN, IF_MATCH, IF_NONE_MATCH,
};

by_updated_at!(
    contacts::Contact,
    companies::Company,
    pipelines::Pipeline,
    pipelines::Stage,
    leads::Lead,
    activities::Activity,
    users::User,
);

by_field!(
    contacts::ContactEnvelope => data,
    companies::CompanyEnvelope => data,
    pipelines::PipelineEnvelope => data,
    pipelines::StageEnvelope => data,
    leads::LeadEnvelope => data,
    activities::ActivityEnvelope => data,
    users::UserEnvelope => data,
    webhooks::WebhookEndpointEnvelope => data,
    webhooks::WebhookEndpointWithSecretEnvelope => data,
    webhooks::WebhookEndpointWithSecret => endpoint,
);

impl Versioned for webhooks::WebhookEndpoint {
    fn version(&self) -> DateTime<Utc> {
        self.version
    }
}

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
