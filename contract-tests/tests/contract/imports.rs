//! Imports through the SDK: a CSV or NDJSON file applied with the batch upsert's rules
//! (created, updated, unchanged, failed rows listed by line), an export that imports
//! back unchanged, leads by id, the upload's refusals (413, 415, 422, 403, 409), the
//! cancel, another tenant's import, an idempotent upload, the SDK's progress, and a
//! worker that dies mid-file and is resumed by another instance without a row applied
//! twice.

use std::collections::BTreeSet;
use std::time::Duration;

use momentum_contract_tests::{TestApp, TEST_IMPORT_CHUNK_ROWS, TEST_MAX_IMPORT_BYTES};
use momentum_sdk::imports::{ImportFile, ImportProgress, ImportSpec};
use momentum_sdk::types::{
    self, CustomFieldType, EventType, ExportRecordType, FileFormat, ImportMatchKey,
    ImportRecordType, ImportStatus,
};
use momentum_sdk::Client;
use serde_json::json;

use crate::{assert_detail, person, RawAnswer, Refused};

/// Uploads `file` and waits for the import, through the SDK's helper; checks the
/// progress it reported went forward only and ended where the import did.
async fn import(client: &Client, file: impl Into<Vec<u8>>, spec: ImportSpec) -> types::Import {
    let file: Vec<u8> = file.into();
    let total = file.len() as u64;
    let mut uploads = Vec::new();
    let mut applied = Vec::new();
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        client.import_file_and_wait(ImportFile::bytes(file), spec, |p| match p {
            ImportProgress::Uploading { sent, total } => uploads.push((sent, total)),
            ImportProgress::Processing(i) => applied.push(i.progress.bytes_read),
        }),
    )
    .await
    .expect("the import finishes")
    .expect("upload and follow the import");
    assert_eq!(uploads.last(), Some(&(total, total)), "{uploads:?}");
    assert!(uploads.windows(2).all(|w| w[0].0 <= w[1].0), "{uploads:?}");
    assert!(applied.windows(2).all(|w| w[0] <= w[1]), "{applied:?}");
    assert_eq!(applied.last(), Some(&done.progress.bytes_read));
    done
}

fn counts(i: &types::Import) -> (i64, i64, i64, i64, i64) {
    let p = &i.progress;
    (p.rows_read, p.created, p.updated, p.unchanged, p.failed)
}

async fn contacts(c: &Client) -> Vec<types::Contact> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let mut request = c
            .contacts_list()
            .limit(std::num::NonZeroU32::new(200).unwrap());
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request.send().await.expect("list contacts").into_inner();
        all.extend(page.data);
        match page.meta.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

fn company(body: serde_json::Value) -> types::CompanyCreate {
    serde_json::from_value(body).expect("a company body")
}

fn csv_spec() -> ImportSpec {
    ImportSpec::new(ImportRecordType::Contact, FileFormat::Csv)
}

