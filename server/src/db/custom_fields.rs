//! Custom field definitions and the values index (`custom_field_values`, kept in step with
//! the records by a trigger; see the migration). Record tables are named by the caller
//! with a `&'static str` from `db::record_table`.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{creation_order, keyed, Page};
use super::record::{self, Table};
use super::{prepared_statements, query, query_as, query_scalar};
use super::{violations, TenantTx};
use crate::domain::custom_field::{Definition, DefinitionSpec, FieldType, Filter, Operand};
use crate::domain::record::RecordType;
use crate::domain::FieldError;
use crate::error::{AppError, AppResult};

/// The partial unique index that is the `unique` rule.
pub const UNIQUE_INDEX: &str = "custom_field_values_unique_key";
const KEY_CONSTRAINT: &str = "custom_field_definitions_key";
const COLUMNS: &str = "id, record_type, key, label, type, options, required, \"unique\", \
                       created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DefinitionRow {
    pub id: Uuid,
    pub record_type: String,
    pub key: String,
    pub label: String,
    #[sqlx(rename = "type")]
    pub field_type: String,
    pub options: Vec<String>,
    pub required: bool,
    pub unique: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

keyed!(DefinitionRow);
creation_order!(DefinitionSort, DefinitionRow);

impl Table for DefinitionRow {
    const TABLE: &'static str = "custom_field_definitions";
    const COLUMNS: &'static str = COLUMNS;
    const NOUN: &'static str = "custom field";
}

impl DefinitionRow {
    pub fn to_domain(&self) -> Definition {
        Definition {
            id: self.id,
            key: self.key.clone(),
            // The column's CHECK admits only known types.
            field_type: FieldType::parse(&self.field_type).unwrap_or(FieldType::Text),
            options: self.options.clone(),
            required: self.required,
            unique: self.unique,
        }
    }

    /// The definition as it was written, for a patch to be laid over.
    pub fn to_spec(&self) -> DefinitionSpec {
        DefinitionSpec::from_stored(
            // The column's CHECK admits only the four types.
            RecordType::parse(&self.record_type).unwrap_or(RecordType::Contact),
            self.key.clone(),
            self.label.clone(),
            FieldType::parse(&self.field_type).unwrap_or(FieldType::Text),
            self.options.clone(),
            self.required,
            self.unique,
        )
    }
}

/// The 409 for a value another live record of the type holds; `holder` names it.
pub fn value_taken(holder: Option<(String, Uuid)>) -> AppError {
    let detail = match &holder {
        Some((_, id)) => FieldError::new(
            format!(
                "custom_fields.{}",
                holder.as_ref().map(|h| h.0.as_str()).unwrap_or("")
            ),
            "taken",
            format!("is unique and already held by record {id}"),
        ),
        None => FieldError::new(
            "custom_fields",
            "taken",
            "a unique custom field value is already held by another record",
        ),
    };
    AppError::Conflict {
        message: "a unique custom field value is already used by another record".into(),
        details: vec![detail],
    }
}

fn key_taken() -> AppError {
    AppError::Conflict {
        message: "a custom field with this key already exists for this record type".into(),
        details: vec![FieldError::new(
            "key",
            "taken",
            "is already defined for this record type",
        )],
    }
}

fn write_error(err: sqlx::Error) -> AppError {
    if violations::broke(&err, KEY_CONSTRAINT) {
        key_taken()
    } else {
        err.into()
    }
}

