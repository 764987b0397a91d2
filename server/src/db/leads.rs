//! Lead queries. A lead's status, `stage_changed_at`, `won_at` and `lost_at` are derived
//! here from the stage it lands in, in the same statement that moves it, and every stage
//! change is recorded as a `stage_change` activity on the lead in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{keyed, Page, SortKey, SortValue, ValueKind};
use super::record::{self, Table};
use super::stages::StageRow;
use super::{escape_like, violations, TenantTx};
use super::{prepared_statements, query, query_as, query_scalar};
use crate::domain::fields;
use crate::domain::lead::{Lead, LeadInput, Prospect};
use crate::domain::pipeline::StageKind;
use crate::error::{AppError, AppResult};

pub(super) const COLUMNS: &str =
    "id, title, contact_id, company_id, pipeline_id, stage_id, status, \
                       value, currency, expected_close_date, owner_id, source, lost_reason, \
                       prospect_first_name, prospect_last_name, prospect_email, \
                       prospect_phone, prospect_company_name, prospect_company_domain, \
                       converted_at, stage_changed_at, won_at, lost_at, custom_fields, created_at, \
                       updated_at, deleted_at";

/// `DATE '9999-12-31'`, where leads without a close date sort (as in the index).
const NO_CLOSE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MAX,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeadRow {
    pub id: Uuid,
    pub title: String,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub status: String,
    pub value: Option<Decimal>,
    pub currency: Option<String>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    pub lost_reason: Option<String>,
    pub prospect_first_name: Option<String>,
    pub prospect_last_name: Option<String>,
    pub prospect_email: Option<String>,
    pub prospect_phone: Option<String>,
    pub prospect_company_name: Option<String>,
    pub prospect_company_domain: Option<String>,
    pub converted_at: Option<DateTime<Utc>>,
    pub stage_changed_at: DateTime<Utc>,
    pub won_at: Option<DateTime<Utc>>,
    pub lost_at: Option<DateTime<Utc>>,
    pub custom_fields: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was moved to the trash; `None` while it is live.
    pub deleted_at: Option<DateTime<Utc>>,
}

keyed!(LeadRow);

impl Table for LeadRow {
    const TABLE: &'static str = "leads";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "lead";
}

impl LeadRow {
    /// The stored lead as raw input, for a patch to be laid over and parsed again. The
    /// amount is written with as many decimals as its currency has, as the API shows it
    /// (the column keeps four), so it passes the rules it passed when it was written.
    pub fn to_input(&self) -> LeadInput {
        LeadInput {
            title: Some(self.title.clone()),
            contact_id: self.contact_id,
            company_id: self.company_id,
            pipeline_id: Some(self.pipeline_id),
            stage_id: Some(self.stage_id),
            value: self
                .value
                .map(|v| fields::format_amount(v, self.currency.as_deref())),
            currency: self.currency.clone(),
            expected_close_date: self.expected_close_date,
            owner_id: self.owner_id,
            source: self.source.clone(),
            lost_reason: self.lost_reason.clone(),
            prospect: self.prospect(),
        }
    }

    pub fn prospect(&self) -> Prospect {
        Prospect {
            first_name: self.prospect_first_name.clone(),
            last_name: self.prospect_last_name.clone(),
            email: self.prospect_email.clone(),
            phone: self.prospect_phone.clone(),
            company_name: self.prospect_company_name.clone(),
            company_domain: self.prospect_company_domain.clone(),
        }
    }
}

/// The references a lead write can break, as 422s on the field.
fn write_error(err: sqlx::Error) -> AppError {
    violations::references(
        err,
        &[
            ("leads_contact_fkey", "contact_id", "contact"),
            ("leads_company_fkey", "company_id", "company"),
            ("leads_owner_fkey", "owner_id", "user"),
            ("leads_stage_fkey", "stage_id", "stage in this pipeline"),
        ],
    )
}

