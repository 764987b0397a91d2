//! Exports through the SDK: a file that is the list it filters (custom fields and the
//! trash included), in NDJSON and CSV, announced by `export.completed`; refused without
//! `exports:read` or the record type's read scope, for filters the record type's list
//! does not take or that name nothing of the tenant, and for another tenant's export.

use std::time::Duration;

use futures::StreamExt;
use momentum_contract_tests::TestApp;
use momentum_sdk::types::{self, CustomFieldType, ExportRecordType, ExportStatus, FileFormat};
use momentum_sdk::Client;
use serde_json::{json, Value};

use crate::{assert_detail, Refused};

/// Queues an export and waits until the worker is done with it, through the SDK's
/// helper, which reports each state it reads.
pub(crate) async fn export(client: &Client, body: types::ExportCreate) -> types::Export {
    let mut seen = Vec::new();
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        client.export_and_wait(body, |e| seen.push((e.status, e.rows))),
    )
    .await
    .expect("the export finishes")
    .expect("queue and follow the export");
    assert_eq!(seen.first(), Some(&(ExportStatus::Queued, 0)), "{seen:?}");
    assert_eq!(seen.last(), Some(&(done.status, done.rows)));
    done
}

/// The export's file, with its `Content-Type` and `Content-Disposition`.
pub(crate) async fn download(client: &Client, id: uuid::Uuid) -> (String, String, Vec<u8>) {
    let resp = client
        .exports_download()
        .id(id)
        .send()
        .await
        .expect("download the export");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let length: usize = header("content-length").parse().expect("a Content-Length");
    let mut stream = resp.into_inner_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("read the file"));
    }
    assert_eq!(body.len(), length, "Content-Length is the file's length");
    (content_type, disposition, body)
}

fn filters(value: Value) -> types::NewExportFilters {
    serde_json::from_value(value).expect("filters the SDK takes")
}

fn create(record_type: ExportRecordType, format: FileFormat, f: Value) -> types::ExportCreate {
    types::ExportCreate {
        record_type,
        format: Some(format),
        filters: Some(filters(f)),
    }
}

/// Contacts with a custom field: golds and silvers, one gold in the trash, one gold
/// whose name needs every kind of CSV quoting.
async fn seed(app: &TestApp) -> Vec<types::Contact> {
    let c = &app.client;
    c.custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "tier",
            CustomFieldType::Text,
        ))
        .send()
        .await
        .expect("define tier");
    let mut made = Vec::new();
    for i in 0..7 {
        let tier = if i % 2 == 0 { "gold" } else { "silver" };
        let mut body = crate::person(&format!("Person {i}"), &format!("p{i}@export.example"));
        body.custom_fields = json!({ "tier": tier }).as_object().cloned().unwrap();
        if i == 2 {
            body.first_name = Some("Ada, \"the\" first".parse().unwrap());
            body.notes = Some("met at the fair,\r\nsaid \"call me\"".parse().unwrap());
        }
        made.push(crate::create(c, body).await);
    }
    c.contacts_delete()
        .id(made[4].id)
        .send()
        .await
        .expect("trash one gold");
    made
}