#[tokio::test]
async fn a_csv_import_creates_updates_and_leaves_unchanged_and_lists_its_failed_rows() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    c.custom_fields_create()
        .body(crate::custom_fields::definition(
            "contact",
            "plan",
            CustomFieldType::Text,
        ))
        .send()
        .await
        .expect("define plan");
    let ada = c
        .contacts_create()
        .body(person("Ada", "ada@example.com"))
        .send()
        .await
        .expect("create Ada")
        .into_inner()
        .data;
    c.contacts_create()
        .body(person("Bob", "bob@example.com"))
        .send()
        .await
        .expect("create Bob");

    // Three chunks' worth of new people, Ada changed, Bob as he is, and rows that fail:
    // a bad email, a row short of a cell, and a quoted newline that moves every line
    // number after it.
    let mut file = String::from("E-mail,First name,Plan,\"Notes: internal\"\n");
    for i in 0..60 {
        file.push_str(&format!("new{i}@example.com,New {i},gold,\"x, y\"\n"));
    }
    file.push_str("ADA@example.com,Ada,platinum,\n");
    file.push_str("bob@example.com,Bob,,\n");
    file.push_str("not-an-email,Bad,gold,\n");
    file.push_str("short@example.com,Short\n");
    file.push_str("quoted@example.com,Quoted,,\"two\nlines\"\n");
    file.push_str("last@example.com,Last,,\n");
    file.push_str("also-not-an-email,After,,\n");
    let spec = csv_spec()
        .column("E-mail", "email")
        .column("First name", "first_name")
        .column("Plan", "custom_fields.plan")
        .column("Notes: internal", "");
    let done = import(c, file, spec).await;

    assert_eq!(done.status, ImportStatus::Completed);
    assert_eq!(counts(&done), (67, 62, 1, 1, 3), "{done:?}");
    assert_eq!(done.progress.bytes_read, done.progress.size_bytes);
    let columns: Vec<(&str, Option<&str>)> = done
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.field.as_deref()))
        .collect();
    assert_eq!(
        columns,
        [
            ("E-mail", Some("email")),
            ("First name", Some("first_name")),
            ("Plan", Some("custom_fields.plan")),
            ("Notes: internal", None),
        ]
    );

    let errors = c
        .import_errors(done.id)
        .await
        .expect("list the failed rows");
    let listed: Vec<(i64, Option<&str>, Option<&str>, &str)> = errors
        .iter()
        .map(|e| {
            (
                e.line,
                e.column.as_deref(),
                e.field.as_deref(),
                e.code.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (64, Some("E-mail"), Some("email"), "invalid_email"),
            (65, None, None, "wrong_field_count"),
            (69, Some("E-mail"), Some("email"), "invalid_email"),
        ]
    );
    assert!(
        errors.iter().all(|e| !e.message.contains("not-an-email")),
        "no value from the file: {errors:?}"
    );

    let all = contacts(c).await;
    assert_eq!(all.len(), 2 + 62);
    let ada_now = all.iter().find(|x| x.id == ada.id).expect("Ada is kept");
    assert_eq!(ada_now.custom_fields["plan"], json!("platinum"));
    let quoted = all
        .iter()
        .find(|x| x.email.as_deref() == Some("quoted@example.com"))
        .expect("the quoted row");
    assert_eq!(quoted.first_name.as_deref(), Some("Quoted"));
    let emails: BTreeSet<_> = all.iter().filter_map(|x| x.email.clone()).collect();
    assert_eq!(emails.len(), all.len(), "each email once");

    let created = crate::events::events(c, Some(EventType::ContactCreated)).await;
    assert_eq!(created.len(), 2 + 62, "one contact.created per created row");
    let updated = crate::events::events(c, Some(EventType::ContactUpdated)).await;
    assert_eq!(updated.len(), 1, "Ada's change; Bob's row changed nothing");
    let completed = crate::events::events(c, Some(EventType::ImportCompleted)).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data["id"], json!(done.id));
    assert_eq!(completed[0].data["progress"]["created"], json!(62));
}

#[tokio::test]
async fn an_export_imports_back_unchanged_as_csv_and_as_ndjson() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let company = c
        .companies_create()
        .body(company(json!({
            "name": "Acme", "domain": "acme.example", "tags": ["key, account", "b2b"],
            "employee_count": 120
        })))
        .send()
        .await
        .expect("create Acme")
        .into_inner()
        .data;
    for i in 0..30 {
        c.contacts_create()
            .body(types::ContactCreate {
                company_id: Some(company.id),
                tags: vec![format!("t{i}")],
                ..person(&format!("P{i}"), &format!("p{i}@example.com"))
            })
            .send()
            .await
            .expect("create a contact");
    }
    for (record_type, import_type) in [
        (ExportRecordType::Contact, ImportRecordType::Contact),
        (ExportRecordType::Company, ImportRecordType::Company),
    ] {
        for format in [FileFormat::Csv, FileFormat::Ndjson] {
            let export = crate::exports::export(
                c,
                types::ExportCreate {
                    record_type,
                    format: Some(format),
                    filters: None,
                },
            )
            .await;
            let (_, _, file) = crate::exports::download(c, export.id).await;
            let done = import(c, file, ImportSpec::new(import_type, format)).await;
            let rows = export.rows;
            assert_eq!(
                counts(&done),
                (rows, 0, 0, rows, 0),
                "{record_type:?} {format:?}: every row matches a record it would not change"
            );
        }
    }
    let updated = crate::events::events(c, Some(EventType::ContactUpdated)).await;
    assert!(updated.is_empty(), "nothing was written: {updated:?}");

    // Matching by id instead, an export's file also imports back as it is.
    let export = crate::exports::export(
        c,
        types::ExportCreate {
            record_type: ExportRecordType::Contact,
            format: Some(FileFormat::Csv),
            filters: None,
        },
    )
    .await;
    let (_, _, file) = crate::exports::download(c, export.id).await;
    let done = import(c, file, csv_spec().match_key(ImportMatchKey::Id)).await;
    assert_eq!(counts(&done), (30, 0, 0, 30, 0));
}