/// Which leads a bulk operation touches.
#[derive(Debug, Clone, Copy)]
pub enum LeadsIn {
    Pipeline(Uuid),
    Stage(Uuid),
    One(Uuid),
}

impl LeadsIn {
    fn push(self, sql: &mut QueryBuilder<'_, Postgres>) {
        let (column, id) = match self {
            Self::Pipeline(id) => ("l.pipeline_id", id),
            Self::Stage(id) => ("l.stage_id", id),
            Self::One(id) => ("l.id", id),
        };
        sql.push(format_args!(" {column} = ")).push_bind(id);
    }
}

/// How many leads `which` holds, and how many of those are in the trash (with
/// [`TenantTx::include_deleted`] on; without it, the second number is 0).
pub async fn count(tx: &mut TenantTx, which: LeadsIn) -> AppResult<(i64, i64)> {
    let mut sql = QueryBuilder::new(
        "SELECT count(*), count(*) FILTER (WHERE l.deleted_at IS NOT NULL) FROM leads l WHERE",
    );
    which.push(&mut sql);
    Ok(sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_one(tx.conn())
        .await?)
}

/// Writes a `stage_change` activity on each of the leads that is about to move to
/// `target` from another stage (call before moving them: it reads their current stage).
/// A trashed lead's goes to the trash with it, to come back when the lead does.
async fn record_stage_changes(
    tx: &mut TenantTx,
    which: LeadsIn,
    target: &StageRow,
) -> AppResult<()> {
    let mut sql = QueryBuilder::new(
        "INSERT INTO activities (id, tenant_id, type, system, subject, lead_id, deleted_at) \
         SELECT uuid_v7(), l.tenant_id, 'stage_change', true, \
                left('Stage changed: ' || f.name || ' → ' || ",
    );
    sql.push_bind(target.name.clone())
        .push(", 200), l.id, l.deleted_at FROM leads l JOIN stages f ON f.id = l.stage_id WHERE l.stage_id <> ")
        .push_bind(target.id)
        .push(" AND");
    which.push(&mut sql);
    sql.build()
        .persistent(prepared_statements())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The SQL that sets status and the stage timestamps for leads landing in stage `$n`
/// of kind `$k`, from the leads' old values (the right-hand side of an UPDATE sees them).
fn push_placement(sql: &mut QueryBuilder<'_, Postgres>, stage: &StageRow) {
    let kind = stage.kind().as_str();
    sql.push("pipeline_id = ")
        .push_bind(stage.pipeline_id)
        .push(", stage_id = ")
        .push_bind(stage.id)
        .push(", status = ")
        .push_bind(kind)
        .push(", stage_changed_at = CASE WHEN stage_id = ")
        .push_bind(stage.id)
        .push(" THEN stage_changed_at ELSE now() END, won_at = CASE WHEN ")
        .push_bind(kind)
        .push(" = 'won' THEN coalesce(CASE WHEN status = 'won' THEN won_at END, now()) END")
        .push(", lost_at = CASE WHEN ")
        .push_bind(kind)
        .push(" = 'lost' THEN coalesce(CASE WHEN status = 'lost' THEN lost_at END, now()) END")
        .push(", updated_at = now()");
}

/// Locks the leads in `which` until commit. Callers that also lock stages take the leads
/// first: a lead being edited holds its row and then waits for its stage, so the same
/// order on both sides cannot deadlock.
pub async fn lock(tx: &mut TenantTx, which: LeadsIn) -> AppResult<()> {
    let mut sql = QueryBuilder::new("SELECT l.id FROM leads l WHERE");
    which.push(&mut sql);
    sql.push(" FOR UPDATE");
    sql.build()
        .persistent(prepared_statements())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A lead moved by [`move_all`]: where it was, and the lead as it is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MovedLead {
    pub old_pipeline_id: Uuid,
    pub old_stage_id: Uuid,
    pub old_status: String,
    pub old_stage_changed_at: DateTime<Utc>,
    pub old_won_at: Option<DateTime<Utc>>,
    pub old_lost_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub lead: LeadRow,
}

impl MovedLead {
    /// The lead as it was before the move: a move changes only its placement.
    pub fn before(&self) -> LeadRow {
        LeadRow {
            pipeline_id: self.old_pipeline_id,
            stage_id: self.old_stage_id,
            status: self.old_status.clone(),
            stage_changed_at: self.old_stage_changed_at,
            won_at: self.old_won_at,
            lost_at: self.old_lost_at,
            ..self.lead.clone()
        }
    }
}

/// How many of the leads in `which` have no `lost_reason`.
pub async fn count_without_lost_reason(tx: &mut TenantTx, which: LeadsIn) -> AppResult<i64> {
    let mut sql = QueryBuilder::new("SELECT count(*) FROM leads l WHERE lost_reason IS NULL AND");
    which.push(&mut sql);
    Ok(sql
        .build_query_scalar()
        .persistent(prepared_statements())
        .fetch_one(tx.conn())
        .await?)
}

/// Moves every lead in `which` to `target` (a stage the caller holds locked, as it holds
/// the leads: see [`lock`]), recording each move, and returns the leads moved.
pub async fn move_all(
    tx: &mut TenantTx,
    which: LeadsIn,
    target: &StageRow,
) -> AppResult<Vec<MovedLead>> {
    record_stage_changes(tx, which, target).await?;
    // The old placement comes from a self-join: RETURNING sees only the new row, and the
    // callers' events tell a change of stage or status from a mere touch, and say what the
    // move changed.
    let mut sql = QueryBuilder::new("UPDATE leads SET ");
    push_placement(&mut sql, target);
    sql.push(
        " FROM (SELECT l.id AS old_id, l.pipeline_id AS old_pipeline_id, \
         l.stage_id AS old_stage_id, l.status AS old_status, \
         l.stage_changed_at AS old_stage_changed_at, l.won_at AS old_won_at, \
         l.lost_at AS old_lost_at FROM leads l WHERE",
    );
    which.push(&mut sql);
    sql.push(format_args!(
        ") AS old WHERE leads.id = old.old_id RETURNING old_pipeline_id, old_stage_id, \
         old_status, old_stage_changed_at, old_won_at, old_lost_at, {COLUMNS}"
    ));
    Ok(sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?)
}

/// Writes a new lead with its (already validated) custom field values.
pub async fn insert(
    tx: &mut TenantTx,
    lead: &Lead,
    stage: &StageRow,
    custom_fields: &serde_json::Value,
) -> AppResult<LeadRow> {
    let kind = stage.kind();
    let mut sql = QueryBuilder::new(
        "INSERT INTO leads (id, tenant_id, title, contact_id, company_id, pipeline_id, \
         stage_id, status, value, currency, expected_close_date, owner_id, source, \
         lost_reason, prospect_first_name, prospect_last_name, prospect_email, \
         prospect_phone, prospect_company_name, prospect_company_domain, custom_fields, \
         won_at, lost_at) \
         VALUES (",
    );
    let mut values = sql.separated(", ");
    values
        .push_bind(Uuid::now_v7())
        .push_bind(tx.tenant_id())
        .push_bind(lead.title().to_owned())
        .push_bind(lead.contact_id())
        .push_bind(lead.company_id())
        .push_bind(stage.pipeline_id)
        .push_bind(stage.id)
        .push_bind(kind.as_str());
    push_fields(&mut values, lead, custom_fields);
    values
        .push(if kind == StageKind::Won {
            "now()"
        } else {
            "NULL"
        })
        .push(if kind == StageKind::Lost {
            "now()"
        } else {
            "NULL"
        });
    sql.push(format_args!(") RETURNING {COLUMNS}"));
    sql.build_query_as()
        .persistent(prepared_statements())
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

/// Binds the fields a client writes after the placement ones, in column order.
fn push_fields(
    values: &mut sqlx::query_builder::Separated<'_, '_, Postgres, &str>,
    lead: &Lead,
    custom_fields: &serde_json::Value,
) {
    let p = lead.prospect();
    values
        .push_bind(lead.value())
        .push_bind(lead.currency().map(str::to_owned))
        .push_bind(lead.expected_close_date())
        .push_bind(lead.owner_id())
        .push_bind(lead.source().map(str::to_owned))
        .push_bind(lead.lost_reason().map(str::to_owned))
        .push_bind(p.first_name.clone())
        .push_bind(p.last_name.clone())
        .push_bind(p.email.clone())
        .push_bind(p.phone.clone())
        .push_bind(p.company_name.clone())
        .push_bind(p.company_domain.clone())
        .push_bind(custom_fields.clone());
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<LeadRow> {
    record::get(tx, id).await
}

/// Locks the row so a concurrent patch or move cannot interleave.
pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<LeadRow> {
    record::lock(tx, id).await
}

/// Whether the lead exists in the tenant (for its timeline).
pub async fn exists(tx: &mut TenantTx, id: Uuid) -> AppResult<()> {
    let found: Option<i32> = query_scalar("SELECT 1 FROM leads WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    found.map(|_| ()).ok_or(AppError::NotFound("lead"))
}

/// Rewrites a locked lead; a new stage is recorded as a `stage_change` activity.
pub async fn update(
    tx: &mut TenantTx,
    current: &LeadRow,
    lead: &Lead,
    stage: &StageRow,
    custom_fields: &serde_json::Value,
) -> AppResult<LeadRow> {
    if current.stage_id != stage.id {
        record_stage_changes(tx, LeadsIn::One(current.id), stage).await?;
    }
    let mut sql = QueryBuilder::new("UPDATE leads SET ");
    push_placement(&mut sql, stage);
    sql.push(
        ", (title, contact_id, company_id, value, currency, expected_close_date, \
              owner_id, source, lost_reason, prospect_first_name, prospect_last_name, \
              prospect_email, prospect_phone, prospect_company_name, \
              prospect_company_domain, custom_fields) = ROW(",
    );
    let mut values = sql.separated(", ");
    values
        .push_bind(lead.title().to_owned())
        .push_bind(lead.contact_id())
        .push_bind(lead.company_id());
    push_fields(&mut values, lead, custom_fields);
    sql.push(") WHERE id = ")
        .push_bind(current.id)
        .push(format_args!(" RETURNING {COLUMNS}"));
    sql.build_query_as()
        .persistent(prepared_statements())
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

/// Links a converted lead to its contact and company and marks it converted.
pub async fn mark_converted(
    tx: &mut TenantTx,
    id: Uuid,
    contact_id: Uuid,
    company_id: Option<Uuid>,
) -> AppResult<LeadRow> {
    let sql = format!(
        "UPDATE leads SET contact_id = $2, company_id = $3, converted_at = now(), \
         updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(id)
        .bind(contact_id)
        .bind(company_id)
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

/// Moves a live lead (locked by the caller) to the trash with the `stage_change`
/// activities that only make sense on it, and returns it as it is now, with its
/// `deleted_at` (for the `lead.deleted` event). The activities people logged on it stay
/// live and keep their `lead_id`.
pub async fn trash(tx: &mut TenantTx, id: Uuid) -> AppResult<LeadRow> {
    let lead: LeadRow = record::trash(tx, id).await?;
    query(
        "UPDATE activities SET deleted_at = $2 WHERE lead_id = $1 AND system \
         AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(lead.deleted_at)
    .execute(tx.conn())
    .await?;
    Ok(lead)
}

/// Brings a trashed lead back with its `stage_change` activities (the caller ran
/// [`TenantTx::include_deleted`] and holds the row locked). Its stage still exists: a
/// stage or pipeline holding trashed leads is deleted only after moving them.
pub async fn restore(tx: &mut TenantTx, id: Uuid) -> AppResult<LeadRow> {
    query(
        "UPDATE activities SET deleted_at = NULL WHERE lead_id = $1 AND system \
         AND deleted_at IS NOT NULL",
    )
    .bind(id)
    .execute(tx.conn())
    .await?;
    record::untrash(tx, id)
        .await?
        .ok_or(AppError::NotFound("lead"))
}

/// Sort orders of the lead list; each matches an index `(tenant_id, expr, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSort {
    CreatedAt,
    UpdatedAt,
    Value,
    ExpectedCloseDate,
}

impl SortKey for LeadSort {
    type Row = LeadRow;
    const ALL: &'static [Self] = &[
        Self::CreatedAt,
        Self::UpdatedAt,
        Self::Value,
        Self::ExpectedCloseDate,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Value => "value",
            Self::ExpectedCloseDate => "expected_close_date",
        }
    }

    fn expr(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Value => "coalesce(value, 0)",
            Self::ExpectedCloseDate => "coalesce(expected_close_date, DATE '9999-12-31')",
        }
    }

    fn kind(self) -> ValueKind {
        match self {
            Self::CreatedAt | Self::UpdatedAt => ValueKind::Time,
            Self::Value => ValueKind::Decimal,
            Self::ExpectedCloseDate => ValueKind::Date,
        }
    }

    fn value_of(self, row: &LeadRow) -> SortValue {
        match self {
            Self::CreatedAt => SortValue::Time(row.created_at),
            Self::UpdatedAt => SortValue::Time(row.updated_at),
            // A lead without a value sorts as 0 (as in the index).
            Self::Value => SortValue::Decimal(row.value.unwrap_or(Decimal::ZERO)),
            Self::ExpectedCloseDate => {
                SortValue::Date(row.expected_close_date.unwrap_or(NO_CLOSE_DATE))
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub q: Option<String>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub status: Option<StageKind>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub currency: Option<String>,
    pub value_min: Option<Decimal>,
    pub value_max: Option<Decimal>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Trashed leads too (`?include_deleted=true`).
    pub include_deleted: bool,
    pub custom_fields: Vec<crate::domain::custom_field::Filter>,
}

pub async fn list(
    tx: &mut TenantTx,
    filter: &LeadFilter,
    page: &Page<LeadSort>,
) -> AppResult<(Vec<LeadRow>, bool)> {
    if filter.include_deleted {
        tx.include_deleted().await?;
    }
    let conditions = |sql: &mut QueryBuilder<'_, Postgres>| {
        if let Some(q) = &filter.q {
            sql.push(" AND title ILIKE ")
                .push_bind(format!("%{}%", escape_like(q)));
        }
        let ids = [
            ("pipeline_id", filter.pipeline_id),
            ("stage_id", filter.stage_id),
            ("owner_id", filter.owner_id),
            ("contact_id", filter.contact_id),
            ("company_id", filter.company_id),
        ];
        for (column, id) in ids {
            if let Some(id) = id {
                sql.push(format_args!(" AND {column} = ")).push_bind(id);
            }
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(currency) = &filter.currency {
            sql.push(" AND currency = ").push_bind(currency.clone());
        }
        if let Some(min) = filter.value_min {
            sql.push(" AND value >= ").push_bind(min);
        }
        if let Some(max) = filter.value_max {
            sql.push(" AND value <= ").push_bind(max);
        }
        if let Some(from) = filter.expected_close_from {
            sql.push(" AND expected_close_date >= ").push_bind(from);
        }
        if let Some(to) = filter.expected_close_to {
            sql.push(" AND expected_close_date <= ").push_bind(to);
        }
        if let Some(after) = filter.updated_after {
            sql.push(" AND updated_at > ").push_bind(after);
        }
    };
    super::custom_fields::list_page(
        tx,
        "leads",
        COLUMNS,
        conditions,
        &filter.custom_fields,
        page,
    )
    .await
}
