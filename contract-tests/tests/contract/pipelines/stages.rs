//! Stages: read, added, changed, moved, deleted and reordered, their positions always
//! dense (0, 1, 2, ...).

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::StagePatch;
use momentum_sdk::types::{self, StageKind};

use uuid::Uuid;

use crate::{fields, Refused, ANY_CODE};

use super::{assert_dense, funnel, named, names, new_stage, stages_of};

#[tokio::test]
async fn stages_are_listed_and_read_in_position_order() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let listed = c.stages_list().id(p.id).send().await.unwrap().into_inner();
    assert_eq!(listed.data, p.stages);
    assert_eq!(names(&listed.data), ["One", "Two", "Three", "Won", "Lost"]);
    assert_dense(&listed.data);
    assert!(!listed.meta.has_more);
    assert_eq!(listed.meta.next_cursor, None);

    let two = named(&p.stages, "Two");
    let got = c
        .stages_get()
        .id(p.id)
        .stage_id(two.id)
        .send()
        .await
        .expect("get a stage")
        .into_inner()
        .data;
    assert_eq!(&got, two);

    // A stage is read through its own pipeline only.
    let sales = c.pipelines_list().send().await.unwrap().into_inner().data[0].clone();
    c.stages_get()
        .id(sales.id)
        .stage_id(two.id)
        .send()
        .await
        .refused(404, "not_found");
}

#[tokio::test]
async fn a_stage_added_at_a_position_shifts_the_later_stages_down() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let created = c
        .stages_create()
        .id(p.id)
        .body(types::StageCreate {
            name: "Demo".parse().unwrap(),
            probability: Some(30),
            kind: Some(StageKind::Open),
            position: Some(1),
        })
        .send()
        .await
        .expect("add a stage");
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let demo = created.into_inner().data;
    assert_eq!(
        location,
        format!("/v1/pipelines/{}/stages/{}", p.id, demo.id)
    );
    assert_eq!(
        (demo.name.as_str(), demo.kind.as_str(), demo.probability),
        ("Demo", "open", 30)
    );
    assert_eq!((demo.pipeline_id, demo.position), (p.id, 1));

    let stages = stages_of(c, p.id).await;
    assert_eq!(
        names(&stages),
        ["One", "Demo", "Two", "Three", "Won", "Lost"]
    );
    assert_dense(&stages);

    // Without a position it goes last; a won stage defaults to 100.
    let last = c
        .stages_create()
        .id(p.id)
        .body(types::StageCreate {
            kind: Some(StageKind::Won),
            ..new_stage("Won big", None)
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!((last.position, last.probability), (6, 100));
    let first = c
        .stages_create()
        .id(p.id)
        .body(new_stage("Zero", Some(0)))
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(first.position, 0);
    let stages = stages_of(c, p.id).await;
    assert_eq!(
        names(&stages),
        ["Zero", "One", "Demo", "Two", "Three", "Won", "Lost", "Won big"]
    );
    assert_dense(&stages);
    let got = c.pipelines_get().id(p.id).send().await.unwrap();
    assert_eq!(got.into_inner().data.stages, stages);
}

#[tokio::test]
async fn a_stage_position_out_of_range_is_refused() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    // Five stages: a new one may go at 0 to 5.
    let err = c
        .stages_create()
        .id(p.id)
        .body(new_stage("Far", Some(6)))
        .send()
        .await
        .refused(422, "validation_failed");
    assert_eq!(fields(&err), ["position"]);

    // An existing one may move to 0 to 4.
    let one = named(&p.stages, "One");
    for position in [5, -1] {
        let err = c
            .stages_update()
            .id(p.id)
            .stage_id(one.id)
            .body(StagePatch {
                position: Some(position),
                ..Default::default()
            })
            .send()
            .await
            .refused_as(position, 422, ANY_CODE);
        assert_eq!(fields(&err), ["position"], "{position}");
    }
    let stages = stages_of(c, p.id).await;
    assert_eq!(stages, p.stages, "nothing changed");
}

#[tokio::test]
async fn a_stage_can_be_renamed_and_given_a_probability_and_null_resets_it() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let two = named(&p.stages, "Two").clone();

    let updated = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            name: Some("Demo".into()),
            probability: Some(Some(40)),
            ..Default::default()
        })
        .send()
        .await
        .expect("update a stage")
        .into_inner()
        .data;
    assert_eq!(
        (
            updated.name.as_str(),
            updated.probability,
            updated.kind.as_str()
        ),
        ("Demo", 40, "open")
    );
    assert_eq!(updated.position, two.position, "absent fields are kept");
    assert!(updated.updated_at > two.updated_at);
    let stored = c
        .stages_get()
        .id(p.id)
        .stage_id(two.id)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(stored, updated);

    let reset = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            probability: Some(None),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(reset.probability, 0, "the default of an open stage");

    let err = c
        .stages_update()
        .id(p.id)
        .stage_id(two.id)
        .body(StagePatch {
            probability: Some(Some(101)),
            ..Default::default()
        })
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields(&err), ["probability"]);
}

