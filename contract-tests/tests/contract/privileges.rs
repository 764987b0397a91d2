//! SECURITY.md's privilege table ("Who may do what") held against the committed document
//! and a live server: one credential of each kind calls every operation of the document.

use momentum_contract_tests::TestApp;
use momentum_sdk::types;
use momentum_sdk::Client;
use uuid::Uuid;

/// The table's columns, in order.
const KINDS: [&str; 6] = [
    "owner's key",
    "admin's key",
    "member's key",
    "service key",
    "session token",
    "no credential",
];
const OWNER: usize = 0;
const MEMBER: usize = 2;
const TOKEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Yes,
    No,
    AsApprover,
}

#[derive(Debug)]
enum What {
    /// Operations whose security requirement names these scopes.
    Scopes(Vec<String>),
    SessionTokens,
    Search,
    WhoAmI,
    Approve,
    ActOnOwner,
    MakeOwner,
    NoCredential,
}

#[derive(Debug)]
struct Row {
    text: String,
    what: What,
    cells: Vec<Cell>,
}

/// The rows of the table, as SECURITY.md has them.
fn table() -> Vec<Row> {
    let doc = include_str!("../../../SECURITY.md");
    let section = doc
        .split("### Who may do what")
        .nth(1)
        .expect("SECURITY.md has a privilege table");
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("a header"));
    assert_eq!(header[1..], KINDS.map(String::from), "the table's columns");
    lines.next(); // |---|
    lines
        .map(|line| {
            let cells = cells(line);
            let text = cells[0].clone();
            let what = if text.starts_with('`') {
                let scope_part = text.split("`:").next().unwrap_or(&text);
                What::Scopes(
                    scope_part
                        .split('`')
                        .skip(1)
                        .step_by(2)
                        .map(String::from)
                        .collect(),
                )
            } else if text.starts_with("list and revoke session tokens") {
                What::SessionTokens
            } else if text.starts_with("search") {
                What::Search
            } else if text.starts_with("who am I") {
                What::WhoAmI
            } else if text.starts_with("approve a QR login") {
                What::Approve
            } else if text.starts_with("act on an owner") {
                What::ActOnOwner
            } else if text.starts_with("make or unmake an owner") {
                What::MakeOwner
            } else if text.starts_with("no credential needed") {
                What::NoCredential
            } else {
                panic!("a row this test does not know how to check: {text}")
            };
            let cells = cells[1..]
                .iter()
                .map(|c| match c.as_str() {
                    "yes" => Cell::Yes,
                    "no" => Cell::No,
                    "as approver" => Cell::AsApprover,
                    other => panic!("`{other}` in row `{text}`"),
                })
                .collect::<Vec<_>>();
            assert_eq!(cells.len(), KINDS.len(), "{text}");
            Row { text, what, cells }
        })
        .collect()
}

/// One credential of a kind; session tokens name the column of the key that approved them.
struct Credential {
    label: &'static str,
    column: usize,
    approver: Option<usize>,
    token: Option<String>,
}

impl Credential {
    /// Whether the table lets this credential do what `row` says.
    fn may(&self, row: &Row) -> bool {
        match row.cells[self.column] {
            Cell::Yes => true,
            Cell::No => false,
            Cell::AsApprover => {
                let approver = self.approver.expect("only session tokens are as approver");
                row.cells[approver] == Cell::Yes
            }
        }
    }
}

