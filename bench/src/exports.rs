//! Exports end to end on the candidate: every seeded contact exported as NDJSON and as
//! CSV through the API (the worker reads the snapshot, encodes and writes the file to
//! the local store), then the file downloaded. Rows per second are the worker's, from
//! the export's own `started_at` to `completed_at`; the download's, from the first byte
//! asked for to the last received.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use momentum_sdk::types::{self, ExportRecordType, ExportStatus, FileFormat};
use momentum_sdk::Client;
use serde::Serialize;

use crate::load::Target;

#[derive(Debug, Serialize)]
pub struct ExportResult {
    pub format: &'static str,
    pub rows: u64,
    pub file_mb: f64,
    /// From the worker's claim to the export's completion.
    pub seconds: f64,
    pub rows_per_second: f64,
    pub download_seconds: f64,
    pub download_mb_per_second: f64,
}

/// `admin` counts the tenant's live contacts, which every export must hold (the seed's
/// and those the webhook measurement created).
pub async fn measure(
    target: &Target,
    admin: &sqlx::PgPool,
    tenant_id: uuid::Uuid,
) -> anyhow::Result<Vec<ExportResult>> {
    let expected_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL",
    )
    .bind(tenant_id)
    .fetch_one(admin)
    .await
    .context("count the contacts")?;
    let expected_rows = u64::try_from(expected_rows).unwrap_or(0);
    let client = Client::builder(&format!("http://{}", target.addr))
        .api_key(&target.api_key)
        .timeout(Duration::from_secs(600))
        .build()
        .context("a client for the exports")?;
    let mut results = Vec::new();
    for (format, name) in [(FileFormat::Ndjson, "ndjson"), (FileFormat::Csv, "csv")] {
        let body = types::ExportCreate {
            record_type: ExportRecordType::Contact,
            format: Some(format),
            filters: None,
        };
        let done = tokio::time::timeout(
            Duration::from_secs(1800),
            client.export_and_wait(body, |_| {}),
        )
        .await
        .context("the export did not finish within 30 minutes")?
        .context("queue and follow the export")?;
        if done.status != ExportStatus::Completed {
            bail!(
                "the {name} export ended {:?}: {:?}",
                done.status,
                done.error_message
            );
        }
        let rows = u64::try_from(done.rows).unwrap_or(0);
        if rows != expected_rows {
            bail!("the {name} export wrote {rows} rows, not the tenant's {expected_rows} contacts");
        }
        let (Some(started), Some(completed)) = (done.started_at, done.completed_at) else {
            bail!("a completed export without its times");
        };
        let seconds = (completed - started).as_seconds_f64().max(1e-6);
        let asked = Instant::now();
        let file = client
            .exports_download()
            .id(done.id)
            .send()
            .await
            .context("download the export")?;
        let mut stream = file.into_inner().into_inner();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            bytes += chunk.context("read the export")?.len() as u64;
        }
        let download_seconds = asked.elapsed().as_secs_f64().max(1e-6);
        let file_mb = bytes as f64 / 1_048_576.0;
        eprintln!(
            "  export {name}: {rows} rows in {seconds:.2} s ({:.0} rows/s), {file_mb:.1} MB \
             downloaded in {download_seconds:.2} s",
            rows as f64 / seconds
        );
        results.push(ExportResult {
            format: name,
            rows,
            file_mb,
            seconds,
            rows_per_second: rows as f64 / seconds,
            download_seconds,
            download_mb_per_second: file_mb / download_seconds,
        });
    }
    Ok(results)
}
