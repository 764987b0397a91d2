//! A webhook receiver on 127.0.0.1 for the tests: records every request (headers and
//! body) and answers each with the next scripted status, or 204 once the script is done.

#![allow(clippy::unwrap_used)] // test support: a panic is how a test fails

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{handler, web::Data, Body, EndpointExt, Request, Response, Route, Server};
use reqwest::header::HeaderMap;
use tokio::sync::{oneshot, Notify};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// How to answer one request.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
}

impl From<u16> for Reply {
    fn from(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    arrived: Notify,
}

pub struct Receiver {
    /// The URL to register as an endpoint.
    pub url: String,
    state: Arc<State>,
    _stop: oneshot::Sender<()>,
}

/// A free port on 127.0.0.1 with nothing listening on it yet: an endpoint that is down
/// until [`Receiver::start_on`] opens it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[handler]
async fn receive(req: &Request, body: Body, state: Data<&Arc<State>>) -> Response {
    let body = body.into_vec().await.unwrap_or_default();
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::from(204));
    state.received.lock().unwrap().push(Received {
        headers: req.headers().clone(),
        body,
    });
    state.arrived.notify_waiters();
    let mut resp = Response::builder()
        .status(poem::http::StatusCode::from_u16(reply.status).unwrap())
        .body(format!("answered {}", reply.status));
    if let Some(secs) = reply.retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(0).await
    }

    /// Listens on `port` of 127.0.0.1 (0: any free port).
    pub async fn start_on(port: u16) -> Receiver {
        let acceptor = TcpListener::bind(format!("127.0.0.1:{port}"))
            .into_acceptor()
            .await
            .expect("bind the receiver");
        let addr: SocketAddr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let state = Arc::new(State::default());
        let app = Route::new().at("/hook", receive).data(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(
            Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                app,
                async {
                    let _ = rx.await;
                },
                Some(Duration::from_millis(100)),
            ),
        );
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
            _stop: tx,
        }
    }

    /// Answers the next requests with these, in order (then 204 again).
    pub fn script(&self, replies: impl IntoIterator<Item = impl Into<Reply>>) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(replies.into_iter().map(Into::into));
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received, or panics after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let received = self.received();
                if done(&received) {
                    return received;
                }
                panic!(
                    "waited {within:?} for {what}; received {} requests",
                    received.len()
                );
            }
        }
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        self.wait_until(within, &format!("{n} requests"), |r| r.len() >= n)
            .await
    }
}
