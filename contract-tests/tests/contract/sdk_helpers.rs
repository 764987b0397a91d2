//! The SDK's helpers against the real server: lists as streams, and the retry policy
//! with idempotency keys through a connection that loses an answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use momentum_contract_tests::TestApp;
use momentum_sdk::pagination::Paginate;
use momentum_sdk::retry::RetryPolicy;
use momentum_sdk::types::{self, EventType};
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

#[tokio::test]
async fn the_retry_policy_creates_exactly_once_when_the_first_answer_is_lost() {
    let app = TestApp::spawn().await;
    let upstream = app.base_url.trim_start_matches("http://").to_owned();
    let (proxy, connections) = answer_losing_proxy(upstream).await;
    let client = momentum_sdk::Client::with_api_key(&proxy, &app.api_key).unwrap();
    let body = person("Once", "once@example.com");
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };

    let created = policy
        .send(|key| {
            client
                .contacts_create()
                .idempotency_key(key)
                .body(body.clone())
                .send()
        })
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

    // Without the policy the same loss is an error for the caller.
    let (proxy, _) =
        answer_losing_proxy(app.base_url.trim_start_matches("http://").to_owned()).await;
    let bare = momentum_sdk::Client::with_api_key(&proxy, &app.api_key).unwrap();
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
    policy
        .send(|key| {
            app.client
                .contacts_create()
                .idempotency_key(key)
                .body(person("Dup", "once@example.com"))
                .send()
        })
        .await
        .refused(409, ANY_CODE);
}
