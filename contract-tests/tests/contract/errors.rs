//! Every error class, each decoded as the SDK's error envelope, each carrying the request
//! id. Inputs the SDK refuses to send (bad JSON, wrong content type, huge bodies, unknown
//! routes) go over raw HTTP and are decoded with the SDK's own type.

use momentum_contract_tests::{TestApp, TEST_MAX_BODY_BYTES};
use momentum_sdk::types::{self, ErrorEnvelope};
use uuid::Uuid;

use crate::{
    company, create_company, create_lead, lead, person, sales, RawAnswer, Refused, ANY_CODE,
};

/// Sends a raw request and decodes the error envelope with the SDK's type, checking it
/// carries the request id of the `X-Request-Id` header.
async fn raw_error(request: reqwest::RequestBuilder) -> RawAnswer {
    let resp = request.send().await.expect("send");
    let header_id = resp
        .headers()
        .get("x-request-id")
        .cloned()
        .expect("X-Request-Id on an error");
    let answer = RawAnswer::of(resp).await;
    assert_eq!(header_id.to_str().unwrap(), answer.body.meta.request_id);
    answer
}

#[tokio::test]
async fn validation_failures_are_422_with_one_detail_per_bad_field() {
    let app = TestApp::spawn().await;
    let body = types::ContactCreate {
        email: Some("not-an-email".into()),
        phone: Some("12345".parse().unwrap()),
        custom_fields: serde_json::json!({" ": 1}).as_object().cloned().unwrap(),
        ..Default::default()
    };
    let err = app
        .client
        .contacts_create()
        .body(body)
        .send()
        .await
        .refused(422, "validation_failed");
    let mut fields: Vec<_> = err.error.details.iter().map(|d| d.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["custom_fields. ", "email", "phone"]);
    assert!(err
        .error
        .details
        .iter()
        .all(|d| !d.code.is_empty() && !d.message.is_empty()));

    // Over-long strings are what the SDK itself refuses, so they go raw; every field is
    // reported, not just the first.
    let (client, url) = app.raw("/v1/contacts");
    let err = raw_error(
        client
            .post(url)
            .bearer_auth(&app.api_key)
            .json(&serde_json::json!({"first_name": "x".repeat(101), "title": "y".repeat(201)})),
    )
    .await
    .refused(422, ANY_CODE);
    let fields: Vec<_> = err.error.details.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["first_name", "title"]);
    assert!(err.error.details.iter().all(|d| d.code == "too_long"));
}

#[tokio::test]
async fn missing_and_invalid_credentials_are_401() {
    let app = TestApp::spawn().await;
    app.client_with_key("mk_nope")
        .contacts_list()
        .send()
        .await
        .refused(401, "unauthorized");

    // A well-formed key whose secret is wrong is refused like an unknown one.
    let mut forged = app.api_key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    app.client_with_key(&forged)
        .contacts_list()
        .send()
        .await
        .refused(401, ANY_CODE);

    let (client, url) = app.raw("/v1/contacts");
    raw_error(client.get(url))
        .await
        .refused(401, "unauthorized");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let err = app
        .client
        .contacts_list()
        .cursor("garbage")
        .send()
        .await
        .refused(400, "bad_request");
    assert_eq!(err.error.details[0].field, "cursor");

    // What the SDK cannot send: the path and query, the code (if checked) and the
    // parameter the first detail names (if checked).
    for (path, code, named) in [
        ("/v1/contacts?limit=500", Some("bad_request"), Some("limit")),
        ("/v1/contacts/not-a-uuid", ANY_CODE, Some("id")),
        ("/v1/contacts?sort=name", ANY_CODE, None),
        // A NUL byte cannot reach PostgreSQL (which would refuse it with a 500).
        ("/v1/contacts?q=a%00b", ANY_CODE, Some("q")),
    ] {
        let (client, url) = app.raw(path);
        let err = raw_error(client.get(url).bearer_auth(&app.api_key))
            .await
            .refused_as(path, 400, code);
        if let Some(named) = named {
            assert_eq!(err.error.details[0].field, named, "{path}");
        }
    }
}

