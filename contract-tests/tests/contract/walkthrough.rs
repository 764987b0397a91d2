//! The curl walkthrough of docs/api.md (`scripts/crm-walkthrough.sh`), run against a test
//! server. The script checks each answer itself and stops at the first wrong one.

use momentum_contract_tests::TestApp;

#[tokio::test]
async fn the_curl_walkthrough_ends_with_a_won_lead_and_its_stage_history() {
    let app = TestApp::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/crm-walkthrough.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .env("MOMENTUM_URL", &app.base_url)
        .env("MOMENTUM_API_KEY", &app.api_key)
        .output()
        .await
        .expect("run bash (the script also needs curl and python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("walkthrough complete"));
    assert_eq!(stdout.matches("== PATCH").count(), 3, "three stage moves");
}
