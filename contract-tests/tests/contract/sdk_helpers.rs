//! The SDK's helpers: lists as streams, plain-string bodies, `ErrorCode` and `304` as a
//! value against the real server; the client's retry policy with idempotency keys
//! through a connection that loses an answer, and against a scripted server for the
//! statuses and failures the real one does not make on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use momentum_contract_tests::TestApp;
use momentum_sdk::conditional::{etag, Conditional};
use momentum_sdk::pagination::Paginate;
use momentum_sdk::retry::RetryPolicy;
use momentum_sdk::types::{self, ContactCreate, EventType};
use momentum_sdk::{Client, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{create, person, Refused, ANY_CODE};

#[tokio::test]
async fn a_list_reads_as_one_stream_across_pages() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(
            create(c, person("Page", &format!("p{i}@example.com")))
                .await
                .id,
        );
    }
    let streamed: Vec<types::Contact> = c
        .contacts_list()
        .limit(2)
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        streamed.iter().map(|c| c.id).collect::<Vec<_>>(),
        made,
        "every contact, in order, once"
    );
    // Filters and sort carry over to every page.
    let newest_first: Vec<types::Contact> = c
        .contacts_list()
        .limit(3)
        .sort("-created_at")
        .q("Page")
        .items()
        .try_collect()
        .await
        .unwrap();
    made.reverse();
    assert_eq!(newest_first.iter().map(|c| c.id).collect::<Vec<_>>(), made);
    let events: Vec<types::Event> = c
        .events_list()
        .type_(EventType::ContactCreated)
        .limit(1)
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 7);
    // An error stops the stream with that error.
    let other = app.client_with_key("mk_nope_nope");
    let err = other
        .contacts_list()
        .items()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
}

/// Reads one HTTP/1.1 message (headers and a `Content-Length` body) from `stream`.
async fn read_message(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the peer closed mid-message");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + length {
                return buf;
            }
        }
    }
}

/// A proxy in front of the server that passes the first request on but never answers
/// it (it closes the connection once the server has answered), then relays the rest.
async fn answer_losing_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut server = TcpStream::connect(&upstream).await.unwrap();
                if n == 0 {
                    let request = read_message(&mut client).await;
                    server.write_all(&request).await.unwrap();
                    // The server has done the work once its answer is here: lose it.
                    read_message(&mut server).await;
                    drop(client);
                } else {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn the_client_retry_policy_creates_exactly_once_when_the_first_answer_is_lost() {
    let app = TestApp::spawn().await;
    let upstream = app.base_url.trim_start_matches("http://").to_owned();
    let (proxy, connections) = answer_losing_proxy(upstream).await;
    let client = Client::builder(&proxy)
        .api_key(&app.api_key)
        .retry(fast_retries())
        .build()
        .unwrap();

    // No key given: the client makes one and sends it on every attempt.
    let created = client
        .contacts_create()
        .body(
            ContactCreate::builder()
                .first_name("Once")
                .email("once@example.com"),
        )
        .send()
        .await
        .expect("created on a retry");
    assert_eq!(created.status().as_u16(), 201);
    assert_eq!(
        created.headers()["idempotent-replayed"],
        "true",
        "the retry got the stored answer"
    );
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the first answer was lost"
    );
    let matching = app
        .client
        .contacts_list()
        .email("once@example.com")
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(matching.len(), 1, "created exactly once");
    assert_eq!(matching[0].id, created.into_inner().data.id);

    // Without a policy the same loss is an error for the caller.
    let (proxy, _) =
        answer_losing_proxy(app.base_url.trim_start_matches("http://").to_owned()).await;
    let bare = Client::with_api_key(&proxy, &app.api_key).unwrap();
    let lost = bare
        .contacts_create()
        .body(person("Lost", "lost@example.com"))
        .send()
        .await;
    assert!(
        matches!(lost, Err(momentum_sdk::Error::CommunicationError(_))),
        "{lost:?}"
    );
    // A refusal a retry cannot fix is returned at once.
    let retrying = Client::builder(&app.base_url)
        .api_key(&app.api_key)
        .retry(fast_retries())
        .build()
        .unwrap();
    let refused = retrying
        .contacts_create()
        .body(person("Dup", "once@example.com"))
        .send()
        .await
        .refused(409, "conflict");
    assert_eq!(refused.code(), ErrorCode::Conflict);
}

