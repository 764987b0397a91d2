//! Helpers more than one test file uses: free ports, polling until something holds, GETs
//! with an API key, and webhook receivers that record what they are sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::listener::TcpListener;
use poem::{handler, web::Data, EndpointExt, Request, Route, Server};
use serde_json::Value;
use tokio::time::Instant;

/// A port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The JSON body of a GET of `url` with the API key `key`.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl, key: &str) -> Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Creates a webhook endpoint sending to `http://127.0.0.1:{port}/hook` at the server at
/// `base`, with the API key `key`; asserts it is created and returns its id.
pub async fn create_hook(http: &reqwest::Client, base: &str, key: &str, port: u16) -> String {
    let resp = http
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(key)
        .json(&serde_json::json!({ "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    created["data"]["id"].as_str().unwrap().to_owned()
}

/// Creates a contact called `first_name` for each of `emails`, one after the other;
/// asserts each is created.
pub async fn create_contacts(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    first_name: &str,
    emails: impl IntoIterator<Item = String>,
) {
    for email in emails {
        let resp = http
            .post(format!("{base}/v1/contacts"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "first_name": first_name, "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{email}");
    }
}

/// What a receiver was sent: each request's `webhook-id` and JSON body, in order.
pub type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn record(req: &Request, body: &[u8], seen: &Seen) {
    let id = req.header("webhook-id").unwrap_or_default().to_owned();
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((id, body));
}

#[handler]
async fn receive(req: &Request, body: Vec<u8>, seen: Data<&Seen>) -> &'static str {
    record(req, &body, &seen);
    "ok"
}

#[handler]
async fn receive_slowly(req: &Request, body: Vec<u8>, seen: Data<&Seen>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(250)).await;
    record(req, &body, &seen);
    "ok"
}

/// A receiver at `http://127.0.0.1:{port}/hook` recording what it is sent; `slow` makes
/// it take 250 ms over each answer.
pub fn receiver_on(port: u16, slow: bool) -> Seen {
    let seen: Seen = Arc::default();
    let route = if slow {
        Route::new().at("/hook", receive_slowly)
    } else {
        Route::new().at("/hook", receive)
    };
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(route.data(Arc::clone(&seen))),
    );
    seen
}

/// A receiver as [`receiver_on`] on a free port; returns the port too.
pub fn recording_receiver(slow: bool) -> (u16, Seen) {
    let port = free_port();
    (port, receiver_on(port, slow))
}
