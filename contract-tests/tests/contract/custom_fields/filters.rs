//! Lists filtered on custom fields: equality and ranges, pages, filters that do not fit
//! the definitions, and at most ten filters.

use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, CustomFieldType};
use serde_json::{json, Value};

use crate::{create, fields_of, Refused, ANY_CODE};

use super::{define, definition, matching, opts, with_fields};

#[tokio::test]
async fn lists_filter_on_custom_fields_with_equality_and_ranges_and_pages() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(
        c,
        types::CustomFieldCreate {
            options: opts(&["gold", "silver"]),
            ..definition("contact", "tier", CustomFieldType::Select)
        },
    )
    .await;
    define(
        c,
        types::CustomFieldCreate {
            options: opts(&["api", "crm"]),
            ..definition("contact", "products", CustomFieldType::MultiSelect)
        },
    )
    .await;
    define(c, definition("contact", "seats", CustomFieldType::Number)).await;
    define(c, definition("contact", "since", CustomFieldType::Date)).await;
    define(c, definition("contact", "mail", CustomFieldType::Email)).await;
    define(c, definition("contact", "active", CustomFieldType::Boolean)).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let tier = if i % 2 == 0 { "gold" } else { "silver" };
        let products = if i < 3 {
            json!(["api", "crm"])
        } else {
            json!(["crm"])
        };
        let contact = create(
            c,
            with_fields(
                &format!("P{i}"),
                json!({"tier": tier, "products": products, "seats": i * 10,
                       "since": format!("2026-01-0{}", i + 1), "mail": format!("P{i}@X.example"),
                       "active": i == 5}),
            ),
        )
        .await;
        ids.push(contact.id);
    }
    let pick = |is: &[usize]| is.iter().map(|&i| ids[i]).collect::<Vec<_>>();
    assert_eq!(matching(c, &["tier:eq:gold"]).await, pick(&[0, 2, 4]));
    assert_eq!(matching(c, &["products:eq:api"]).await, pick(&[0, 1, 2]));
    assert_eq!(
        matching(c, &["seats:gte:20", "seats:lt:50"]).await,
        pick(&[2, 3, 4])
    );
    assert_eq!(matching(c, &["seats:eq:30.0"]).await, pick(&[3]));
    assert_eq!(matching(c, &["since:gt:2026-01-04"]).await, pick(&[4, 5]));
    assert_eq!(matching(c, &["mail:eq:p1@x.example"]).await, pick(&[1]));
    assert_eq!(matching(c, &["active:eq:true"]).await, pick(&[5]));
    assert_eq!(
        matching(c, &["tier:eq:gold", "products:eq:api"]).await,
        pick(&[0, 2])
    );

    // The filter combines with keyset pagination.
    let first = c
        .contacts_list()
        .limit(2)
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.data.iter().map(|c| c.id).collect::<Vec<_>>(),
        pick(&[0, 2])
    );
    let second = c
        .contacts_list()
        .limit(2)
        .custom_field(vec!["tier:eq:gold".parse().unwrap()])
        .cursor(first.meta.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.data.iter().map(|c| c.id).collect::<Vec<_>>(),
        pick(&[4])
    );
    assert!(second.meta.next_cursor.is_none());

    // Well formed, but not fit for this tenant's definitions: a 422 naming the parameter.
    for unfit in [
        "nope:eq:1",
        "tier:gt:gold",
        "tier:eq:bronze",
        "seats:eq:many",
    ] {
        let err = c
            .contacts_list()
            .custom_field(vec![unfit.parse().unwrap()])
            .send()
            .await
            .refused_as(unfit, 422, ANY_CODE);
        assert_eq!(fields_of(&err), ["custom_field"], "{unfit}");
    }
    // Malformed: the SDK sends it as given (the server is the validator), and the server
    // answers a 400 naming it.
    for malformed in ["tier", "tier:like:gold", "Tier:eq:gold"] {
        let err = c
            .contacts_list()
            .custom_field(vec![malformed.to_owned()])
            .send()
            .await
            .refused_as(malformed, 400, ANY_CODE);
        assert_eq!(fields_of(&err), ["custom_field"], "{malformed}");
    }
}

