//! The file store (`blob.rs`) on S3, against moto's S3 server (`testing::s3`): the unit
//! tests cover the folder and memory stores; this covers the S3 protocol, multipart
//! uploads included, and the bucket prefix of an `s3://` URL. Skipped, saying so, where
//! moto is not installed, except in CI (see `DisposableS3::start`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use momentum_server::blob::{Blobs, Key};
use momentum_server::testing::s3::DisposableS3;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

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

/// 17 MiB no two MiB of which are alike, so a part out of place shows.
fn large_file() -> Vec<u8> {
    (0..17 * 1024 * 1024_usize)
        .map(|i| ((i >> 20) as u8) ^ (i as u8))
        .collect()
}

#[tokio::test]
async fn s3_streams_a_large_file_in_parts_reads_it_back_deletes_and_sweeps() {
    let Some(s3) = DisposableS3::start().unwrap() else {
        return;
    };
    let url = format!("s3://{}/momentum/files", s3.bucket());
    let blobs = Blobs::from_url(&url, s3.builder()).unwrap();
    // The bucket as it is, to see where the files went and how they were sent.
    let bucket = s3.builder().build().unwrap();
    let tenant = uuid::Uuid::now_v7().to_string();

    let big = key(&["exports", &tenant, "big.ndjson"]);
    let body = large_file();
    let mut writer = blobs.writer(&big);
    for chunk in body.chunks(1024 * 1024) {
        writer.put(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    // Parts went up already (an upload was started past 8 MiB); no file yet.
    assert!(blobs.reader(&big).await.unwrap().is_none());
    writer.finish().await.unwrap();
    assert_eq!(read_all(&blobs, &big).await.unwrap(), body);
    let stored = Path::from(format!("momentum/files/exports/{tenant}/big.ndjson"));
    let meta = bucket.head(&stored).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    // S3 marks a multipart object's ETag with its number of parts: 8 + 8 + 1 MiB.
    let etag = meta.e_tag.unwrap();
    assert!(etag.trim_matches('"').ends_with("-3"), "{etag}");
    // A ranged read, as an import resumes mid-file, across a part boundary.
    let offset = 8 * 1024 * 1024 - 5;
    let rest = blobs
        .reader_from(&big, offset as u64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.size, body.len() as u64);
    let rest: Vec<Bytes> = rest.body.try_collect().await.unwrap();
    assert_eq!(rest.concat(), body[offset..]);

    let small = key(&["exports", &tenant, "small.csv"]);
    let mut writer = blobs.writer(&small);
    writer.put(Bytes::from_static(b"id,name\n")).await.unwrap();
    writer.put(Bytes::from_static(b"1,Ada\n")).await.unwrap();
    writer.finish().await.unwrap();
    assert_eq!(
        read_all(&blobs, &small).await.unwrap(),
        b"id,name\n1,Ada\n".to_vec()
    );

    let abandoned = key(&["exports", &tenant, "abandoned.ndjson"]);
    let mut writer = blobs.writer(&abandoned);
    writer
        .put(Bytes::copy_from_slice(&body[..9 * 1024 * 1024]))
        .await
        .unwrap();
    writer.abort().await.unwrap();
    assert!(blobs.reader(&abandoned).await.unwrap().is_none());

    let kept = key(&["imports", &tenant, "kept.csv"]);
    let mut writer = blobs.writer(&kept);
    writer.put(Bytes::from_static(b"x")).await.unwrap();
    writer.finish().await.unwrap();

    let exports = key(&["exports"]);
    assert_eq!(
        blobs.sweep(&exports, meta.last_modified).await.unwrap(),
        0,
        "none older than the first"
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(2);
    assert_eq!(blobs.sweep(&exports, later).await.unwrap(), 2);
    assert!(blobs.reader(&big).await.unwrap().is_none());
    assert!(blobs.reader(&small).await.unwrap().is_none());
    assert_eq!(read_all(&blobs, &kept).await.unwrap(), b"x".to_vec());

    blobs.delete(&kept).await.unwrap();
    blobs.delete(&kept).await.unwrap();
    assert!(blobs.reader(&kept).await.unwrap().is_none());
    let left: Vec<_> = bucket.list(None).try_collect().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_stopped_s3_fails_a_read_and_a_write_within_seconds() {
    let Some(s3) = DisposableS3::start().unwrap() else {
        return;
    };
    let blobs = Blobs::from_url(&format!("s3://{}", s3.bucket()), s3.builder()).unwrap();
    let file = key(&["exports", "f.csv"]);
    s3.kill();
    let started = Instant::now();
    let mut writer = blobs.writer(&file);
    writer.put(Bytes::from_static(b"x")).await.unwrap();
    let err = writer.finish().await.unwrap_err();
    assert!(format!("{err:#}").contains("exports/f.csv"), "{err:#}");
    // An error, not "no such file".
    blobs.reader(&file).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
