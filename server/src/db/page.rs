//! Keyset pagination shared by every list: a sort key per resource (each backed by an
//! index `(tenant_id, key, id)`), the value of the last row served, and the SQL that
//! continues strictly after it. The cursor's wire form lives in `api::pagination`.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// A column a list can be sorted on.
pub trait SortKey: Copy + Send + Sync {
    /// Its name in `sort=` and in cursors.
    fn name(self) -> &'static str;
    /// The SQL expression sorted on; must match an index expression.
    fn expr(self) -> &'static str;
    fn kind(self) -> ValueKind;
}

/// The type of a sort key's values, so a cursor can be decoded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Time,
    Text,
}

/// The sort value of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Text(String),
}

/// A sort order and, past the first page, where the previous page ended.
#[derive(Debug, Clone)]
pub struct Page<K> {
    pub key: K,
    pub descending: bool,
    pub after: Option<(SortValue, Uuid)>,
    pub limit: u32,
}

impl<K: SortKey> Page<K> {
    /// Appends ` AND (key, id) > (value, id)` (or `<` when descending) past the first
    /// page, then the ORDER BY and a LIMIT one larger than the page: the extra row only
    /// says whether another page follows.
    pub fn push_sql(&self, sql: &mut QueryBuilder<'_, Postgres>) {
        let expr = self.key.expr();
        let (cmp, dir) = if self.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some((value, id)) = &self.after {
            sql.push(format_args!(" AND ({expr}, id) {cmp} ("));
            match value {
                SortValue::Time(t) => sql.push_bind(*t),
                SortValue::Text(s) => sql.push_bind(s.clone()),
            };
            sql.push(", ").push_bind(*id).push(")");
        }
        sql.push(format_args!(" ORDER BY {expr} {dir}, id {dir} LIMIT "))
            .push_bind(i64::from(self.limit) + 1);
    }

    /// Splits the `limit + 1` rows fetched into the page and whether more follow.
    pub fn finish<R>(&self, mut rows: Vec<R>) -> (Vec<R>, bool) {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        (rows, has_more)
    }
}
