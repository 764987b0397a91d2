//! The examples hold: every JSON body of the document has one, each validates against its
//! schema (read as strictly as Redocly's `no-invalid-media-type-examples` with
//! `allowAdditionalProperties: false`, by `validate`), and each error example carries the
//! code its status carries.

use serde_json::{json, Value};

use crate::api::responses;
use crate::error::ErrorCode;

fn document() -> Value {
    serde_json::from_str(&crate::api::spec_json()).expect("the document is JSON")
}

/// Every JSON body of the document: (where, its media type object).
fn json_bodies(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let at = format!("{} {path}", method.to_uppercase());
            if let Some(media) = op["requestBody"]["content"].get(super::super::JSON_MEDIA_TYPE) {
                out.push((format!("{at} requestBody"), media));
            }
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if let Some(media) = response["content"].get(super::super::JSON_MEDIA_TYPE) {
                    out.push((format!("{at} {status}"), media));
                }
            }
        }
    }
    out
}

/// The examples of a media type object, their `$ref`s resolved: (name, value).
fn examples_of<'a>(doc: &'a Value, media: &'a Value) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    if let Some(value) = media.get("example") {
        out.push(("example".to_owned(), value));
    }
    for (name, example) in media["examples"].as_object().into_iter().flatten() {
        let example = match example["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix(super::EXAMPLES))
        {
            Some(key) => &doc["components"]["examples"][key],
            None => example,
        };
        out.push((name.clone(), &example["value"]));
    }
    out
}