#[tokio::test]
async fn nul_characters_in_custom_fields_are_a_validation_failure_not_a_crash() {
    let app = TestApp::spawn().await;
    let mut body = person("Nul", "nul@example.com");
    body.custom_fields = serde_json::json!({"note": "a\u{0}b"})
        .as_object()
        .cloned()
        .unwrap();
    let err = app
        .client
        .contacts_create()
        .body(body)
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(err.error.details[0].field, "custom_fields");
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    app.client
        .contacts_get()
        .id(Uuid::now_v7())
        .send()
        .await
        .refused(404, "not_found");
}

#[tokio::test]
async fn malformed_json_wrong_types_and_unknown_fields_are_400() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/v1/contacts");
    for body in [
        "{\"first_name\": ",
        "{\"first_name\": 42}",
        "{\"first_name\": \"A\", \"surname\": \"B\"}",
        "[]",
    ] {
        raw_error(
            client
                .post(&url)
                .bearer_auth(&app.api_key)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
        .refused_as(body, 400, "bad_request");
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/v1/contacts");
    raw_error(
        client
            .post(url)
            .bearer_auth(&app.api_key)
            .header("content-type", "text/plain")
            .body("first_name=Ann"),
    )
    .await
    .refused(415, "unsupported_media_type");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_whether_declared_or_chunked() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/v1/contacts");
    let huge = format!("{{\"notes\": \"{}\"}}", "x".repeat(TEST_MAX_BODY_BYTES));
    raw_error(
        client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("content-type", "application/json")
            .body(huge.clone()),
    )
    .await
    .refused(413, "payload_too_large");

    // Without Content-Length (chunked), the limit holds while reading.
    let stream = futures_stream(huge.into_bytes());
    raw_error(
        client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream)),
    )
    .await
    .refused(413, ANY_CODE);
}

fn futures_stream(bytes: Vec<u8>) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<_> = bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    futures::stream::iter(chunks)
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/v1/nothing-here");
    raw_error(client.get(url)).await.refused(404, "not_found");

    let (client, url) = app.raw("/v1/contacts");
    raw_error(client.put(url).bearer_auth(&app.api_key))
        .await
        .refused(405, "method_not_allowed");
}

/// The methods of a 405's `Allow` header, in a set: RFC 9110 fixes no order.
async fn allowed(request: reqwest::RequestBuilder) -> (Vec<String>, RawAnswer) {
    let resp = request.send().await.expect("send");
    let allow = resp
        .headers()
        .get(reqwest::header::ALLOW)
        .map(|v| v.to_str().expect("Allow is ASCII").to_owned())
        .unwrap_or_default();
    let mut methods: Vec<String> = allow
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    methods.sort();
    (methods, RawAnswer::of(resp).await)
}