#[tokio::test]
async fn moving_a_stage_up_or_down_shifts_the_stages_in_between() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let three = named(&p.stages, "Three").id;
    let move_to = |position: i64| {
        c.stages_update().id(p.id).stage_id(three).body(StagePatch {
            position: Some(position),
            ..Default::default()
        })
    };

    let up = move_to(0).send().await.expect("move up").into_inner().data;
    assert_eq!(up.position, 0);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "One", "Two", "Won", "Lost"]);
    assert_dense(&stages);

    let down = move_to(3)
        .send()
        .await
        .expect("move down")
        .into_inner()
        .data;
    assert_eq!(down.position, 3);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Three", "Lost"]);
    assert_dense(&stages);

    let last = move_to(4)
        .send()
        .await
        .expect("move last")
        .into_inner()
        .data;
    assert_eq!(last.position, 4);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Lost", "Three"]);
    assert_dense(&stages);

    let same = move_to(4).send().await.expect("stay").into_inner().data;
    assert_eq!(same.position, 4);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Two", "Won", "Lost", "Three"]);
    assert_dense(&stages);
}

#[tokio::test]
async fn a_stage_patch_without_a_name_keeps_the_name() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let three = named(&p.stages, "Three").id;

    let moved = c
        .stages_update()
        .id(p.id)
        .stage_id(three)
        .body(StagePatch {
            position: Some(0),
            ..Default::default()
        })
        .send()
        .await
        .expect("a patch of the position alone")
        .into_inner()
        .data;
    assert_eq!((moved.name.as_str(), moved.position), ("Three", 0));
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "One", "Two", "Won", "Lost"]);
    assert_dense(&stages);
}

#[tokio::test]
async fn deleting_a_stage_closes_the_gap() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;

    let deleted = c
        .stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "Two").id)
        .send()
        .await
        .expect("delete a stage");
    assert_eq!(deleted.status().as_u16(), 204);
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["One", "Three", "Won", "Lost"]);
    assert_dense(&stages);

    c.stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .expect("delete the first stage");
    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Three", "Won", "Lost"]);
    assert_dense(&stages);

    c.stages_get()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .refused(404, "not_found");
    c.stages_delete()
        .id(p.id)
        .stage_id(named(&p.stages, "One").id)
        .send()
        .await
        .refused_as("a second delete finds nothing", 404, ANY_CODE);
}

#[tokio::test]
async fn reordering_puts_the_stages_in_the_given_order() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let reversed: Vec<Uuid> = p.stages.iter().rev().map(|s| s.id).collect();

    let reordered = c
        .stages_reorder()
        .id(p.id)
        .body(types::StageOrder {
            stage_ids: reversed.clone(),
        })
        .send()
        .await
        .expect("reorder");
    assert_eq!(reordered.status().as_u16(), 200);
    let returned = reordered.into_inner().data;
    assert_eq!(
        returned.iter().map(|s| s.id).collect::<Vec<_>>(),
        reversed,
        "returned in the new order"
    );
    assert_dense(&returned);

    let stages = stages_of(c, p.id).await;
    assert_eq!(names(&stages), ["Lost", "Won", "Three", "Two", "One"]);
    assert_dense(&stages);
    assert_eq!(stages, returned);

    // New leads start in the (new) first stage, open or not: here it is lost, and a lead
    // without a lost reason cannot land there.
    let err = c
        .leads_create()
        .body_map(|b| b.title("Deal").pipeline_id(p.id))
        .send()
        .await
        .refused(422, ANY_CODE);
    assert_eq!(fields(&err), ["lost_reason"]);
}

#[tokio::test]
async fn a_reorder_must_list_every_stage_of_the_pipeline_exactly_once() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let other = funnel(c, "Other").await;
    let ids: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();

    let missing = ids[1..].to_vec();
    let mut foreign = ids.clone();
    foreign[0] = other.stages[0].id;
    let mut twice = ids.clone();
    twice[0] = ids[1];
    let mut extra = ids.clone();
    extra.push(other.stages[0].id);
    for (label, stage_ids) in [
        ("one missing", missing),
        ("a stage of another pipeline", foreign),
        ("one twice", twice),
        ("one too many", extra),
        ("none", vec![]),
    ] {
        let err = c
            .stages_reorder()
            .id(p.id)
            .body(types::StageOrder { stage_ids })
            .send()
            .await
            .refused_as(label, 422, "validation_failed");
        assert_eq!(fields(&err), ["stage_ids"], "{label}");
    }
    assert_eq!(stages_of(c, p.id).await, p.stages, "nothing moved");
    assert_eq!(stages_of(c, other.id).await, other.stages);
}

#[tokio::test]
async fn a_stage_whose_position_shifts_counts_as_changed_for_updated_after() {
    let app = TestApp::spawn().await;
    let c = &app.client;
    let p = funnel(c, "Funnel").await;
    let before = stages_of(c, p.id)
        .await
        .iter()
        .map(|s| s.updated_at)
        .max()
        .unwrap();
    c.stages_create()
        .id(p.id)
        .body(types::StageCreate {
            name: "Zero".parse().unwrap(),
            position: Some(0),
            kind: None,
            probability: None,
        })
        .send()
        .await
        .expect("insert a stage first");
    let changed = c
        .stages_list()
        .id(p.id)
        .updated_after(before)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        changed.len(),
        p.stages.len() + 1,
        "the new stage and every stage it pushed down"
    );
}
