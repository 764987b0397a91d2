//! Another tenant's lead is invisible.

use momentum_contract_tests::TestApp;
use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types;

use crate::{create_lead, fields_of, lead, sales, stage, Refused, ANY_CODE};

#[tokio::test]
async fn another_tenants_lead_is_invisible() {
    let app = TestApp::spawn().await;
    let a = &app.client;
    let pipeline = sales(a).await;
    let deal = create_lead(a, lead("Secret deal", pipeline.id)).await;
    let (_, b) = app.other_tenant().await;

    b.leads_get()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_update()
        .id(deal.id)
        .body(LeadPatch {
            title: Some("pwned".parse().unwrap()),
            ..Default::default()
        })
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_delete()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_convert()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    b.leads_activities()
        .id(deal.id)
        .send()
        .await
        .refused(404, ANY_CODE);
    let listed = b
        .leads_list()
        .pipeline_id(pipeline.id)
        .send()
        .await
        .unwrap();
    assert!(listed.into_inner().data.is_empty());
    assert!(b
        .leads_list()
        .send()
        .await
        .unwrap()
        .into_inner()
        .data
        .is_empty());

    // A's pipeline and stage in B's body are ids that do not exist.
    let b_sales = sales(&b).await;
    for (named, body) in [
        ("pipeline_id", lead("x", pipeline.id)),
        (
            "stage_id",
            types::LeadCreate {
                stage_id: Some(stage(&pipeline, "Qualified")),
                ..lead("x", b_sales.id)
            },
        ),
    ] {
        let err = b
            .leads_create()
            .body(body)
            .send()
            .await
            .refused_as(named, 422, ANY_CODE);
        assert_eq!(fields_of(&err), [named]);
    }
}
