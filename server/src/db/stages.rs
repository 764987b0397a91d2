//! A pipeline's stage as stored: its own module because both `pipelines` (which owns the
//! stages) and `leads` (which are placed in them) read it, and `pipelines` calls into
//! `leads` to move them — were the row in `pipelines`, the two would import each other.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::pipeline::StageKind;

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
}