#[test]
fn every_json_body_has_an_example() {
    let doc = document();
    let bodies = json_bodies(&doc);
    assert!(
        bodies.len() > 900,
        "only {} JSON bodies found",
        bodies.len()
    );
    let missing: Vec<&str> = bodies
        .iter()
        .filter(|(_, media)| examples_of(&doc, media).iter().all(|(_, v)| v.is_null()))
        .map(|(at, _)| at.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{} JSON bodies have no example (give their schema one in `api::examples::resources`):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// Each example of `doc` that does not validate against its media type's schema: where,
/// which example, and why.
fn invalid_examples(doc: &Value) -> Vec<String> {
    let schemas = &doc["components"]["schemas"];
    let mut failures = Vec::new();
    for (at, media) in json_bodies(doc) {
        for (name, value) in examples_of(doc, media) {
            for error in super::validate::errors(&media["schema"], value, schemas) {
                failures.push(format!("{at} example `{name}` at `{error}`"));
            }
        }
    }
    failures
}

#[test]
fn every_example_matches_its_schema() {
    let failures = invalid_examples(&document());
    assert!(
        failures.is_empty(),
        "{} examples break their schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_wrong_example_is_caught() {
    let mut doc = document();
    let contact = &mut doc["components"]["examples"]["ContactEnvelope"]["value"]["data"];
    assert!(contact.is_object(), "the ContactEnvelope example is gone");
    contact["email"] = 42.into();
    contact["nickname"] = "Ada".into();
    let mut error = doc["components"]["examples"]["not_found_contact"]["value"].clone();
    error["error"]["details"] = json!([{ "field": "id" }]);
    doc["components"]["examples"]["not_found_contact"]["value"] = error;
    let failures = invalid_examples(&doc).join("\n");
    for expected in ["/data/email", "/data/nickname", "/error/details/0/code"] {
        assert!(
            failures.contains(expected),
            "a broken example went unnoticed ({expected}):\n{failures}"
        );
    }
}

#[test]
fn each_error_example_carries_the_code_of_its_status() {
    let doc = document();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for (at, media) in json_bodies(&doc) {
        let Some(status) = at
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| *s >= 400)
        else {
            continue;
        };
        for (name, value) in examples_of(&doc, media) {
            seen += 1;
            let code = value["error"]["code"].as_str().unwrap_or_default();
            let carried = ErrorCode::ALL
                .iter()
                .find(|c| c.as_str() == code)
                .map(|c| responses::status(*c));
            if carried != Some(status) {
                wrong.push(format!("{at} example `{name}`: code `{code}`"));
            }
            if value["meta"]["request_id"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                wrong.push(format!("{at} example `{name}`: no request id"));
            }
        }
    }
    assert!(seen > 800, "only {seen} error examples");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_list_example_continues_with_a_cursor_the_server_accepts() {
    let doc = document();
    let list = &doc["components"]["examples"]["ContactList"]["value"];
    let cursor = list["meta"]["next_cursor"]
        .as_str()
        .expect("a list example with more pages has a cursor");
    let (_, id) =
        crate::api::pagination::decode(cursor, crate::app::contacts::ContactSort::CreatedAt, false)
            .expect("the server decodes the example's cursor");
    assert_eq!(
        Some(id.to_string().as_str()),
        list["data"][0]["id"].as_str()
    );
}

#[test]
fn a_precondition_example_names_the_tag_of_the_example_it_guards() {
    use super::super::etag::Versioned;
    let doc = document();
    let contact = &doc["components"]["examples"]["ContactEnvelope"]["value"]["data"];
    let updated_at = contact["updated_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("the contact example has an updated_at");
    let etag = super::Version(updated_at.to_utc()).etag();
    let message = doc["components"]["examples"]["precondition_failed_contact"]["value"]["error"]
        ["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(&etag), "{message} does not name {etag}");
}

/// The request body example named `name`, parsed as the server parses the body.
fn parsed<T: poem_openapi::types::ParseFromJSON>(doc: &Value, name: &str) -> T {
    let value = doc["components"]["examples"][name]["value"].clone();
    assert!(value.is_object(), "no example {name}");
    T::parse_from_json(Some(value)).unwrap_or_else(|err| {
        panic!(
            "the server refuses the {name} example: {}",
            err.into_message()
        )
    })
}

#[test]
fn the_server_takes_every_request_body_example() {
    use crate::api::*;
    let doc = document();
    macro_rules! each {
        ($($module:ident::$ty:ident),* $(,)?) => {{
            let names = vec![$(stringify!($ty)),*];
            $(let _: $module::$ty = parsed(&doc, stringify!($ty));)*
            names
        }};
    }
    let checked = each!(
        activities::ActivityCreate,
        activities::ActivityPatch,
        api_keys::ApiKeyCreate,
        api_keys::ApiKeyRotate,
        api_keys::ApiKeyUpdate,
        associations::AssociationCreate,
        associations::AssociationLabelCreate,
        associations::AssociationLabelPatch,
        batch::CompanyBatch,
        batch::ContactBatch,
        batch_read::CompanyBatchRead,
        batch_read::ContactBatchRead,
        batch_read::LeadBatchRead,
        companies::CompanyCreate,
        companies::CompanyPatch,
        contacts::ContactCreate,
        contacts::ContactPatch,
        custom_fields::CustomFieldCreate,
        custom_fields::CustomFieldPatch,
        exports::ExportCreate,
        leads::LeadCreate,
        leads::LeadPatch,
        merging::MergeRequest,
        pipelines::PipelineCreate,
        pipelines::PipelinePatch,
        pipelines::StageCreate,
        pipelines::StageOrder,
        pipelines::StagePatch,
        sandboxes::SandboxCreate,
        users::UserCreate,
        users::UserPatch,
        webhooks::WebhookEndpointCreate,
        webhooks::WebhookEndpointPatch,
        webhooks::WebhookRecover,
    );
    // Every request body of the document is one of them.
    let bodies: std::collections::BTreeSet<&str> = json_bodies(&doc)
        .into_iter()
        .filter(|(at, _)| at.ends_with("requestBody"))
        .filter_map(|(_, media)| media["schema"]["$ref"].as_str()?.rsplit('/').next())
        .collect();
    let checked: std::collections::BTreeSet<&str> = checked.into_iter().collect();
    assert_eq!(bodies, checked, "request bodies not parsed here");

    // And the field rules of the resources with a domain type hold.
    use crate::domain;
    let contact: contacts::ContactCreate = parsed(&doc, "ContactCreate");
    domain::contact::Contact::parse(contact.into()).expect("a valid contact");
    let company: companies::CompanyCreate = parsed(&doc, "CompanyCreate");
    domain::company::Company::parse(company.into()).expect("a valid company");
    let lead: leads::LeadCreate = parsed(&doc, "LeadCreate");
    domain::lead::Lead::parse(lead.into()).expect("a valid lead");
    let activity: activities::ActivityCreate = parsed(&doc, "ActivityCreate");
    domain::activity::Activity::parse(activity.into()).expect("a valid activity");
}
