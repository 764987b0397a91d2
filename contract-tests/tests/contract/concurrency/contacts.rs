//! A contact's entity tags through the SDK: with every answer, changing with every
//! change, `If-None-Match` answering 304, a stale or malformed `If-Match` refused, and of
//! two updates from one version exactly one winning.

use momentum_contract_tests::TestApp;
use momentum_sdk::conditional::{current_etag, etag, Conditional};
use momentum_sdk::types;
use momentum_sdk::Error;

use crate::{create, create_company, person, RawAnswer, Refused, Sent, ANY_CODE};

use super::{assert_strong, contact_tag, contact_updates, retitle};

#[tokio::test]
async fn a_contact_s_etag_comes_with_create_get_and_update_and_changes_with_each_update() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let created = c
        .contacts_create()
        .body(person("Ada", "ada@example.com"))
        .send()
        .await
        .expect("create");
    let at_create = etag(&created)
        .expect("an ETag on contacts_create")
        .to_owned();
    assert_strong(&at_create);
    let ada = created.into_inner().data;

    let (_, at_get) = contact_tag(c, ada.id).await;
    assert_eq!(at_get, at_create, "unchanged: the same version");

    let updated = c
        .contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .expect("update");
    let at_update = etag(&updated)
        .expect("an ETag on contacts_update")
        .to_owned();
    assert_strong(&at_update);
    assert_ne!(at_update, at_create, "an update is a new version");
    assert_eq!(contact_tag(c, ada.id).await.1, at_update);

    let again = c
        .contacts_update()
        .id(ada.id)
        .body(retitle("Analyst"))
        .send()
        .await
        .expect("update again");
    let third = etag(&again).unwrap().to_owned();
    assert!(
        third != at_update && third != at_create,
        "every update moves it"
    );
}

#[tokio::test]
async fn if_none_match_answers_304_without_a_body_while_the_tag_is_current() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (_, old) = contact_tag(c, ada.id).await;
    c.contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .unwrap();
    let (now, current) = contact_tag(c, ada.id).await;

    let weak = format!("W/{current}");
    let listed = format!("\"nope\", {old} ,{current}");
    for held in [current.as_str(), weak.as_str(), listed.as_str(), "*"] {
        match c.contacts_get().id(ada.id).if_none_match(held).send().await {
            Err(Error::UnexpectedResponse(resp)) if resp.status().as_u16() == 304 => {
                let headers = resp.headers();
                assert_eq!(headers["etag"].to_str().unwrap(), current, "{held}");
                assert!(headers.contains_key("x-request-id"), "{held}");
                assert!(headers.contains_key("ratelimit"), "{held}");
                let body = resp.bytes().await.unwrap();
                assert!(body.is_empty(), "{held}: a 304 has no body");
            }
            other => panic!("{held}: expected 304, got {other:?}"),
        }
    }
    let result = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(&current)
        .send_conditional()
        .await
        .unwrap();
    assert!(matches!(result, Conditional::NotModified));

    let fresh = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(old.as_str())
        .send()
        .await
        .expect("an old tag gets the contact");
    assert_eq!(fresh.status().as_u16(), 200);
    assert_eq!(etag(&fresh), Some(current.as_str()));
    assert_eq!(fresh.into_inner().data, now);
}

#[tokio::test]
async fn a_stale_if_match_is_a_412_naming_the_current_tag_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (_, stale) = contact_tag(c, ada.id).await;
    // Someone else changes it.
    c.contacts_update()
        .id(ada.id)
        .body(retitle("Countess"))
        .send()
        .await
        .unwrap();
    let (before, current) = contact_tag(c, ada.id).await;
    let updates = contact_updates(c).await;
    assert_eq!(updates, 1);

    let result = c
        .contacts_update()
        .id(ada.id)
        .if_match(stale.as_str())
        .body(retitle("Mathematician"))
        .send()
        .await;
    let err = result.unwrap_err();
    assert_eq!(
        current_etag(&err),
        Some(current.as_str()),
        "ETag header of the 412"
    );
    let sent: Sent<types::ContactEnvelope> = Err(err);
    let body = sent.refused(412, "precondition_failed");
    let detail = &body.error.details[0];
    assert_eq!(
        (detail.field.as_str(), detail.code.as_str()),
        ("If-Match", "stale")
    );
    assert!(detail.message.contains(&current), "{}", detail.message);

    let (after, tag) = contact_tag(c, ada.id).await;
    assert_eq!(after, before, "nothing was written");
    assert_eq!(tag, current);
    assert_eq!(
        contact_updates(c).await,
        updates,
        "no contact.updated event"
    );

    // A stale delete leaves it in place too.
    c.contacts_delete()
        .id(ada.id)
        .if_match(stale.as_str())
        .send()
        .await
        .refused(412, "precondition_failed");
    assert_eq!(contact_tag(c, ada.id).await.0, before, "still there");

    // The current tag, alone or in a list, passes; the answer has the next one.
    let updated = c
        .contacts_update()
        .id(ada.id)
        .if_match(format!("{stale}, {current}"))
        .body(retitle("Mathematician"))
        .send()
        .await
        .expect("the current tag passes");
    let next = etag(&updated).unwrap().to_owned();
    assert_ne!(next, current);
    assert_eq!(
        updated.into_inner().data.title.as_deref(),
        Some("Mathematician")
    );
    assert_eq!(contact_updates(c).await, updates + 1);

    // A weak tag never passes If-Match, even naming the current version.
    c.contacts_update()
        .id(ada.id)
        .if_match(format!("W/{next}"))
        .body(retitle("Poet"))
        .send()
        .await
        .refused(412, ANY_CODE);

    // `*` passes for any version.
    let starred = c
        .contacts_update()
        .id(ada.id)
        .if_match("*")
        .body(retitle("Poet"))
        .send()
        .await
        .expect("`*` passes");
    let last = etag(&starred).unwrap().to_owned();
    let deleted = c
        .contacts_delete()
        .id(ada.id)
        .if_match(last)
        .send()
        .await
        .expect("delete with the current tag");
    assert_eq!(deleted.status().as_u16(), 204);
    c.contacts_delete()
        .id(ada.id)
        .if_match("*")
        .send()
        .await
        .refused_as("`*` needs the contact to exist", 404, ANY_CODE);
}