pub async fn insert(tx: &mut TenantTx, def: &DefinitionSpec) -> AppResult<DefinitionRow> {
    let tenant_id = tx.tenant_id();
    let sql = format!(
        "INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label, type, \
         options, required, \"unique\") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING {COLUMNS}"
    );
    query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(def.record_type().as_str())
        .bind(def.key())
        .bind(def.label())
        .bind(def.field_type().as_str())
        .bind(def.options())
        .bind(def.required())
        .bind(def.unique())
        .fetch_one(tx.conn())
        .await
        .map_err(write_error)
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> AppResult<DefinitionRow> {
    record::get(tx, id).await
}

pub async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> AppResult<DefinitionRow> {
    record::lock(tx, id).await
}

pub async fn update(tx: &mut TenantTx, id: Uuid, def: &DefinitionSpec) -> AppResult<DefinitionRow> {
    let sql = format!(
        "UPDATE custom_field_definitions SET label = $2, type = $3, options = $4, \
         required = $5, \"unique\" = $6, \
         updated_at = greatest(now(), updated_at + interval '1 microsecond') \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = query_as(&sql)
        .bind(id)
        .bind(def.label())
        .bind(def.field_type().as_str())
        .bind(def.options())
        .bind(def.required())
        .bind(def.unique())
        .fetch_optional(tx.conn())
        .await
        .map_err(write_error)?
        .ok_or(AppError::NotFound("custom field"))?;
    query("UPDATE custom_field_values SET is_unique = $2 WHERE field_id = $1 AND is_unique <> $2")
        .bind(id)
        .bind(def.unique())
        .execute(tx.conn())
        .await?;
    Ok(row)
}

/// Deletes the definition and its values: the key leaves the jsonb of every record of
/// `table` (no `*.updated` events; their `updated_at` moves), and the index rows go with
/// the definition.
pub async fn delete(
    tx: &mut TenantTx,
    id: Uuid,
    table: &'static str,
    key: &str,
) -> AppResult<DefinitionRow> {
    // The trash hides trashed records from plain statements; their values go too.
    query("SELECT set_config('app.include_deleted', 'on', true)")
        .execute(tx.conn())
        .await?;
    let sql = format!(
        "UPDATE {table} SET custom_fields = custom_fields - $1::text WHERE custom_fields ? $1::text"
    );
    query(&sql).bind(key).execute(tx.conn()).await?;
    let sql = format!("DELETE FROM custom_field_definitions WHERE id = $1 RETURNING {COLUMNS}");
    query_as(&sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound("custom field"))
}

/// The definitions of a record type, for validating a write or parsing filters.
pub async fn for_type(tx: &mut TenantTx, record_type: &str) -> AppResult<Vec<Definition>> {
    let sql = format!("SELECT {COLUMNS} FROM custom_field_definitions WHERE record_type = $1");
    let rows: Vec<DefinitionRow> = query_as(&sql)
        .bind(record_type)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows.iter().map(DefinitionRow::to_domain).collect())
}

/// Whether any record holds a value of the field (trashed ones too: they may come back).
pub async fn has_values(tx: &mut TenantTx, field_id: Uuid) -> AppResult<bool> {
    Ok(
        query_scalar("SELECT EXISTS (SELECT 1 FROM custom_field_values WHERE field_id = $1)")
            .bind(field_id)
            .fetch_one(tx.conn())
            .await?,
    )
}

/// The first of `options` some record still holds.
pub async fn option_in_use(
    tx: &mut TenantTx,
    field_id: Uuid,
    options: &[String],
) -> AppResult<Option<String>> {
    Ok(query_scalar(
        "SELECT v_text FROM custom_field_values WHERE field_id = $1 AND v_text = ANY($2) \
         ORDER BY v_text LIMIT 1",
    )
    .bind(field_id)
    .bind(options)
    .fetch_optional(tx.conn())
    .await?)
}

/// A value two live records share, with one of them.
pub async fn duplicate_value(
    tx: &mut TenantTx,
    field_id: Uuid,
) -> AppResult<Option<(String, Uuid)>> {
    Ok(query_as(
        "SELECT v_text, min(record_id::text)::uuid FROM custom_field_values \
         WHERE field_id = $1 AND live GROUP BY v_text HAVING count(*) > 1 LIMIT 1",
    )
    .bind(field_id)
    .fetch_optional(tx.conn())
    .await?)
}

/// A live record other than `record_id` holding one of `values`' unique values, as
/// (key, record): the same canonical form the index compares (computed by the same SQL
/// function the trigger uses).
pub async fn unique_holder(
    tx: &mut TenantTx,
    record_type: &str,
    record_id: Option<Uuid>,
    values: &serde_json::Value,
) -> AppResult<Option<(String, Uuid)>> {
    let tenant_id = tx.tenant_id();
    Ok(query_as(
        "SELECT d.key, v.record_id \
         FROM custom_field_index_rows($1, $2, $3, $4, true) AS i \
         JOIN custom_field_values v ON v.field_id = i.field_id AND v.v_text = i.v_text \
              AND v.is_unique AND v.live AND v.record_id <> $2 \
         JOIN custom_field_definitions d ON d.id = i.field_id \
         WHERE i.is_unique ORDER BY d.key LIMIT 1",
    )
    .bind(tenant_id)
    .bind(record_id.unwrap_or(Uuid::nil()))
    .bind(record_type)
    .bind(values)
    .fetch_optional(tx.conn())
    .await?)
}

/// One page of `table`'s rows (`columns`, as `SELECT` lists them) that meet `conditions`
/// and the custom-field `filters`, and whether another page follows. `conditions` pushes
/// ` AND …` clauses on the table's own columns; it runs once per statement built.
///
/// Without custom-field filters this is one statement, the list's own. With them, the
/// page is first looked for among the next [`WALK_ROWS_PER_ROW`] × (`limit` + 1) rows
/// in the list's order (walking its sort index, checking each row's values), and only if
/// that does not fill the page are the filters' matches gathered and sorted.
///
/// Why: PostgreSQL cannot estimate how many of a tenant's records a filter matches.
/// Row-level security puts the tenant on both `custom_field_values` and the listed table,
/// and the planner applies its selectivity twice, so with other tenants in the database
/// it expects a few dozen matches where there are thousands, and gathers and sorts them
/// all: 0.9 ms alone, 244 ms among 20 other tenants, for a filter matching a quarter of
/// 100,000 contacts (docs/performance.md, "Other tenants' data"). The walk needs no
/// estimate: a filter that matches one row in 8 or more fills the page within it, at a
/// cost bounded by the walk's length whatever other tenants hold; a sparser one costs
/// that walk more than it did, then the plan it always had.
pub async fn list_page<K, R>(
    tx: &mut TenantTx,
    table: &str,
    columns: &str,
    conditions: impl Fn(&mut QueryBuilder<'_, Postgres>),
    filters: &[Filter],
    page: &Page<K>,
) -> AppResult<(Vec<R>, bool)>
where
    K: super::page::SortKey,
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let fetched = page.fetched();
    if !filters.is_empty() {
        // The page's rows among the next `walk` in order. `OFFSET 0` keeps PostgreSQL
        // from turning each EXISTS into a join, so it is checked as each row comes.
        let walk = WALK_ROWS_PER_ROW * fetched;
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT {columns} FROM (SELECT * FROM {table} WHERE true"
        ));
        conditions(&mut sql);
        page.push_after(&mut sql);
        page.push_order(&mut sql, walk);
        sql.push(format_args!(") {table} WHERE true"));
        push_filters(&mut sql, filters, " OFFSET 0");
        page.push_order(&mut sql, fetched);
        let rows: Vec<R> = sql
            .build_query_as()
            .persistent(prepared_statements())
            .fetch_all(tx.conn())
            .await?;
        if rows.len() as i64 == fetched {
            return Ok(page.finish(rows));
        }
    }
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE true"));
    conditions(&mut sql);
    push_filters(&mut sql, filters, "");
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}

