//! Sending the matrix's cases and judging each answer: a documented 4xx, in the envelope,
//! with the right code and field, and no refused write changing the tenant's data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use momentum_contract_tests::receiver::Receiver;
use momentum_contract_tests::TestApp;
use serde_json::Value;

use super::fixtures::{base_body, fixtures};
use super::{cases, cut, operations, query_value, Body, Case, Fixtures, Op, DOCUMENT};

struct Outcome {
    status: u16,
    problems: Vec<String>,
}

fn expected_code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        404 => "not_found",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        _ => "?",
    }
}

async fn send(app: &TestApp, ops: &[Op], fixtures: &Fixtures, doc: &Value, case: &Case) -> Outcome {
    let op = &ops[case.op];
    let mut query: Vec<(String, String)> = op
        .params_in("query")
        .filter(|p| p.required && !case.omit.contains(&p.name))
        .map(|p| {
            let value = query_value(doc, p, fixtures, op)
                .unwrap_or_else(|| panic!("{}: no value for required ?{}", op.id, p.name));
            (p.name.clone(), value)
        })
        .collect();
    query.extend(case.query.iter().cloned());
    let mut target = case.path.clone();
    for (i, (name, value)) in query.iter().enumerate() {
        let _ = write!(target, "{}{name}={value}", if i == 0 { '?' } else { '&' });
    }
    let (client, url) = app.raw(&target);
    let mut req = client.request(op.method.to_uppercase().parse().unwrap(), url);
    if op.authenticated {
        req = req.bearer_auth(&app.api_key);
    }
    for header in op.params_in("header").filter(|h| h.required) {
        let value = fixtures
            .headers
            .get(header.name.to_ascii_lowercase().as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no fixture for the required header {}",
                    op.id, header.name
                )
            });
        req = req.header(&header.name, value);
    }
    for (name, value) in &case.headers {
        req = req.header(name, value);
    }
    req = match &case.body {
        Body::Valid => match &op.body {
            Some(schema) => req.json(&base_body(doc, fixtures, schema)),
            None if op.file => req
                .header("content-type", "text/csv")
                .body(super::VALID_FILE),
            None => req,
        },
        Body::Json(value) => req.json(value),
        Body::Raw {
            content_type,
            bytes,
            chunked,
        } => {
            if let Some(ct) = content_type {
                req = req.header("content-type", *ct);
            }
            if *chunked {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
                req.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            } else {
                req.body(bytes.clone())
            }
        }
    };
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(err) => {
            return Outcome {
                status: 0,
                problems: vec![format!("no answer: {err}")],
            }
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value =
        serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);

    let mut problems = Vec::new();
    if status >= 500 {
        problems.push("server error".to_owned());
    }
    if !case.expect.contains(&status) {
        problems.push(format!("expected {:?}", case.expect));
    }
    if !op.statuses.contains(&status) {
        problems.push("status not documented for the operation".to_owned());
    }
    if !content_type.starts_with("application/json") {
        problems.push(format!("content-type {content_type:?}"));
    }
    let error = &body["error"];
    let details = error["details"].as_array();
    let envelope = error["code"].is_string()
        && error["message"].is_string()
        && details.is_some_and(|d| {
            d.iter().all(|d| {
                d["field"].is_string() && d["code"].is_string() && d["message"].is_string()
            })
        })
        && body["meta"]["request_id"].is_string()
        && body.as_object().is_some_and(|o| o.len() == 2);
    if !envelope {
        problems.push(format!(
            "not the error envelope: {}",
            cut(&body.to_string())
        ));
    } else {
        if body["meta"]["request_id"] != request_id.as_str() {
            problems.push("meta.request_id is not X-Request-Id".to_owned());
        }
        if error["code"] != expected_code(status) {
            problems.push(format!("code {} for {status}", error["code"]));
        }
        if let Some(field) = &case.field {
            let named = details.into_iter().flatten().any(|d| {
                d["field"].as_str().is_some_and(|f| {
                    f == field
                        || f.starts_with(&format!("{field}["))
                        || f.starts_with(&format!("{field}."))
                })
            });
            if !named {
                problems.push(format!(
                    "`{field}` not named in details: {}",
                    cut(&error.to_string())
                ));
            }
        }
    }
    Outcome { status, problems }
}