#[tokio::test]
async fn leads_import_by_id_with_their_own_rules_and_companies_by_domain() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    // Every tenant starts with its Sales pipeline.
    let pipeline = c
        .pipelines_list()
        .send()
        .await
        .expect("list pipelines")
        .into_inner()
        .data
        .remove(0);
    let open = pipeline.stages[0].id;
    let lost = pipeline
        .stages
        .iter()
        .find(|s| s.kind.as_str() == "lost")
        .expect("a lost stage")
        .id;
    let lead = c
        .leads_create()
        .body(
            serde_json::from_value::<types::LeadCreate>(
                json!({"title": "Old title", "stage_id": open}),
            )
            .expect("a lead body"),
        )
        .send()
        .await
        .expect("create a lead")
        .into_inner()
        .data;
    let file = format!(
        "{{\"id\":\"{}\",\"title\":\"New title\",\"stage_id\":\"{open}\"}}\n\
         {{\"title\":\"Fresh\",\"stage_id\":\"{open}\",\"value\":\"1200.50\",\"currency\":\"EUR\"}}\n\
         {{\"title\":\"Lost without a reason\",\"stage_id\":\"{lost}\"}}\n\
         {{\"id\":\"{}\",\"title\":\"Nobody\"}}\n\
         {{\"title\":\"x\",\"nickname\":\"y\"}}\n",
        lead.id,
        uuid::Uuid::now_v7()
    );
    let done = import(
        c,
        file,
        ImportSpec::new(ImportRecordType::Lead, FileFormat::Ndjson),
    )
    .await;
    assert_eq!(done.match_key, ImportMatchKey::Id);
    assert_eq!(counts(&done), (5, 1, 1, 0, 3), "{done:?}");
    let errors = c.import_errors(done.id).await.expect("the failed rows");
    let listed: Vec<(i64, Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.line, e.field.as_deref(), e.code.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (3, Some("lost_reason"), "required"),
            (4, Some("id"), "not_found"),
            (5, Some("nickname"), "unknown_field"),
        ],
        "{errors:?}"
    );
    let renamed = c
        .leads_get()
        .id(lead.id)
        .send()
        .await
        .expect("the lead")
        .into_inner()
        .data;
    assert_eq!(renamed.title, "New title");

    // Companies by domain, normalised as a create normalises it.
    c.companies_create()
        .body(company(json!({"name": "Acme", "domain": "acme.example"})))
        .send()
        .await
        .expect("create Acme");
    let file = "name,domain,employee_count,tags\n\
                Acme Inc,https://WWW.Acme.example/about,250,b2b;key\n\
                Globex,globex.example,many,\n";
    let done = import(
        c,
        file,
        ImportSpec::new(ImportRecordType::Company, FileFormat::Csv),
    )
    .await;
    assert_eq!(counts(&done), (2, 0, 1, 0, 1), "{done:?}");
    let errors = c.import_errors(done.id).await.expect("the failed rows");
    assert_eq!(errors[0].field.as_deref(), Some("employee_count"));
    assert_eq!(errors[0].column.as_deref(), Some("employee_count"));
    let acme = c
        .companies_list()
        .domain("acme.example")
        .send()
        .await
        .expect("find Acme")
        .into_inner()
        .data;
    assert_eq!(acme[0].name, "Acme Inc");
    assert_eq!(acme[0].employee_count, Some(250));
    assert_eq!(acme[0].tags, ["b2b", "key"]);
}

/// `POST /v1/imports` by hand, for what the SDK will not send.
async fn upload(
    app: &TestApp,
    query: &str,
    content_type: Option<&str>,
    body: reqwest::Body,
) -> reqwest::Response {
    let (http, url) = app.raw(&format!("/v1/imports?{query}"));
    let mut request = http.post(url).bearer_auth(&app.api_key).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("send the upload")
}

