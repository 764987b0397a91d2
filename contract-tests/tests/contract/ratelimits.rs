//! Rate limits: the headers, the 429, per-IP limits for unauthenticated calls, and the
//! counters on /metrics.

use std::time::Duration;

use momentum_contract_tests::TestApp;
use momentum_sdk::Client;

use crate::api_error;

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of one Prometheus sample, 0 when absent.
async fn metric(app: &TestApp, sample: &str) -> f64 {
    let (http, url) = app.raw("/metrics");
    let text = http.get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn one_request_over_the_quota_gets_exactly_one_429_and_passes_after_retry_after() {
    // A burst of 3, then one request every 3 s: slow enough that a loaded machine cannot
    // earn a cell back between the requests below.
    let app = TestApp::spawn_with_limits("read=20/min:3").await;
    let c = &app.client;
    let allowed_before = metric(&app, "momentum_ratelimit_allowed_total{class=\"read\"}").await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let resp = c.contacts_list().send().await.expect("within the quota");
        let h = resp.headers();
        assert_eq!(header(h, "ratelimit-policy"), "\"read\";q=20;w=60");
        assert_eq!(header(h, "x-ratelimit-limit"), "20");
        assert!(header(h, "ratelimit").starts_with("\"read\";r="));
        remaining.push(header(h, "x-ratelimit-remaining").parse::<u32>().unwrap());
    }
    assert_eq!(remaining, [2, 1, 0], "one fewer per request");

    let refused = match c.contacts_list().send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => resp,
        other => panic!("expected a 429, got {other:?}"),
    };
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = header(refused.headers(), "retry-after").parse().unwrap();
    assert!(
        (1..=3).contains(&retry_after),
        "a cell comes back every 3 s: {retry_after}"
    );
    assert_eq!(header(refused.headers(), "x-ratelimit-remaining"), "0");
    let body = refused.into_inner();
    assert_eq!(body.error.code, "rate_limited");
    assert!(body.error.message.contains("`read`"), "names the class");

    // Other classes are counted apart.
    let (status, _) = api_error(c.contacts_get().id(uuid::Uuid::now_v7()).send().await);
    assert_eq!(status, 429, "contacts_get is a read too");
    c.pipelines_create()
        .body(momentum_sdk::types::PipelineCreate {
            name: "Other class".parse().unwrap(),
            stages: vec![momentum_sdk::types::NewStage {
                name: "One".parse().unwrap(),
                kind: None,
                probability: None,
            }],
        })
        .send()
        .await
        .expect("writes have their own quota");

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(50)).await;
    c.contacts_list()
        .send()
        .await
        .expect("passes after Retry-After");

    let allowed_after = metric(&app, "momentum_ratelimit_allowed_total{class=\"read\"}").await;
    assert_eq!(
        allowed_after - allowed_before,
        4.0,
        "/metrics counts each allowed read"
    );
    let limited = metric(&app, "momentum_ratelimit_limited_total{class=\"read\"}").await;
    assert_eq!(limited, 2.0, "and each refusal");
    let served = metric(
        &app,
        "momentum_http_requests_total{operation=\"contacts_list\",status=\"429\"}",
    )
    .await;
    assert_eq!(served, 1.0);
}

