//! A closed-loop HTTP/1.1 load generator on hyper, like `wrk -c N`: `concurrency`
//! keep-alive connections, each sending its next request as soon as it has read the
//! previous answer. Only requests started after the warm-up and answered before the end
//! are counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stats::Latencies;

/// What the `n`-th request of a run is: method, path with query, and JSON body.
pub type Spec = Arc<dyn Fn(u64) -> (Method, String, Option<String>) + Send + Sync>;

/// Where requests go and the key they carry.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub api_key: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub latencies: Latencies,
    /// Answers outside 2xx, and requests that got no answer.
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
}

pub async fn run(
    target: &Target,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    spec: Spec,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let target = target.clone();
        let spec = spec.clone();
        let seq = seq.clone();
        tasks.push(tokio::spawn(async move {
            connection(target, spec, seq, from, until).await
        }));
    }
    let mut total = Outcome {
        seconds: measure.as_secs_f64(),
        ..Outcome::default()
    };
    for task in tasks {
        let part = task.await.context("a load connection panicked")??;
        total.latencies.merge(part.latencies);
        total.errors += part.errors;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
    }
    Ok(total)
}

/// Sends one request and reads its whole answer.
pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
    method: Method,
    path: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", target.addr.to_string())
        .header("authorization", format!("Bearer {}", target.api_key));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// A keep-alive HTTP/1.1 connection to the target.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    Ok(connect_driven(addr).await?.0)
}

/// A keep-alive HTTP/1.1 connection and the task driving it, which ends once the
/// connection has closed (the sender dropped, or the server closed its side).
pub async fn connect_driven(
    addr: SocketAddr,
) -> anyhow::Result<(SendRequest<Full<Bytes>>, tokio::task::JoinHandle<()>)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        // A request in flight when the connection ends reports the error itself.
        let _ = conn.await;
    });
    Ok((sender, driver))
}

async fn connection(
    target: Target,
    spec: Spec,
    seq: Arc<AtomicU64>,
    from: Instant,
    until: Instant,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let mut sender = connect(target.addr).await?;
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let (method, path, body) = spec(seq.fetch_add(1, Ordering::Relaxed));
        let result = send(&mut sender, &target, method, &path, body).await;
        let done = Instant::now();
        let counted = started >= from && done <= until;
        match result {
            Ok((status, _)) if (200..300).contains(&status) => {
                if counted {
                    out.latencies.record(done - started);
                }
            }
            Ok((status, body)) => {
                if counted {
                    out.errors += 1;
                }
                out.first_error
                    .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(err) => {
                if counted {
                    out.errors += 1;
                }
                out.first_error.get_or_insert_with(|| format!("{err:#}"));
                sender = connect(target.addr).await?;
            }
        }
    }
    Ok(out)
}
