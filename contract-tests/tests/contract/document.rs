//! The server serves the committed contract, and Swagger UI on top of it.

use momentum_contract_tests::TestApp;

#[tokio::test]
async fn the_served_document_is_the_committed_file() {
    let app = TestApp::spawn().await;
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("read openapi/openapi.json");
    let (client, url) = app.raw("/openapi.json");
    let served = client.get(url).send().await.unwrap().text().await.unwrap();
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(
        served == committed,
        "/openapi.json differs from openapi/openapi.json: run `cargo xtask generate`"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = TestApp::spawn().await;
    let (client, url) = app.raw("/docs/");
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("swagger-ui"));

    let (client, url) = app.raw("/docs/swagger-initializer.js");
    let init = client.get(url).send().await.unwrap().text().await.unwrap();
    assert!(
        init.contains("/openapi.json"),
        "Swagger UI points at the document"
    );
}

#[tokio::test]
async fn probes_answer_without_credentials() {
    let app = TestApp::spawn().await;
    let health = app.client.system_health().send().await.expect("healthz");
    let health = health.into_inner().data;
    assert_eq!(health.status, "ok");
    assert_eq!(
        health.database, None,
        "the liveness probe does not touch the database"
    );
    let ready = app.client.system_ready().send().await.expect("readyz");
    let ready = ready.into_inner().data;
    assert_eq!(ready.status, "ok");
    // The test database is reached through its private Unix socket: never encrypted
    // (`server/tests/it/tls.rs` shows `true` over TLS).
    assert_eq!(ready.database.map(|d| d.encrypted), Some(false));
}
