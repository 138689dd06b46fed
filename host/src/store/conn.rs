//! A connection lent to one job: the SQL runner every store function uses.
//!
//! SQL is written once with `$1`-style parameters. On SQLite it runs inline
//! on the database thread that owns the connection (no hand-off per
//! statement); on PostgreSQL it is awaited on the pool connection. Strings
//! holding U+0000 are refused here, on both backends, before they reach
//! either database.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use super::{sqlite, Backend, StoreError, StoreResult};
use crate::crypto::{LearnerKey, Vault};

/// A value bound to a `$n` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    Int(i64),
    Text(&'a str),
    NullInt,
    NullText,
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<bool> for Param<'_> {
    /// Flags are stored as 0/1 on both backends.
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::NullInt, Param::Int)
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::NullText, Param::Text)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::NullText, Param::Text)
    }
}

/// `args![a, b, …]`: the parameters of a statement, in `$1, $2, …` order.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::Param::from($value)),*]
    };
}

/// One result row, read by column index.
pub trait Row {
    /// An integer column (flags, ids, timestamps); `None` for NULL.
    fn int(&self, index: usize) -> StoreResult<Option<i64>>;
    /// A text column; `None` for NULL.
    fn text(&self, index: usize) -> StoreResult<Option<String>>;
}

/// A Rust value read from one column.
pub trait Column: Sized {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self>;
}

fn not_null<T>(value: Option<T>, index: usize) -> StoreResult<T> {
    value.ok_or_else(|| StoreError::Decode(format!("column {index} is NULL")))
}

impl Column for i64 {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        not_null(row.int(index)?, index)
    }
}

impl Column for Option<i64> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        row.int(index)
    }
}

impl Column for bool {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        Ok(not_null(row.int(index)?, index)? != 0)
    }
}

impl Column for String {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        not_null(row.text(index)?, index)
    }
}

impl Column for Option<String> {
    fn read(row: &dyn Row, index: usize) -> StoreResult<Self> {
        row.text(index)
    }
}

/// A value built from a whole row.
pub trait FromRow: Sized {
    fn from_row(row: &dyn Row) -> StoreResult<Self>;
}

macro_rules! tuple_from_row {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Column),+> FromRow for ($($name,)+) {
            fn from_row(row: &dyn Row) -> StoreResult<Self> {
                Ok(($($name::read(row, $index)?,)+))
            }
        }
    };
}

tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);

/// What a job changed that cached copies depend on.
#[derive(Default)]
pub(crate) struct Changes {
    /// Users whose cached records are stale once this job commits.
    pub touched: Vec<i64>,
    /// Records the job read back after its writes, to cache on commit.
    pub fresh: Vec<(i64, Box<dyn Any + Send>)>,
    /// Run once the job's writes are committed; dropped if they are not.
    pub after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

impl Changes {
    /// Runs the after-commit actions.
    pub(crate) fn committed(after_commit: Vec<Box<dyn FnOnce() + Send>>) {
        for action in after_commit {
            action();
        }
    }
}

enum Inner {
    Sqlite(rusqlite::Connection),
    PgTx(Transaction<'static, Postgres>),
    Pg(PoolConnection<Postgres>),
}

/// A database connection lent to one read or write job.
pub struct Conn {
    inner: Inner,
    changes: Changes,
    vault: Option<Arc<Vault>>,
    /// Learner keys this job already looked up, by user id (`None`: destroyed).
    keys: HashMap<i64, Option<Arc<LearnerKey>>>,
}

impl Conn {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn { inner: Inner::Sqlite(conn), changes: Changes::default(), vault: None, keys: HashMap::new() }
    }

    pub(crate) fn pg_tx(tx: Transaction<'static, Postgres>) -> Conn {
        Conn { inner: Inner::PgTx(tx), changes: Changes::default(), vault: None, keys: HashMap::new() }
    }

    pub(crate) fn pg(conn: PoolConnection<Postgres>) -> Conn {
        Conn { inner: Inner::Pg(conn), changes: Changes::default(), vault: None, keys: HashMap::new() }
    }

    /// Gives the SQLite connection back to its thread, with what the job changed.
    pub(crate) fn into_sqlite(self) -> (rusqlite::Connection, Changes) {
        match self.inner {
            Inner::Sqlite(conn) => (conn, self.changes),
            // The runner only ever builds SQLite Conns around SQLite connections.
            _ => unreachable!("into_sqlite on a PostgreSQL connection"),
        }
    }

    /// Gives the PostgreSQL transaction back to the runner, with what the job changed.
    pub(crate) fn into_pg_tx(self) -> (Transaction<'static, Postgres>, Changes) {
        match self.inner {
            Inner::PgTx(tx) => (tx, self.changes),
            _ => unreachable!("into_pg_tx on a connection without a transaction"),
        }
    }

    /// Lends the vault to this job (and forgets keys an earlier job looked up).
    pub(crate) fn set_vault(&mut self, vault: Option<Arc<Vault>>) {
        self.vault = vault;
        self.keys.clear();
    }

    /// The vault personal values are sealed with.
    pub fn vault(&self) -> StoreResult<Arc<Vault>> {
        self.vault.clone().ok_or(StoreError::NoVault)
    }