async fn user_key(app: &TestApp, email: &str, role: types::UserRole) -> String {
    let user = app
        .client
        .users_create()
        .body(types::UserCreate {
            email: email.into(),
            name: None,
            role: Some(role),
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    new_key(&app.client, Some(user.id), None).await.unwrap()
}

/// A `*` key made by `client`, acting as `user_id` (or as the caller), or a service key.
async fn new_key(
    client: &Client,
    user_id: Option<Uuid>,
    service: Option<bool>,
) -> Result<String, u16> {
    client
        .api_keys_create()
        .body(types::ApiKeyCreate {
            name: "privileges".parse().unwrap(),
            scopes: vec!["*".into()],
            expires_at: None,
            service,
            user_id,
        })
        .send()
        .await
        .map(|r| r.into_inner().data.secret)
        .map_err(status)
}

fn status<T: std::fmt::Debug>(err: momentum_sdk::Error<T>) -> u16 {
    err.status()
        .map_or_else(|| panic!("{err:?}"), |s| s.as_u16())
}

/// Starts a QR login and has `approver` approve it: the status of the approval.
async fn approve(app: &TestApp, approver: &Client) -> Result<(), u16> {
    let session = app.start_qr_login().await;
    approver
        .auth_qr_sessions_approve()
        .id(session.id)
        .send()
        .await
        .map(|_| ())
        .map_err(status)
}

fn client(app: &TestApp, credential: &Credential) -> Client {
    match &credential.token {
        Some(token) => app.client_with_key(token),
        None => Client::builder(&app.base_url).build().expect("a client"),
    }
}

#[tokio::test]
async fn the_privilege_table_holds_for_every_operation_of_the_document() {
    let rows = table();
    let app = TestApp::spawn().await;
    let admin = user_key(&app, "admin@a.example", types::UserRole::Admin).await;
    let member = user_key(&app, "member@a.example", types::UserRole::Member).await;
    let service = new_key(&app.client, None, Some(true)).await.unwrap();
    let owner_token = app.sign_in(&app.client).await.token;
    let member_token = app.sign_in(&app.client_with_key(&member)).await.token;
    let credentials = [
        ("owner's key", OWNER, None, Some(app.api_key.clone())),
        ("admin's key", 1, None, Some(admin)),
        ("member's key", MEMBER, None, Some(member)),
        ("service key", 3, None, Some(service)),
        (
            "session token approved by the owner's key",
            TOKEN,
            Some(OWNER),
            Some(owner_token),
        ),
        (
            "session token approved by the member's key",
            TOKEN,
            Some(MEMBER),
            Some(member_token),
        ),
        ("no credential", 5, None, None),
    ]
    .map(|(label, column, approver, token)| Credential {
        label,
        column,
        approver,
        token,
    });

    // Every scope the document requires anywhere has its row.
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../../../openapi/openapi.json")).unwrap();
    let scope_row = |scope: &str| {
        rows.iter()
            .find(|r| matches!(&r.what, What::Scopes(s) if s.iter().any(|x| x == scope)))
            .unwrap_or_else(|| panic!("the table has no row for the scope `{scope}`"))
    };
    let row_of = |what: fn(&What) -> bool| {
        rows.iter()
            .find(|r| what(&r.what))
            .expect("the table has the row")
    };

    let (http, _) = app.raw("/");
    let mut calls = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            // Several requirements are alternatives (OpenAPI's "any of"); each requires
            // every scope it names.
            let alternatives: Vec<Vec<&str>> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["ApiKey"].as_array())
                .map(|s| s.iter().filter_map(|s| s.as_str()).collect())
                .collect();
            if id == "search" {
                assert!(alternatives.len() > 1, "search declares its alternatives");
            }
            let required: Option<Vec<&str>> = (!alternatives.is_empty())
                .then(|| alternatives.iter().flatten().copied().collect());
            // Which rows decide this operation: every scope's of one alternative, or the
            // one naming it.
            let deciding: Vec<Vec<&Row>> = match &required {
                None => vec![vec![row_of(|w| matches!(w, What::NoCredential))]],
                Some(scopes) if !scopes.is_empty() => alternatives
                    .iter()
                    .map(|scopes| scopes.iter().map(|s| scope_row(s)).collect())
                    .collect(),
                Some(_) if id.starts_with("session_tokens_") => {
                    vec![vec![row_of(|w| matches!(w, What::SessionTokens))]]
                }
                Some(_) if id == "me_get" => vec![vec![row_of(|w| matches!(w, What::WhoAmI))]],
                Some(_) if id == "auth_qr_sessions_approve" => {
                    vec![vec![row_of(|w| matches!(w, What::Approve))]]
                }
                Some(_) => panic!("{id} needs a credential but no scope, and no row covers it"),
            };
            let url = format!(
                "{}{}",
                app.base_url,
                path.split('/')
                    .map(|seg| if seg.starts_with('{') {
                        Uuid::now_v7().to_string()
                    } else {
                        seg.to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            );
            for credential in &credentials {
                let allowed = deciding
                    .iter()
                    .any(|rows| rows.iter().all(|row| credential.may(row)));
                let mut request = http
                    .request(method.to_uppercase().parse().unwrap(), &url)
                    // The one required query parameter of the document (search's `q`),
                    // so a refusal is about the credential, not a missing parameter.
                    .query(&[("q", "ada")]);
                if let Some(token) = &credential.token {
                    request = request.bearer_auth(token);
                }
                if !matches!(method.as_str(), "get" | "delete") {
                    request = request.json(&serde_json::json!({}));
                }
                let resp = request.send().await.unwrap();
                let code = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                let who = credential.label;
                calls += 1;
                if allowed {
                    assert!(
                        code != 401 && code != 403,
                        "{who} may call {id} by the table, but got {code}: {body}"
                    );
                } else if credential.token.is_none() {
                    assert_eq!(code, 401, "{id} without a credential: {body}");
                } else {
                    assert_eq!(code, 403, "{who} may not call {id} by the table: {body}");
                    if let Some(scopes) = required.as_ref().filter(|s| !s.is_empty()) {
                        // A kind refused by scope is told which one it lacks.
                        let message = body["error"]["message"].as_str().unwrap_or_default();
                        assert!(
                            scopes.iter().any(|s| message.contains(&format!("`{s}`"))),
                            "{who} on {id}: {body}"
                        );
                    }
                }
            }
        }
    }
    assert!(calls >= 99 * credentials.len(), "every operation was tried");

    // The rows that are not about one operation's scopes, tried for real.
    let owner_id = app
        .client
        .users_list()
        .role("owner")
        .send()
        .await
        .unwrap()
        .into_inner()
        .data[0]
        .id;
    for row in &rows {
        for (n, credential) in credentials.iter().enumerate() {
            let who = credential.label;
            let caller = client(&app, credential);
            let outcome = match row.what {
                What::Approve => approve(&app, &caller).await,
                What::ActOnOwner => new_key(&caller, Some(owner_id), None).await.map(|_| ()),
                What::MakeOwner => caller
                    .users_create()
                    .body(types::UserCreate {
                        email: format!("owner{n}@a.example"),
                        name: None,
                        role: Some(types::UserRole::Owner),
                    })
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(status),
                _ => continue,
            };
            if credential.may(row) {
                assert_eq!(outcome, Ok(()), "{who}: {}", row.text);
            } else {
                let refused = if credential.token.is_some() { 403 } else { 401 };
                assert_eq!(outcome, Err(refused), "{who}: {}", row.text);
            }
        }
    }
}
