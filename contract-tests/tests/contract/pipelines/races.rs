//! Stage changes racing each other and lead moves: positions stay dense, leads stay in
//! a stage of their pipeline with its status, and no race is a 500.

use std::collections::HashSet;

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::{LeadPatch, StagePatch};
use momentum_sdk::types::{self, StageKind};
use momentum_sdk::Client;
use uuid::Uuid;

use super::{
    assert_dense, create_pipeline, funnel, lead, lead_in, named, new_stage, stage, stage_changes,
    stages_of,
};

/// A deterministic Fisher-Yates shuffle (xorshift64), so a failing run can be replayed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

/// How one racing request ended: its status and the fields an error named.
#[derive(Debug)]
struct Outcome {
    op: &'static str,
    status: u16,
    fields: Vec<String>,
}

fn outcome<T: std::fmt::Debug>(
    op: &'static str,
    result: Result<momentum_sdk::ResponseValue<T>, momentum_sdk::Error<types::ErrorEnvelope>>,
) -> Outcome {
    match result {
        Ok(resp) => Outcome {
            op,
            status: resp.status().as_u16(),
            fields: vec![],
        },
        Err(momentum_sdk::Error::ErrorResponse(resp)) => Outcome {
            op,
            status: resp.status().as_u16(),
            fields: resp
                .into_inner()
                .error
                .details
                .into_iter()
                .map(|d| d.field)
                .collect(),
        },
        Err(other) => Outcome {
            op,
            status: other.status().map_or(0, |s| s.as_u16()),
            fields: vec![other.to_string()],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_reorders_stage_changes_and_lead_moves_keep_positions_dense_and_leads_consistent() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = create_pipeline(
        &c,
        "Race",
        vec![
            stage("A", StageKind::Open),
            stage("B", StageKind::Open),
            stage("C", StageKind::Open),
            stage("D", StageKind::Open),
            stage("Won", StageKind::Won),
            stage("Lost", StageKind::Lost),
        ],
    )
    .await;
    let pid = p.id;
    let initial: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();
    let first_open = p.stages[0].id;
    let mut leads = Vec::new();
    for i in 0..4 {
        let l = lead_in(&c, pid, &format!("Lead {i}")).await;
        leads.push((l.id, l.title));
    }

    const REORDER_TASKS: u64 = 20;
    let mut tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>> = Vec::new();
    // Reorders: each task reads the stages and puts them in its own random order, until
    // two of its reorders went through. An attempt fails only when a stage was added or
    // deleted between its read and its write, and only ten such changes happen, so twelve
    // attempts are always enough.
    for task in 0..REORDER_TASKS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::new();
            for attempt in 0..12 {
                let mut ids: Vec<Uuid> = stages_of(&c, pid).await.iter().map(|s| s.id).collect();
                shuffle(&mut ids, task * 100 + attempt);
                let result = c
                    .stages_reorder()
                    .id(pid)
                    .body(types::StageOrder { stage_ids: ids })
                    .send()
                    .await;
                outcomes.push(outcome("reorder", result));
                if outcomes.iter().filter(|o| o.status == 200).count() == 2 {
                    break;
                }
            }
            outcomes
        }));
    }
    // Stages come and go: each task adds one at some position, then deletes it, sending any
    // lead that wandered into it back to the first stage.
    for i in 0..5i64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let added = c
                .stages_create()
                .id(pid)
                .body(new_stage(&format!("Extra {i}"), Some(i)))
                .send()
                .await;
            let Ok(added) = added else {
                return vec![outcome("add stage", added)];
            };
            let extra = added.into_inner().data.id;
            let deleted = c
                .stages_delete()
                .id(pid)
                .stage_id(extra)
                .move_leads_to(first_open)
                .send()
                .await;
            vec![
                Outcome {
                    op: "add stage",
                    status: 201,
                    fields: vec![],
                },
                outcome("delete stage", deleted),
            ]
        }));
    }
    // Single stages move to another position.
    for i in 0..4usize {
        let c = c.clone();
        let stage_id = p.stages[i + 1].id;
        tasks.push(tokio::spawn(async move {
            let result = c
                .stages_update()
                .id(pid)
                .stage_id(stage_id)
                .body(StagePatch {
                    position: Some(i64::try_from(3 - i).unwrap()),
                    ..Default::default()
                })
                .send()
                .await;
            vec![outcome("move stage", result)]
        }));
    }
    // Leads hop between the open stages there are at the time, extra ones included.
    for (n, (lead_id, title)) in leads.iter().cloned().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for hop in 0..6usize {
                let open: Vec<Uuid> = stages_of(&c, pid)
                    .await
                    .into_iter()
                    .filter(|s| s.kind == "open")
                    .map(|s| s.id)
                    .collect();
                let target = open[(n * 7 + hop * 3) % open.len()];
                let result = c
                    .leads_update()
                    .id(lead_id)
                    .body(LeadPatch {
                        stage_id: Some(target),
                        title: Some(title.clone()),
                        ..Default::default()
                    })
                    .send()
                    .await;
                outcomes.push(outcome("move lead", result));
            }
            outcomes
        }));
    }

    let mut outcomes = Vec::new();
    for task in futures::future::join_all(tasks).await {
        outcomes.extend(task.expect("a racing task panicked"));
    }
    let unexpected: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            let fields: Vec<&str> = o.fields.iter().map(String::as_str).collect();
            !matches!(
                (o.op, o.status, fields.as_slice()),
                ("reorder" | "move stage" | "move lead", 200, [])
                    | ("add stage", 201, [])
                    | ("delete stage", 204, [])
                    // A reorder that raced an added or deleted stage no longer names them all.
                    | ("reorder", 422, ["stage_ids"])
                    // A lead sent to an extra stage deleted in the meantime.
                    | ("move lead", 422, ["stage_id"])
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes: {unexpected:#?}"
    );

    let reordered = outcomes
        .iter()
        .filter(|o| (o.op, o.status) == ("reorder", 200))
        .count();
    assert_eq!(reordered, 2 * REORDER_TASKS as usize, "{outcomes:#?}");

    let stages = stages_of(&c, pid).await;
    assert_dense(&stages);
    let ids: HashSet<Uuid> = stages.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), stages.len(), "no stage listed twice");
    assert_eq!(
        ids,
        initial.iter().copied().collect::<HashSet<_>>(),
        "every extra stage was deleted, no other"
    );
    let got = c.pipelines_get().id(pid).send().await.unwrap();
    assert_eq!(got.into_inner().data.stages, stages);
    for (lead_id, _) in &leads {
        let l = lead(&c, *lead_id).await;
        let stage = stages
            .iter()
            .find(|s| s.id == l.stage_id)
            .unwrap_or_else(|| panic!("lead {lead_id} in a stage not in the pipeline: {l:?}"));
        assert_eq!(l.pipeline_id, pid);
        assert_eq!(l.status, stage.kind, "status follows the stage's kind");
    }

    // And the pipeline still takes a reorder.
    let reversed: Vec<Uuid> = stages.iter().rev().map(|s| s.id).collect();
    let after = c
        .stages_reorder()
        .id(pid)
        .body(types::StageOrder {
            stage_ids: reversed.clone(),
        })
        .send()
        .await
        .expect("reorder after the race")
        .into_inner()
        .data;
    assert_eq!(after.iter().map(|s| s.id).collect::<Vec<_>>(), reversed);
    assert_dense(&after);
}

