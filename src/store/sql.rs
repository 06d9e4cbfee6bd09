//! The seam between the store and its two database drivers: a connection
//! handle, [`Conn`], that the store's functions write their SQL against once,
//! whichever backend runs it.
//!
//! SQL is written in SQLite's placeholder style (`?1`, or `?` numbered in
//! order); the PostgreSQL backend rewrites it to `$1` once per statement and
//! caches the prepared result. Parameters are anything both drivers can
//! bind ([`Param`]: `i64`, `bool`, `String`, `&str`, `&[u8]`, and `Option`s
//! of them) and columns anything both can read ([`Column`]), so a function
//! like `tasks::get` has one body and one row mapping for both backends.
//! Where the dialects really differ (case-insensitive matching, say), the
//! function asks [`Conn::dialect`] and picks its SQL.

use std::fmt;

use crate::store::StoreError;

/// Which SQL a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection, inside a transaction or not, given to the store's
/// functions by [`Db::read`](super::Db::read), `snapshot` and `write`.
pub enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    #[cfg(feature = "postgres")]
    Postgres(super::postgres::Session<'a>),
}

impl Conn<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement and maps every row it returns.
    pub fn query<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        mut map: impl FnMut(&Row<'_>) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, SqlError> {
        match self {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(sqlite_params(params))?;
                let mut mapped = Vec::new();
                while let Some(row) = rows.next()? {
                    mapped.push(map(&Row::Sqlite(row))?);
                }
                Ok(mapped)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(session) => session
                .query(sql, params)?
                .iter()
                .map(|row| map(&Row::Postgres(row)))
                .collect(),
        }
    }

    /// Runs a statement and maps its first row, if it returns any.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        map: impl FnOnce(&Row<'_>) -> Result<T, SqlError>,
    ) -> Result<Option<T>, SqlError> {
        match self {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(row) => Ok(Some(map(&Row::Sqlite(row))?)),
                    None => Ok(None),
                }
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(session) => match session.query(sql, params)?.first() {
                Some(row) => Ok(Some(map(&Row::Postgres(row))?)),
                None => Ok(None),
            },
        }
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<u64, SqlError> {
        match self {
            Conn::Sqlite(conn) => {
                let changed = conn.prepare_cached(sql)?.execute(sqlite_params(params))?;
                Ok(u64::try_from(changed).unwrap_or(u64::MAX))
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(session) => session.execute(sql, params),
        }
    }
}

fn sqlite_params<'p>(
    params: &'p [&'p dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = &'p dyn rusqlite::ToSql>> {
    rusqlite::params_from_iter(params.iter().map(|param| param.as_sqlite()))
}

/// One row of a result, from either driver.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    #[cfg(feature = "postgres")]
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// The value of column `index` (from 0).
    pub fn get<T: Column>(&self, index: usize) -> Result<T, SqlError> {
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            #[cfg(feature = "postgres")]
            Row::Postgres(row) => Ok(row.try_get(index)?),
        }
    }
}

/// A value both drivers can bind to a placeholder.
pub trait Param: PostgresParam {
    fn as_sqlite(&self) -> &dyn rusqlite::ToSql;
}

impl<T: rusqlite::ToSql + PostgresParam> Param for T {
    fn as_sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
}

/// A type both drivers can read a column into.
pub trait Column: rusqlite::types::FromSql + PostgresColumn {}

impl<T: rusqlite::types::FromSql + PostgresColumn> Column for T {}

/// What PostgreSQL needs of a parameter: nothing, in a build without it.
#[cfg(feature = "postgres")]
pub trait PostgresParam: postgres::types::ToSql + Sync {
    fn as_postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

#[cfg(feature = "postgres")]
impl<T: postgres::types::ToSql + Sync> PostgresParam for T {
    fn as_postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

#[cfg(not(feature = "postgres"))]
pub trait PostgresParam {}

#[cfg(not(feature = "postgres"))]
impl<T: ?Sized> PostgresParam for T {}

/// What PostgreSQL needs of a column type: nothing, in a build without it.
#[cfg(feature = "postgres")]
pub trait PostgresColumn: for<'a> postgres::types::FromSql<'a> {}

#[cfg(feature = "postgres")]
impl<T: for<'a> postgres::types::FromSql<'a>> PostgresColumn for T {}

#[cfg(not(feature = "postgres"))]
pub trait PostgresColumn {}

#[cfg(not(feature = "postgres"))]
impl<T> PostgresColumn for T {}

/// A failed statement, classified the same way for both drivers.
#[derive(Debug)]
pub struct SqlError {
    pub kind: ErrorKind,
    message: String,
}

/// The failures the store's functions tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A UNIQUE constraint (or unique index) refused the row.
    Unique,
    /// A FOREIGN KEY constraint refused the row.
    ForeignKey,
    /// The database cannot serve now, and may later: see
    /// [`StoreError::Unavailable`].
    Unavailable,
    /// Anything else.
    Other,
}

impl SqlError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> SqlError {
        SqlError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<SqlError> for StoreError {
    fn from(error: SqlError) -> StoreError {
        match error.kind {
            ErrorKind::Unavailable => StoreError::Unavailable(error.message),
            // A constraint that reaches here was not expected by the
            // function that ran the statement: a bug, reported as one.
            ErrorKind::Unique | ErrorKind::ForeignKey | ErrorKind::Other => {
                StoreError::Database(error.message)
            }
        }
    }
}

/// `sql` with SQLite's placeholders (`?1`, `?`) rewritten in PostgreSQL's
/// (`$1`), numbered by SQLite's rule: a bare `?` takes one more than the
/// largest number so far, so `?1 ... ? ... ?` is `$1 ... $2 ... $3` on both.
/// Text inside single quotes, double quotes and `--` comments is copied as
/// it is (the store's SQL has no other kind of comment or quoting).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut largest = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                    digits.push(digit);
                }
                let number = match digits.parse::<u32>() {
                    Ok(number) => number,
                    Err(_) => largest + 1,
                };
                largest = largest.max(number);
                out.push('$');
                out.push_str(&number.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_and_comments() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE a = ?2 AND b = ?1"),
            "SELECT a FROM t WHERE a = $2 AND b = $1"
        );
        assert_eq!(
            numbered_placeholders("x LIKE ? ESCAPE '\\' AND y = ? LIMIT ? OFFSET ?"),
            "x LIKE $1 ESCAPE '\\' AND y = $2 LIMIT $3 OFFSET $4"
        );
        assert_eq!(
            numbered_placeholders("SELECT '?', \"a?\" -- why?\n, ?"),
            "SELECT '?', \"a?\" -- why?\n, $1"
        );
        // SQLite's rule when the styles mix: one more than the largest.
        assert_eq!(
            numbered_placeholders("a = ?1 AND b = ? AND c IN (?1, ?) AND d = ?3 AND e = ?"),
            "a = $1 AND b = $2 AND c IN ($1, $3) AND d = $3 AND e = $4"
        );
    }
}
