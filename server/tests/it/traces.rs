//! Traces (issue 23, point 3): a real `momentum serve` exporting to an OTLP/HTTP receiver
//! in this test follows one request that carries a `traceparent` — its span continues
//! the client's trace, a database transaction and the webhook attempt the change caused
//! are in the same trace, and the webhook's receiver is sent that trace too — and with no
//! `OTEL_*` endpoint, nothing is exported and the start says so in one debug line only.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use poem::listener::TcpListener;
use poem::{handler, web::Data, EndpointExt, Request, Route, Server};
use prost::Message;

use crate::support::{create_hook, eventually, free_port};
use crate::webhooks::{start_with, tenant_database, worker_url};

/// Every span the receiver was sent.
type Spans = Arc<Mutex<Vec<Span>>>;

#[handler]
fn collect(body: Vec<u8>, spans: Data<&Spans>) -> poem::Result<Vec<u8>> {
    let request =
        ExportTraceServiceRequest::decode(body.as_slice()).map_err(poem::error::BadRequest)?;
    let mut all = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            all.extend(scope.spans);
        }
    }
    // An empty `ExportTraceServiceResponse`: everything was accepted.
    Ok(Vec::new())
}

/// An OTLP/HTTP (protobuf) collector at `http://127.0.0.1:{port}`, keeping every span.
fn collector_on(port: u16) -> Spans {
    let spans = Spans::default();
    let route = Route::new().at("/v1/traces", poem::post(collect));
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(route.data(Arc::clone(&spans))),
    );
    spans
}

/// What a webhook receiver was sent: each request's `traceparent` (empty when none).
type Traceparents = Arc<Mutex<Vec<String>>>;

#[handler]
fn hook(req: &Request, seen: Data<&Traceparents>) -> &'static str {
    let traceparent = req.header("traceparent").unwrap_or_default().to_owned();
    seen.lock().unwrap().push(traceparent);
    "ok"
}

fn hook_receiver() -> (u16, Traceparents) {
    let port = free_port();
    let seen = Traceparents::default();
    let route = Route::new().at("/hook", poem::post(hook));
    tokio::spawn(
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(route.data(Arc::clone(&seen))),
    );
    (port, seen)
}

/// A span's attributes, as text.
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// A server process, stopped gracefully by [`Stopping::stop`], killed if still running
/// when dropped (a failing test leaves none behind).
struct Stopping(Child);