/// How many rows per row of the page [`list_page`] walks before it gathers the matches
/// instead: a filter matching one row in 8 or more fills the page within the walk. Each
/// row walked costs about 2 µs, which a sparser filter pays for nothing: 20 rows per row
/// of the page doubled the cost of a filter matching 2% (docs/performance.md).
pub const WALK_ROWS_PER_ROW: i64 = 8;

/// Appends one `AND EXISTS (... <tail>)` per filter on the values index; `id` is the
/// listed table's id column.
fn push_filters(sql: &mut QueryBuilder<'_, Postgres>, filters: &[Filter], tail: &str) {
    for filter in filters {
        sql.push(" AND EXISTS (SELECT 1 FROM custom_field_values cfv WHERE cfv.record_id = id");
        push_condition(sql, filter);
        sql.push(tail).push(")");
    }
}

/// ` AND cfv.field_id = … AND cfv.<typed column> <op> …`: one filter on the values index.
fn push_condition(sql: &mut QueryBuilder<'_, Postgres>, filter: &Filter) {
    let op = filter.op.sql();
    sql.push(" AND cfv.field_id = ").push_bind(filter.field_id);
    match &filter.operand {
        Operand::Text(text) => {
            sql.push(format_args!(" AND cfv.v_text {op} "))
                .push_bind(text.clone());
        }
        Operand::Num(num) => {
            // Candidates by the float8 index (see the migration), then exactly. Rust
            // parses the decimal's text to the nearest float8 as PostgreSQL's cast does.
            let loose = filter.op.loose_sql();
            let rounded: f64 = num.to_string().parse().unwrap_or(f64::NAN);
            sql.push(format_args!(" AND cfv.v_float {loose} "))
                .push_bind(rounded)
                .push(format_args!(" AND cfv.v_num {op} "))
                .push_bind(*num);
        }
        Operand::Time(time) => {
            sql.push(format_args!(" AND cfv.v_time {op} "))
                .push_bind(*time);
        }
    }
}

/// One page of definitions, optionally of one record type.
pub async fn list(
    tx: &mut TenantTx,
    record_type: Option<&str>,
    page: &Page<DefinitionSort>,
) -> AppResult<(Vec<DefinitionRow>, bool)> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM custom_field_definitions WHERE true"
    ));
    if let Some(record_type) = record_type {
        sql.push(" AND record_type = ")
            .push_bind(record_type.to_owned());
    }
    page.push_sql(&mut sql);
    let rows = sql
        .build_query_as()
        .persistent(prepared_statements())
        .fetch_all(tx.conn())
        .await?;
    Ok(page.finish(rows))
}
