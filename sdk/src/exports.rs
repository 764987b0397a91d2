//! Exports: queue one and wait for its file, with progress, then read the file record by
//! record as it streams in.
//!
//! ```no_run
//! # async fn run(client: momentum_sdk::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use momentum_sdk::types::{self, ExportRecordType, ExportStatus};
//!
//! let body = types::ExportCreate {
//!     record_type: ExportRecordType::Contact,
//!     format: None, // NDJSON
//!     filters: None,
//! };
//! let export = client
//!     .export_and_wait(body, |e| eprintln!("{:?}: {} rows", e.status, e.rows))
//!     .await?;
//! assert_eq!(export.status, ExportStatus::Completed);
//! let file = client.exports_download().id(export.id).send().await?;
//! let mut contacts = momentum_sdk::exports::ndjson::<types::Contact>(file.into_inner());
//! while let Some(contact) = contacts.next().await {
//!     println!("{}", contact?.id);
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use bytes::BytesMut;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::{types, ByteStream, Client, Error};

/// The first wait between two looks at a running export; each wait doubles, up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);

impl Client {
    /// Queues the export `body` asks for and waits until the worker is done with it,
    /// calling `progress` with the export each time it is read (its `status` and
    /// `rows` written so far). Returns the export once `completed` or `failed` (check
    /// `status`; a failed one has `error_code`). Polls at most every two seconds.
    pub async fn export_and_wait(
        &self,
        body: types::ExportCreate,
        mut progress: impl FnMut(&types::Export),
    ) -> Result<types::Export, Error<types::ErrorEnvelope>> {
        let mut export = self
            .exports_create()
            .body(body)
            .send()
            .await?
            .into_inner()
            .data;
        let mut wait = FIRST_POLL;
        loop {
            progress(&export);
            if matches!(
                export.status,
                types::ExportStatus::Completed
                    | types::ExportStatus::Failed
                    | types::ExportStatus::Expired
            ) {
                return Ok(export);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL);
            export = self
                .exports_get()
                .id(export.id)
                .send()
                .await?
                .into_inner()
                .data;
        }
    }
}

/// Why a line of an NDJSON file could not be read.
#[derive(Debug)]
pub enum NdjsonError {
    /// The download broke off.
    Read(reqwest::Error),
    /// Line `line` (from 1) is not the record type asked for.
    Decode {
        line: usize,
        source: serde_json::Error,
    },
}

impl std::fmt::Display for NdjsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(err) => write!(f, "the export's download broke off: {err}"),
            Self::Decode { line, source } => write!(f, "line {line} of the export: {source}"),
        }
    }
}

impl std::error::Error for NdjsonError {}

/// The records of an NDJSON export's file (`exports_download`), one per line, decoded as
/// they arrive: a file of any size is read with one line in memory at a time.
pub fn ndjson<T: DeserializeOwned + Send + 'static>(
    file: ByteStream,
) -> BoxStream<'static, Result<T, NdjsonError>> {
    lines(
        file.into_inner()
            .map(|chunk| chunk.map_err(NdjsonError::Read)),
    )
    .map(|line| {
        let (n, text) = line?;
        serde_json::from_slice(&text).map_err(|source| NdjsonError::Decode { line: n, source })
    })
    .boxed()
}

/// The lines of a stream of chunks, without their `\n`, numbered from 1; empty lines
/// are skipped (the file ends with a newline).
fn lines<S>(chunks: S) -> impl Stream<Item = Result<(usize, BytesMut), NdjsonError>>
where
    S: Stream<Item = Result<bytes::Bytes, NdjsonError>>,
{
    struct State<S> {
        chunks: std::pin::Pin<Box<S>>,
        buffer: BytesMut,
        line: usize,
        done: bool,
    }
    let state = State {
        chunks: Box::pin(chunks),
        buffer: BytesMut::new(),
        line: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(at) = st.buffer.iter().position(|b| *b == b'\n') {
                let mut line = st.buffer.split_to(at + 1);
                line.truncate(at);
                st.line += 1;
                if line.is_empty() {
                    continue;
                }
                return Some((Ok((st.line, line)), st));
            }
            if st.done {
                if !st.buffer.is_empty() {
                    st.line += 1;
                    let rest = st.buffer.split();
                    return Some((Ok((st.line, rest)), st));
                }
                return None;
            }
            match st.chunks.next().await {
                Some(Ok(chunk)) => st.buffer.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    st.done = true;
                    st.buffer.clear();
                    return Some((Err(err), st));
                }
                None => st.done = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> Vec<Result<bytes::Bytes, NdjsonError>> {
        parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p.as_bytes())))
            .collect()
    }

    #[tokio::test]
    async fn lines_split_across_chunks_come_out_whole_and_numbered() {
        let stream = futures::stream::iter(chunks(&["{\"a\":", "1}\n{\"a\"", ":2}\n\n{\"a\":3}"]));
        let got: Vec<(usize, String)> = lines(stream)
            .map(|l| {
                let (n, text) = l.unwrap();
                (n, String::from_utf8(text.to_vec()).unwrap())
            })
            .collect()
            .await;
        assert_eq!(
            got,
            vec![
                (1, "{\"a\":1}".to_owned()),
                (2, "{\"a\":2}".to_owned()),
                (4, "{\"a\":3}".to_owned())
            ]
        );
    }
}