    /// The learner key of `user_id` this job already looked up.
    pub fn known_key(&self, user_id: i64) -> Option<Option<Arc<LearnerKey>>> {
        self.keys.get(&user_id).cloned()
    }

    /// Remembers `user_id`'s learner key for the rest of this job.
    pub fn remember_key(&mut self, user_id: i64, key: Option<Arc<LearnerKey>>) {
        self.keys.insert(user_id, key);
    }

    /// Which engine this connection talks to.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::PgTx(_) | Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// Runs `action` after this job's writes are committed (never if they
    /// are rolled back): for side effects that must not happen otherwise.
    pub fn after_commit(&mut self, action: impl FnOnce() + Send + 'static) {
        self.changes.after_commit.push(Box::new(action));
    }

    /// Marks `user_id`'s cached record stale once this job commits. Every
    /// store function that writes a table the record is built from calls it.
    pub fn touch(&mut self, user_id: i64) {
        if !self.changes.touched.contains(&user_id) {
            self.changes.touched.push(user_id);
        }
    }

    /// Offers `user_id`'s record as read back inside this job: on SQLite,
    /// whose single writer commits in order, the cache takes it after the
    /// commit instead of dropping the entry. PostgreSQL ignores it.
    pub fn offer_fresh(&mut self, user_id: i64, record: Box<dyn Any + Send>) {
        self.touch(user_id);
        if matches!(self.inner, Inner::Sqlite(_)) {
            self.changes.fresh.retain(|(id, _)| *id != user_id);
            self.changes.fresh.push((user_id, record));
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        check_params(params)?;
        match &mut self.inner {
            Inner::Sqlite(conn) => sqlite::execute(conn, sql, params),
            Inner::PgTx(tx) => pg_execute(tx, sql, params).await,
            Inner::Pg(conn) => pg_execute(conn, sql, params).await,
        }
    }

    /// Every row of a query.
    pub async fn fetch_all<T: FromRow>(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<T>> {
        check_params(params)?;
        match &mut self.inner {
            Inner::Sqlite(conn) => sqlite::fetch(conn, sql, params, usize::MAX),
            Inner::PgTx(tx) => pg_fetch(tx, sql, params).await,
            Inner::Pg(conn) => pg_fetch(conn, sql, params).await,
        }
    }

    /// The first row of a query, if any.
    pub async fn fetch_optional<T: FromRow>(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<T>> {
        check_params(params)?;
        let rows: Vec<T> = match &mut self.inner {
            Inner::Sqlite(conn) => sqlite::fetch(conn, sql, params, 1)?,
            Inner::PgTx(tx) => pg_fetch_optional(tx, sql, params).await?.into_iter().collect(),
            Inner::Pg(conn) => pg_fetch_optional(conn, sql, params).await?.into_iter().collect(),
        };
        Ok(rows.into_iter().next())
    }

    /// The first row of a query; a query that returns none is an error.
    pub async fn fetch_one<T: FromRow>(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<T> {
        self.fetch_optional(sql, params).await?.ok_or(StoreError::NoRow)
    }
}

/// U+0000 cannot be stored in a PostgreSQL `text`; SQLite refuses it too,
/// so both backends behave alike.
fn check_params(params: &[Param<'_>]) -> StoreResult<()> {
    if params.iter().any(|p| matches!(p, Param::Text(t) if t.contains('\0'))) {
        return Err(StoreError::NulCharacter);
    }
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn pg_query<'q>(sql: &'q str, params: &[Param<'q>]) -> PgQuery<'q> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = match *param {
            Param::Int(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
            Param::NullInt => query.bind(None::<i64>),
            Param::NullText => query.bind(None::<&str>),
        };
    }
    query
}

async fn pg_execute(conn: &mut sqlx::PgConnection, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
    Ok(pg_query(sql, params).execute(conn).await?.rows_affected())
}

async fn pg_fetch<T: FromRow>(conn: &mut sqlx::PgConnection, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<T>> {
    let rows = pg_query(sql, params).fetch_all(conn).await?;
    rows.iter().map(|row| T::from_row(&PgRowRef(row))).collect()
}

async fn pg_fetch_optional<T: FromRow>(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    params: &[Param<'_>],
) -> StoreResult<Option<T>> {
    let row = pg_query(sql, params).fetch_optional(conn).await?;
    row.as_ref().map(|row| T::from_row(&PgRowRef(row))).transpose()
}

struct PgRowRef<'a>(&'a PgRow);

impl Row for PgRowRef<'_> {
    fn int(&self, index: usize) -> StoreResult<Option<i64>> {
        use sqlx::{Column as _, Row as _, TypeInfo as _};
        let row = self.0;
        let column = row.try_column(index)?;
        Ok(match column.type_info().name() {
            "INT4" => row.try_get::<Option<i32>, _>(index)?.map(i64::from),
            "INT2" => row.try_get::<Option<i16>, _>(index)?.map(i64::from),
            "BOOL" => row.try_get::<Option<bool>, _>(index)?.map(i64::from),
            _ => row.try_get::<Option<i64>, _>(index)?,
        })
    }

    fn text(&self, index: usize) -> StoreResult<Option<String>> {
        use sqlx::Row as _;
        Ok(self.0.try_get::<Option<String>, _>(index)?)
    }
}
