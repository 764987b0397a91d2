//! Imports: upload a file and wait for the worker to apply it, with progress through
//! both, then read the rows it could not apply.
//!
//! ```no_run
//! # async fn run(client: momentum_sdk::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use momentum_sdk::imports::{ImportFile, ImportProgress, ImportSpec};
//! use momentum_sdk::types::{FileFormat, ImportRecordType};
//!
//! let spec = ImportSpec::new(ImportRecordType::Contact, FileFormat::Csv)
//!     .column("E-mail", "email")
//!     .column("Plan", "custom_fields.plan");
//! let file = ImportFile::path("contacts.csv");
//! let import = client
//!     .import_file_and_wait(file, spec, |progress| match progress {
//!         ImportProgress::Uploading { sent, total } => eprint!("\rupload {sent}/{total} bytes"),
//!         ImportProgress::Processing(import) => eprint!(
//!             "\r{}/{} bytes applied, {} rows failed",
//!             import.progress.bytes_read, import.progress.size_bytes, import.progress.failed
//!         ),
//!     })
//!     .await?;
//! for error in client.import_errors(import.id).await? {
//!     eprintln!("line {}: {} ({})", error.line, error.message, error.code);
//! }
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{self, Either};
use futures::{Stream, StreamExt};

use crate::{types, Client, Error};

/// How often an upload in flight reports how far it has come.
const UPLOAD_TICK: Duration = Duration::from_millis(200);
/// The first wait between two looks at a running import; each wait doubles, up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);
/// The size of the pieces a file is sent in.
const PIECE: usize = 64 * 1024;

/// The file to import: in memory, or read from disk as it is sent.
#[derive(Debug, Clone)]
pub enum ImportFile {
    Bytes(Bytes),
    Path(PathBuf),
}

impl ImportFile {
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self::Bytes(bytes.into())
    }

    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::Path(path.into())
    }
}

/// What to import the file as: `imports_create`'s parameters.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    pub record_type: types::ImportRecordType,
    pub format: types::FileFormat,
    /// `None`: the record type's natural key (`email`, `domain`), `id` for leads.
    pub match_key: Option<types::ImportMatchKey>,
    /// CSV: `<header>:<field>` mappings (see [`ImportSpec::column`]).
    pub columns: Vec<String>,
}

impl ImportSpec {
    pub fn new(record_type: types::ImportRecordType, format: types::FileFormat) -> Self {
        Self {
            record_type,
            format,
            match_key: None,
            columns: Vec::new(),
        }
    }

    pub fn match_key(mut self, key: types::ImportMatchKey) -> Self {
        self.match_key = Some(key);
        self
    }

    /// Maps the CSV column `header` to `field` (`custom_fields.<key>` for a custom
    /// field); an empty `field` ignores the column.
    pub fn column(mut self, header: &str, field: &str) -> Self {
        self.columns.push(format!("{header}:{field}"));
        self
    }
}

/// Where an import stands, as [`Client::import_file_and_wait`] reports it.
#[derive(Debug)]
pub enum ImportProgress<'a> {
    /// The file is being sent: `sent` of its `total` bytes.
    Uploading { sent: u64, total: u64 },
    /// The server has the file; the worker is applying it (`progress.bytes_read` of
    /// `progress.size_bytes`).
    Processing(&'a types::Import),
}

impl Client {
    /// Uploads `file` as an import of `spec`, then waits until the worker is done with
    /// it, calling `on_progress` as the upload goes (every 200 ms) and each time the
    /// import is read (polls at most every two seconds). Returns the import once
    /// `completed`, `failed` or `cancelled` (check `status`; `progress.failed` rows are
    /// listed by [`Client::import_errors`]). The file is sent once, never retried: a
    /// failed upload is an error to retry with the same file.
    pub async fn import_file_and_wait(
        &self,
        file: ImportFile,
        spec: ImportSpec,
        mut on_progress: impl FnMut(ImportProgress<'_>),
    ) -> Result<types::Import, Error<types::ErrorEnvelope>> {
        let sent = Arc::new(AtomicU64::new(0));
        let (body, total) = body(file, Arc::clone(&sent)).await?;
        let mut request = self
            .imports_create()
            .record_type(spec.record_type)
            .format(spec.format)
            .body(body);
        if let Some(key) = spec.match_key {
            request = request.match_key(key);
        }
        if !spec.columns.is_empty() {
            request = request.column(spec.columns);
        }
        let mut send = std::pin::pin!(request.send());
        let created = loop {
            match future::select(
                send.as_mut(),
                std::pin::pin!(tokio::time::sleep(UPLOAD_TICK)),
            )
            .await
            {
                Either::Left((answer, _)) => break answer?,
                Either::Right(_) => on_progress(ImportProgress::Uploading {
                    sent: sent.load(Ordering::Relaxed),
                    total,
                }),
            }
        };
        on_progress(ImportProgress::Uploading { sent: total, total });
        let mut import = created.into_inner().data;
        let mut wait = FIRST_POLL;
        loop {
            on_progress(ImportProgress::Processing(&import));
            if matches!(
                import.status,
                types::ImportStatus::Completed
                    | types::ImportStatus::Failed
                    | types::ImportStatus::Cancelled
            ) {
                return Ok(import);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL);
            import = self
                .imports_get()
                .id(import.id)
                .send()
                .await?
                .into_inner()
                .data;
        }
    }

    /// Every failed row of the import `id`, in file order (all pages).
    pub async fn import_errors(
        &self,
        id: uuid::Uuid,
    ) -> Result<Vec<types::ImportError>, Error<types::ErrorEnvelope>> {
        let mut errors = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.imports_errors_list().id(id).limit(200u32);
            if let Some(cursor) = cursor.take() {
                request = request.cursor(cursor);
            }
            let page = request.send().await?.into_inner();
            errors.extend(page.data);
            match page.meta.next_cursor {
                Some(next) if page.meta.has_more => cursor = Some(next),
                _ => return Ok(errors),
            }
        }
    }
}

/// The request body for `file`, counting into `sent` as it goes, and its size.
async fn body(
    file: ImportFile,
    sent: Arc<AtomicU64>,
) -> Result<(reqwest::Body, u64), Error<types::ErrorEnvelope>> {
    let counted = move |piece: Bytes| {
        sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(piece)
    };
    match file {
        ImportFile::Bytes(bytes) => {
            let total = bytes.len() as u64;
            let pieces: Vec<Bytes> = (0..bytes.len())
                .step_by(PIECE)
                .map(|at| bytes.slice(at..(at + PIECE).min(bytes.len())))
                .collect();
            let stream = futures::stream::iter(pieces).map(counted);
            Ok((reqwest::Body::wrap_stream(stream), total))
        }
        ImportFile::Path(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                Error::InvalidRequest(format!("cannot open {}: {e}", path.display()))
            })?;
            let total = file
                .metadata()
                .await
                .map_err(|e| Error::InvalidRequest(format!("cannot read {}: {e}", path.display())))?
                .len();
            let stream = read(file).map(move |piece| piece.and_then(&counted));
            Ok((reqwest::Body::wrap_stream(stream), total))
        }
    }
}

/// A file's bytes in pieces, read as they are asked for.
fn read(file: tokio::fs::File) -> impl Stream<Item = std::io::Result<Bytes>> {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut piece = vec![0; PIECE];
        match file.read(&mut piece).await {
            Ok(0) => None,
            Ok(n) => {
                piece.truncate(n);
                Some((Ok(Bytes::from(piece)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
