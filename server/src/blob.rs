//! The file store: where files too big for a row (exports, later imports) are kept, away
//! from the database. One interface over three places, chosen by one URL:
//!
//! - none: a folder in the data directory, `<MOMENTUM_DATA_DIR>/files` (mode 0700), for
//!   one machine, or several sharing one volume;
//! - `s3://<bucket>/<prefix>`: S3 or an S3-compatible store. Everything else comes from
//!   object_store's `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...), never from the URL, so no
//!   secret sits in a setting that gets logged. Without keys, the instance's role is asked
//!   (the metadata service);
//! - `memory://`: inside the process, for tests.
//!
//! A file appears whole or not at all. [`BlobWriter`] sends it in parts as it is made (a
//! multipart upload on S3, a staging file renamed into place on disk), so a file of any
//! size is never held in memory and no reader sees half of one. A writer dropped before
//! [`BlobWriter::finish`] leaves nothing to read; on S3 the parts already sent stay,
//! unseen and billed, until aborted: [`BlobWriter::abort`] does that, and a bucket
//! lifecycle rule must catch what a crash leaves. On disk, a crash leaves a staging file
//! (`<name>#<n>`) that listing skips, so [`Blobs::sweep`] does not see it either.
//!
//! Keys are [`Key`]s, made only from checked parts, so no client input reaches a path
//! (`..`, a `/`, a staging file's `#`). This module knows nothing of tenants, HTTP or
//! the database: callers choose the keys.

use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path as FsPath;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

/// The folder in the data directory that holds the files when no URL is set.
pub const LOCAL_DIR: &str = "files";

/// How much of a file a writer gathers before sending it as one part. S3 refuses parts
/// under 5 MiB (but the last) and allows 10,000 of them: files up to 80 GB.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one file in flight at once; with `PART_BYTES`, what a writer holds at most.
const PARTS_IN_FLIGHT: usize = 2;

/// Where a file is kept: parts joined by `/`, each 1 to 128 of `A-Z a-z 0-9 . _ -`, not
/// starting with a `.`. A key is also the prefix of the keys below it, for
/// [`Blobs::sweep`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(Path);

/// A key part [`Key::new`] refused. Shows the part, which callers make from ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a file store key part must be 1 to 128 of A-Z, a-z, 0-9, '.', '_' and '-', not starting \
     with '.', and a key needs at least one part: {0:?}"
)]
pub struct BadKey(String);

impl Key {
    const MAX_PART: usize = 128;