/// A digest of every row of the tenant, table by table (`last_used_at`, which reads
/// move, left out): a refused write must leave it as it was.
async fn snapshot(app: &TestApp) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1",
    )
    .fetch_all(&app.admin)
    .await
    .unwrap();
    let union = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{t}' AS t, (to_jsonb(r) - 'last_used_at')::text AS row
                   FROM {t} r WHERE tenant_id = $1"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql =
        format!("SELECT t, md5(string_agg(row, '|' ORDER BY row)) FROM ({union}) s GROUP BY t");
    sqlx::query_as::<_, (String, String)>(&sql)
        .bind(app.tenant_id)
        .fetch_all(&app.admin)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The snapshot once the webhook worker is done with what a wrongly accepted write
/// emitted, so the next case is not blamed for it.
async fn settled(app: &TestApp, mut last: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = snapshot(app).await;
        if now == last {
            break;
        }
        last = now;
    }
    last
}

#[tokio::test]
async fn every_operation_refuses_bad_input_with_its_documented_error() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the committed document");
    let ops = operations(&doc);
    assert!(ops.len() > 50, "the document lists the operations");
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let fixtures = fixtures(&app, &ops, &receiver).await;

    let cases = cases::all(&doc, &ops, &fixtures);

    // Every operation meets at least one bad input.
    let covered: BTreeSet<usize> = cases.iter().map(|c| c.op).collect();
    let missed: Vec<&str> = (0..ops.len())
        .filter(|i| !covered.contains(i))
        .map(|i| ops[i].id.as_str())
        .collect();
    assert!(missed.is_empty(), "operations without a case: {missed:?}");

    let mut before = snapshot(&app).await;
    let mut failures = String::new();
    let mut matrix: BTreeMap<&str, (BTreeSet<usize>, usize, usize)> = BTreeMap::new();
    for case in &cases {
        let op = &ops[case.op];
        let mut outcome = send(&app, &ops, &fixtures, &doc, case).await;
        if op.writes() {
            let after = snapshot(&app).await;
            if after != before {
                let changed: Vec<&String> = after
                    .keys()
                    .chain(before.keys())
                    .filter(|t| after.get(*t) != before.get(*t))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                outcome
                    .problems
                    .push(format!("tenant data changed: {changed:?}"));
                before = settled(&app, after).await;
            }
        }
        let entry = matrix.entry(case.kind).or_default();
        entry.0.insert(case.op);
        entry.1 += 1;
        if !outcome.problems.is_empty() {
            entry.2 += 1;
            let _ = writeln!(
                failures,
                "{:<32} {:<18} {:<44} {:>3}  {}",
                op.id,
                case.kind,
                cut(&case.what).chars().take(44).collect::<String>(),
                outcome.status,
                outcome.problems.join("; ")
            );
        }
    }

    let mut table = format!(
        "{:<18} {:>10} {:>6} {:>7}\n",
        "kind", "operations", "cases", "failed"
    );
    for (kind, (op_set, n, failed)) in &matrix {
        let _ = writeln!(table, "{kind:<18} {:>10} {n:>6} {failed:>7}", op_set.len());
    }
    let _ = writeln!(
        table,
        "{:<18} {:>10} {:>6}",
        "total",
        ops.len(),
        cases.len()
    );
    println!("{table}");
    assert!(
        failures.is_empty(),
        "bad input not refused as documented:\n{:<32} {:<18} {:<44} {:>3}  problems\n{failures}\n{table}",
        "operation",
        "kind",
        "input"
    , "got");
}
