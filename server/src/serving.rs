//! The HTTP server loop: accepts connections and serves the poem endpoint over hyper
//! directly.
//!
//! poem's own `Server` builds hyper's connection builder itself and exposes neither a
//! header read timeout (it sets no timer, so hyper's timeout never runs) nor the size of a
//! request head (hyper's ~400 KB buffer): a client trickling its headers stayed connected
//! for good, and a 64 KiB header was accepted. This loop sets both and keeps what poem's
//! did: the peer's address on each request (rate limiting reads it), keep-alive, HTTP/1.1
//! and HTTP/2 with prior knowledge, and a graceful shutdown that lets in-flight requests
//! finish within a grace period.
//!
//! What a client meets at these limits comes from hyper, not from the edge middleware, so
//! it carries no error envelope: a head over the limit is answered a bare `431 Request
//! Header Fields Too Large` and the connection closed; a head not complete in time (and an
//! idle keep-alive connection past the same time) is closed without an answer.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::Endpoint;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// hyper refuses a head buffer below this (it panics): the smallest header limit allowed.
pub const MIN_HEADER_BYTES: usize = 8192;

/// What a client must do within bounds before a request reaches the routes.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a complete request head: from the connection's start for its first
    /// request, from the end of the previous answer for the next one (so it is also how
    /// long an idle keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Serves `endpoint` on the connections `acceptor` hands over until `shutdown` resolves;
/// then accepts no more, lets requests in flight finish for up to `grace`, and closes
/// whatever is left.
pub async fn serve<A, E>(
    mut acceptor: A,
    endpoint: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    A: Acceptor,
    E: Endpoint + 'static,
{
    let endpoint = Arc::new(endpoint);
    let builder = Arc::new(builder(limits));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    for addr in acceptor.local_addr() {
        tracing::info!(addr = %addr, "listening");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Finished connections are collected as they end, so the set holds only live
            // ones.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_panic(joined);
            }
            accepted = acceptor.accept() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    connections.spawn(connection(
                        io,
                        Peer { local, remote, scheme },
                        Arc::clone(&endpoint),
                        Arc::clone(&builder),
                        limits.header_read_timeout,
                        stopping.clone(),
                    ));
                }
                Err(err) => {
                    // Out of file descriptors, typically: waiting a little lets some
                    // close, where retrying at once would spin.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(acceptor);
    tracing::info!(
        connections = connections.len(),
        grace_secs = grace.as_secs_f64(),
        "stopped accepting; finishing requests in flight"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = connections.join_next().await {
            log_panic(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "the shutdown grace is over; closing connections with requests still running"
        );
        connections.abort_all();
    }
    Ok(())
}

fn log_panic(joined: Result<(), tokio::task::JoinError>) {
    // Handlers' panics are caught by the edge; one here is hyper's or the loop's own.
    if let Err(err) = joined {
        if err.is_panic() {
            tracing::error!("a connection task panicked");
        }
    }
}

fn builder(limits: ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper cannot time anything, and the header read timeout is
    // silently off: that was the whole gap with poem's `Server`.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper answers 431 when a head does not fit its read buffer; this hyper-util
        // offers no separate head limit, so the buffer is the limit. A body is streamed
        // through the same buffer, in reads of at most this size.
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // What poem's `Server` set: a client resetting streams in a loop is cut off.
        .max_pending_accept_reset_streams(20);
    builder
}

/// The addresses and scheme poem's `Request` carries, from the acceptor.
struct Peer {
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: poem::http::uri::Scheme,
}

async fn connection<I, E>(
    io: I,
    peer: Peer,
    endpoint: Arc<E>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    first_request_within: Duration,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    E: Endpoint + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let service = {
        let started = Arc::clone(&started);
        hyper::service::service_fn(move |req: poem::http::Request<Incoming>| {
            started.store(true, Ordering::Relaxed);
            let endpoint = Arc::clone(&endpoint);
            let req = poem::Request::from((
                req,
                peer.local.clone(),
                peer.remote.clone(),
                peer.scheme.clone(),
            ));
            async move {
                let resp = endpoint.get_response(req).await;
                Ok::<_, Infallible>(poem::http::Response::from(resp))
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    // hyper's header read timeout starts once it knows the protocol: before that (the
    // first bytes, an HTTP/2 preface) and for HTTP/2's first request nothing bounds a
    // slow client, so the first request must have started within the same time.
    let first_request = tokio::time::sleep(first_request_within);
    tokio::pin!(first_request);
    let mut watching = true;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = &mut first_request, if watching => {
                if !started.load(Ordering::Relaxed) {
                    // Dropping the connection closes the socket.
                    return;
                }
                watching = false;
            }
            _ = stopping.wait_for(|stop| *stop) => break,
        }
    }
    // hyper finishes the request in flight, answers it with `Connection: close` (an
    // HTTP/2 GOAWAY), and closes an idle connection at once.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
