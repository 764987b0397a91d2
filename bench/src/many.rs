//! Many connections (case `many_connections`): the server holds `connections` keep-alive
//! HTTP/1.1 connections, all but `concurrency` of them idle, while the busy ones run the
//! `get_contact` load exactly as that case does. Each idle connection is opened first and
//! sends one authenticated `GET /v1/contacts/{id}`, so it is one the server has served,
//! then stays silent; at the end of the window every one must still be open.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::load::{self, Spec, Target};
use crate::report::Measured;
use crate::sbs::{self, Build, Sample};

/// The setting under which the server closes an idle keep-alive connection
/// (`server/src/serving.rs`: a connection with nothing in flight for the header read
/// timeout is closed), named in the report when the server closed some.
pub const IDLE_TIMEOUT_SETTING: &str = "MOMENTUM_HEADER_READ_TIMEOUT_SECS";

/// One build's figures.
#[derive(Debug, Serialize)]
pub struct ManyBuild {
    pub build: &'static str,
    /// The busy connections' load.
    pub busy: crate::report::Measured,
    pub cost: crate::cost::Cost,
    /// `VmRSS` at the end of the build's last slice, all connections open.
    pub rss_mb: f64,
    /// `VmHWM`: the largest resident set since the server started.
    pub peak_rss_mb: f64,
    /// Idle connections that could not be opened or whose first request failed.
    pub idle_failed: u64,
    /// Idle connections the server had closed by the end of the window.
    pub idle_closed: u64,
    /// The busy p99 over the `get_contact` case's p99 of the same build in this run.
    pub p99_vs_get_contact: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ManyResult {
    pub connections: usize,
    pub idle: usize,
    pub busy_connections: usize,
    /// The candidate first, then the baseline when there is one.
    pub builds: Vec<ManyBuild>,
}

/// An open idle connection: its sender (dropping it would close the connection) and the
/// task driving it, which ends when the server closes its side.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Idle {
    fn is_closed(&self) -> bool {
        self.driver.is_finished() || self.sender.is_closed()
    }
}

/// Opens `count` connections to `target`, each after one request of `spec` answered
/// with 2xx, `parallel` at a time. Returns the open ones and how many failed.
async fn open_idle(
    target: &Target,
    spec: &Spec,
    count: usize,
    parallel: usize,
) -> anyhow::Result<(Vec<Idle>, u64, Option<String>)> {
    let parallel = parallel.clamp(1, count.max(1));
    let mut tasks = Vec::with_capacity(parallel);
    for worker in 0..parallel {
        // Worker `w` opens connections w, w + parallel, w + 2 × parallel…
        let mine = (worker..count).step_by(parallel).count();
        let target = target.clone();
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let mut open = Vec::with_capacity(mine);
            let mut failed = 0;
            let mut first_error = None;
            for n in 0..mine {
                match open_one(&target, &spec, (worker + n * parallel) as u64).await {
                    Ok(idle) => open.push(idle),
                    Err(err) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{err:#}"));
                    }
                }
            }
            (open, failed, first_error)
        }));
    }
    let mut open = Vec::with_capacity(count);
    let mut failed = 0;
    let mut first_error = None;
    for task in tasks {
        let (part, part_failed, part_error) = task.await?;
        open.extend(part);
        failed += part_failed;
        if first_error.is_none() {
            first_error = part_error;
        }
    }
    Ok((open, failed, first_error))
}

async fn open_one(target: &Target, spec: &Spec, n: u64) -> anyhow::Result<Idle> {
    let (mut sender, driver) = load::connect_driven(target.addr).await?;
    let (method, path, body) = spec(n);
    let (status, answer) = load::send(&mut sender, target, method, &path, body).await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "{status}: {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(Idle { sender, driver })
}