/// One scripted answer of [`scripted_server`].
#[derive(Clone, Copy)]
enum Scripted {
    /// This status, with an error envelope, and `Retry-After` if given.
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Reset,
    /// Answer `201` with a contact, but close after half its body.
    CutOff,
    /// `201` (or `200`) with a contact: the call succeeds.
    Contact(u16),
}

/// What the scripted server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    idempotency_key: Option<String>,
}

const CONTACT: &str = r#"{"data":{"id":"0192f4a0-0000-7000-8000-000000000001","first_name":"Ada","tags":[],"custom_fields":{},"created_at":"2026-11-26T10:00:00Z","updated_at":"2026-11-26T10:00:00Z"},"meta":{"request_id":"r"}}"#;

/// A server answering each request (one per connection) with the next answer of
/// `script`; the last answer repeats. Returns its URL and the requests it saw.
async fn scripted_server(script: Vec<Scripted>) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_message(&mut stream).await;
            let head = String::from_utf8_lossy(&request).to_string();
            let n = {
                let mut log = log.lock().unwrap();
                log.push(Seen {
                    method: head.split(' ').next().unwrap_or_default().to_owned(),
                    idempotency_key: head.lines().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("idempotency-key")
                            .then(|| value.trim().to_owned())
                    }),
                });
                log.len() - 1
            };
            let step = script[n.min(script.len() - 1)];
            let answer = |status: u16, extra: &str, body: &str| {
                format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let bytes = match step {
                Scripted::Status(status, retry_after) => {
                    let extra = retry_after
                        .map(|s| format!("retry-after: {s}\r\n"))
                        .unwrap_or_default();
                    let code = if status == 409 {
                        "idempotency_key_in_use"
                    } else {
                        "x"
                    };
                    let body = format!(
                        r#"{{"error":{{"code":"{code}","message":"m","details":[]}},"meta":{{"request_id":"r"}}}}"#
                    );
                    answer(status, &extra, &body)
                }
                Scripted::Reset => String::new(),
                Scripted::CutOff => {
                    let full = answer(201, "", CONTACT);
                    full[..full.len() - CONTACT.len() / 2].to_owned()
                }
                Scripted::Contact(status) => answer(status, "", CONTACT),
            };
            let _ = stream.write_all(bytes.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (format!("http://{addr}"), seen)
}

fn retrying(url: &str) -> Client {
    Client::builder(url)
        .api_key("mk_test")
        .retry(fast_retries())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_client_retries_429_502_503_504_resets_and_cut_answers_with_one_key() {
    use Scripted::*;
    let (url, seen) = scripted_server(vec![
        Status(429, Some(1)),
        Status(502, None),
        Status(503, None),
        Status(504, None),
        Reset,
        CutOff,
        Status(409, None),
        Contact(201),
    ])
    .await;
    let started = std::time::Instant::now();
    let created = retrying(&url)
        .contacts_create()
        .body(ContactCreate::builder().first_name("Ada"))
        .send()
        .await
        .expect("the eighth attempt succeeds");
    assert_eq!(created.into_inner().data.first_name.as_deref(), Some("Ada"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the 429's Retry-After"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 8, "{seen:?}");
    let key = seen[0].idempotency_key.clone().expect("a key on a create");
    assert!(uuid::Uuid::parse_str(&key).is_ok(), "{key}");
    assert!(
        seen.iter()
            .all(|s| s.idempotency_key.as_deref() == Some(key.as_str())),
        "one key for every attempt: {seen:?}"
    );

    // The caller's key is the one repeated; a new call gets a new key.
    let (url, seen) = scripted_server(vec![Status(503, None), Contact(201)]).await;
    let client = retrying(&url);
    client
        .contacts_create()
        .idempotency_key("job-42")
        .body(ContactCreate::builder().first_name("Ada"))
        .send()
        .await
        .unwrap();
    client
        .contacts_create()
        .body(ContactCreate::builder().first_name("Ada"))
        .send()
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let keys: Vec<_> = seen.iter().map(|s| s.idempotency_key.clone()).collect();
    assert_eq!(keys[..2], [Some("job-42".into()), Some("job-42".into())]);
    assert!(keys[2].is_some() && keys[2] != keys[0]);
}

#[tokio::test]
async fn the_client_does_not_repeat_what_is_unsafe_or_asked_to_wait_too_long() {
    use Scripted::*;
    let id = uuid::Uuid::now_v7();
    // A PATCH has no key: after a 502 the server may have acted, so it is not repeated.
    let (url, seen) = scripted_server(vec![Status(502, None), Contact(200)]).await;
    let patched = retrying(&url)
        .contacts_update()
        .id(id)
        .body(momentum_sdk::patch::ContactPatch::default())
        .send()
        .await;
    assert_eq!(patched.unwrap_err().status().map(|s| s.as_u16()), Some(502));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(seen.lock().unwrap()[0].method, "PATCH");
    assert_eq!(seen.lock().unwrap()[0].idempotency_key, None);
    // ... but a 429 (refused before acting) is.
    let (url, seen) = scripted_server(vec![Status(429, None), Contact(200)]).await;
    retrying(&url)
        .contacts_update()
        .id(id)
        .body(momentum_sdk::patch::ContactPatch::default())
        .send()
        .await
        .expect("retried after the 429");
    assert_eq!(seen.lock().unwrap().len(), 2);
    // A read is safe to repeat after a cut-off answer.
    let (url, seen) = scripted_server(vec![CutOff, Contact(200)]).await;
    retrying(&url).contacts_get().id(id).send().await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
    // A Retry-After beyond the policy's longest wait is returned, not waited for.
    let (url, seen) = scripted_server(vec![Status(429, Some(3600)), Contact(201)]).await;
    let started = std::time::Instant::now();
    let refused = retrying(&url)
        .contacts_create()
        .body(ContactCreate::builder().first_name("Ada"))
        .send()
        .await
        .refused(429, ANY_CODE);
    assert_eq!(refused.code(), ErrorCode::Unknown("x".into()));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Attempts run out: the last answer is returned.
    let (url, seen) = scripted_server(vec![Status(503, None)]).await;
    let failed = retrying(&url).contacts_get().id(id).send().await;
    assert_eq!(failed.unwrap_err().status().map(|s| s.as_u16()), Some(503));
    assert_eq!(seen.lock().unwrap().len(), 8);
}

#[tokio::test]
async fn bodies_take_plain_strings_and_the_server_validates_them() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let ada = c
        .contacts_create()
        .body(
            ContactCreate::builder()
                .first_name("Ada")
                .last_name("Lovelace")
                .email("ada@example.com")
                .tags(vec!["vip".to_owned()]),
        )
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(ada.first_name.as_deref(), Some("Ada"));
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(ada.tags, ["vip"]);
    // A value the server's rules refuse is sent as given and refused with its field named.
    let err = c
        .contacts_create()
        .body(ContactCreate::builder().first_name("x".repeat(10_000)))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert_eq!(err.error.details[0].field, "first_name");
    // A required field left out fails the call before anything is sent, naming it.
    let missing = c
        .companies_create()
        .body(types::CompanyCreate::builder().domain("example.com"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, momentum_sdk::Error::InvalidRequest(m) if m.contains("name")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_error_code_is_an_enum_and_a_304_is_a_value() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    match c.contacts_get().id(uuid::Uuid::now_v7()).send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            assert_eq!(resp.status().as_u16(), 404);
            assert_eq!(resp.code(), ErrorCode::NotFound);
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    let ada = create(c, person("Ada", "ada@example.com")).await;
    let read = c.contacts_get().id(ada.id).send().await.unwrap();
    let tag = etag(&read).unwrap().to_owned();
    let again = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(tag.as_str())
        .send_conditional()
        .await
        .unwrap();
    assert!(matches!(again, Conditional::NotModified), "{again:?}");
    c.contacts_update()
        .id(ada.id)
        .body(momentum_sdk::patch::ContactPatch {
            title: Some(Some("CTO".into())),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let changed = c
        .contacts_get()
        .id(ada.id)
        .if_none_match(tag.as_str())
        .send_conditional()
        .await
        .unwrap()
        .modified()
        .expect("changed since the tag");
    assert_eq!(changed.into_inner().data.title.as_deref(), Some("CTO"));
}