#[tokio::test]
async fn malformed_conditions_are_400s_naming_the_header() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let (before, _) = contact_tag(c, ada.id).await;
    // The SDK's condition types hold the document's pattern, so it refuses these before
    // sending; the server must refuse them too, for clients that send them anyway.
    let url = format!("/v1/contacts/{}", ada.id);
    for bad in ["abc", "\"unterminated", "\"a\" \"b\"", "W/abc"] {
        assert!(c
            .contacts_get()
            .id(ada.id)
            .if_none_match(bad)
            .send()
            .await
            .is_err());
        let (client, to) = app.raw(&url);
        let resp = client
            .patch(to)
            .bearer_auth(&app.api_key)
            .header("If-Match", bad)
            .header("Content-Type", "application/json")
            .body(r#"{"title": "Countess"}"#)
            .send()
            .await
            .expect("send");
        let body = RawAnswer::of(resp)
            .await
            .refused_as(bad, 400, "bad_request");
        assert_eq!(body.error.details[0].field, "If-Match", "{bad}");
        let (client, to) = app.raw(&url);
        let resp = client
            .get(to)
            .bearer_auth(&app.api_key)
            .header("If-None-Match", bad)
            .send()
            .await
            .expect("send");
        let body = RawAnswer::of(resp).await.refused_as(bad, 400, ANY_CODE);
        assert_eq!(body.error.details[0].field, "If-None-Match", "{bad}");
    }
    assert_eq!(contact_tag(c, ada.id).await.0, before);
}

#[tokio::test]
async fn of_two_concurrent_updates_from_one_version_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = create(c, person("Ada", "ada@example.com")).await;
    for round in 0..5 {
        let (_, tag) = contact_tag(c, ada.id).await;
        let first = c
            .contacts_update()
            .id(ada.id)
            .if_match(tag.as_str())
            .body(retitle(&format!("First {round}")))
            .send();
        let second = c
            .contacts_update()
            .id(ada.id)
            .if_match(tag.as_str())
            .body(retitle(&format!("Second {round}")))
            .send();
        let (first, second) = tokio::join!(first, second);
        let statuses = [&first, &second].map(|r| match r {
            Ok(resp) => resp.status().as_u16(),
            Err(err) => err.status().map_or(0, |s| s.as_u16()),
        });
        let mut sorted = statuses;
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 412], "round {round}");
        let winner = if statuses[0] == 200 { first } else { second };
        let title = winner.unwrap().into_inner().data.title;
        assert_eq!(
            contact_tag(c, ada.id).await.0.title,
            title,
            "the winner's write"
        );
    }
}

#[tokio::test]
async fn a_contact_whose_company_goes_to_the_trash_keeps_its_link_and_its_tag() {
    // The link is cleared (and the version moves, see `server/tests/it/versions.rs`)
    // only when the company is purged from the trash, which the API cannot hurry.
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = create_company(c, "Acme").await;
    let ann = create(
        c,
        types::ContactCreate {
            company_id: Some(acme.id),
            ..person("Ann", "ann@acme.example")
        },
    )
    .await;
    let (_, linked) = contact_tag(c, ann.id).await;
    c.companies_delete().id(acme.id).send().await.unwrap();

    let result = c
        .contacts_get()
        .id(ann.id)
        .if_none_match(linked.as_str())
        .send_conditional()
        .await
        .unwrap();
    assert!(
        matches!(result, Conditional::NotModified),
        "nothing changed"
    );
    let updated = c
        .contacts_update()
        .id(ann.id)
        .if_match(linked)
        .body(retitle("Buyer"))
        .send()
        .await
        .expect("a write based on the linked contact is current");
    assert_eq!(updated.into_inner().data.company_id, Some(acme.id));
}