/// The ids of every page of `limit` contacts matching `filter` in `sort`, cursor by cursor.
async fn pages(
    c: &momentum_sdk::Client,
    filter: &str,
    sort: &str,
    limit: u32,
) -> Vec<Vec<uuid::Uuid>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut request = c
            .contacts_list()
            .limit(std::num::NonZeroU32::new(limit).unwrap())
            .sort(sort)
            .custom_field(vec![filter.parse().unwrap()]);
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.unwrap().into_inner();
        pages.push(page.data.iter().map(|c| c.id).collect());
        // More pages than contacts: the cursor is not moving on.
        assert!(
            pages.len() <= 50,
            "{filter} {sort} {limit}: pages never end"
        );
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

// A filtered page is first looked for by walking the list's order a bounded distance, and
// only then by gathering every match (server/src/db/custom_fields.rs, `list_page`): the
// pages are the same whichever finds them. Matches far down the order, matches near its
// start, and a filter that matches nothing, in both directions.
#[tokio::test]
async fn filtered_pages_are_the_same_however_far_the_matches_are() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(
        c,
        types::CustomFieldCreate {
            options: opts(&["gold", "silver", "bronze"]),
            ..definition("contact", "tier", CustomFieldType::Select)
        },
    )
    .await;
    // 45 contacts in creation order; gold only at 41 and 43, beyond the rows a page of
    // one walks (16 today; 24 for a page of two). Everything else silver.
    let mut ids = Vec::new();
    for i in 0..45 {
        let tier = if i == 41 || i == 43 { "gold" } else { "silver" };
        let contact = create(c, with_fields(&format!("W{i}"), json!({ "tier": tier }))).await;
        ids.push(contact.id);
    }
    let gold = vec![ids[41], ids[43]];
    let silver: Vec<_> = ids
        .iter()
        .copied()
        .filter(|id| !gold.contains(id))
        .collect();
    for limit in [1, 2, 50] {
        for (filter, want) in [("tier:eq:gold", &gold), ("tier:eq:silver", &silver)] {
            let forward = pages(c, filter, "created_at", limit).await;
            let want_pages: Vec<Vec<_>> = want.chunks(limit as usize).map(<[_]>::to_vec).collect();
            assert_eq!(forward, want_pages, "{filter}, limit {limit}, ascending");
            let backward = pages(c, filter, "-created_at", limit).await;
            let mut reversed = want.clone();
            reversed.reverse();
            let want_pages: Vec<Vec<_>> =
                reversed.chunks(limit as usize).map(<[_]>::to_vec).collect();
            assert_eq!(backward, want_pages, "{filter}, limit {limit}, descending");
        }
        assert_eq!(
            pages(c, "tier:eq:bronze", "created_at", limit).await,
            vec![Vec::<uuid::Uuid>::new()],
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn a_list_takes_at_most_ten_custom_field_filters() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    define(c, definition("contact", "seats", CustomFieldType::Number)).await;
    let held = create(c, with_fields("Held", json!({"seats": 5}))).await;
    // Ten filters that all hold find the contact.
    let ten: Vec<String> = (0..10).map(|n| format!("seats:gte:{n}")).collect();
    let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    assert_eq!(matching(c, &refs[..5]).await, [held.id]);
    assert!(matching(c, &refs).await.is_empty(), "seats >= 9 is false");
    let ten: Vec<String> = (0..10).map(|_| "seats:gte:1".to_owned()).collect();
    let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    assert_eq!(matching(c, &refs).await, [held.id]);
    // An eleventh is refused on every list that filters on custom fields, before any of
    // them is looked at.
    for list in ["contacts", "companies", "leads", "activities"] {
        let query: Vec<String> = (0..11)
            .map(|n| format!("custom_field=seats:gte:{n}"))
            .collect();
        let (http, url) = app.raw(&format!("/v1/{list}?{}", query.join("&")));
        let resp = http
            .get(url)
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{list}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{list}");
        assert_eq!(
            body["error"]["details"][0]["field"], "custom_field",
            "{list}"
        );
        assert_eq!(
            body["error"]["details"][0]["code"], "too_many",
            "{list}: {body}"
        );
    }
}