/// The files the app's store holds under `imports/`.
fn stored_uploads(app: &TestApp) -> usize {
    walk(&app.files.path().join("imports"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_upload_is_refused_before_anything_is_stored_or_queued() {
    let app = TestApp::spawn().await;
    let csv = "text/csv";
    let query = "record_type=contact&format=csv";
    let big = vec![b'a'; TEST_MAX_IMPORT_BYTES as usize + 1];

    // Too large: by its declared length at once, and counted when sent in chunks.
    let resp = upload(&app, query, Some(csv), big.clone().into()).await;
    RawAnswer::of(resp).await.refused(413, "payload_too_large");
    let chunks = futures::stream::iter(
        big.chunks(16 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let resp = upload(&app, query, Some(csv), reqwest::Body::wrap_stream(chunks)).await;
    RawAnswer::of(resp).await.refused(413, "payload_too_large");

    // Not a file type, or no type at all (curl's `--data-binary` default is a form).
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        None,
    ] {
        let resp = upload(&app, query, content_type, "email\na@b.example\n".into()).await;
        let err = RawAnswer::of(resp).await.refused_as(
            format!("{content_type:?}"),
            415,
            "unsupported_media_type",
        );
        assert!(err.error.message.contains("text/csv"), "{err:?}");
    }

    // A header that names no field, a mapping to no field, a match key of another
    // type, a mapping for NDJSON.
    for (query, body, code) in [
        (query, "email,favourite_colour\n", "unknown_column"),
        (
            "record_type=contact&format=csv&column=email:nickname",
            "email\n",
            "unknown_field",
        ),
        (
            "record_type=contact&format=csv&column=email:custom_fields.nope",
            "email\n",
            "unknown_custom_field",
        ),
        (
            "record_type=contact&format=csv&column=Mail:email",
            "email\n",
            "column_missing",
        ),
        (
            "record_type=contact&format=csv&match_key=id",
            "email\n",
            "required",
        ),
        (
            "record_type=contact&format=csv",
            "email,email\n",
            "duplicate_column",
        ),
    ] {
        let resp = upload(&app, query, Some(csv), body.into()).await;
        let err = RawAnswer::of(resp)
            .await
            .refused_as(query, 422, "validation_failed");
        let field = if code == "duplicate_column" {
            "body"
        } else {
            "column"
        };
        assert_detail(&err, field, code);
    }
    for (query, field) in [
        (
            "record_type=company&format=csv&match_key=email",
            "match_key",
        ),
        ("record_type=contact&format=ndjson&column=a:email", "column"),
    ] {
        let resp = upload(&app, query, Some(csv), "x\n".into()).await;
        let err = RawAnswer::of(resp)
            .await
            .refused_as(query, 422, "validation_failed");
        assert_detail(&err, field, "not_applicable");
    }
    let resp = upload(
        &app,
        "record_type=contact&format=csv&column=%01:email",
        Some(csv),
        "".into(),
    )
    .await;
    RawAnswer::of(resp).await.refused(400, "bad_request");

    assert_eq!(stored_uploads(&app), 0, "nothing refused was kept");
    let listed = app
        .client
        .imports_list()
        .send()
        .await
        .expect("list imports")
        .into_inner();
    assert!(listed.data.is_empty(), "nothing was queued");
}

#[tokio::test]
async fn an_import_needs_imports_write_and_the_record_types_write_scope() {
    let app = TestApp::spawn().await;
    let file = "email\nscoped@example.com\n";
    for scopes in [
        &["contacts:write"][..],
        &["imports:write", "companies:write"],
    ] {
        let (_, key) = crate::identity::key(&app, scopes, None).await;
        let err = app
            .client_with_key(&key)
            .import_file_and_wait(ImportFile::bytes(file), csv_spec(), |_| {})
            .await
            .refused_as(format!("{scopes:?}"), 403, "forbidden");
        if scopes.contains(&"imports:write") {
            assert_detail(&err, "scope", "missing_scope");
        }
    }
    assert_eq!(stored_uploads(&app), 0);
    let (_, key) = crate::identity::key(&app, &["imports:write", "contacts:write"], None).await;
    let done = import(&app.client_with_key(&key), file, csv_spec()).await;
    assert_eq!(counts(&done), (1, 1, 0, 0, 0));
}

#[tokio::test]
async fn a_queued_import_is_cancelled_once_and_a_tenants_queue_is_bounded() {
    // No worker: imports stay queued.
    let app = TestApp::spawn_with_webhooks(momentum_server::webhooks::WebhookSettings {
        worker: false,
        ..momentum_contract_tests::test_webhooks()
    })
    .await;
    let c = &app.client;
    let mut queued = Vec::new();
    for i in 0..5 {
        let body = format!("email\nq{i}@example.com\n");
        let created = c
            .imports_create()
            .record_type(ImportRecordType::Contact)
            .format(FileFormat::Csv)
            .body(body)
            .send()
            .await
            .expect("queue an import");
        assert_eq!(created.status().as_u16(), 202);
        let location = created
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let import = created.into_inner().data;
        assert_eq!(location, Some(format!("/v1/imports/{}", import.id)));
        assert_eq!(import.status, ImportStatus::Queued);
        queued.push(import.id);
    }
    let err = c
        .imports_create()
        .record_type(ImportRecordType::Contact)
        .format(FileFormat::Csv)
        .body("email\nsixth@example.com\n")
        .send()
        .await
        .refused(409, "conflict");
    assert_detail(&err, "tenant", "too_many_imports");
    assert_eq!(stored_uploads(&app), 5, "the sixth file was not kept");

    let cancelled = c
        .imports_cancel()
        .id(queued[0])
        .send()
        .await
        .expect("cancel")
        .into_inner()
        .data;
    assert_eq!(cancelled.status, ImportStatus::Cancelled);
    let err = c
        .imports_cancel()
        .id(queued[0])
        .send()
        .await
        .refused(409, "conflict");
    assert_detail(&err, "id", "import_finished");
    let events = crate::events::events(c, Some(EventType::ImportCancelled)).await;
    assert_eq!(events.len(), 1);
    // With one place free again, the tenant may queue another.
    c.imports_create()
        .record_type(ImportRecordType::Contact)
        .format(FileFormat::Csv)
        .body("email\nsixth@example.com\n")
        .send()
        .await
        .expect("queue again");

    // Another tenant sees none of it.
    let (_, other) = app.other_tenant().await;
    other
        .imports_get()
        .id(queued[1])
        .send()
        .await
        .refused(404, "not_found");
    other
        .imports_errors_list()
        .id(queued[1])
        .send()
        .await
        .refused(404, "not_found");
    other
        .imports_cancel()
        .id(queued[1])
        .send()
        .await
        .refused(404, "not_found");
    assert!(other
        .imports_list()
        .send()
        .await
        .expect("list")
        .into_inner()
        .data
        .is_empty());
}

#[tokio::test]
async fn an_upload_retried_with_its_idempotency_key_queues_one_import() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let send = || {
        c.imports_create()
            .record_type(ImportRecordType::Contact)
            .format(FileFormat::Csv)
            .idempotency_key("import-once")
            .body("email\nonce@example.com\n")
            .send()
    };
    let first = send().await.expect("upload").into_inner().data;
    let again = send().await.expect("the retry").into_inner().data;
    assert_eq!(first.id, again.id);
    let listed = c
        .imports_list()
        .send()
        .await
        .expect("list")
        .into_inner()
        .data;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_worker_that_dies_mid_file_is_resumed_by_another_without_a_row_twice() {
    use momentum_server::app::imports as worker;
    // The instance that takes the upload runs no worker.
    let mut app = TestApp::spawn_with_webhooks(momentum_server::webhooks::WebhookSettings {
        worker: false,
        ..momentum_contract_tests::test_webhooks()
    })
    .await;
    let rows = 4 * TEST_IMPORT_CHUNK_ROWS as usize + 7;
    let mut file = String::from("email,first_name\n");
    for i in 0..rows {
        file.push_str(&format!("resume{i}@example.com,R{i}\n"));
    }
    let queued = app
        .client
        .imports_create()
        .record_type(ImportRecordType::Contact)
        .format(FileFormat::Csv)
        .body(file)
        .send()
        .await
        .expect("upload")
        .into_inner()
        .data;

    // A worker claims it with a short lease, applies two chunks and dies: no release,
    // no word.
    let pool = momentum_server::db::connect(app.worker_options(), 2)
        .await
        .expect("connect as the worker");
    let jobs = worker::Jobs {
        pool: pool.clone(),
        blobs: momentum_server::blob::Blobs::local(app.files.path()).expect("the store"),
        settings: momentum_contract_tests::test_imports(),
        metrics: None,
    };
    let claim = momentum_server::db::imports::claim(&pool, 1, Duration::from_secs(1), 1)
        .await
        .expect("claim")[0];
    assert_eq!(claim.id, queued.id);
    let ended =
        worker::process::<momentum_server::api::imports::Wire>(&jobs, &claim, Some(2)).await;
    assert!(matches!(ended, Ok(worker::Ended::Gone)));
    let halfway = app
        .client
        .imports_get()
        .id(queued.id)
        .send()
        .await
        .expect("get")
        .into_inner()
        .data;
    assert_eq!(halfway.status, ImportStatus::Running);
    assert_eq!(counts(&halfway).1, 2 * i64::from(TEST_IMPORT_CHUNK_ROWS));

    // Another instance, with a worker, takes it over once the lease has run out.
    let url = app
        .another_instance_with(Default::default(), momentum_contract_tests::test_webhooks())
        .await;
    let resumed = Client::with_api_key(&url, &app.api_key).expect("a client");
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let i = resumed
                .imports_get()
                .id(queued.id)
                .send()
                .await
                .expect("get")
                .into_inner()
                .data;
            if i.status != ImportStatus::Running && i.status != ImportStatus::Queued {
                return i;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the import is resumed and completed");
    let rows = rows as i64;
    assert_eq!(done.status, ImportStatus::Completed);
    assert_eq!(counts(&done), (rows, rows, 0, 0, 0), "{done:?}");
    let all = contacts(&app.client).await;
    assert_eq!(all.len() as i64, rows);
    let emails: BTreeSet<_> = all.iter().filter_map(|x| x.email.clone()).collect();
    assert_eq!(emails.len() as i64, rows, "each row once");
    let created = crate::events::events(&app.client, Some(EventType::ContactCreated)).await;
    assert_eq!(created.len() as i64, rows, "one contact.created per row");

    // Its file is deleted once it is over.
    tokio::time::timeout(Duration::from_secs(10), async {
        while stored_uploads(&app) > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the upload is deleted");
}

#[tokio::test]
async fn a_cancel_between_chunks_keeps_what_was_applied_and_stops_the_worker() {
    use momentum_server::app::imports as worker;
    let app = TestApp::spawn_with_webhooks(momentum_server::webhooks::WebhookSettings {
        worker: false,
        ..momentum_contract_tests::test_webhooks()
    })
    .await;
    let mut file = String::from("email\n");
    for i in 0..3 * TEST_IMPORT_CHUNK_ROWS {
        file.push_str(&format!("cancel{i}@example.com\n"));
    }
    let queued = app
        .client
        .imports_create()
        .record_type(ImportRecordType::Contact)
        .format(FileFormat::Csv)
        .body(file)
        .send()
        .await
        .expect("upload")
        .into_inner()
        .data;
    // The test is the worker: one chunk, then the client cancels, then the worker goes on.
    let pool = momentum_server::db::connect(app.worker_options(), 2)
        .await
        .expect("connect as the worker");
    let jobs = worker::Jobs {
        pool: pool.clone(),
        blobs: momentum_server::blob::Blobs::local(app.files.path()).expect("the store"),
        settings: momentum_contract_tests::test_imports(),
        metrics: None,
    };
    let claim = momentum_server::db::imports::claim(&pool, 1, Duration::from_secs(60), 1)
        .await
        .expect("claim")[0];
    type Wire = momentum_server::api::imports::Wire;
    assert!(matches!(
        worker::process::<Wire>(&jobs, &claim, Some(1)).await,
        Ok(worker::Ended::Gone)
    ));
    let cancelled = app
        .client
        .imports_cancel()
        .id(queued.id)
        .send()
        .await
        .expect("cancel")
        .into_inner()
        .data;
    assert_eq!(cancelled.status, ImportStatus::Cancelled);
    let chunk = i64::from(TEST_IMPORT_CHUNK_ROWS);
    assert_eq!(counts(&cancelled), (chunk, chunk, 0, 0, 0));

    // The worker's next chunk finds the import no longer its own, and stops.
    assert!(matches!(
        worker::process::<Wire>(&jobs, &claim, None).await,
        Ok(worker::Ended::Gone)
    ));
    let after = app
        .client
        .imports_get()
        .id(queued.id)
        .send()
        .await
        .expect("get")
        .into_inner()
        .data;
    assert_eq!(
        (after.status, counts(&after)),
        (ImportStatus::Cancelled, counts(&cancelled))
    );
    assert_eq!(
        contacts(&app.client).await.len() as i64,
        chunk,
        "the first chunk stays"
    );
}
