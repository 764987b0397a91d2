//! The kinds of CRM record: contacts, companies, leads and activities carry custom
//! fields and associations, go to the trash and are found by the search, and every layer
//! names them (the API in paths and bodies, the rules, the database in `record_type`
//! columns), so the type sits here, at the bottom. It carries poem-openapi's `Enum`
//! derive so that the document describes it from this one definition, as svix's core
//! types carry their schema derives below its HTTP layer; that derive is all it knows
//! of HTTP. Which table holds each kind is SQL, and `db::record_table`'s to say.

/// The kinds of CRM record that carry custom fields and associations, go to the trash
/// when deleted, and are found by the search.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, poem_openapi::Enum, serde::Serialize,
)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    Contact,
    Company,
    Lead,
    Activity,
}

impl RecordType {
    pub const ALL: [RecordType; 4] = [
        RecordType::Contact,
        RecordType::Company,
        RecordType::Lead,
        RecordType::Activity,
    ];

    /// The wire name, as stored in the database where a row names a record's type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Company => "company",
            Self::Lead => "lead",
            Self::Activity => "activity",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}
