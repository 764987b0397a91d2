//! Scopes: what a credential may do. A closed, documented set — read and write per
//! resource family; narrower scopes for what a third party reads or runs without being
//! an administrator (custom field definitions, events, webhooks, the audit log); and
//! `admin` for users and API keys, which holds every one of those narrower scopes too
//! (see [`effective`]), so a key made before they existed keeps what it could do. Each
//! operation names the scope it needs once, in its `#[oai(scope = "...")]` attribute: that
//! puts it in the document's security requirement, and `api::security` enforces exactly
//! what the document says.

use poem_openapi::OAuthScopes;

use crate::domain::record::RecordType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, OAuthScopes)]
pub enum Scope {
    /// Read contacts.
    #[oai(rename = "contacts:read")]
    ContactsRead,
    /// Create, change and delete contacts.
    #[oai(rename = "contacts:write")]
    ContactsWrite,
    /// Read companies.
    #[oai(rename = "companies:read")]
    CompaniesRead,
    /// Create, change and delete companies.
    #[oai(rename = "companies:write")]
    CompaniesWrite,
    /// Read pipelines and stages.
    #[oai(rename = "pipelines:read")]
    PipelinesRead,
    /// Create, change, reorder and delete pipelines and stages.
    #[oai(rename = "pipelines:write")]
    PipelinesWrite,
    /// Read leads.
    #[oai(rename = "leads:read")]
    LeadsRead,
    /// Create, change, move, convert and delete leads.
    #[oai(rename = "leads:write")]
    LeadsWrite,
    /// Read activities and timelines.
    #[oai(rename = "activities:read")]
    ActivitiesRead,
    /// Create, change, complete and delete activities.
    #[oai(rename = "activities:write")]
    ActivitiesWrite,
    /// Read associations between records and their labels.
    #[oai(rename = "associations:read")]
    AssociationsRead,
    /// Create and delete associations; create, change and delete association labels.
    #[oai(rename = "associations:write")]
    AssociationsWrite,
    /// Read the tenant's users.
    #[oai(rename = "users:read")]
    UsersRead,
    /// Read custom field definitions.
    #[oai(rename = "custom_fields:read")]
    CustomFieldsRead,
    /// Read the events (`GET /v1/events`).
    #[oai(rename = "events:read")]
    EventsRead,
    /// Read webhook endpoints, deliveries and attempts.
    #[oai(rename = "webhooks:read")]
    WebhooksRead,
    /// Create, change, test, recover and delete webhook endpoints, rotate their secrets
    /// and retry deliveries.
    #[oai(rename = "webhooks:write")]
    WebhooksWrite,
    /// Read the audit log.
    #[oai(rename = "audit:read")]
    AuditRead,
    /// Export records to files (each export also needs its record type's read scope).
    #[oai(rename = "exports:read")]
    ExportsRead,
    /// Import records from files (each import also needs its record type's write
    /// scope).
    #[oai(rename = "imports:write")]
    ImportsWrite,
    /// Manage users, API keys, session tokens and custom field definitions; holds every
    /// scope above from `custom_fields:read` on.
    #[oai(rename = "admin")]
    Admin,
}

/// Stored on a key in place of a list: every scope, including scopes added later. The
/// first key of a tenant (`momentum tenant create`) has it.
pub const ALL: &str = "*";

impl Scope {
    pub const EVERY: [Scope; 21] = [
        Self::ContactsRead,
        Self::ContactsWrite,
        Self::CompaniesRead,
        Self::CompaniesWrite,
        Self::PipelinesRead,
        Self::PipelinesWrite,
        Self::LeadsRead,
        Self::LeadsWrite,
        Self::ActivitiesRead,
        Self::ActivitiesWrite,
        Self::AssociationsRead,
        Self::AssociationsWrite,
        Self::UsersRead,
        Self::CustomFieldsRead,
        Self::EventsRead,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::AuditRead,
        Self::ExportsRead,
        Self::ImportsWrite,
        Self::Admin,
    ];

    /// The scopes `admin` holds besides itself: everything `admin` alone granted before
    /// they were split off it.
    pub const WITHIN_ADMIN: [Scope; 5] = [
        Self::CustomFieldsRead,
        Self::EventsRead,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::AuditRead,
    ];

    /// Whether a member's role allows it: administration, and what exposes every
    /// change in the tenant (events, webhooks, the audit log), stays with admins.
    /// Custom field definitions do not: members write custom field values already.
    fn administrative(self) -> bool {
        matches!(
            self,
            Self::Admin
                | Self::EventsRead
                | Self::WebhooksRead
                | Self::WebhooksWrite
                | Self::AuditRead
        )
    }

    pub fn as_str(self) -> &'static str {
        OAuthScopes::name(&self)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope that reading records of type `kind` needs. One table, so search and
    /// exports, which both read records of a type the caller names, ask for the same.
    pub fn read_of(kind: RecordType) -> Scope {
        match kind {
            RecordType::Contact => Self::ContactsRead,
            RecordType::Company => Self::CompaniesRead,
            RecordType::Lead => Self::LeadsRead,
            RecordType::Activity => Self::ActivitiesRead,
        }
    }

    /// The scope that writing records of type `kind` needs (imports write records of
    /// the type the caller names).
    pub fn write_of(kind: RecordType) -> Scope {
        match kind {
            RecordType::Contact => Self::ContactsWrite,
            RecordType::Company => Self::CompaniesWrite,
            RecordType::Lead => Self::LeadsWrite,
            RecordType::Activity => Self::ActivitiesWrite,
        }
    }
}