/// A stage `X{round}` added last to the pipeline, with one lead placed in it.
async fn stage_with_a_lead(c: &Client, pipeline_id: Uuid, round: usize) -> (Uuid, Uuid) {
    let x = c
        .stages_create()
        .id(pipeline_id)
        .body(new_stage(&format!("X{round}"), None))
        .send()
        .await
        .expect("add a stage")
        .into_inner()
        .data
        .id;
    let l = c
        .leads_create()
        .body_map(|b| b.title("Deal").stage_id(x))
        .send()
        .await
        .expect("create a lead in the stage")
        .into_inner()
        .data
        .id;
    (x, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_lead_while_its_stage_is_deleted_is_never_a_500() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = funnel(&c, "Race").await;
    let one = named(&p.stages, "One").id;
    for round in 0..10 {
        let (x, lead_id) = stage_with_a_lead(&c, p.id, round).await;
        let delete = {
            let c = c.clone();
            tokio::spawn(async move {
                let result = c
                    .stages_delete()
                    .id(p.id)
                    .stage_id(x)
                    .move_leads_to(one)
                    .send()
                    .await;
                outcome("delete stage", result)
            })
        };
        // Edits that keep the lead where it is (`stage_id` repeats its stage).
        let edits: Vec<_> = (0..3)
            .map(|k| {
                let c = c.clone();
                tokio::spawn(async move {
                    let result = c
                        .leads_update()
                        .id(lead_id)
                        .body(LeadPatch {
                            title: Some(format!("Deal {k}")),
                            stage_id: Some(x),
                            ..Default::default()
                        })
                        .send()
                        .await;
                    outcome("edit lead", result)
                })
            })
            .collect();
        let mut outcomes = vec![delete.await.unwrap()];
        for edit in edits {
            outcomes.push(edit.await.unwrap());
        }
        let unexpected: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                let fields: Vec<&str> = o.fields.iter().map(String::as_str).collect();
                !matches!(
                    (o.op, o.status, fields.as_slice()),
                    ("delete stage", 204, []) | ("edit lead", 200, [])
                        // The edit came after the delete: its stage is gone.
                        | ("edit lead", 422, ["stage_id"])
                )
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "round {round}: unexpected outcomes: {unexpected:#?}"
        );
        assert_eq!(
            lead(&c, lead_id).await.stage_id,
            one,
            "round {round}: the delete moved the lead"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_moved_while_its_stage_is_deleted_gets_only_the_stage_changes_it_made() {
    let app = TestApp::spawn().await;
    let c = app.client.clone();
    let p = funnel(&c, "Race").await;
    let one = named(&p.stages, "One").id;
    let two = named(&p.stages, "Two").id;
    for round in 0..10 {
        let (x, lead_id) = stage_with_a_lead(&c, p.id, round).await;
        let delete = {
            let c = c.clone();
            tokio::spawn(async move {
                c.stages_delete()
                    .id(p.id)
                    .stage_id(x)
                    .move_leads_to(one)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        };
        let moved = c
            .leads_update()
            .id(lead_id)
            .body(LeadPatch {
                title: Some("Deal".into()),
                stage_id: Some(two),
                ..Default::default()
            })
            .send()
            .await
            .expect("move the lead")
            .into_inner()
            .data;
        assert_eq!(delete.await.unwrap().expect("delete the stage"), 204);
        assert_eq!(moved.stage_id, two);
        // Either the delete moved it to One first (X → One, One → Two), or the move went
        // first and the delete found nothing to move (X → Two): it left X once.
        let subjects: Vec<String> = stage_changes(&c, lead_id)
            .await
            .into_iter()
            .filter_map(|a| a.subject)
            .collect();
        let from_x = format!("X{round} →");
        assert_eq!(
            subjects.iter().filter(|s| s.contains(&from_x)).count(),
            1,
            "round {round}: {subjects:?}"
        );
    }
}
