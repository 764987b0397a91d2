//! The event catalogue and the outbox's `emit`: what a change records, in the
//! transaction that makes it, for `GET /v1/events` and the webhooks. Below `api/` and
//! beside `webhooks/` (as svix keeps its message and event types in `core/`, under its
//! HTTP layer), so both the API's handlers and the delivery worker, which emits
//! `webhook_endpoint.disabled`, reach it without the worker importing HTTP code.
//!
//! [`EventType`] carries poem-openapi's `Enum` derive so that the document describes the
//! catalogue from this one definition; that derive is all this module knows of HTTP. It
//! must never import `crate::api`. An event's `data` is the resource as the API returns
//! it: callers pass the API's wire value ([`Data`]), which the application layer builds
//! from what it wrote through the view type its caller names (`app::View`); the worker is
//! handed a renderer for the endpoints it disables.

use std::collections::BTreeSet;

use poem_openapi::types::ToJSON;
use poem_openapi::Enum;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db::events as repo;
pub use crate::db::events::Changes;
use crate::db::TenantTx;
use crate::error::AppError;

/// Declares the catalogue once: each event's variant, its name on the wire (in the
/// document through poem's `rename`, and in the outbox through [`EventType::as_str`]) and
/// its documentation.
macro_rules! catalogue {
    ($(#[$enum_doc:meta])* { $($(#[doc = $doc:literal])* $variant:ident = $name:literal,)* }) => {
        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, serde::Serialize)]
        pub enum EventType {
            $($(#[doc = $doc])* #[oai(rename = $name)] #[serde(rename = $name)] $variant,)*
        }

        impl EventType {
            /// Every event type, in catalogue order.
            pub const ALL: &'static [EventType] = &[$(Self::$variant,)*];

            /// The event's name, as the document spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The event type named `name`, if the catalogue has it.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|t| t.as_str() == name)
            }

        }
    };
}

