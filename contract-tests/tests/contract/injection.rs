//! SQL in request text is data: stored verbatim, matched literally, and never changes what
//! a query selects. (The source-level half of this promise is `db::sql_guard`.)

use momentum_contract_tests::TestApp;
use momentum_sdk::types;

use crate::{create, create_company, person};

const PAYLOADS: [&str; 4] = [
    "Robert'); DROP TABLE contacts;--",
    "' OR '1'='1",
    "x\\' OR true --",
    "$1 $$ ;SELECT set_config('app.tenant_id', '', true)",
];

#[tokio::test]
async fn sql_in_names_filters_and_searches_is_only_ever_text() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let plain = create(c, person("Alice", "alice@injection.example")).await;
    let mut stored = Vec::new();
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let body = types::ContactCreate {
            first_name: Some(payload.parse().unwrap()),
            email: Some(format!("p{i}@injection.example")),
            ..Default::default()
        };
        let contact = create(c, body).await;
        assert_eq!(
            contact.first_name.as_deref(),
            Some(*payload),
            "stored verbatim"
        );
        stored.push(contact);
    }
    let company = create_company(c, PAYLOADS[1]).await;
    assert_eq!(company.name.as_str(), PAYLOADS[1]);

    for (payload, contact) in PAYLOADS.iter().zip(&stored) {
        // A search for the payload finds exactly the contact that carries it.
        let hits = c
            .contacts_list()
            .q(*payload)
            .send()
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<_> = hits.data.iter().map(|h| h.id).collect();
        assert_eq!(ids, [contact.id], "q {payload:?} matched as text");
        // As an exact-match filter it selects nothing: no email is this text.
        let email = format!("alice@injection.example{payload}");
        let none = c
            .contacts_list()
            .email(email)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(none.data.is_empty(), "email filter {payload:?}");
        let none = c
            .companies_list()
            .industry(*payload)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(none.data.is_empty(), "industry filter {payload:?}");
    }

    // The table is still there, with every row, and the tenant still sees only itself.
    let all = c
        .contacts_list()
        .limit(100)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.data.len(), 1 + PAYLOADS.len());
    assert!(all.data.iter().any(|x| x.id == plain.id));
    let (_, other) = app.other_tenant().await;
    for payload in PAYLOADS {
        let seen = other
            .contacts_list()
            .q(payload)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(seen.data.is_empty(), "another tenant's q {payload:?}");
    }
}
