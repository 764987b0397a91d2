//! The outbox survives a crash: `momentum serve` is killed with SIGKILL while deliveries
//! are pending, and after a restart every event is delivered, under its own `webhook-id`;
//! killed in the middle of concurrent writes, it loses no acknowledged change and no
//! event, and leaves nothing half-written; and events committed while the worker claims
//! are sent at once, none left waiting for its lease to run out.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use momentum_server::db::embedded::{OWNER_ROLE, RUNTIME_ROLE, WORKER_ROLE};
use momentum_server::db::tenants::ProvisionedTenant;
use momentum_server::db::{self, tenants};
use momentum_server::testing::postgres::Disposable;
use serde_json::{json, Value};

use crate::support::{
    create_contacts, create_hook, free_port, get_json, receiver_on, recording_receiver, Seen,
};

/// The server process; killed (SIGKILL) when dropped, so a failing test leaves none behind.
pub struct Momentum(Child);

impl Drop for Momentum {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(database_url: &str, port: u16) -> Momentum {
    start_with(database_url, port, &[]).await
}

/// The URL of the same database as `database_url` (the runtime role's), for the worker's
/// role, which the webhook worker and the purges connect as.
pub fn worker_url(database_url: &str) -> String {
    database_url.replacen(
        &format!("postgres://{RUNTIME_ROLE}@"),
        &format!("postgres://{WORKER_ROLE}@"),
        1,
    )
}

/// `momentum serve` on `database_url` (the worker on [`worker_url`]), with `env` set
/// over the defaults; returns once `/healthz` answers.
pub async fn start_with(database_url: &str, port: u16, env: &[(&str, &str)]) -> Momentum {
    let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("MOMENTUM_WORKER_DATABASE_URL", worker_url(database_url))
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .env("MOMENTUM_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("MOMENTUM_WEBHOOK_RETRY_SCHEDULE", "200ms,".repeat(60))
        .env("MOMENTUM_WEBHOOK_TIMEOUT_SECS", "2")
        .env("MOMENTUM_WEBHOOK_POLL_MS", "100")
        .env("RUST_LOG", "warn")
        // Last, so a test's own values win over the defaults above.
        .envs(env.iter().copied())
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

/// A tenant in a fresh database of the shared cluster, and the URL the server connects
/// to that database with, as the runtime role.
pub async fn tenant_database(company: &str, owner_email: &str) -> (ProvisionedTenant, String) {
    let disposable = Disposable::shared();
    let name = disposable.fresh_database().await.unwrap();
    let owner = db::connect(disposable.cluster.connect_options(OWNER_ROLE, &name), 2)
        .await
        .unwrap();
    let tenant = tenants::provision(&owner, company, owner_email)
        .await
        .unwrap();
    let database_url = format!(
        "postgres://{RUNTIME_ROLE}@localhost/{name}?host={}&port=5432",
        disposable.cluster.socket_dir().display()
    );
    (tenant, database_url)
}

/// Waits up to 60 s for `seen` to hold every one of the `expected` webhook-ids.
async fn delivered_after_the_restart(seen: &Seen, expected: &HashSet<String>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: HashSet<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        if delivered.is_superset(expected) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} events delivered after the restart",
            delivered.intersection(expected).count(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn after_a_sigkill_and_a_restart_every_pending_event_is_delivered() {
    let (tenant, database_url) = tenant_database("Crash", "owner@crash.example").await;
    let port = free_port();
    let receiver_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let server = start(&database_url, port).await;
    // The receiver is down: nothing listens on its port yet.
    let endpoint_id = create_hook(&http, &base, &tenant.api_key, receiver_port).await;
    let emails = (0..20).map(|i| format!("c{i}@crash.example"));
    create_contacts(&http, &base, &tenant.api_key, "Crash", emails).await;
    let events = get_json(
        &http,
        format!("{base}/v1/events?type=contact.created&limit=100"),
        &tenant.api_key,
    )
    .await;
    let expected: HashSet<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 20);
    // Let the worker fail a few attempts, then kill it without warning.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pending = get_json(
        &http,
        format!("{base}/v1/webhook-endpoints/{endpoint_id}/deliveries?status=pending&limit=100"),
        &tenant.api_key,
    )
    .await;
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

    let seen = receiver_on(receiver_port, false);
    let _server = start(&database_url, port).await;

    delivered_after_the_restart(&seen, &expected).await;
    for (id, body) in seen.lock().unwrap().iter() {
        assert_eq!(body["type"], "contact.created");
        assert!(
            expected.contains(id),
            "webhook-id {id} is one of the events"
        );
    }
}

/// A claimed delivery is sent at once, never left for its lease to run out. Events
/// committed while the worker is claiming (eight writers at once) are each delivered
/// once, long before the first lease (the 60 s timeout plus 10 s) could have expired: a
/// claim that leased rows without returning them would hold those back for 70 s.
#[tokio::test]
async fn events_committed_during_a_claim_are_sent_at_once_not_when_the_lease_runs_out() {
    let (tenant, database_url) = tenant_database("Race", "owner@race.example").await;
    let port = free_port();
    let receiver_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let seen = receiver_on(receiver_port, false);
    let _server = start_with(
        &database_url,
        port,
        &[("MOMENTUM_WEBHOOK_TIMEOUT_SECS", "60")],
    )
    .await;
    create_hook(&http, &base, &tenant.api_key, receiver_port).await;

    let (writers, each) = (8, 25);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (http, base, key) = (http.clone(), base.clone(), tenant.api_key.clone());
        tasks.push(tokio::spawn(async move {
            let emails = (0..each).map(move |i| format!("w{w}-{i}@race.example"));
            create_contacts(&http, &base, &key, "Race", emails).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let expected = writers * each;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let delivered = seen.lock().unwrap().len();
        if delivered >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{delivered} of {expected} deliveries within 30 s: the rest were leased for 70 s \
             and not sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: HashSet<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(ids.len(), expected, "each event delivered once");
}

/// Every item of a list operation, page by page.
async fn all(http: &reqwest::Client, base: &str, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{base}{path}{sep}limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(http, url, key).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn a_sigkill_during_concurrent_writes_loses_no_acknowledged_change_or_event() {
    let (tenant, database_url) = tenant_database("Kill", "owner@kill.example").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("MOMENTUM_RATE_LIMITS", "read=60000/min,write=60000/min")];
    let (receiver_port, seen) = recording_receiver(false);
    let http = reqwest::Client::new();

    let server = start_with(&database_url, port, &env).await;
    create_hook(&http, &base, &tenant.api_key, receiver_port).await;

    // Writers that keep creating until the server is gone. Each remembers what the
    // server acknowledged and what it sent without hearing back.
    let mut writers = Vec::new();
    for w in 0..8 {
        let (http, base, key) = (http.clone(), base.clone(), tenant.api_key.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged: Vec<(String, String)> = Vec::new();
            let mut unanswered: Vec<String> = Vec::new();
            for i in 0.. {
                let email = format!("w{w}-{i}@kill.example");
                let sent = http
                    .post(format!("{base}/v1/contacts"))
                    .bearer_auth(&key)
                    .json(&json!({ "first_name": "Kill", "email": email }))
                    .send()
                    .await;
                let answer = match sent {
                    Ok(resp) if resp.status() == 201 => resp.json::<Value>().await.ok(),
                    Ok(resp) => panic!("unexpected {} before the kill", resp.status()),
                    Err(_) => None,
                };
                match answer {
                    Some(body) => {
                        acknowledged.push((email, body["data"]["id"].as_str().unwrap().to_owned()))
                    }
                    None => {
                        unanswered.push(email);
                        return (acknowledged, unanswered);
                    }
                }
            }
            unreachable!()
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server); // SIGKILL, with writes in flight
    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    for writer in writers {
        let (a, u) = writer.await.unwrap();
        acknowledged.extend(a);
        unanswered.extend(u);
    }
    assert!(
        acknowledged.len() >= 8,
        "the writers got going before the kill"
    );

    let _server = start_with(&database_url, port, &env).await;
    let contacts = all(&http, &base, "/v1/contacts", &tenant.api_key).await;
    let events = all(
        &http,
        &base,
        "/v1/events?type=contact.created",
        &tenant.api_key,
    )
    .await;
    let contact_ids: HashSet<String> = contacts
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let emails: HashSet<String> = contacts
        .iter()
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect();
    for (email, id) in &acknowledged {
        assert!(
            contact_ids.contains(id),
            "acknowledged {email} ({id}) is lost"
        );
    }
    // Nothing half-written: every contact has exactly its one event, and every event
    // its contact, whether or not its writer heard back.
    let mut evented: Vec<String> = events
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    evented.sort();
    let mut all_ids: Vec<String> = contact_ids.iter().cloned().collect();
    all_ids.sort();
    assert_eq!(evented, all_ids, "one contact.created event per contact");
    // The unanswered ones either committed whole or not at all (checked above); only
    // they may be missing.
    for email in emails {
        assert!(
            acknowledged.iter().any(|(e, _)| *e == email) || unanswered.contains(&email),
            "{email} exists but was never sent"
        );
    }
    let expected: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    delivered_after_the_restart(&seen, &expected).await;
}