#[tokio::test]
async fn a_405_names_the_methods_the_path_takes_in_allow() {
    // RFC 9110 §15.5.6: a 405 must carry `Allow`. HEAD is listed wherever GET is, and
    // OPTIONS everywhere, since the server answers them.
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/v1/contacts");
    let (methods, answer) = allowed(client.delete(url).bearer_auth(&app.api_key)).await;
    answer.refused(405, "method_not_allowed");
    assert_eq!(methods, ["GET", "HEAD", "OPTIONS", "POST"]);

    // A path with an id: the methods of that route, not of the collection.
    let (client, url) = app.raw(&format!("/v1/contacts/{}", Uuid::now_v7()));
    let (methods, answer) = allowed(client.post(url).bearer_auth(&app.api_key)).await;
    answer.refused(405, ANY_CODE);
    assert_eq!(methods, ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH"]);

    // An action path takes POST alone: no GET, so no HEAD either.
    let (client, url) = app.raw(&format!("/v1/users/{}/deactivate", Uuid::now_v7()));
    let (methods, answer) = allowed(client.get(url).bearer_auth(&app.api_key)).await;
    answer.refused(405, ANY_CODE);
    assert_eq!(methods, ["OPTIONS", "POST"]);
}

#[tokio::test]
async fn a_filter_value_no_record_can_hold_matches_nothing_rather_than_a_400() {
    // The document takes any text for these filters (a domain or an ISO 4217 code is no
    // schema pattern), so a value that is neither is a valid request: it finds no record,
    // like an unknown id in a filter would.
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = c
        .companies_create()
        .body(types::CompanyCreate {
            domain: Some("acme.example".parse().unwrap()),
            ..company("Acme")
        })
        .send()
        .await
        .expect("create a company")
        .into_inner()
        .data;
    create_company(c, "Globex").await;
    let found = c.companies_list().domain("acme.example").send().await;
    assert_eq!(found.unwrap().into_inner().data[0].id, acme.id);
    for not_a_domain in ["not a domain", "..", "a b@c", "ünïcödé?"] {
        let listed = c
            .companies_list()
            .domain(not_a_domain)
            .send()
            .await
            .unwrap_or_else(|e| panic!("domain={not_a_domain:?}: {e}"));
        assert_eq!(listed.status().as_u16(), 200);
        let page = listed.into_inner();
        assert!(page.data.is_empty(), "domain={not_a_domain:?}");
        assert!(!page.meta.has_more, "domain={not_a_domain:?}");
    }

    let pipeline = sales(c).await;
    create_lead(
        c,
        types::LeadCreate {
            currency: Some("EUR".parse().unwrap()),
            value: Some("100".into()),
            ..lead("Acme renewal", pipeline.id)
        },
    )
    .await;
    let found = c.leads_list().currency("eur").send().await;
    assert_eq!(found.unwrap().into_inner().data.len(), 1);
    for not_a_currency in ["ZZZ", "12", "e u", "€"] {
        let listed = c
            .leads_list()
            .currency(not_a_currency)
            .send()
            .await
            .unwrap_or_else(|e| panic!("currency={not_a_currency:?}: {e}"));
        assert_eq!(listed.status().as_u16(), 200);
        assert!(
            listed.into_inner().data.is_empty(),
            "currency={not_a_currency:?}"
        );
    }
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_generated_otherwise() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/healthz");
    let echoed = client
        .get(&url)
        .header("x-request-id", "trace-42.a:b@c")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a:b@c");
    let body: types::HealthEnvelope = echoed.json().await.unwrap();
    assert_eq!(body.meta.request_id, "trace-42.a:b@c");

    let replaced = client
        .get(&url)
        .header("x-request-id", "<script>")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "<script>");
    assert!(
        Uuid::parse_str(&id).is_ok(),
        "generated ids are UUIDs: {id}"
    );
}

#[test]
fn an_error_code_added_by_a_newer_server_still_decodes() {
    let body = serde_json::json!({
        "error": {"code": "quota_exhausted", "message": "new", "details": []},
        "meta": {"request_id": "r1"}
    });
    let decoded: ErrorEnvelope = serde_json::from_value(body).expect("unknown codes decode");
    assert_eq!(decoded.error.code, "quota_exhausted");
    assert_eq!(
        decoded.code(),
        momentum_sdk::ErrorCode::Unknown("quota_exhausted".into())
    );
}

#[test]
fn a_field_added_by_a_newer_server_still_decodes() {
    let body = serde_json::json!({
        "data": {
            "id": Uuid::now_v7(), "first_name": "Ann", "last_name": null, "email": null,
            "phone": null, "title": null, "notes": null, "tags": [], "custom_fields": {},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "lifecycle_stage": "customer"
        },
        "meta": {"request_id": "r1", "region": "eu"}
    });
    let decoded: types::ContactEnvelope =
        serde_json::from_value(body).expect("added fields are ignored");
    assert_eq!(decoded.data.first_name.as_deref(), Some("Ann"));
}

#[tokio::test]
async fn a_conflict_is_decoded_by_the_sdk() {
    let app = TestApp::spawn().await;
    app.client
        .contacts_create()
        .body(person("A", "x@example.com"))
        .send()
        .await
        .unwrap();
    app.client
        .contacts_create()
        .body(person("B", "x@example.com"))
        .send()
        .await
        .refused(409, "conflict");
}