/// A user's role, which bounds what any credential acting as them may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub const EVERY: [Role; 3] = [Self::Owner, Self::Admin, Self::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|r| r.as_str() == name)
    }

    /// A role as stored. A name this version does not know ranks highest, so nobody acts
    /// on such a user by mistake.
    pub fn of_stored(name: &str) -> Self {
        Self::parse(name).unwrap_or(Self::Owner)
    }

    /// Members do everything but administration.
    pub fn allows(self, scope: Scope) -> bool {
        match self {
            Self::Owner | Self::Admin => true,
            Self::Member => !scope.administrative(),
        }
    }

    /// Owner > admin > member.
    fn rank(self) -> u8 {
        match self {
            Self::Owner => 2,
            Self::Admin => 1,
            Self::Member => 0,
        }
    }

    /// Whether a caller ranking as `caller` may act on (create keys for, revoke the keys
    /// and tokens of, change, deactivate) someone ranking as `target`: only on those not
    /// above it. Either side may be no user (a service key), which ranks as an admin: so
    /// only an owner acts on an owner, and a service key never does.
    pub fn may_act_on(caller: Option<Role>, target: Option<Role>) -> bool {
        let rank = |role: Option<Role>| role.unwrap_or(Self::Admin).rank();
        rank(caller) >= rank(target)
    }
}

/// The scopes a credential holds: those stored on it (`*` for all) that its user's role
/// allows. API keys and session tokens alike: a token stores the scopes its approver held.
/// `admin` holds [`Scope::WITHIN_ADMIN`] as well.
pub fn effective(stored: &[String], role: Option<Role>) -> Vec<Scope> {
    let named = |scope: Scope| stored.iter().any(|n| n == ALL || n == scope.as_str());
    let admin = named(Scope::Admin);
    Scope::EVERY
        .into_iter()
        .filter(|scope| named(*scope) || (admin && Scope::WITHIN_ADMIN.contains(scope)))
        .filter(|scope| role.is_none_or(|r| r.allows(*scope)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_members_key_never_gets_admin_even_if_it_asks() {
        let stored = vec!["*".to_owned()];
        let scopes = effective(&stored, Some(Role::Member));
        assert!(!scopes.contains(&Scope::Admin));
        assert!(scopes.contains(&Scope::LeadsWrite));
        let admin = effective(&stored, Some(Role::Admin));
        assert_eq!(admin.len(), Scope::EVERY.len());
    }

    #[test]
    fn stored_scopes_limit_a_key_and_unknown_names_grant_nothing() {
        let stored = vec!["contacts:read".to_owned(), "bogus".to_owned()];
        assert_eq!(effective(&stored, None), [Scope::ContactsRead]);
        assert_eq!(effective(&stored, Some(Role::Owner)), [Scope::ContactsRead]);
    }

    #[test]
    fn admin_holds_the_scopes_split_off_it_and_a_member_gets_only_custom_field_reads() {
        let admin = vec!["admin".to_owned()];
        let scopes = effective(&admin, Some(Role::Admin));
        for scope in Scope::WITHIN_ADMIN {
            assert!(scopes.contains(&scope), "{scope:?}");
        }
        assert!(!scopes.contains(&Scope::ContactsRead), "admin is not `*`");
        let member = effective(&["*".to_owned()], Some(Role::Member));
        assert!(member.contains(&Scope::CustomFieldsRead));
        for scope in [
            Scope::EventsRead,
            Scope::WebhooksRead,
            Scope::WebhooksWrite,
            Scope::AuditRead,
        ] {
            assert!(!member.contains(&scope), "{scope:?}");
        }
        let narrow = effective(&["events:read".to_owned()], None);
        assert_eq!(narrow, [Scope::EventsRead]);
    }

    #[test]
    fn no_stored_scopes_grant_nothing_whatever_the_role() {
        assert!(effective(&[], Some(Role::Owner)).is_empty());
    }

    #[test]
    fn nobody_acts_on_a_role_above_their_own_and_a_service_key_ranks_as_an_admin() {
        use Role::{Admin, Member, Owner};
        let service = None;
        for (caller, target, allowed) in [
            (Some(Owner), Some(Owner), true),
            (Some(Owner), Some(Admin), true),
            (Some(Owner), service, true),
            (Some(Admin), Some(Owner), false),
            (Some(Admin), Some(Admin), true),
            (Some(Admin), Some(Member), true),
            (Some(Admin), service, true),
            (Some(Member), Some(Admin), false),
            (Some(Member), service, false),
            (Some(Member), Some(Member), true),
            (service, Some(Owner), false),
            (service, Some(Admin), true),
            (service, service, true),
        ] {
            assert_eq!(
                Role::may_act_on(caller, target),
                allowed,
                "{caller:?} on {target:?}"
            );
        }
        assert_eq!(Role::of_stored("superuser"), Owner, "unknown ranks highest");
        assert_eq!(Role::of_stored("member"), Member);
    }

    #[test]
    fn each_record_type_is_read_with_its_own_read_scope() {
        let expected = [
            (RecordType::Contact, "contacts:read"),
            (RecordType::Company, "companies:read"),
            (RecordType::Lead, "leads:read"),
            (RecordType::Activity, "activities:read"),
        ];
        assert_eq!(
            expected.len(),
            RecordType::ALL.len(),
            "every type is listed"
        );
        for (kind, scope) in expected {
            assert_eq!(Scope::read_of(kind).as_str(), scope, "{kind:?}");
        }
    }

    #[test]
    fn each_record_type_is_written_with_its_own_write_scope() {
        for kind in RecordType::ALL {
            let write = Scope::write_of(kind).as_str();
            let read = Scope::read_of(kind).as_str();
            assert_eq!(write.strip_suffix(":write"), read.strip_suffix(":read"));
        }
    }

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::EVERY {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
    }
}