#[tokio::test]
async fn an_export_holds_exactly_the_records_its_list_shows_in_ndjson_and_csv() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let c = &app.client;
    let wanted = json!({"custom_field": ["tier:eq:gold"], "include_deleted": true});
    let listed = c
        .contacts_list()
        .custom_field(vec!["tier:eq:gold".to_owned()])
        .include_deleted(true)
        .limit(200)
        .send()
        .await
        .expect("list the golds")
        .into_inner()
        .data;
    assert_eq!(listed.len(), 4, "three live golds and the trashed one");

    let done = export(
        c,
        create(
            ExportRecordType::Contact,
            FileFormat::Ndjson,
            wanted.clone(),
        ),
    )
    .await;
    assert_eq!(done.status, ExportStatus::Completed, "{done:?}");
    assert_eq!(done.rows, 4);
    assert!(done.snapshot_at.is_some() && done.expires_at.is_some());
    assert_eq!(done.filters.custom_field, vec!["tier:eq:gold".to_owned()]);
    assert_eq!(done.filters.include_deleted, Some(true));
    assert_eq!(
        done.download_url,
        Some(format!("/v1/exports/{}/download", done.id))
    );
    let (content_type, disposition, body) = download(c, done.id).await;
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(
        disposition,
        format!("attachment; filename=\"export-{}.ndjson\"", done.id)
    );
    assert_eq!(done.size_bytes, Some(body.len() as i64));
    let lines: Vec<types::Contact> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line a Contact"))
        .collect();
    assert_eq!(lines, listed, "the file is the list, in creation order");
    // The SDK reads the same file record by record as it streams in.
    let file = c.exports_download().id(done.id).send().await.unwrap();
    let streamed: Vec<types::Contact> = momentum_sdk::exports::ndjson(file.into_inner())
        .map(|c| c.expect("a Contact per line"))
        .collect()
        .await;
    assert_eq!(streamed, listed);

    let done = export(
        c,
        create(ExportRecordType::Contact, FileFormat::Csv, wanted),
    )
    .await;
    let (content_type, _, body) = download(c, done.id).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header.first().map(String::as_str), Some("id"));
    assert_eq!(
        header.last().map(String::as_str),
        Some("custom_fields.tier")
    );
    assert!(!header.contains(&"custom_fields".to_owned()));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), listed.len());
    for (row, contact) in rows.iter().zip(&listed) {
        assert_eq!(row[col("id")], contact.id.to_string());
        assert_eq!(
            row[col("first_name")],
            contact.first_name.clone().unwrap_or_default(),
            "quoting keeps commas and quotes"
        );
        assert_eq!(
            row[col("notes")],
            contact.notes.clone().unwrap_or_default(),
            "and line breaks"
        );
        assert_eq!(row[col("custom_fields.tier")], *"gold");
        assert_eq!(
            row[col("deleted_at")].is_empty(),
            contact.deleted_at.is_none()
        );
    }
}

#[tokio::test]
async fn a_completed_export_is_announced_with_its_final_state() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let c = &app.client;
    let done = export(
        c,
        create(ExportRecordType::Contact, FileFormat::Ndjson, json!({})),
    )
    .await;
    assert_eq!(done.rows, 6, "the trash is left out unless asked for");
    let events = c
        .events_list()
        .type_(types::EventType::ExportCompleted)
        .send()
        .await
        .expect("list events")
        .into_inner()
        .data;
    let [event] = events.as_slice() else {
        panic!("one export.completed, got {events:?}");
    };
    assert_eq!(event.data["id"], json!(done.id));
    assert_eq!(event.data["status"], "completed");
    assert_eq!(event.data["rows"], 6);
    // Where to follow a queued export is in its answer.
    let queued = c
        .exports_create()
        .body(create(ExportRecordType::Lead, FileFormat::Csv, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status().as_u16(), 202);
    let location = queued
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        location,
        format!("/v1/exports/{}", queued.into_inner().data.id)
    );
}

#[tokio::test]
async fn exports_of_companies_and_leads_apply_their_own_lists_filters() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let acme = crate::create_company(c, "Acme").await;
    crate::create_company(c, "Beta").await;
    let done = export(
        c,
        create(
            ExportRecordType::Company,
            FileFormat::Csv,
            json!({"q": "acm"}),
        ),
    )
    .await;
    assert_eq!(done.rows, 1);
    let (_, _, body) = download(c, done.id).await;
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let ids: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids, vec![acme.id.to_string()]);

    let pipelines = c.pipelines_list().send().await.unwrap().into_inner().data;
    let won = pipelines[0]
        .stages
        .iter()
        .find(|s| s.kind == "won")
        .expect("a won stage")
        .id;
    let lead = |title: &str, stage: Option<uuid::Uuid>| types::LeadCreate {
        stage_id: stage,
        ..crate::lead(title, pipelines[0].id)
    };
    crate::create_lead(c, lead("Open deal", None)).await;
    let closed = crate::create_lead(c, lead("Won deal", Some(won))).await;
    let done = export(
        c,
        create(
            ExportRecordType::Lead,
            FileFormat::Ndjson,
            json!({"status": "won", "pipeline_id": pipelines[0].id}),
        ),
    )
    .await;
    let (_, _, body) = download(c, done.id).await;
    let leads: Vec<types::Lead> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].id, closed.id);
}

