//! The parts every list query shares: a `WHERE` clause assembled from
//! optional filters, an `ORDER BY` from sort keys, and reading one page
//! together with the total count.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params_from_iter};

use super::{Db, StoreError};
use crate::model::{Page, SortKey};

/// A `WHERE` clause under construction: conditions joined with `AND`, each
/// with its `?` placeholders, and the values to bind in order.
#[derive(Default)]
pub(super) struct Conditions {
    clauses: Vec<&'static str>,
    values: Vec<SqlValue>,
}

impl Conditions {
    /// Adds a condition; `values` fill its `?` placeholders in order. The SQL
    /// is always a literal from this crate, never client text.
    pub fn push(&mut self, clause: &'static str, values: impl IntoIterator<Item = SqlValue>) {
        self.clauses.push(clause);
        self.values.extend(values);
    }

    /// The values to bind, in placeholder order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    /// The `WHERE` clause (empty when there are no conditions).
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and the escape
/// character itself taken literally (use with `ESCAPE '\'`).
pub(super) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An `ORDER BY` clause for `sort`, with `id` appended as the final
/// tie-breaker unless already present, so that the order is total and
/// consecutive pages neither overlap nor skip a row.
///
/// `expression` maps a field to its SQL expression ("title COLLATE NOCASE")
/// and `nulls_last` names the nullable fields that sort last in both
/// directions. Both come from the resource's fixed list.
pub(super) fn order_by(
    sort: &[SortKey],
    expression: impl Fn(&str) -> Option<&'static str>,
    nulls_last: &[&str],
) -> Result<String, StoreError> {
    let mut terms = Vec::with_capacity(sort.len() + 1);
    for key in sort {
        let column = expression(key.field).ok_or_else(|| {
            StoreError::Database(format!("no sort expression for field {:?}", key.field))
        })?;
        if nulls_last.contains(&key.field) {
            // `x IS NULL` is 0 for values and 1 for NULL, ascending always.
            terms.push(format!("{column} IS NULL"));
        }
        let direction = if key.descending { " DESC" } else { "" };
        terms.push(format!("{column}{direction}"));
    }
    if !sort.iter().any(|key| key.field == "id") {
        terms.push("id".to_owned());
    }
    Ok(format!("ORDER BY {}", terms.join(", ")))
}

/// Reads one page of `SELECT {columns} FROM {table}` under `conditions` and
/// `order`, and the count of all matching rows, from one snapshot of the
/// database (a read transaction), so the total and the page agree.
pub(super) fn page<T>(
    db: &Db,
    table: &str,
    columns: &str,
    conditions: &Conditions,
    order: &str,
    (limit, offset): (u32, u64),
    from_row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>, StoreError> {
    let filter = conditions.sql();
    let tx = db.conn.unchecked_transaction()?;
    let total: i64 = tx
        .prepare_cached(&format!("SELECT count(*) FROM {table} {filter}"))?
        .query_row(params_from_iter(conditions.values()), |row| row.get(0))?;

    let mut values = conditions.values().to_vec();
    values.push(SqlValue::Integer(i64::from(limit)));
    values.push(SqlValue::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
    let items = tx
        .prepare_cached(&format!(
            "SELECT {columns} FROM {table} {filter} {order} LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(values), from_row)?
        .collect::<Result<Vec<T>, _>>()?;
    tx.commit()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
    })
}
