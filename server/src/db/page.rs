//! Keyset pagination shared by every list: a sort key per resource (each backed by an
//! index `(tenant_id, key, id)`), the value of the last row served, and the SQL that
//! continues strictly after it. The cursor's wire form lives in `api::pagination`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// A column a list can be sorted on.
pub trait SortKey: Copy + Send + Sync + 'static {
    /// The rows the list returns.
    type Row: Keyed;
    /// Every sort order of the list.
    const ALL: &'static [Self];
    /// Its name in `sort=` and in cursors.
    fn name(self) -> &'static str;
    /// The SQL expression sorted on; must match an index expression.
    fn expr(self) -> &'static str;
    fn kind(self) -> ValueKind;
    /// The value of `row` under this sort, to continue after it.
    fn value_of(self, row: &Self::Row) -> SortValue;

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|key| key.name() == name)
    }
}

/// A row with an id, the tie-breaker of every keyset.
pub trait Keyed {
    fn id(&self) -> Uuid;
}

/// Implements [`Keyed`] for row types with an `id: Uuid` field.
macro_rules! keyed {
    ($($row:ty),* $(,)?) => {
        $(impl $crate::db::page::Keyed for $row {
            fn id(&self) -> uuid::Uuid {
                self.id
            }
        })*
    };
}
pub(crate) use keyed;

/// Declares `$name`, the one sort order of a list that pages in creation order only.
macro_rules! creation_order {
    ($name:ident, $row:ty) => {
        /// The only order of this list: creation time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            CreatedAt,
        }

        impl $crate::db::page::SortKey for $name {
            type Row = $row;
            const ALL: &'static [Self] = &[Self::CreatedAt];

            fn name(self) -> &'static str {
                "created_at"
            }

            fn expr(self) -> &'static str {
                "created_at"
            }

            fn kind(self) -> $crate::db::page::ValueKind {
                $crate::db::page::ValueKind::Time
            }

            fn value_of(self, row: &$row) -> $crate::db::page::SortValue {
                $crate::db::page::SortValue::Time(row.created_at)
            }
        }
    };
}
pub(crate) use creation_order;

/// The type of a sort key's values, so a cursor can be decoded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Time,
    Text,
    Date,
    Decimal,
    Uuid,
}

/// The sort value of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Text(String),
    Date(NaiveDate),
    Decimal(Decimal),
    Uuid(Uuid),
}

/// What an owner sort (`owner_id`) reads for a record without an owner: the largest
/// UUID, so unowned records sort last ascending and the keyset never compares a NULL.
/// The indexes `contacts_tenant_owner_idx` and `companies_tenant_owner_idx` hold the same
/// expression.
pub const NO_OWNER: Uuid = Uuid::max();

/// The SQL of an owner sort: `owner_id` with [`NO_OWNER`] for none.
pub const OWNER_EXPR: &str = "coalesce(owner_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)";

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
        self.push_after(sql);
        self.push_order(sql, self.fetched());
    }

    /// The rows one page fetches: one more than the page, to tell whether another follows.
    pub fn fetched(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// ` AND (key, id) > (value, id)` (or `<` when descending) past the first page.
    pub fn push_after(&self, sql: &mut QueryBuilder<'_, Postgres>) {
        let expr = self.key.expr();
        let cmp = if self.descending { "<" } else { ">" };
        if let Some((value, id)) = &self.after {
            sql.push(format_args!(" AND ({expr}, id) {cmp} ("));
            match value {
                SortValue::Time(t) => sql.push_bind(*t),
                SortValue::Text(s) => sql.push_bind(s.clone()),
                SortValue::Date(d) => sql.push_bind(*d),
                SortValue::Decimal(d) => sql.push_bind(*d),
                SortValue::Uuid(u) => sql.push_bind(*u),
            };
            sql.push(", ").push_bind(*id).push(")");
        }
    }

    /// ` ORDER BY key, id LIMIT rows` in the page's direction.
    pub fn push_order(&self, sql: &mut QueryBuilder<'_, Postgres>, rows: i64) {
        let expr = self.key.expr();
        let dir = if self.descending { "DESC" } else { "ASC" };
        sql.push(format_args!(" ORDER BY {expr} {dir}, id {dir} LIMIT "))
            .push_bind(rows);
    }

    /// Splits the `limit + 1` rows fetched into the page and whether more follow.
    pub fn finish<R>(&self, mut rows: Vec<R>) -> (Vec<R>, bool) {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        (rows, has_more)
    }
}