#[tokio::test]
async fn filters_are_refused_as_the_lists_would_and_more_strictly_where_kept() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    c.custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "tier",
            CustomFieldType::Text,
        ))
        .send()
        .await
        .unwrap();
    let refused = |f: Value, t: ExportRecordType| {
        c.exports_create()
            .body(create(t, FileFormat::Ndjson, f))
            .send()
    };
    // A filter the record type's list does not take.
    let err = refused(json!({"email": "a@b.example"}), ExportRecordType::Company)
        .await
        .refused(422, "validation_failed");
    assert_detail(&err, "filters.email", "not_applicable");
    // A custom field the tenant does not define, or an op its type does not take.
    let err = refused(
        json!({"custom_field": ["nope:eq:1"]}),
        ExportRecordType::Contact,
    )
    .await
    .refused(422, "validation_failed");
    assert!(err
        .error
        .details
        .iter()
        .any(|d| d.field == "filters.custom_field"));
    let err = refused(
        json!({"custom_field": ["tier:gt:1"]}),
        ExportRecordType::Contact,
    )
    .await
    .refused(422, "validation_failed");
    assert!(err
        .error
        .details
        .iter()
        .any(|d| d.field == "filters.custom_field"));
    // Text a list refuses.
    let err = refused(json!({"q": "a\u{1b}b"}), ExportRecordType::Contact)
        .await
        .refused(422, "validation_failed");
    assert!(err.error.details.iter().any(|d| d.field == "filters.q"));
    // A row the tenant does not have: a list would show nothing; an export says so.
    let err = refused(
        json!({"company_id": uuid::Uuid::now_v7()}),
        ExportRecordType::Contact,
    )
    .await
    .refused(422, "validation_failed");
    assert_detail(&err, "filters.company_id", "not_found");
    let listed = c.exports_list().send().await.unwrap().into_inner().data;
    assert!(listed.is_empty(), "nothing refused was queued: {listed:?}");
}

#[tokio::test]
async fn an_export_needs_exports_read_and_the_record_types_read_scope() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let owner = &app.client;
    let done = export(
        owner,
        create(ExportRecordType::Contact, FileFormat::Ndjson, json!({})),
    )
    .await;

    let (_, reader) = crate::identity::key(&app, &["contacts:read"], None).await;
    let reader = app.client_with_key(&reader);
    reader
        .exports_get()
        .id(done.id)
        .send()
        .await
        .refused(403, "forbidden");
    let (_, exporter) = crate::identity::key(&app, &["exports:read", "companies:read"], None).await;
    let exporter = app.client_with_key(&exporter);
    let err = exporter
        .exports_create()
        .body(create(
            ExportRecordType::Contact,
            FileFormat::Ndjson,
            json!({}),
        ))
        .send()
        .await
        .refused(403, "forbidden");
    assert_detail(&err, "scope", "missing_scope");
    let err = exporter
        .exports_download()
        .id(done.id)
        .send()
        .await
        .map(|_| "a file")
        .refused(403, "forbidden");
    assert_detail(&err, "scope", "missing_scope");
    // It may follow the export (not its contents) and export what it may read.
    assert_eq!(
        exporter
            .exports_get()
            .id(done.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .data
            .id,
        done.id
    );
    let companies = export(
        &exporter,
        create(ExportRecordType::Company, FileFormat::Csv, json!({})),
    )
    .await;
    assert_eq!(companies.status, ExportStatus::Completed);
}

#[tokio::test]
async fn another_tenants_export_is_not_found_and_its_file_never_served() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let done = export(
        &app.client,
        create(ExportRecordType::Contact, FileFormat::Ndjson, json!({})),
    )
    .await;
    let (_, other) = app.other_tenant().await;
    other
        .exports_get()
        .id(done.id)
        .send()
        .await
        .refused(404, "not_found");
    other
        .exports_download()
        .id(done.id)
        .send()
        .await
        .map(|_| "a file")
        .refused(404, "not_found");
    let theirs = other.exports_list().send().await.unwrap().into_inner().data;
    assert!(theirs.is_empty());
}