#[tokio::test]
async fn unauthenticated_login_calls_are_limited_per_client_address() {
    let app = TestApp::spawn_with_limits("auth=20/min:2").await;
    let device = Client::new(&app.base_url);
    device.auth_qr_sessions_create().send().await.unwrap();
    device.auth_qr_sessions_create().send().await.unwrap();
    match device.auth_qr_sessions_create().send().await {
        Err(momentum_sdk::Error::ErrorResponse(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            assert_eq!(
                header(resp.headers(), "ratelimit-policy"),
                "\"auth\";q=20;w=60"
            );
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    // Another caller (a valid key) is not affected by this address's login attempts.
    assert!(app.client.contacts_list().send().await.is_ok());
}

#[tokio::test]
async fn guessing_keys_is_limited_per_address_and_errors_carry_the_headers() {
    let app = TestApp::spawn_with_limits("read=20/min:2").await;
    let (http, url) = app.raw("/v1/contacts");
    let bogus = format!("mk_{}_{}", "a".repeat(16), "0".repeat(64));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = http.get(&url).bearer_auth(&bogus).send().await.unwrap();
        assert!(resp.headers().contains_key("ratelimit"), "on errors too");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let missing = http.get(&url).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    assert!(missing.headers().contains_key("x-ratelimit-remaining"));
}

#[tokio::test]
async fn a_tenant_cannot_multiply_its_quota_with_more_keys() {
    // Each key may read twice at once; the tenant as a whole twice that.
    let app = TestApp::spawn_with("read=20/min:2", 2).await;
    let mut clients = vec![app.client.clone()];
    for n in 0..2 {
        let created = app
            .client
            .api_keys_create()
            .body(momentum_sdk::types::ApiKeyCreate {
                name: format!("extra {n}").parse().unwrap(),
                scopes: vec!["contacts:read".into()],
                expires_at: None,
                service: Some(true),
                user_id: None,
            })
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        clients.push(app.client_with_key(&created.secret));
    }
    let mut statuses = Vec::new();
    for client in &clients {
        for _ in 0..2 {
            statuses.push(match client.contacts_list().send().await {
                Ok(_) => 200,
                Err(err) => err.status().map_or(0, |s| s.as_u16()),
            });
        }
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429],
        "the third key meets the tenant's ceiling, not its own"
    );
}

#[tokio::test]
async fn head_options_and_unknown_methods_on_login_calls_count_against_the_auth_class() {
    // A burst of 3 per address: one to start a session, then the other methods.
    let app = TestApp::spawn_with_limits("auth=20/min:3").await;
    let session = app.start_qr_login().await;
    let (http, url) = app.raw(&format!("/v1/auth/qr-sessions/{}", session.id));
    let mut answers = Vec::new();
    for _ in 0..3 {
        let resp = http
            .head(&url)
            .header("x-poll-secret", &session.poll_secret)
            .send()
            .await
            .unwrap();
        answers.push((
            resp.status().as_u16(),
            resp.headers()
                .get("ratelimit-policy")
                .map(|v| v.to_str().unwrap().to_owned()),
        ));
    }
    let auth = Some("\"auth\";q=20;w=60".to_owned());
    assert_eq!(
        answers,
        [
            (200, auth.clone()),
            (200, auth.clone()),
            (429, auth.clone())
        ],
        "HEAD is a GET: the same class, counted per address"
    );
    // Nor do methods the path does not take get past the address's quota.
    for method in ["OPTIONS", "FOO", "DELETE"] {
        let resp = http
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429, "{method}");
        assert!(resp.headers().contains_key("retry-after"), "{method}");
    }
}

/// A key of the right form that no one was ever given: `mk_` + 16 + `_` + 64 characters.
fn random_key() -> String {
    let simple = |u: uuid::Uuid| u.simple().to_string();
    let public_id = &simple(uuid::Uuid::new_v4())[..16];
    let secret = format!(
        "{}{}",
        simple(uuid::Uuid::new_v4()),
        simple(uuid::Uuid::new_v4())
    );
    format!("mk_{public_id}_{secret}")
}

#[tokio::test]
async fn an_address_over_its_quota_costs_no_database_lookup_however_many_keys_it_makes_up() {
    // Two at once, then one every 30 s: the address stays out of quota for the whole test.
    let app = TestApp::spawn_with_limits("read=2/min:2").await;
    let (http, url) = app.raw("/v1/contacts");
    // A valid key from the same address spends its own quota, not the address's.
    let mut valid = Vec::new();
    for _ in 0..3 {
        let resp = http
            .get(&url)
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        valid.push(resp.status().as_u16());
    }
    assert_eq!(valid, [200, 200, 429]);
    let lookups = "momentum_auth_lookups_total";
    let before = metric(&app, lookups).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let resp = http
            .get(&url)
            .bearer_auth(random_key())
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(
        metric(&app, lookups).await - before,
        2.0,
        "one lookup per request the address's quota let through, none after"
    );
}
