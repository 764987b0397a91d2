//! Leads: moving through stages under the rules that guard them (`stages`), lists filtered
//! and sorted (`lists`), conversion and deletion (`conversion`), and tenant isolation
//! (`isolation`); the helpers they share are here.

use momentum_sdk::patch::LeadPatch;
use momentum_sdk::types;

mod conversion;
mod isolation;
mod lists;
mod stages;

async fn move_to(client: &momentum_sdk::Client, id: uuid::Uuid, patch: LeadPatch) -> types::Lead {
    client
        .leads_update()
        .id(id)
        .body(patch)
        .send()
        .await
        .expect("update the lead")
        .into_inner()
        .data
}

fn to_stage(stage_id: uuid::Uuid) -> LeadPatch {
    LeadPatch {
        stage_id: Some(stage_id),
        ..Default::default()
    }
}