    pub fn new<I>(parts: I) -> Result<Self, BadKey>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let parts = parts
            .into_iter()
            .map(|part| {
                let part = part.as_ref();
                if Self::is_part(part) {
                    Ok(part.to_owned())
                } else {
                    Err(BadKey(part.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            return Err(BadKey(String::new()));
        }
        Ok(Self(Path::from_iter(parts)))
    }

    /// A part that object_store keeps as it is (no percent-encoding) on every backend, that
    /// is no path trick on disk (`.`, `..`, hidden files) and no local staging name (`#`).
    fn is_part(part: &str) -> bool {
        (1..=Self::MAX_PART).contains(&part.len())
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// A key as [`Key`]'s `Display` wrote it (parts joined by `/`), as stored beside
    /// what it names.
    pub fn parse(key: &str) -> Result<Self, BadKey> {
        Self::new(key.split('/'))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The file store, cheap to clone: every clone is the same store.
#[derive(Clone)]
pub struct Blobs(Arc<dyn ObjectStore>);

impl fmt::Debug for Blobs {
    // object_store's `Display` names the backend and the bucket or folder, never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blobs({})", self.0)
    }
}

/// A file being read: its length (for `Content-Length`) and its bytes, in order.
pub struct Blob {
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .field("last_modified", &self.last_modified)
            .finish_non_exhaustive()
    }
}

impl Blobs {
    /// The store `MOMENTUM_BLOB_URL` names (see the module docs), or with none, the folder
    /// [`LOCAL_DIR`] in `data_dir`. S3's settings come from the `AWS_*` variables.
    pub fn from_settings(url: Option<&str>, data_dir: &FsPath) -> anyhow::Result<Self> {
        match url {
            None => Self::local(&data_dir.join(LOCAL_DIR)),
            Some(url) => Self::from_url(url, AmazonS3Builder::from_env()),
        }
    }

    /// The store `url` names, an `s3://` one built on `s3` (its endpoint, keys, retries)
    /// rather than on the environment: how tests reach a local S3 without `AWS_*`
    /// variables, which would reach every test in the process.
    pub fn from_url(url: &str, s3: AmazonS3Builder) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|err| anyhow::anyhow!("MOMENTUM_BLOB_URL is not a URL: {err}"))?;
        match parsed.scheme() {
            "s3" => Self::s3(&parsed, s3),
            "memory" => Ok(Self::memory()),
            // The scheme only: the rest of a URL may hold a secret pasted into it.
            other => bail!(
                "MOMENTUM_BLOB_URL must be s3://<bucket>/<prefix>, memory:// (tests), or unset \
                 (the data directory); `{other}:` is not supported"
            ),
        }
    }

    /// A folder on this machine, made (mode 0700, as are the folders it has in it: other
    /// local users must not read tenants' files) if it is not there.
    pub fn local(dir: &FsPath) -> anyhow::Result<Self> {
        // The data directory keeps its own mode: the embedded PostgreSQL's user may need
        // to walk through it.
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {}", dir.display()))
            }
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (mode 0700)", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot use {} for files", dir.display()))?
            // Deleting a folder's last file removes the folder, so per-tenant folders do
            // not pile up.
            .with_automatic_cleanup(true);
        Ok(Self(Arc::new(store)))
    }

    /// An empty store inside this process.
    pub fn memory() -> Self {
        Self(Arc::new(InMemory::new()))
    }

    fn s3(url: &url::Url, builder: AmazonS3Builder) -> anyhow::Result<Self> {
        if !url.username().is_empty() || url.password().is_some() {
            bail!(
                "MOMENTUM_BLOB_URL must not hold credentials: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY instead"
            );
        }
        if url.port().is_some() || url.query().is_some() || url.fragment().is_some() {
            bail!(
                "MOMENTUM_BLOB_URL must be s3://<bucket>/<prefix>, with no port, query or \
                 fragment; an S3-compatible store's address goes in AWS_ENDPOINT"
            );
        }
        let bucket = match url.host_str() {
            Some(bucket) if !bucket.is_empty() => bucket,
            _ => bail!("MOMENTUM_BLOB_URL names no bucket: s3://<bucket>/<prefix>"),
        };
        let segments: Vec<&str> = url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|segment| !segment.is_empty())
            .collect();
        let prefix = if segments.is_empty() {
            None
        } else {
            Some(Key::new(&segments).context("MOMENTUM_BLOB_URL's prefix")?)
        };
        let store = builder
            .with_bucket_name(bucket)
            .build()
            .context("cannot set up the S3 file store (MOMENTUM_BLOB_URL, AWS_*)")?;
        Ok(Self(match prefix {
            Some(prefix) => Arc::new(PrefixStore::new(store, prefix.0)),
            None => Arc::new(store),
        }))
    }

    /// A writer for a new file at `key`, which replaces any file there once
    /// [`BlobWriter::finish`] returns.
    pub fn writer(&self, key: &Key) -> BlobWriter {
        let inner = BufWriter::with_capacity(Arc::clone(&self.0), key.0.clone(), PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        BlobWriter {
            inner,
            key: key.clone(),
        }
    }

    /// The file at `key`, or `None` when there is none (never written, or deleted since).
    pub async fn reader(&self, key: &Key) -> anyhow::Result<Option<Blob>> {
        let found = match self.0.get(&key.0).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("cannot read file {key}")),
        };
        Ok(Some(Blob {
            size: found.meta.size,
            last_modified: found.meta.last_modified,
            body: found.into_stream().map_err(io::Error::from).boxed(),
        }))
    }

    /// The file at `key` from byte `offset` on (`size` is still the whole file's), or
    /// `None` if there is none: where an import goes on after the chunks it committed.
    /// `offset` must lie within the file.
    pub async fn reader_from(&self, key: &Key, offset: u64) -> anyhow::Result<Option<Blob>> {
        if offset == 0 {
            return self.reader(key).await;
        }
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Offset(offset)),
            ..Default::default()
        };
        let found = match self.0.get_opts(&key.0, options).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("cannot read file {key}")),
        };
        Ok(Some(Blob {
            size: found.meta.size,
            last_modified: found.meta.last_modified,
            body: found.into_stream().map_err(io::Error::from).boxed(),
        }))
    }

    /// Deletes the file at `key`; one already gone is not an error.
    pub async fn delete(&self, key: &Key) -> anyhow::Result<()> {
        match self.0.delete(&key.0).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("cannot delete file {key}")),
        }
    }

    /// Deletes every file under `prefix` last written before `older_than`, and says how
    /// many: what is left when the record that named a file went without deleting it (a
    /// crash between the two).
    pub async fn sweep(&self, prefix: &Key, older_than: DateTime<Utc>) -> anyhow::Result<u64> {
        let old = self
            .0
            .list(Some(&prefix.0))
            .try_filter(move |meta| futures::future::ready(meta.last_modified < older_than))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.0.delete_stream(old);
        let mut count = 0;
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) => count += 1,
                // Deleted by someone else meanwhile: gone is what we wanted.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot sweep files under {prefix}"))
                }
            }
        }
        Ok(count)
    }
}

