//! Every method on every path: a deliberate answer (never a 5xx nor a stray 404), and
//! `HEAD` is `GET` without a body.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use serde_json::Value;

use super::fixtures::{fixtures, valid_path};
use super::{cut, operations, query_value, Fixtures, Op, DOCUMENT};

/// The methods every path meets: the document's, the two the server answers for any
/// resource (`HEAD`, `OPTIONS`), `TRACE`, and one HTTP does not define.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FOO",
];

/// Those that never change anything, sent on every path before the others, so that a
/// `DELETE` of a fixture does not turn the reads that follow into 404s.
const SAFE_METHODS: [&str; 5] = ["GET", "HEAD", "OPTIONS", "TRACE", "FOO"];

/// Headers that differ between any two answers, whatever the method.
const PER_ANSWER_HEADERS: [&str; 5] = [
    "date",
    "x-request-id",
    "ratelimit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// What `HEAD` must repeat of a `GET`: the status and every header that does not
    /// change from one answer to the next.
    fn stable(&self) -> (u16, BTreeMap<String, String>) {
        let mut headers = self.headers.clone();
        headers.retain(|name, _| !PER_ANSWER_HEADERS.contains(&name.as_str()));
        (self.status, headers)
    }

    /// The set of methods `Allow` names.
    fn allow(&self) -> BTreeSet<String> {
        self.header("allow")
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }
}

/// Sends `method` to `path` (the path's required query parameters and headers added),
/// with the tenant's key or none.
async fn send_method(
    app: &TestApp,
    doc: &Value,
    fixtures: &Fixtures,
    ops: &[&Op],
    method: &str,
    path: &str,
    with_key: bool,
) -> Answer {
    let mut target = path.to_owned();
    let mut separator = '?';
    for op in ops {
        for p in op.params_in("query").filter(|p| p.required) {
            if let Some(value) = query_value(doc, p, fixtures, op) {
                let _ = write!(target, "{separator}{}={value}", p.name);
                separator = '&';
            }
        }
    }
    let (client, url) = app.raw(&target);
    let mut req = client.request(method.parse().unwrap(), url);
    if with_key {
        req = req.bearer_auth(&app.api_key);
    }
    for op in ops {
        for header in op.params_in("header").filter(|h| h.required) {
            if let Some(value) = fixtures
                .headers
                .get(header.name.to_ascii_lowercase().as_str())
            {
                req = req.header(&header.name, value);
            }
        }
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {target}: no answer: {err}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// How `head` differs from `get` beyond the body it must leave out, if it does.
fn head_mismatch(head: &Answer, get: &Answer) -> Option<String> {
    let (status, headers) = head.stable();
    let (get_status, get_headers) = get.stable();
    if status == get_status && headers == get_headers && head.body.is_empty() {
        return None;
    }
    let differ: Vec<String> = headers
        .keys()
        .chain(get_headers.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|h| headers.get(*h) != get_headers.get(*h))
        .map(|h| format!("{h}: {:?} vs {:?}", headers.get(h), get_headers.get(h)))
        .collect();
    Some(format!(
        "HEAD {status} vs GET {get_status}, HEAD body {} bytes; {}",
        head.body.len(),
        differ.join(", ")
    ))
}

#[tokio::test]
async fn every_method_on_every_path_gets_a_deliberate_answer_and_head_is_get_without_a_body() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the committed document");
    let ops = operations(&doc);
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let fixtures = fixtures(&app, &ops, &receiver).await;

    // The document's paths, in its order, with their operations.
    let mut paths: Vec<(&str, Vec<&Op>)> = Vec::new();
    for op in &ops {
        match paths.iter_mut().find(|(path, _)| *path == op.path) {
            Some((_, on_path)) => on_path.push(op),
            None => paths.push((op.path.as_str(), vec![op])),
        }
    }

    let mut failures = String::new();
    let mut sent = 0;
    for pass in [true, false] {
        for (path, on_path) in &paths {
            let concrete = valid_path(on_path[0], &fixtures);
            let declared: BTreeSet<String> =
                on_path.iter().map(|op| op.method.to_uppercase()).collect();
            let mut allow = declared.clone();
            if declared.contains("GET") {
                allow.insert("HEAD".to_owned());
            }
            allow.insert("OPTIONS".to_owned());
            for method in METHODS
                .into_iter()
                .filter(|m| SAFE_METHODS.contains(m) == pass)
            {
                for with_key in [true, false] {
                    let key = if with_key { "key" } else { "no key" };
                    let mut fail = |problem: String| {
                        let _ = writeln!(failures, "{method:<7} {path:<62} {key:<6}  {problem}");
                    };
                    let answer =
                        send_method(&app, &doc, &fixtures, on_path, method, &concrete, with_key)
                            .await;
                    sent += 1;
                    if answer.status >= 500 {
                        fail(format!(
                            "{}: {}",
                            answer.status,
                            cut(&String::from_utf8_lossy(&answer.body))
                        ));
                        continue;
                    }
                    // Every answer was counted against a rate limit, and says so.
                    if answer.header("ratelimit-policy").is_none() {
                        fail(format!("{}: no RateLimit-Policy", answer.status));
                    }
                    let op = on_path
                        .iter()
                        .find(|op| op.method.eq_ignore_ascii_case(method));
                    match (method, op) {
                        (_, Some(op)) => {
                            if !op.statuses.contains(&answer.status) {
                                fail(format!("{}: not documented for {}", answer.status, op.id));
                            }
                        }
                        ("HEAD", None) if declared.contains("GET") => {
                            // A GET may change between two requests (a timestamp's
                            // digits): the pair is sent again before it counts as a
                            // mismatch.
                            let mut head = answer;
                            let mut mismatch = None;
                            for _ in 0..3 {
                                let get = send_method(
                                    &app, &doc, &fixtures, on_path, "GET", &concrete, with_key,
                                )
                                .await;
                                mismatch = head_mismatch(&head, &get);
                                if mismatch.is_none() {
                                    break;
                                }
                                head = send_method(
                                    &app, &doc, &fixtures, on_path, "HEAD", &concrete, with_key,
                                )
                                .await;
                            }
                            if let Some(problem) = mismatch {
                                fail(problem);
                            }
                        }
                        ("OPTIONS", None) => {
                            if answer.status != 204 || !answer.body.is_empty() {
                                fail(format!(
                                    "{} with {} bytes, not 204 without a body",
                                    answer.status,
                                    answer.body.len()
                                ));
                            }
                            if answer.allow() != allow {
                                fail(format!("Allow {:?}, not {allow:?}", answer.allow()));
                            }
                        }
                        (_, None) => {
                            let body: Value =
                                serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                            let expected_body =
                                method == "HEAD" || body["error"]["code"] == "method_not_allowed";
                            if answer.status != 405 || !expected_body {
                                fail(format!(
                                    "{}, not 405 method_not_allowed: {}",
                                    answer.status,
                                    cut(&body.to_string())
                                ));
                            }
                            if answer.allow() != allow {
                                fail(format!("Allow {:?}, not {allow:?}", answer.allow()));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(sent >= paths.len() * METHODS.len() * 2, "{sent} requests");
    assert!(
        failures.is_empty(),
        "methods not answered as documented:\n{failures}"
    );
}