catalogue! {
    /// The event catalogue. Each event's `data` is the resource as the API returns it: for
    /// `*.created`, `*.updated` and `*.restored` the resource after the change; for the
    /// `*.deleted` of a contact, company, lead or activity the resource as it is in the
    /// trash (with `deleted_at`), for other `*.deleted` the resource as it was just before.
    /// A record purged from the trash after the retention period emits nothing. New event
    /// types may be added; endpoints filtering on types receive only those they name.
    ///
    /// Every `*.updated` event and every `lead.stage_changed` also carries
    /// `changed_fields` (the top-level fields of `data` the change made differ, sorted; a
    /// custom field as `custom_fields.<key>`; never `updated_at`) and `previous` (those
    /// fields' values before the change, `null` where there was none); other events carry
    /// neither. So a stage move names the stage it left (`previous.stage_id`) and, when
    /// it crossed pipelines, the pipeline (`previous.pipeline_id`); `*.merged` names the
    /// survivor, the merged id and the duplicate as it was. An endpoint's `filters` can
    /// take an updated type only when one of the fields it names changed.
    ///
    /// One change can emit several events, all in its transaction. A lead that moves emits
    /// `lead.updated` and `lead.stage_changed`, plus `lead.won` or `lead.lost` when its
    /// status becomes `won` or `lost` (a lead created in such a stage: `lead.created` plus
    /// `lead.won` or `lead.lost`); leads moved by deleting their stage or pipeline
    /// (`move_leads_to`) emit the same. A conversion emits `lead.converted` (not
    /// `lead.updated`), `company.created` and `contact.created` for what it created, and
    /// `contact.updated` for an existing contact it linked to the company. Completing a task
    /// that is already complete, and a pipeline patch without a `name`, change nothing and
    /// emit nothing.
    ///
    /// A change that only clears a link to a removed record (purging a company from the
    /// trash sets the `company_id` of its contacts, leads and activities to `null`; purging
    /// a contact or a lead, or deleting a user, does the same for the records linked to it)
    /// emits no event for the records that lose the link. Nor do the `stage_change`
    /// activities the server writes, trashes and restores with their lead:
    /// `lead.stage_changed`, `lead.deleted` and `lead.restored` report those. Trashed leads
    /// moved along when their stage or pipeline is deleted emit nothing either.
    {
    /// A contact was created (`data`: the `Contact`).
    ContactCreated = "contact.created",
    /// A contact was changed (`data`: the `Contact`).
    ContactUpdated = "contact.updated",
    /// A contact was moved to the trash (`data`: the `Contact`, with its `deleted_at`).
    ContactDeleted = "contact.deleted",
    /// A company was created (`data`: the `Company`).
    CompanyCreated = "company.created",
    /// A company was changed (`data`: the `Company`).
    CompanyUpdated = "company.updated",
    /// A company was moved to the trash (`data`: the `Company`, with its `deleted_at`).
    CompanyDeleted = "company.deleted",
    /// A lead was created (`data`: the `Lead`).
    LeadCreated = "lead.created",
    /// A lead was changed (`data`: the `Lead`).
    LeadUpdated = "lead.updated",
    /// A lead was moved to the trash (`data`: the `Lead`, with its `deleted_at`).
    LeadDeleted = "lead.deleted",
    /// A lead moved to another stage (`data`: the `Lead`, in its new stage). Sent along
    /// with `lead.updated`.
    LeadStageChanged = "lead.stage_changed",
    /// A lead's status became `won`: it entered a `won` stage from a stage of another
    /// kind, or was created in one (`data`: the `Lead`).
    LeadWon = "lead.won",
    /// A lead's status became `lost`, as for `lead.won` (`data`: the `Lead`).
    LeadLost = "lead.lost",
    /// A lead was converted into a contact and a company (`data`: the `Lead`, as
    /// `leads_convert` returns it).
    LeadConverted = "lead.converted",
    /// A pipeline was created (`data`: the `Pipeline` with its stages).
    PipelineCreated = "pipeline.created",
    /// A pipeline or one of its stages was changed, added, reordered or removed (`data`:
    /// the `Pipeline` with its stages).
    PipelineUpdated = "pipeline.updated",
    /// A pipeline was deleted (`data`: the `Pipeline` before deletion).
    PipelineDeleted = "pipeline.deleted",
    /// An activity was created (`data`: the `Activity`).
    ActivityCreated = "activity.created",
    /// An activity was changed or completed (`data`: the `Activity`).
    ActivityUpdated = "activity.updated",
    /// An activity was moved to the trash (`data`: the `Activity`, with its
    /// `deleted_at`).
    ActivityDeleted = "activity.deleted",
    // Trash and restore (issue 10).
    /// A contact came back from the trash (`data`: the `Contact`, `deleted_at` `null`).
    ContactRestored = "contact.restored",
    /// A company came back from the trash (`data`: the `Company`, `deleted_at` `null`).
    CompanyRestored = "company.restored",
    /// A lead came back from the trash (`data`: the `Lead`, `deleted_at` `null`).
    LeadRestored = "lead.restored",
    /// An activity came back from the trash (`data`: the `Activity`, `deleted_at`
    /// `null`).
    ActivityRestored = "activity.restored",
    /// A custom field was defined (`data`: the `CustomField`).
    CustomFieldCreated = "custom_field.created",
    /// A custom field definition was changed (`data`: the `CustomField`).
    CustomFieldUpdated = "custom_field.updated",
    /// A custom field was deleted, and its values with it (`data`: the `CustomField`
    /// before deletion). The records that lost a value get no `*.updated` event of their
    /// own: this event stands for them all.
    CustomFieldDeleted = "custom_field.deleted",
    /// Two records were associated (`data`: the `Association`).
    AssociationCreated = "association.created",
    /// An association was deleted, through the API or by a merge that would have made it
    /// a repeat or a self-link (`data`: the `Association` before deletion). Associations
    /// removed because a record was deleted for good emit nothing: that record's own
    /// event reports it.
    AssociationDeleted = "association.deleted",
    /// A duplicate contact was merged into another (`data`: a `ContactMerged`: the
    /// survivor after the merge, the merged id and the duplicate as it was). The
    /// duplicate is deleted without a `contact.deleted`, the survivor changed without a
    /// `contact.updated`, and the leads, activities and associations moved to it change
    /// without events of their own (their `updated_at` moves, so `updated_after` finds
    /// them); associations the merge drops emit `association.deleted`.
    ContactMerged = "contact.merged",
    /// A duplicate company was merged into another (`data`: a `CompanyMerged`), with the
    /// same events as `contact.merged`; its contacts moved too.
    CompanyMerged = "company.merged",
    /// Sent by `POST /v1/webhook-endpoints/{id}/test` to that endpoint only (`data`: a
    /// `WebhookTest`).
    WebhookTest = "webhook.test",
    /// The server disabled an endpoint: it answered `410 Gone`, or failed without a
    /// success for too long (`data`: the `WebhookEndpoint`, with `disabled_reason`).
    WebhookEndpointDisabled = "webhook_endpoint.disabled",
    /// An export's file is ready to download (`data`: the `Export`).
    ExportCompleted = "export.completed",
    /// An export failed and has no file (`data`: the `Export`, with its `error`).
    ExportFailed = "export.failed",
    /// An import read its whole file (`data`: the `Import`, with its counts; rows that
    /// failed are listed by `imports_errors_list`).
    ImportCompleted = "import.completed",
    /// An import stopped before the end of its file (`data`: the `Import`, with its
    /// `error`); the chunks before were applied.
    ImportFailed = "import.failed",
    /// An import was cancelled (`data`: the `Import`); the chunks before were applied.
    ImportCancelled = "import.cancelled",
    }
}