/// A file being written: bytes go in with [`BlobWriter::put`], and the file appears, whole,
/// when [`BlobWriter::finish`] returns. Dropped or aborted before that, nothing appears.
pub struct BlobWriter {
    inner: BufWriter,
    key: Key,
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    /// Adds `bytes` to the file. Waits while [`PARTS_IN_FLIGHT`] parts are being sent.
    pub async fn put(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        self.inner
            .put(bytes)
            .await
            .with_context(|| format!("cannot write file {}", self.key))
    }

    /// Sends what is left and makes the file appear.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.inner
            .shutdown()
            .await
            .with_context(|| format!("cannot finish file {}", self.key))
    }

    /// Gives the file up, and with it the parts already sent.
    pub async fn abort(mut self) -> anyhow::Result<()> {
        self.inner
            .abort()
            .await
            .with_context(|| format!("cannot abort file {}", self.key))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(parts: &[&str]) -> Key {
        Key::new(parts).unwrap()
    }

    async fn read_all(blobs: &Blobs, key: &Key) -> Option<Vec<u8>> {
        let blob = blobs.reader(key).await.unwrap()?;
        let body: Vec<Bytes> = blob.body.try_collect().await.unwrap();
        let body = body.concat();
        assert_eq!(blob.size, body.len() as u64);
        Some(body)
    }

    /// Bytes no two parts of which are alike, so a part out of place shows.
    fn numbered(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from(((i / 251) % 256) ^ (i % 251)).unwrap())
            .collect()
    }

    #[test]
    fn keys_are_made_of_checked_parts_only() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            key(&["exports", &id, "file.ndjson"]).to_string(),
            format!("exports/{id}/file.ndjson")
        );
        for bad in [
            "", ".", "..", ".hidden", "a/b", "a\\b", "a#1", "a b", "é", "a%2F", "a\0b",
        ] {
            assert_eq!(
                Key::new(["exports", bad]),
                Err(BadKey(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(Key::new(["x".repeat(128)]).is_ok());
        assert!(Key::new(["x".repeat(129)]).is_err());
        assert!(Key::new(Vec::<&str>::new()).is_err());
    }

    #[test]
    fn a_url_names_a_store_or_is_refused_naming_the_setting() {
        let dir = temp_dir();
        assert!(Blobs::from_settings(Some("memory://"), &dir).is_ok());
        assert!(Blobs::from_settings(Some("memory:///"), &dir).is_ok());
        let s3 = || {
            AmazonS3Builder::new()
                .with_access_key_id("k")
                .with_secret_access_key("s")
        };
        assert!(Blobs::from_url("s3://bucket", s3()).is_ok());
        assert!(Blobs::from_url("s3://bucket/a/b/", s3()).is_ok());
        for (url, says) in [
            ("file:///tmp/x", "`file:` is not supported"),
            ("https://s3.amazonaws.com/b", "`https:` is not supported"),
            ("gs://bucket", "`gs:` is not supported"),
            ("not a url", "not a URL"),
            ("s3://key:secret@bucket", "must not hold credentials"),
            ("s3://bucket:9000/x", "no port, query or fragment"),
            ("s3://bucket/x?region=eu", "no port, query or fragment"),
            ("s3:///x", "names no bucket"),
            ("s3://bucket/.hidden/x", "prefix"),
            ("s3://bucket/a%20b", "prefix"),
        ] {
            let err = format!("{:#}", Blobs::from_url(url, s3()).unwrap_err());
            assert!(err.contains("MOMENTUM_BLOB_URL"), "{url}: {err}");
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
        assert!(
            !dir.exists(),
            "only the default store uses the data directory"
        );
    }

    #[tokio::test]
    async fn memory_store_writes_reads_deletes_and_sweeps() {
        round_trip(&Blobs::from_settings(Some("memory://"), &temp_dir()).unwrap()).await;
    }

    #[tokio::test]
    async fn the_default_store_is_a_private_folder_in_the_data_directory() {
        let data_dir = temp_dir();
        let blobs = Blobs::from_settings(None, &data_dir).unwrap();
        let files = data_dir.join(LOCAL_DIR);
        let mode = std::fs::metadata(&files).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        round_trip(&blobs).await;
        // The round trip deleted every file, and with them their folders.
        assert_eq!(std::fs::read_dir(&files).unwrap().count(), 0);

        // A folder that was there already is made private too.
        std::fs::set_permissions(&files, std::fs::Permissions::from_mode(0o755)).unwrap();
        Blobs::from_settings(None, &data_dir).unwrap();
        let mode = std::fs::metadata(&files).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir_all(&data_dir).unwrap();
    }

    #[tokio::test]
    async fn a_local_file_appears_only_when_finished_and_an_abandoned_one_never() {
        let data_dir = temp_dir();
        let blobs = Blobs::from_settings(None, &data_dir).unwrap();
        let big = key(&["t", "big.bin"]);
        let body = numbered(2 * PART_BYTES + 17);
        let mut writer = blobs.writer(&big);
        for chunk in body.chunks(1024 * 1024) {
            writer.put(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        // Parts are on disk by now (a staging file), but no file by its name.
        assert!(blobs.reader(&big).await.unwrap().is_none());
        let listed: Vec<_> = blobs.0.list(None).try_collect().await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
        writer.finish().await.unwrap();
        assert_eq!(read_all(&blobs, &big).await.unwrap(), body);

        for give_up in [true, false] {
            let never = key(&["t", &format!("never-{give_up}.bin")]);
            let mut writer = blobs.writer(&never);
            writer
                .put(Bytes::from(numbered(PART_BYTES + 1)))
                .await
                .unwrap();
            if give_up {
                writer.abort().await.unwrap();
            } else {
                drop(writer);
            }
            assert!(blobs.reader(&never).await.unwrap().is_none());
        }
        // Neither left a staging file behind (a drop removes its file in the background).
        let dir = data_dir.join(LOCAL_DIR).join("t");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            if names == ["big.bin"] {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{names:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::remove_dir_all(&data_dir).unwrap();
    }

    /// What every backend must do: small and multipart files read back equal, a rewrite
    /// replaces, a delete twice is fine, and a sweep takes the old files under its prefix
    /// only.
    async fn round_trip(blobs: &Blobs) {
        let tenant = uuid::Uuid::now_v7().to_string();
        let small = key(&["exports", &tenant, "small.csv"]);
        let big = key(&["exports", &tenant, "big.ndjson"]);
        let other = key(&["imports", &tenant, "kept.csv"]);

        let mut writer = blobs.writer(&small);
        writer.put(Bytes::from_static(b"id,name\n")).await.unwrap();
        writer.put(Bytes::from_static(b"1,Ada\n")).await.unwrap();
        writer.finish().await.unwrap();
        assert_eq!(
            read_all(blobs, &small).await.unwrap(),
            b"id,name\n1,Ada\n".to_vec()
        );

        let body = numbered(PART_BYTES * 2 + 5);
        let mut writer = blobs.writer(&big);
        for chunk in body.chunks(700 * 1024) {
            writer.put(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        writer.finish().await.unwrap();
        assert_eq!(read_all(blobs, &big).await.unwrap(), body);
        // An import goes on mid-file, from where its last chunk ended.
        for offset in [0, 1, PART_BYTES + 3, body.len() - 1] {
            let blob = blobs
                .reader_from(&big, offset as u64)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(blob.size, body.len() as u64);
            let rest: Vec<Bytes> = blob.body.try_collect().await.unwrap();
            assert_eq!(rest.concat(), body[offset..], "from {offset}");
        }
        assert!(blobs
            .reader_from(&key(&["exports", &tenant, "none.csv"]), 5)
            .await
            .unwrap()
            .is_none());

        let mut writer = blobs.writer(&small);
        writer.put(Bytes::from_static(b"again\n")).await.unwrap();
        writer.finish().await.unwrap();
        assert_eq!(read_all(blobs, &small).await.unwrap(), b"again\n".to_vec());

        let mut writer = blobs.writer(&other);
        writer.put(Bytes::from_static(b"x")).await.unwrap();
        writer.finish().await.unwrap();

        let exports = key(&["exports"]);
        // The older of the two under `exports` (stores keep whole seconds, or less).
        let oldest = blobs.reader(&big).await.unwrap().unwrap().last_modified;
        assert_eq!(
            blobs.sweep(&exports, oldest).await.unwrap(),
            0,
            "none older"
        );
        let later = Utc::now() + chrono::Duration::seconds(1);
        assert_eq!(
            blobs
                .sweep(&key(&["exports", "nobody"]), later)
                .await
                .unwrap(),
            0
        );
        assert_eq!(blobs.sweep(&exports, later).await.unwrap(), 2);
        assert!(blobs.reader(&small).await.unwrap().is_none());
        assert!(blobs.reader(&big).await.unwrap().is_none());
        assert_eq!(read_all(blobs, &other).await.unwrap(), b"x".to_vec());

        blobs.delete(&other).await.unwrap();
        blobs.delete(&other).await.unwrap();
        assert!(blobs.reader(&other).await.unwrap().is_none());
    }

    /// The exports worker and the download handler run these on Tokio's threads.
    #[allow(dead_code)]
    fn futures_are_send(blobs: &Blobs, key: &Key, mut writer: BlobWriter) {
        fn send<T: Send>(_: T) {}
        send(blobs.reader(key));
        send(blobs.delete(key));
        send(blobs.sweep(key, Utc::now()));
        send(writer.put(Bytes::new()));
        send(writer.finish());
    }

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("momentum-blob-{}", uuid::Uuid::new_v4()))
    }
}
