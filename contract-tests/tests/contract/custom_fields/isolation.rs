//! Another tenant never sees, uses or matches this tenant's definitions and values.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::CustomFieldPatch;
use momentum_sdk::types::{self, CustomFieldType};
use serde_json::json;

use crate::{create, Refused, ANY_CODE};

use super::{define, definition, matching, with_fields};

#[tokio::test]
async fn another_tenant_never_sees_uses_or_matches_the_definitions_and_values() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let tier = define(
        a,
        types::CustomFieldCreate {
            unique: Some(true),
            ..definition("contact", "tier", CustomFieldType::Text)
        },
    )
    .await;
    create(a, with_fields("Ann", json!({"tier": "gold"}))).await;
    let (_, b) = app.other_tenant().await;

    assert!(b
        .custom_fields_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());
    b.custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.custom_fields_update()
        .id(tier.id)
        .body(CustomFieldPatch {
            label: Some("pwned".into()),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.custom_fields_delete()
        .id(tier.id)
        .send()
        .await
        .refused(404, ANY_CODE);

    // A's definition does not apply to B's records, nor A's filter key to B's lists.
    let err = b
        .contacts_create()
        .body(with_fields("Bea", json!({"tier": "gold"})))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(err.error.details[0].code, "unknown_field");
    b.contacts_list()
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .send()
        .await
        .refused_as("A's definition is no field of B's", 422, ANY_CODE);

    // B's own `tier` (unique too) neither conflicts with nor matches A's values.
    define(
        &b,
        types::CustomFieldCreate {
            unique: Some(true),
            ..definition("contact", "tier", CustomFieldType::Text)
        },
    )
    .await;
    let bea = create(&b, with_fields("Bea", json!({"tier": "gold"}))).await;
    assert_eq!(matching(&b, &["tier:eq:gold"]).await, vec![bea.id]);
    assert_eq!(matching(a, &["tier:eq:gold"]).await.len(), 1);
    assert!(!matching(a, &["tier:eq:gold"]).await.contains(&bea.id));
    let still = a
        .custom_fields_get()
        .id(tier.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(still, tier);
}
