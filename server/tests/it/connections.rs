//! What a client can hold open: at most `max_connections` connections are served at once
//! (more wait to be accepted), and an HTTP/2 connection has a stream limit and is closed
//! once idle, as an HTTP/1 keep-alive connection is.

use std::time::Duration;

use momentum_server::db;
use momentum_server::db::embedded::RUNTIME_ROLE;
use momentum_server::startup::{Application, HttpSettings};
use momentum_server::testing::postgres::Disposable;
use poem::http;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A server on the shared cluster with `settings`, without a webhook worker (the API's
/// role may not run one, and these tests need none); its address and what stops it.
async fn server(settings: HttpSettings) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let settings = HttpSettings {
        webhooks: momentum_server::webhooks::WebhookSettings {
            worker: false,
            ..settings.webhooks
        },
        ..settings
    };
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let pool = db::connect(disposable.cluster.connect_options(RUNTIME_ROLE, &name), 2)
        .await
        .unwrap();
    let app = Application::build(pool, "127.0.0.1:0", settings)
        .await
        .unwrap();
    let addr = format!("127.0.0.1:{}", app.port()).parse().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    (addr, stop)
}

/// Sends a keep-alive `GET /healthz` on `stream`.
async fn ask(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
}

/// Reads the head of an answer on `stream` (the probe's body is small enough to come
/// with it); `None` if nothing came within `within`.
async fn answer(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(_) => Some(String::new()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let (addr, _stop) = server(HttpSettings {
        max_connections: 2,
        ..HttpSettings::default()
    })
    .await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for stream in [&mut first, &mut second] {
        ask(stream).await;
        let head = answer(stream, Duration::from_secs(10)).await.unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // Both are kept alive: a third connection is made (the kernel queues it) but is not
    // served while they are open.
    let mut third = TcpStream::connect(addr).await.unwrap();
    ask(&mut third).await;
    assert_eq!(
        answer(&mut third, Duration::from_secs(1)).await,
        None,
        "served past the cap"
    );
    drop(first);
    let head = answer(&mut third, Duration::from_secs(10))
        .await
        .expect("served once a connection closed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// An HTTP/2 connection (prior knowledge) to `addr`, and the task driving it, which ends
/// when the connection does.
async fn http2(
    addr: std::net::SocketAddr,
) -> (
    h2::client::SendRequest<hyper::body::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    (client, tokio::spawn(connection))
}

/// Sends `method /healthz` on `client`: the status, `Content-Length` and body.
async fn probe(
    client: &mut h2::client::SendRequest<hyper::body::Bytes>,
    addr: std::net::SocketAddr,
    method: &str,
) -> (u16, Option<String>, Vec<u8>) {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}/healthz"))
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (response, _) = ready.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let length = response
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    (status, length, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_has_a_stream_limit_and_is_closed_once_idle() {
    let (addr, _stop) = server(HttpSettings {
        // Also the idle timeout, for HTTP/2 as for HTTP/1 keep-alive.
        header_read_timeout: Duration::from_secs(1),
        http2_max_streams: 3,
        ..HttpSettings::default()
    })
    .await;
    let (mut client, connection) = http2(addr).await;
    let (status, length, body) = probe(&mut client, addr, "GET").await;
    assert_eq!(status, 200);
    assert_eq!(length, Some(body.len().to_string()));
    // HEAD over HTTP/2 too: the GET's length, no body.
    let (status, head_length, head_body) = probe(&mut client, addr, "HEAD").await;
    assert_eq!((status, head_length, head_body.len()), (200, length, 0));
    // The server's SETTINGS allow three concurrent streams, so a client opens no fourth.
    assert_eq!(client.current_max_send_streams(), 3);
    // Nothing more is sent: the server closes the connection (GOAWAY) once idle.
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection is still open after 10 s"
    );
}