impl Stopping {
    /// SIGTERM, then up to 30 s for the process to drain and exit.
    async fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        for _ in 0..300 {
            if self.0.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("momentum did not stop on SIGTERM");
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `momentum serve` on `database_url` with `env`, its standard error to `stderr`, and
/// no `OTEL_*` endpoint but what `env` sets.
fn spawn_serve(database_url: &str, port: u16, env: &[(&str, &str)], stderr: Stdio) -> Stopping {
    let child = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("MOMENTUM_WORKER_DATABASE_URL", worker_url(database_url))
        .env_remove("MOMENTUM_ADMIN_DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env("MOMENTUM_SECRET_KEY", crate::serve::TEST_SECRET_KEY)
        .env("MOMENTUM_LISTEN", format!("127.0.0.1:{port}"))
        // Several servers run at once: none takes the default admin port.
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start momentum");
    Stopping(child)
}

/// Waits until the server at `base` answers `/healthz`.
async fn up(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(30), "the server", || async {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_request_its_transaction_and_its_webhook_are_one_trace() {
    let (tenant, database_url) = tenant_database("Traced", "owner@traced.example").await;
    let collector = free_port();
    let spans = collector_on(collector);
    let (hook_port, traceparents) = hook_receiver();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{collector}");
    let _server = start_with(
        &database_url,
        port,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let endpoint_id = create_hook(&http, &base, &tenant.api_key, hook_port).await;

    let resp = http
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .header("tracestate", "vendor=opaque")
        .header("x-request-id", "traced-request-1")
        .json(&serde_json::json!({ "first_name": "Ada", "email": "ada@traced.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // The receiver is sent the trace of the change.
    eventually(Duration::from_secs(30), "the webhook", || async {
        !traceparents.lock().unwrap().is_empty()
    })
    .await;
    let sent = traceparents.lock().unwrap()[0].clone();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {sent:?}");
    assert_eq!(parts[1], TRACE_ID, "traceparent {sent:?}");

    let trace_id = hex::decode(TRACE_ID).unwrap();
    let in_trace = |name: &str| {
        spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.trace_id == trace_id && s.name == name)
            .cloned()
    };
    eventually(
        Duration::from_secs(30),
        "the spans of the trace",
        || async {
            ["contacts_create", "db.transaction", "webhook.attempt"]
                .iter()
                .all(|name| in_trace(name).is_some())
        },
    )
    .await;

    // The request's span continues the client's, named for its operation.
    let request = in_trace("contacts_create").unwrap();
    assert_eq!(request.parent_span_id, hex::decode(CLIENT_SPAN_ID).unwrap());
    let attrs = attributes(&request);
    assert_eq!(
        attrs["tenant.id"],
        tenant.tenant_id.to_string(),
        "{attrs:?}"
    );
    assert_eq!(attrs["request_id"], "traced-request-1", "{attrs:?}");
    assert_eq!(attrs["http.route"], "/v1/contacts", "{attrs:?}");
    assert_eq!(attrs["http.request.method"], "POST", "{attrs:?}");
    assert_eq!(attrs["http.response.status_code"], "201", "{attrs:?}");

    // The attempt is a child of the transaction that emitted the event, itself the
    // request's child, and the receiver was sent the attempt's own context.
    let attempt = in_trace("webhook.attempt").unwrap();
    assert_eq!(
        parts[2],
        hex::encode(&attempt.span_id),
        "traceparent {sent:?}"
    );
    let transaction = spans
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.span_id == attempt.parent_span_id)
        .cloned()
        .expect("the attempt's parent was exported");
    assert_eq!(transaction.name, "db.transaction");
    assert_eq!(transaction.parent_span_id, request.span_id);
    let attrs = attributes(&transaction);
    assert_eq!(
        attrs["tenant.id"],
        tenant.tenant_id.to_string(),
        "{attrs:?}"
    );
    assert_eq!(attrs["db.transaction.outcome"], "commit", "{attrs:?}");
    let attrs = attributes(&attempt);
    assert_eq!(attrs["endpoint_id"], endpoint_id, "{attrs:?}");
    assert_eq!(attrs["event_type"], "contact.created", "{attrs:?}");
    assert_eq!(attrs["outcome"], "delivered", "{attrs:?}");
    assert_eq!(attrs["http.response.status_code"], "200", "{attrs:?}");

    // A test delivery, which the API queues by itself, keeps its request's trace too.
    let asked = "0af7651916cd43dd8448eb211c80319c";
    let resp = http
        .post(format!("{base}/v1/webhook-endpoints/{endpoint_id}/test"))
        .bearer_auth(&tenant.api_key)
        .header("traceparent", format!("00-{asked}-{CLIENT_SPAN_ID}-01"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    eventually(Duration::from_secs(30), "the test delivery", || async {
        traceparents
            .lock()
            .unwrap()
            .iter()
            .any(|tp| tp.split('-').nth(1) == Some(asked))
    })
    .await;

    // No secret anywhere: not the API key, nor its secret part, in any exported
    // attribute or event of any span.
    let key_secret = tenant.api_key.rsplit('_').next().unwrap().to_owned();
    for span in spans.lock().unwrap().iter() {
        let mut texts: Vec<String> = attributes(span).into_values().collect();
        for event in &span.events {
            texts.push(event.name.clone());
            texts.extend(event.attributes.iter().map(|kv| format!("{:?}", kv.value)));
        }
        for text in texts {
            assert!(
                !text.contains(&tenant.api_key) && !text.contains(&key_secret),
                "span {} exports a secret: {text}",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported_and_one_debug_line_says_so() {
    let (tenant, database_url) = tenant_database("Untraced", "owner@untraced.example").await;
    // Where an exporter without an endpoint would send (the SDK's default), if this
    // test can listen there: nothing must arrive.
    let spans = std::net::TcpListener::bind("127.0.0.1:4318")
        .ok()
        .map(|listener| {
            drop(listener);
            collector_on(4318)
        });
    let port = free_port();
    let log = std::env::temp_dir().join(format!("momentum-untraced-{port}.log"));
    let mut server = spawn_serve(
        &database_url,
        port,
        // Other OTEL_* settings alone do not turn traces on.
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "untraced"),
            (
                "RUST_LOG",
                "debug,sqlx=warn,hyper=warn,hyper_util=warn,h2=warn",
            ),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    up(&http, &base).await;
    let resp = http
        .get(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Three export intervals' worth, then a graceful stop, which would flush.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await;

    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let about_traces: Vec<&str> = logged
        .lines()
        .filter(|line| {
            let line = line.to_lowercase();
            line.contains("traces") || line.contains("otlp") || line.contains("opentelemetry")
        })
        .collect();
    assert_eq!(about_traces.len(), 1, "{about_traces:#?}");
    assert!(about_traces[0].contains("DEBUG"), "{about_traces:#?}");
    if let Some(spans) = spans {
        assert!(spans.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_graceful_stop_sends_the_spans_still_queued() {
    let (tenant, database_url) = tenant_database("Flushed", "owner@flushed.example").await;
    let collector = free_port();
    let spans = collector_on(collector);
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{collector}");
    // No export for a minute: only the flush at the stop can send the request's span.
    let mut server = spawn_serve(
        &database_url,
        port,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
        Stdio::null(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    up(&http, &base).await;
    let resp = http
        .get(format!("{base}/v1/contacts"))
        .bearer_auth(&tenant.api_key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(spans.lock().unwrap().is_empty(), "exported before the stop");
    server.stop().await;
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let names: Vec<String> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .map(|s| s.name.clone())
        .collect();
    assert!(names.contains(&"contacts_list".to_owned()), "{names:?}");
}

#[test]
fn an_endpoint_that_is_not_an_http_url_stops_the_start_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .arg("serve")
        // Never reached: the endpoint is checked first.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "collector.internal:4318")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env("MOMENTUM_ADMIN_LISTEN", "off")
        .output()
        .expect("run momentum");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT must be"),
        "{stderr}"
    );
    assert!(!stderr.contains("collector.internal"), "{stderr}");
}
