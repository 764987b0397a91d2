//! A pipeline's stage as stored: its own module because both `pipelines` (which owns the
//! stages) and `leads` (which are placed in them) read it, and neither of the two needs
//! the other's queries for it (moving the leads out of a stage is `app::pipelines`'
//! business).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::pipeline::{StageInput, StageKind};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StageRow {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: String,
    pub position: i32,
    pub probability: i32,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StageRow {
    pub fn kind(&self) -> StageKind {
        // The column's CHECK admits exactly the three kinds.
        StageKind::parse(&self.kind).unwrap_or(StageKind::Open)
    }

    /// The stored stage as raw input, for a patch to be laid over and parsed again.
    pub fn to_input(&self) -> StageInput {
        StageInput {
            name: Some(self.name.clone()),
            probability: Some(i64::from(self.probability)),
            kind: Some(self.kind()),
        }
    }
}