/// What an event carries as its `data`: the resource as the API returns it. Every wire
/// type of the API is one (as is a JSON value already rendered), so the JSON of an event
/// and of the response that reports the same change come from one definition.
pub trait Data {
    fn data(&self) -> Value;
}

impl<T: ToJSON> Data for T {
    fn data(&self) -> Value {
        self.to_json().unwrap_or(Value::Null)
    }
}

/// Records `event` with `data` (the resource as the API returns it) in the caller's
/// transaction, and queues it for every enabled endpoint that takes it. Nothing is sent
/// unless the transaction commits.
pub async fn emit(
    tx: &mut TenantTx,
    event: EventType,
    data: &(impl Data + ?Sized),
) -> Result<Uuid, AppError> {
    repo::emit(tx, event.as_str(), data.data(), None).await
}

/// Records an update `event` as [`emit`] does, with what changed between `before` and
/// `after` (both as the API returns the resource): see [`changes`].
pub async fn emit_update(
    tx: &mut TenantTx,
    event: EventType,
    before: &(impl Data + ?Sized),
    after: &(impl Data + ?Sized),
) -> Result<Uuid, AppError> {
    let after = after.data();
    let changes = changes(&before.data(), &after);
    repo::emit(tx, event.as_str(), after, Some(changes)).await
}

/// Fields that change with every write, so name no change of their own.
const BOOKKEEPING: &[&str] = &["updated_at"];

/// The object holding custom field values, compared key by key.
const CUSTOM_FIELDS: &str = "custom_fields";

/// What changed from `before` to `after`, two renderings of one resource: the top-level
/// fields whose values differ, except [`BOOKKEEPING`], with each custom field value as
/// `custom_fields.<key>` of its own (so a filter can name one); sorted. `previous` holds
/// each of those names with its value in `before` (`null` where it had none). Computed
/// from the API's rendering rather than per resource, so fields added later are covered.
pub fn changes(before: &Value, after: &Value) -> Changes {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut previous = Map::new();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        if BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        let (was, now) = (before.get(key), after.get(key));
        if was == now {
            continue;
        }
        match (key.as_str(), was, now) {
            (CUSTOM_FIELDS, Some(Value::Object(was)), Some(Value::Object(now))) => {
                let names: BTreeSet<&String> = was.keys().chain(now.keys()).collect();
                for name in names {
                    let value = was.get(name);
                    if value != now.get(name) {
                        let prior = value.cloned().unwrap_or(Value::Null);
                        previous.insert(format!("{CUSTOM_FIELDS}.{name}"), prior);
                    }
                }
            }
            _ => {
                previous.insert(key.clone(), was.cloned().unwrap_or(Value::Null));
            }
        }
    }
    Changes {
        changed_fields: previous.keys().cloned().collect(),
        previous: Value::Object(previous),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_name_the_fields_that_differ_with_their_prior_values() {
        let before = json!({"id": 1, "title": "Deal", "stage_id": "a", "owner_id": null,
            "updated_at": "t1", "custom_fields": {"tier": "gold", "seats": 3}});
        let after = json!({"id": 1, "title": "Deal", "stage_id": "b", "owner_id": "u",
            "updated_at": "t2", "custom_fields": {"seats": 3, "region": "EU"}});
        let changed = changes(&before, &after);
        assert_eq!(
            changed.changed_fields,
            [
                "custom_fields.region",
                "custom_fields.tier",
                "owner_id",
                "stage_id"
            ]
        );
        assert_eq!(
            changed.previous,
            json!({"custom_fields.region": null, "custom_fields.tier": "gold",
                "owner_id": null, "stage_id": "a"})
        );
    }

    #[test]
    fn a_rewrite_with_the_same_values_changes_nothing() {
        let before = json!({"name": "Acme", "updated_at": "t1", "custom_fields": {}});
        let after = json!({"name": "Acme", "updated_at": "t2", "custom_fields": {}});
        let changed = changes(&before, &after);
        assert!(changed.changed_fields.is_empty());
        assert_eq!(changed.previous, json!({}));
    }

    #[test]
    fn a_field_that_appears_or_goes_is_a_change() {
        let changed = changes(&json!({"a": 1}), &json!({"b": 2}));
        assert_eq!(changed.changed_fields, ["a", "b"]);
        assert_eq!(changed.previous, json!({"a": 1, "b": null}));
    }
}
