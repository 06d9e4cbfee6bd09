//! The parts every list query shares, on both backends: a `WHERE` clause
//! assembled from optional filters, an `ORDER BY` from sort keys, and reading
//! one page together with the total count from one snapshot.

use super::sql::{Dialect, Param, Row, SqlError};
use super::{Db, StoreError};
use crate::model::{Page, SortKey};

/// A `WHERE` clause under construction: conditions joined with `AND`, each
/// with its `?` placeholders, and the values to bind in order. The first
/// value is always the caller's user id, which every clause (and the
/// columns selected) may name as `?1`; the bare `?` of the clauses number
/// on from 2, by SQLite's rule, on both backends.
pub(super) struct Conditions {
    clauses: Vec<String>,
    values: Vec<Box<dyn Param>>,
}

impl Conditions {
    /// No conditions yet, and `?1` bound to `caller`.
    pub fn for_caller(caller: i64) -> Conditions {
        Conditions {
            clauses: Vec::new(),
            values: vec![Box::new(caller)],
        }
    }

    /// Adds a condition; `values` fill its `?` placeholders in order. The SQL
    /// is always built from literals in this crate, never from client text.
    pub fn push<const N: usize>(&mut self, clause: impl Into<String>, values: [Box<dyn Param>; N]) {
        self.clauses.push(clause.into());
        self.values.extend(values);
    }

    /// Adds "`text` occurs in one of `columns`, ignoring ASCII case", with
    /// `%` and `_` in `text` taken literally. SQLite's `LIKE` ignores ASCII
    /// case already; on PostgreSQL both sides are lowercased under the "C"
    /// collation, which folds ASCII only (`ILIKE` would follow the
    /// database's locale).
    pub fn push_contains(&mut self, dialect: Dialect, columns: &[&'static str], text: &str) {
        let alternatives: Vec<String> = columns
            .iter()
            .map(|column| match dialect {
                Dialect::Sqlite => format!("{column} LIKE ? ESCAPE '\\'"),
                Dialect::Postgres => format!(
                    "lower({column} COLLATE \"C\") LIKE lower(CAST(? AS text) COLLATE \"C\") \
                     ESCAPE '\\'"
                ),
            })
            .collect();
        self.clauses
            .push(format!("({})", alternatives.join(" OR ")));
        let pattern = contains_pattern(text);
        for _ in columns {
            self.values.push(Box::new(pattern.clone()));
        }
    }

    /// The values to bind, in placeholder order.
    pub fn values(&self) -> Vec<&dyn Param> {
        self.values.iter().map(|value| &**value).collect()
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
fn contains_pattern(text: &str) -> String {
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
/// `expression` maps a field to its SQL expression ("lower(title)") and
/// `nulls_last` names the nullable fields that sort last in both
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
            // `x IS NULL` is false for values and true for NULL, and false
            // sorts first on both backends.
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
/// database (see [`Db::snapshot`]), so the total and the page agree.
///
/// The page is found as ids first, and only its rows are then read in
/// full: when no index gives the order (a user's tasks gathered from
/// several projects), the sort handles ids and sort keys rather than every
/// column of every matching row, and the per-row subqueries of `columns`
/// (a task's tags, a project's task count) run for the page alone. The
/// benchmark's "member of 100 projects" scenario pages 100,000 such tasks.
pub(super) fn page<T>(
    db: &Db,
    table: &str,
    columns: &str,
    conditions: &Conditions,
    order: &str,
    (limit, offset): (u32, u64),
    from_row: impl Fn(&Row<'_>) -> Result<T, SqlError>,
) -> Result<Page<T>, StoreError> {
    let filter = conditions.sql();
    let limit = i64::from(limit);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    db.snapshot(|conn| {
        let values = conditions.values();
        let total: i64 = conn
            .query_opt(
                &format!("SELECT count(*) FROM {table} {filter}"),
                &values,
                |row| row.get(0),
            )?
            .unwrap_or(0);
        let mut values = values;
        values.push(&limit);
        values.push(&offset);
        let items = conn.query(
            &format!(
                "SELECT {columns} FROM {table} WHERE {table}.id IN
                     (SELECT {table}.id FROM {table} {filter} {order} LIMIT ? OFFSET ?)
                 {order}"
            ),
            &values,
            &from_row,
        )?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    })
}