/// Runs the case over `builds` in the side-by-side plan: each build's idle connections
/// are opened before its first slice and stay open until its last slice has ended,
/// when the server's memory is read and the connections are checked.
/// `get_contact_p99_ms`: each build's p99 in the `get_contact` case of this run.
pub async fn measure(
    builds: &[Build],
    spec: &Spec,
    connections: usize,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    get_contact_p99_ms: &[Option<f64>],
) -> anyhow::Result<ManyResult> {
    let idle = connections.saturating_sub(concurrency);
    let plan = sbs::plan(builds.len(), measure);
    let mut samples: Vec<Sample> = builds.iter().map(|_| Sample::default()).collect();
    let mut held: Vec<Vec<Idle>> = builds.iter().map(|_| Vec::new()).collect();
    let mut failed = vec![0_u64; builds.len()];
    let mut closed = vec![0_u64; builds.len()];
    let mut rss = vec![(0.0, 0.0); builds.len()];
    for (i, step) in plan.iter().enumerate() {
        match *step {
            sbs::Step::WarmUp { build: b } => {
                let build = &builds[b];
                eprintln!("  {}: opening {idle} idle connections…", build.name);
                let (open, fails, first_error) =
                    open_idle(&build.target, spec, idle, concurrency).await?;
                if let Some(err) = first_error {
                    eprintln!("  {fails} idle connections failed; the first: {err}");
                }
                held[b] = open;
                failed[b] = fails;
                sbs::warm_up(build, spec, concurrency, warmup).await?;
            }
            sbs::Step::Measure { build: b, measure } => {
                let build = &builds[b];
                let (outcome, usage) = sbs::slice(build, spec, concurrency, measure).await?;
                samples[b].add(outcome, usage);
                let last = !plan[i + 1..]
                    .iter()
                    .any(|later| matches!(later, sbs::Step::Measure { build, .. } if *build == b));
                if last {
                    rss[b] = (build.server.rss_mb(), build.server.peak_rss_mb());
                    closed[b] = held[b].iter().filter(|c| c.is_closed()).count() as u64;
                    if closed[b] > 0 {
                        eprintln!(
                            "  {}: the server closed {} of its {} idle connections before the \
                             end (its idle keep-alive timeout: {IDLE_TIMEOUT_SETTING})",
                            build.name,
                            closed[b],
                            held[b].len()
                        );
                    }
                    // Closed now, so the other build's last slices run with only its own
                    // connections open.
                    held[b].clear();
                }
            }
        }
    }
    let builds = builds
        .iter()
        .zip(samples)
        .enumerate()
        .map(|(i, (build, sample))| {
            if let Some(err) = &sample.first_error {
                eprintln!("  {}: first error: {err}", build.name);
            }
            let (busy, cost): (Measured, _) = sample.finish();
            let p99_vs_get_contact = get_contact_p99_ms
                .get(i)
                .copied()
                .flatten()
                .filter(|p99| *p99 > 0.0)
                .map(|p99| busy.p99_ms / p99);
            ManyBuild {
                build: build.name,
                busy,
                cost,
                rss_mb: rss[i].0,
                peak_rss_mb: rss[i].1,
                idle_failed: failed[i],
                idle_closed: closed[i],
                p99_vs_get_contact,
            }
        })
        .collect();
    Ok(ManyResult {
        connections,
        idle,
        busy_connections: concurrency,
        builds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers one request on each connection, then closes it when told.
    #[tokio::test]
    async fn a_connection_the_server_closes_counts_as_closed() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0_u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await;
            let _ = close_rx.await;
            drop(stream);
        });
        let target = Target {
            addr,
            api_key: "key".into(),
        };
        let spec: Spec = Arc::new(|_| (Method::GET, "/".into(), None));
        let idle = open_one(&target, &spec, 0).await?;
        assert!(!idle.is_closed(), "open after its answer");
        close_tx.send(()).ok();
        // The driver sees the close as soon as it reads the end of the stream.
        tokio::time::timeout(Duration::from_secs(30), async {
            while !idle.is_closed() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await?;
        assert!(idle.is_closed());
        Ok(())
    }

    #[tokio::test]
    async fn an_answer_outside_2xx_fails_the_idle_connection() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0_u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                .await;
            let _ = stream.read(&mut buf).await;
        });
        let target = Target {
            addr,
            api_key: "wrong".into(),
        };
        let spec: Spec = Arc::new(|_| (Method::GET, "/".into(), None));
        let (open, failed, first_error) = open_idle(&target, &spec, 1, 4).await?;
        assert!(open.is_empty());
        assert_eq!(failed, 1);
        assert!(first_error.is_some_and(|e| e.starts_with("401")));
        Ok(())
    }
}
