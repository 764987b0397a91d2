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
//!
//! Connections themselves are bounded too: at most `max_connections` are served at once
//! (more wait in the listen queue until one closes), an HTTP/2 connection carries at most
//! `http2_max_streams` requests at once and is pinged so a vanished peer frees its slot,
//! and a connection with nothing in flight for the header read timeout is closed, HTTP/2
//! included (hyper has no idle timeout for it).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::Endpoint;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

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
    /// Connections served at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// Requests (streams) one HTTP/2 connection may have in flight at once.
    pub http2_max_streams: u32,
    /// How often an HTTP/2 connection is pinged, and how long the answer may take before
    /// the connection is closed: a peer that vanished frees its connection.
    pub http2_keep_alive_interval: Duration,
    pub http2_keep_alive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_connections: 10_000,
            http2_max_streams: 100,
            http2_keep_alive_interval: Duration::from_secs(20),
            http2_keep_alive_timeout: Duration::from_secs(20),
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
    // One permit per connection served. While none is free nothing is accepted: new
    // connections wait in the kernel's listen queue (and past its length, the kernel
    // refuses them) until a connection closes.
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut full = false;
    tokio::pin!(shutdown);
    for addr in acceptor.local_addr() {
        tracing::info!(addr = %addr, "listening");
    }
    loop {
        if slot.is_none() && slots.available_permits() == 0 && !full {
            full = true;
            tracing::warn!(
                max_connections = limits.max_connections,
                "every connection slot is taken; new connections wait until one closes"
            );
        }
        tokio::select! {
            () = &mut shutdown => break,
            // Finished connections are collected as they end, so the set holds only live
            // ones.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_panic(joined);
            }
            permit = Arc::clone(&slots).acquire_owned(), if slot.is_none() => match permit {
                Ok(permit) => {
                    slot = Some(permit);
                    full = false;
                }
                // The semaphore is never closed.
                Err(_) => break,
            },
            accepted = acceptor.accept(), if slot.is_some() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    connections.spawn(connection(
                        io,
                        Peer { local, remote, scheme },
                        Arc::clone(&endpoint),
                        Arc::clone(&builder),
                        limits.header_read_timeout,
                        stopping.clone(),
                        slot.take(),
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
        .max_pending_accept_reset_streams(20)
        // hyper's default is 200 requests in flight per connection: one client's share
        // of the pool and the limits is better kept smaller.
        .max_concurrent_streams(limits.http2_max_streams)
        // A peer that vanished (no FIN: a dead NAT entry, a pulled cable) would keep its
        // connection, and its slot under `max_connections`, for good.
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_timeout);
    builder
}

/// The addresses and scheme poem's `Request` carries, from the acceptor.
struct Peer {
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: poem::http::uri::Scheme,
}

/// What the connection loop knows of its requests, to close the connection once idle.
struct Activity {
    /// When the connection was accepted: what `last_ms` counts from.
    opened: Instant,
    /// Whether a request ever started.
    started: AtomicBool,
    /// Requests being answered now.
    in_flight: AtomicUsize,
    /// When the last answer was handed over, in milliseconds since `opened`.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            started: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Counts a request until the guard is dropped (answered, or its connection gone).
    fn request(self: &Arc<Self>) -> InFlight {
        self.started.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// When the connection counts as idle for `idle`: `None` while a request is in
    /// flight.
    fn idle_at(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(self.opened + last + idle)
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let since = self.0.opened.elapsed().as_millis();
        self.0
            .last_ms
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection<I, E>(
    io: I,
    peer: Peer,
    endpoint: Arc<E>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    idle: Duration,
    mut stopping: watch::Receiver<bool>,
    // Held for as long as the connection is open, so the loop accepts no more than its
    // share.
    _slot: Option<OwnedSemaphorePermit>,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    E: Endpoint + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |req: poem::http::Request<Incoming>| {
            let in_flight = activity.request();
            let endpoint = Arc::clone(&endpoint);
            let req = poem::Request::from((
                req,
                peer.local.clone(),
                peer.remote.clone(),
                peer.scheme.clone(),
            ));
            async move {
                let resp = endpoint.get_response(req).await;
                drop(in_flight);
                Ok::<_, Infallible>(poem::http::Response::from(resp))
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    // hyper's header read timeout starts once it knows the protocol: before that (the
    // first bytes, an HTTP/2 preface) and for HTTP/2's first request nothing bounds a
    // slow client, so the first request must have started within the same time. After
    // it, a connection with no request in flight for that long is closed: hyper does so
    // for HTTP/1 keep-alive, but has no idle timeout for HTTP/2 at all.
    let check = tokio::time::sleep(idle);
    tokio::pin!(check);
    let shutting_down = loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = &mut check => {
                if !activity.started.load(Ordering::Relaxed) {
                    // Dropping the connection closes the socket.
                    return;
                }
                match activity.idle_at(idle) {
                    Some(at) if at <= Instant::now() => break false,
                    Some(at) => check.as_mut().reset(at),
                    None => check.as_mut().reset(Instant::now() + idle),
                }
            }
            _ = stopping.wait_for(|stop| *stop) => break true,
        }
    };
    // hyper finishes the request in flight, answers it with `Connection: close` (an
    // HTTP/2 GOAWAY), and closes an idle connection at once.
    conn.as_mut().graceful_shutdown();
    if shutting_down {
        // The shutdown's grace bounds this.
        let _ = conn.await;
    } else {
        // Idle: nothing is in flight, so the close is prompt unless the peer does not
        // take part (an HTTP/2 GOAWAY's ping unanswered); it gets as long again.
        let _ = tokio::time::timeout(idle, conn).await;
    }
}
