//! The outbox survives a crash: `momentum serve` is killed with SIGKILL while deliveries
//! are pending, and after a restart every event is delivered, under its own `webhook-id`.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use momentum_server::db::embedded::{Disposable, OWNER_ROLE, RUNTIME_ROLE};
use momentum_server::db::{self, tenants};
use poem::listener::TcpListener;
use poem::{handler, web::Data, EndpointExt, Request, Route, Server};
use serde_json::{json, Value};

/// The server process; killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Momentum(Child);

impl Drop for Momentum {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database_url: &str, port: u16) -> Momentum {
    let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
        .env("MOMENTUM_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("MOMENTUM_WEBHOOK_RETRY_SCHEDULE", "200ms,".repeat(60))
        .env("MOMENTUM_WEBHOOK_TIMEOUT_SECS", "2")
        .env("MOMENTUM_WEBHOOK_POLL_MS", "100")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start momentum");
    let server = Momentum(child);
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..300 {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("momentum did not start");
}

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

#[handler]
async fn receive(req: &Request, body: Vec<u8>, seen: Data<&Seen>) -> &'static str {
    let id = req.header("webhook-id").unwrap_or_default().to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((id, body));
    "ok"
}

#[tokio::test]
async fn after_a_sigkill_and_a_restart_every_pending_event_is_delivered() {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, "Crash", "owner@crash.example")
        .await
        .unwrap();
    let database_url = format!(
        "postgres://{RUNTIME_ROLE}@localhost/{name}?host={}&port=5432",
        disposable.cluster.socket_dir().display()
    );
    let port = free_port();
    let receiver_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&tenant.api_key)
            .json(&body)
            .send()
    };

    let server = start(&database_url, port).await;
    // The receiver is down: nothing listens on its port yet.
    let created = post(
        "/v1/webhook-endpoints",
        json!({ "url": format!("http://127.0.0.1:{receiver_port}/hook") }),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let endpoint: Value = created.json().await.unwrap();
    let endpoint_id = endpoint["data"]["id"].as_str().unwrap().to_owned();
    for i in 0..20 {
        let resp = post(
            "/v1/contacts",
            json!({ "first_name": "Crash", "email": format!("c{i}@crash.example") }),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let events: Value = http
        .get(format!("{base}/v1/events?type=contact.created&limit=100"))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: HashSet<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 20);
    // Let the worker fail a few attempts, then kill it without warning.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pending: Value = http
        .get(format!(
            "{base}/v1/webhook-endpoints/{endpoint_id}/deliveries?status=pending&limit=100"
        ))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pending = pending["data"].as_array().unwrap();
    assert_eq!(
        pending.len(),
        20,
        "every delivery is still pending at the kill"
    );
    assert!(pending
        .iter()
        .any(|d| d["attempt_count"].as_i64() > Some(0)));
    drop(server);

    let seen: Seen = Arc::default();
    let app = Route::new().at("/hook", receive).data(Arc::clone(&seen));
    tokio::spawn(Server::new(TcpListener::bind(format!("127.0.0.1:{receiver_port}"))).run(app));
    let _server = start(&database_url, port).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ids: HashSet<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_superset(&expected) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 20 events delivered after the restart",
            ids.intersection(&expected).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (id, body) in seen.lock().unwrap().iter() {
        assert_eq!(body["type"], "contact.created");
        assert!(
            expected.contains(id),
            "webhook-id {id} is one of the events"
        );
    }
}
