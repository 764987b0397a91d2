//! `GET /v1/search`: every searchable field, ranking, typo tolerance, the types filter,
//! paging, refusals, scopes and tenant isolation.

use std::collections::HashSet;

use momentum_contract_tests::TestApp;
use momentum_sdk::{types, Client};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{create, sales, Refused, ANY_CODE};

async fn search(client: &Client, q: &str, types: Option<&str>) -> Vec<types::SearchHit> {
    let mut request = client.search().q(q).limit(100u32);
    if let Some(types) = types {
        request = request.types(types);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("search {q:?}: {e:?}"))
        .into_inner()
        .data
}

fn contact(body: Value) -> types::ContactCreate {
    serde_json::from_value(body).unwrap()
}

/// The records the tests look for, one of each type.
struct World {
    ada: types::Contact,
    lock: types::Contact,
    company: types::Company,
    lead: types::Lead,
    activity: types::Activity,
}

async fn world(client: &Client) -> World {
    let ada = create(
        client,
        contact(json!({"first_name": "Ada", "last_name": "Lovelace",
                       "email": "ada@engine.example", "phone": "+44 20 7946 0958"})),
    )
    .await;
    let lock = create(
        client,
        contact(json!({"first_name": "Ada", "last_name": "Lovelock",
                       "email": "lovelock@other.example"})),
    )
    .await;
    let company = client
        .companies_create()
        .body(
            serde_json::from_value::<types::CompanyCreate>(json!({
                "name": "Analytical Engines", "domain": "https://www.analytical-engines.example/about",
                "phone": "+1 415 555 2671"}))
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let pipeline = sales(client).await;
    let lead = client
        .leads_create()
        .body(
            serde_json::from_value::<types::LeadCreate>(json!({
                "title": "Difference Engine renewal", "pipeline_id": pipeline.id,
                "prospect_first_name": "Charles", "prospect_last_name": "Babbage",
                "prospect_email": "charles@babbage.example",
                "prospect_company_name": "Babbage Works"}))
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    let activity = client
        .activities_create()
        .body(
            serde_json::from_value::<types::ActivityCreate>(json!({
                "type": "call", "subject": "Call with Grace Hopper"}))
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    World {
        ada,
        lock,
        company,
        lead,
        activity,
    }
}

fn ids(hits: &[types::SearchHit]) -> Vec<Uuid> {
    hits.iter().map(|h| h.id).collect()
}

#[tokio::test]
async fn every_searchable_field_finds_its_record_first_with_the_record_attached() {
    let app = TestApp::spawn().await;
    let w = world(&app.client).await;
    let cases: [(&str, Uuid, types::RecordType); 12] = [
        ("Ada Lovelace", w.ada.id, types::RecordType::Contact),
        ("lovelace", w.ada.id, types::RecordType::Contact),
        ("ADA@ENGINE.EXAMPLE", w.ada.id, types::RecordType::Contact),
        ("+44 20 7946 0958", w.ada.id, types::RecordType::Contact),
        ("020 7946 0958", w.ada.id, types::RecordType::Contact),
        (
            "Analytical Engines",
            w.company.id,
            types::RecordType::Company,
        ),
        (
            "analytical-engines.example",
            w.company.id,
            types::RecordType::Company,
        ),
        ("(415) 555-2671", w.company.id, types::RecordType::Company),
        ("Difference Engine", w.lead.id, types::RecordType::Lead),
        ("charles@babbage", w.lead.id, types::RecordType::Lead),
        ("babbage works", w.lead.id, types::RecordType::Lead),
        ("grace hopper", w.activity.id, types::RecordType::Activity),
    ];
    for (q, id, kind) in cases {
        let hits = search(&app.client, q, None).await;
        let first = hits.first().unwrap_or_else(|| panic!("{q:?}: no hit"));
        assert_eq!((first.id, first.type_), (id, kind), "{q:?}: {hits:#?}");
        assert!(first.score >= 1.0, "{q:?}: an exact match scores 1 or more");
        let attached = match kind {
            types::RecordType::Contact => first.contact.as_ref().map(|c| c.id),
            types::RecordType::Company => first.company.as_ref().map(|c| c.id),
            types::RecordType::Lead => first.lead.as_ref().map(|l| l.id),
            types::RecordType::Activity => first.activity.as_ref().map(|a| a.id),
        };
        assert_eq!(
            attached,
            Some(id),
            "{q:?}: the record as its GET returns it"
        );
        let records = [
            first.contact.is_some(),
            first.company.is_some(),
            first.lead.is_some(),
            first.activity.is_some(),
        ];
        assert_eq!(
            records.iter().filter(|r| **r).count(),
            1,
            "{q:?}: exactly one record"
        );
    }
    let hit = &search(&app.client, "Ada Lovelace", None).await[0];
    assert_eq!(hit.title, "Ada Lovelace");
    assert_eq!(hit.subtitle.as_deref(), Some("ada@engine.example"));
    assert_eq!(hit.contact.as_ref().unwrap(), &w.ada);
}

#[tokio::test]
async fn an_exact_name_beats_a_similar_one_and_typos_still_find_the_record() {
    let app = TestApp::spawn().await;
    let w = world(&app.client).await;
    let hits = search(&app.client, "ada lovelace", None).await;
    assert_eq!(hits[0].id, w.ada.id);
    assert!(hits[0].score >= 3.0, "a whole field: {}", hits[0].score);
    if let Some(similar) = hits.iter().position(|h| h.id == w.lock.id) {
        assert!(similar > 0 && hits[similar].score < hits[0].score);
    }
    // A letter wrong, and a letter missing: found by trigram similarity, below 1.
    for typo in ["Lovelase", "Lovlace", "Analytcal Engines"] {
        let hits = search(&app.client, typo, None).await;
        let found = hits
            .iter()
            .find(|h| h.id == w.ada.id || h.id == w.company.id)
            .unwrap_or_else(|| panic!("{typo:?}: {hits:#?}"));
        assert!(found.score < 1.0, "{typo:?}: a typo scores below 1");
    }
    // Similar words are a fallback: a query that matches exactly gets no typo hits.
    let exact = ids(&search(&app.client, "lovelace", None).await);
    assert_eq!(exact, [w.ada.id], "Lovelock is only similar");
    let typo = ids(&search(&app.client, "lovelack", None).await);
    assert!(
        typo.contains(&w.ada.id) && typo.contains(&w.lock.id),
        "{typo:?}"
    );
    // Words in any order, each a prefix: full-text.
    let hits = search(&app.client, "renewal differ", None).await;
    assert_eq!(hits[0].id, w.lead.id);
    // Scores never increase down the list.
    let hits = search(&app.client, "ada", None).await;
    assert!(hits.len() >= 2);
    assert!(
        hits.windows(2).all(|p| p[0].score >= p[1].score),
        "{hits:#?}"
    );
    assert!(search(&app.client, "zzzqqqxxx", None).await.is_empty());
}

#[tokio::test]
async fn the_types_filter_limits_the_search_and_deleted_records_never_match() {
    let app = TestApp::spawn().await;
    let w = world(&app.client).await;
    // "engine" is in Ada's email, the company's name and the lead's title.
    let all: HashSet<Uuid> = ids(&search(&app.client, "engine", None).await)
        .into_iter()
        .collect();
    assert!(
        [w.ada.id, w.company.id, w.lead.id]
            .iter()
            .all(|id| all.contains(id)),
        "{all:?}"
    );
    let only = search(&app.client, "engine", Some("company")).await;
    assert_eq!(ids(&only), [w.company.id]);
    let two = search(&app.client, "engine", Some("lead,contact,lead")).await;
    let two: HashSet<Uuid> = ids(&two).into_iter().collect();
    assert_eq!(two, HashSet::from([w.ada.id, w.lead.id]));

    app.client
        .contacts_delete()
        .id(w.ada.id)
        .send()
        .await
        .unwrap();
    assert!(!ids(&search(&app.client, "ada lovelace", None).await).contains(&w.ada.id));
}

#[tokio::test]
async fn pages_follow_the_ranking_without_duplicates_or_gaps() {
    let app = TestApp::spawn().await;
    for n in 0..23 {
        // Varying lengths give varying scores; equal ones tie on type and id.
        let last = format!("Pager{}", "x".repeat(n % 5));
        create(
            &app.client,
            contact(json!({"first_name": "Page", "last_name": last,
                           "email": format!("page{n}@paging.example")})),
        )
        .await;
    }
    let whole = app
        .client
        .search()
        .q("pager")
        .limit(100u32)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(whole.data.len(), 23);
    assert!(!whole.meta.has_more && whole.meta.next_cursor.is_none());

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app.client.search().q("pager").limit(5u32);
        if let Some(c) = &cursor {
            request = request.cursor(c.clone());
        }
        let page = request.send().await.unwrap().into_inner();
        assert!(page.data.len() <= 5);
        paged.extend(page.data.into_iter().map(|h| h.id));
        match page.meta.next_cursor {
            Some(next) => {
                assert!(page.meta.has_more);
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(
        paged,
        ids(&whole.data),
        "pages concatenate to the whole ranking"
    );

    // A cursor is bound to its query and types.
    let first = app
        .client
        .search()
        .q("pager")
        .limit(5u32)
        .send()
        .await
        .unwrap()
        .into_inner();
    let cursor = first.meta.next_cursor.unwrap();
    for (q, types) in [("pagers", None), ("pager", Some("contact"))] {
        let mut request = app.client.search().q(q).cursor(cursor.clone());
        if let Some(t) = types {
            request = request.types(t);
        }
        let err = request
            .send()
            .await
            .refused_as(format_args!("{q} {types:?}"), 400, ANY_CODE);
        assert_eq!(err.error.details[0].field, "cursor");
    }
}

#[tokio::test]
async fn malformed_searches_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (http, base) = app.raw("/v1/search");
    let long = "x".repeat(201);
    let cases = [
        ("", "q"),
        ("?q=", "q"),
        ("?q=%20%20%20", "q"),
        ("?q=a%07b", "q"),
        (&*format!("?q={long}"), "q"),
        ("?q=ada&types=people", "types"),
        ("?q=ada&types=contact,", "types"),
        ("?q=ada&types=", "types"),
        ("?q=ada&limit=0", "limit"),
        ("?q=ada&limit=101", "limit"),
        ("?q=ada&cursor=not-a-cursor", "cursor"),
    ];
    for (query, field) in cases {
        let resp = http
            .get(format!("{base}{query}"))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
        assert_eq!(
            body["error"]["details"][0]["field"], field,
            "{query}: {body}"
        );
    }
    // 200 characters (spaces included) is the most.
    let padded = format!("%20{}%20", "y".repeat(198));
    let resp = http
        .get(format!("{base}?q={padded}"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http.get(format!("{base}?q=ada")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

async fn key_with(app: &TestApp, scopes: &[&str]) -> Client {
    let created = app
        .client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "search key".parse().unwrap(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: None,
            service: None,
            user_id: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    app.client_with_key(&created.secret)
}

#[tokio::test]
async fn a_credential_searches_only_the_types_it_may_read() {
    let app = TestApp::spawn().await;
    let w = world(&app.client).await;
    let contacts_only = key_with(&app, &["contacts:read"]).await;
    let hits = search(&contacts_only, "engine", None).await;
    assert_eq!(ids(&hits), [w.ada.id], "companies and leads are left out");
    let err = contacts_only
        .search()
        .q("engine")
        .types("contact,company")
        .send()
        .await
        .refused(403, "forbidden");
    assert!(err.error.message.contains("companies:read"), "{err:?}");

    let users_only = key_with(&app, &["users:read"]).await;
    let err = users_only
        .search()
        .q("engine")
        .send()
        .await
        .refused(403, ANY_CODE);
    assert!(err.error.message.contains("contacts:read"), "{err:?}");
}

#[tokio::test]
async fn another_tenant_never_matches_these_records() {
    let app = TestApp::spawn().await;
    let w = world(&app.client).await;
    let (_, b) = app.other_tenant().await;
    for q in [
        "ada@engine.example",
        "Ada Lovelace",
        "+44 20 7946 0958",
        "analytical-engines.example",
        "Difference Engine",
        "grace hopper",
        "lovelase",
    ] {
        assert!(search(&b, q, None).await.is_empty(), "{q}");
    }
    let mine = create(
        &b,
        contact(json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@b.example"})),
    )
    .await;
    assert_eq!(ids(&search(&b, "ada lovelace", None).await), [mine.id]);
    assert!(!ids(&search(&app.client, "ada lovelace", None).await).contains(&mine.id));
    assert!(ids(&search(&app.client, "ada lovelace", None).await).contains(&w.ada.id));
}
