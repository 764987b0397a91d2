//! Imports end to end on the candidate, in a tenant of their own (no webhook endpoints,
//! so the rows' events cost their outbox rows and nothing more): 100,000 contacts
//! uploaded as one CSV through the SDK's helper and applied by the worker, exported
//! back as NDJSON, then the same file imported again, every row matching a contact it
//! would not change. Rows per second are the worker's, from the import's (or export's)
//! own `started_at` to `completed_at`; the upload's, from the first byte sent to the
//! server's answer.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use momentum_sdk::imports::{ImportFile, ImportProgress, ImportSpec};
use momentum_sdk::types::{
    self, ExportRecordType, ExportStatus, FileFormat, ImportRecordType, ImportStatus,
};
use momentum_sdk::Client;
use serde::Serialize;

use crate::load::Target;

/// The contacts one import brings in.
pub const ROWS: u64 = 100_000;

#[derive(Debug, Serialize)]
pub struct ImportResult {
    /// `import`, `export` or `re-import`.
    pub step: &'static str,
    pub rows: u64,
    pub file_mb: f64,
    /// `None` for the export, which uploads nothing.
    pub upload_seconds: Option<f64>,
    /// From the worker's claim to the completion.
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// A CSV of `ROWS` contacts, each with its own email.
fn file() -> Vec<u8> {
    let mut csv = String::from("email,first_name,last_name,title,tags\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "bench-import-{i}@example.com,First{i},Last{},Buyer,imported;batch-{}\n",
            i % 977,
            i % 10
        ));
    }
    csv.into_bytes()
}

pub async fn measure(target: &Target, admin: &sqlx::PgPool) -> anyhow::Result<Vec<ImportResult>> {
    let tenant = momentum_server::db::tenants::provision(
        admin,
        "Bench imports",
        "owner@bench-imports.example",
    )
    .await
    .context("provision the import tenant")?;
    let client = Client::builder(&format!("http://{}", target.addr))
        .api_key(&tenant.api_key)
        .timeout(Duration::from_secs(1800))
        .build()
        .context("a client for the imports")?;
    let file = file();
    let file_mb = file.len() as f64 / 1_048_576.0;
    let mut results = Vec::new();
    for (step, expect_created) in [("import", true), ("re-import", false)] {
        let began = Instant::now();
        let mut uploaded = None;
        let spec = ImportSpec::new(ImportRecordType::Contact, FileFormat::Csv);
        let done = tokio::time::timeout(
            Duration::from_secs(1800),
            client.import_file_and_wait(ImportFile::bytes(file.clone()), spec, |p| {
                if matches!(p, ImportProgress::Processing(_)) && uploaded.is_none() {
                    uploaded = Some(began.elapsed());
                }
            }),
        )
        .await
        .context("the import did not finish within 30 minutes")?
        .context("upload and follow the import")?;
        if done.status != ImportStatus::Completed {
            bail!(
                "the {step} ended {:?}: {:?}",
                done.status,
                done.error_message
            );
        }
        let p = &done.progress;
        let (created, unchanged) = (p.created as u64, p.unchanged as u64);
        if (expect_created && created != ROWS) || (!expect_created && unchanged != ROWS) {
            bail!("the {step} applied {p:?}, not {ROWS} rows as expected");
        }
        let (Some(started), Some(completed)) = (done.started_at, done.completed_at) else {
            bail!("a completed import without its times");
        };
        let seconds = (completed - started).as_seconds_f64().max(1e-6);
        let upload_seconds = uploaded.unwrap_or_default().as_secs_f64();
        eprintln!(
            "  {step}: {ROWS} rows in {seconds:.2} s ({:.0} rows/s), {file_mb:.1} MB uploaded \
             in {upload_seconds:.2} s",
            ROWS as f64 / seconds
        );
        results.push(ImportResult {
            step,
            rows: ROWS,
            file_mb,
            upload_seconds: Some(upload_seconds),
            seconds,
            rows_per_second: ROWS as f64 / seconds,
        });
        if step == "import" {
            results.push(export(&client).await?);
        }
    }
    Ok(results)
}

/// The imported contacts exported as NDJSON.
async fn export(client: &Client) -> anyhow::Result<ImportResult> {
    let body = types::ExportCreate {
        record_type: ExportRecordType::Contact,
        format: Some(FileFormat::Ndjson),
        filters: None,
    };
    let done = tokio::time::timeout(
        Duration::from_secs(1800),
        client.export_and_wait(body, |_| {}),
    )
    .await
    .context("the export did not finish within 30 minutes")?
    .context("queue and follow the export")?;
    if done.status != ExportStatus::Completed || done.rows as u64 != ROWS {
        bail!(
            "the export of the imported contacts ended {:?} with {} rows",
            done.status,
            done.rows
        );
    }
    let (Some(started), Some(completed)) = (done.started_at, done.completed_at) else {
        bail!("a completed export without its times");
    };
    let seconds = (completed - started).as_seconds_f64().max(1e-6);
    let file_mb = done.size_bytes.unwrap_or(0) as f64 / 1_048_576.0;
    eprintln!(
        "  export: {ROWS} rows in {seconds:.2} s ({:.0} rows/s), {file_mb:.1} MB",
        ROWS as f64 / seconds
    );
    Ok(ImportResult {
        step: "export",
        rows: ROWS,
        file_mb,
        upload_seconds: None,
        seconds,
        rows_per_second: ROWS as f64 / seconds,
    })
}
