//! Associations between records and their labels: labels (`labels`), the capability and
//! its events (`links`), each refusal (`refusals`), and tenant isolation (`isolation`).
//! The helpers they share (also used by merge) are here.

use momentum_sdk::types::{self, Direction, RecordType};
use momentum_sdk::Client;
use uuid::Uuid;

mod isolation;
mod labels;
mod links;
mod refusals;

pub async fn label(
    c: &Client,
    name: &str,
    types: Option<(RecordType, RecordType)>,
) -> types::AssociationLabel {
    c.association_labels_create()
        .body(types::AssociationLabelCreate {
            name: name.parse().unwrap(),
            description: None,
            from_type: types.map(|t| t.0),
            to_type: types.map(|t| t.1),
        })
        .send()
        .await
        .expect("create a label")
        .into_inner()
        .data
}

pub fn link(
    from: (RecordType, Uuid),
    to: (RecordType, Uuid),
    label_id: Option<Uuid>,
) -> types::AssociationCreate {
    types::AssociationCreate {
        from_type: from.0,
        from_id: from.1,
        to_type: to.0,
        to_id: to.1,
        label_id,
    }
}

pub async fn associate(
    c: &Client,
    from: (RecordType, Uuid),
    to: (RecordType, Uuid),
    label_id: Option<Uuid>,
) -> types::Association {
    c.associations_create()
        .body(link(from, to, label_id))
        .send()
        .await
        .expect("create an association")
        .into_inner()
        .data
}

/// A contact's associations as (direction, other type, other id), first page.
pub async fn of_contact(c: &Client, id: Uuid) -> Vec<(Direction, RecordType, Uuid)> {
    c.contacts_associations()
        .id(id)
        .send()
        .await
        .expect("list a contact's associations")
        .into_inner()
        .data
        .into_iter()
        .map(|a| (a.direction, a.other_type, a.other_id))
        .collect()
}
