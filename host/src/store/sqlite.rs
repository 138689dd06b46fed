//! SQLite: connections owned by their own threads, so a request hands its
//! whole job over once instead of once per statement.
//!
//! * Readers: a few threads, each owning a connection, take read jobs from
//!   one queue and run each in its own read transaction.
//! * The writer: one thread owning the only write connection. It takes
//!   every queued write job, runs each in its own savepoint and commits them
//!   together (group commit): one fsync for many requests, and one failing
//!   job rolls back only its savepoint.
//!
//! Jobs are async (the same code runs on PostgreSQL), but on these threads
//! every statement completes inline.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{OpenFlags, StatementStatus};

use super::conn::{Changes, Conn, FromRow, Param, Row};
use super::{CacheHook, StoreError, StoreResult, Synchronous};

/// Most write jobs committed together.
const MAX_BATCH: usize = 256;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// How long a connection waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static PREPARES: AtomicU64 = AtomicU64::new(0);
static REPREPARES: AtomicU64 = AtomicU64::new(0);
static COMMITS: AtomicU64 = AtomicU64::new(0);
static COMMITTED_JOBS: AtomicU64 = AtomicU64::new(0);

/// Statement and commit counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteCounters {
    /// Statements prepared from SQL text (a statement-cache miss).
    pub prepares: u64,
    /// Cached statements SQLite re-planned before running them.
    pub reprepares: u64,
    /// Group commits.
    pub commits: u64,
    /// Write jobs those commits carried.
    pub committed_jobs: u64,
}

/// The counters since the process started.
pub fn counters() -> SqliteCounters {
    SqliteCounters {
        prepares: PREPARES.load(Ordering::Relaxed),
        reprepares: REPREPARES.load(Ordering::Relaxed),
        commits: COMMITS.load(Ordering::Relaxed),
        committed_jobs: COMMITTED_JOBS.load(Ordering::Relaxed),
    }
}

/// What a write job hands back to the writer: whether its savepoint is
/// kept, and how to deliver its result once the commit's outcome is known.
pub(crate) struct Finished {
    pub ok: bool,
    pub deliver: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

pub(crate) type WriteJob = Box<dyn FnOnce(&mut Conn) -> Finished + Send>;
pub(crate) type ReadJob = Box<dyn FnOnce(&mut Conn) + Send>;
pub(crate) type RawJob = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

pub(crate) enum Job {
    /// Runs in its own savepoint inside the writer's group transaction.
    Write(WriteJob),
    /// Runs in its own read transaction.
    Read(ReadJob),
    /// Runs on the write connection outside any transaction (checkpoints).
    Raw(RawJob),
    /// Ends the thread that takes it.
    Stop,
}

/// The SQLite engine: its threads and their queues.
pub(crate) struct SqliteEngine {
    writer: Sender<Job>,
    /// `None` for an in-memory database: there is one connection, the writer's.
    readers: Option<Sender<Job>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEngine").field("readers", &self.readers.is_some()).finish()
    }
}

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(std::path::PathBuf),
    Memory,
}

impl SqliteEngine {
    /// Opens the database, applies migrations and starts the threads.
    pub fn open(
        location: Location,
        synchronous: Synchronous,
        hook: Arc<dyn CacheHook>,
        migrations: &sqlx::migrate::Migrator,
    ) -> StoreResult<SqliteEngine> {
        let mut write_conn = open_connection(&location, synchronous, true)?;
        migrate(&mut write_conn, migrations)?;
        let (writer, writer_rx) = crossbeam_channel::unbounded::<Job>();
        let mut threads = Vec::new();
        threads.push(spawn("userapi-sqlite-writer", move || writer_loop(write_conn, writer_rx, hook))?);
        let readers = match &location {
            Location::Memory => None,
            Location::File(_) => {
                let (readers, readers_rx) = crossbeam_channel::unbounded::<Job>();
                let count = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
                for i in 0..count {
                    let conn = open_connection(&location, synchronous, false)?;
                    let rx = readers_rx.clone();
                    threads.push(spawn(&format!("userapi-sqlite-reader-{i}"), move || reader_loop(conn, rx))?);
                }
                Some(readers)
            }
        };
        Ok(SqliteEngine { writer, readers, threads: Mutex::new(threads) })
    }

    /// Queues a write job.
    pub fn write(&self, job: WriteJob) -> StoreResult<()> {
        self.writer.send(Job::Write(job)).map_err(|_| StoreError::Closed)
    }

    /// Queues a read job.
    pub fn read(&self, job: ReadJob) -> StoreResult<()> {
        self.readers.as_ref().unwrap_or(&self.writer).send(Job::Read(job)).map_err(|_| StoreError::Closed)
    }

    /// Queues a job for the write connection outside any transaction.
    pub fn raw(&self, job: RawJob) -> StoreResult<()> {
        self.writer.send(Job::Raw(job)).map_err(|_| StoreError::Closed)
    }

    /// Connection threads, and jobs queued for them and not yet taken.
    pub fn pool_stats(&self) -> (u64, u64) {
        let threads = self.threads.lock().map_or(0, |t| t.len()) as u64;
        let queued = self.writer.len() + self.readers.as_ref().map_or(0, Sender::len);
        (threads, queued as u64)
    }

    /// Stops every thread after the jobs queued before this call, and
    /// returns them to be joined.
    pub fn stop(&self) -> Vec<JoinHandle<()>> {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(readers) = &self.readers {
            for _ in 1..threads.len() {
                let _ = readers.send(Job::Stop);
            }
        }
        let _ = self.writer.send(Job::Stop);
        threads
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| StoreError::Io(format!("cannot start the {name} thread: {e}")))
}

fn open_connection(location: &Location, synchronous: Synchronous, write: bool) -> StoreResult<rusqlite::Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = match location {
        Location::File(path) => rusqlite::Connection::open_with_flags(path, flags)?,
        Location::Memory => rusqlite::Connection::open_in_memory()?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Plans must not depend on bound values: otherwise SQLite re-prepares
    // cached statements whose plan is parameter-sensitive on every use.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if write {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if matches!(location, Location::File(_)) && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!("cannot switch the database to WAL mode (it is in {mode} mode)")));
        }
    }
    let sync = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA synchronous = {sync}; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;"
    ))?;
    Ok(conn)
}

fn reader_loop(conn: rusqlite::Connection, rx: Receiver<Job>) {
    let mut conn = Some(conn);
    while let Ok(job) = rx.recv() {
        let Some(c) = conn.take() else { return };
        conn = Some(match job {
            Job::Read(job) => run_read(c, job),
            Job::Stop => return,
            // Only the writer queue carries other jobs.
            Job::Write(_) | Job::Raw(_) => c,
        });
    }
}

fn run_read(conn: rusqlite::Connection, job: ReadJob) -> rusqlite::Connection {
    if let Err(e) = run_cached(&conn, "BEGIN") {
        tracing::error!(error = %e, "cannot begin a read transaction");
    }
    let mut c = Conn::sqlite(conn);
    if catch_unwind(AssertUnwindSafe(|| job(&mut c))).is_err() {
        tracing::error!("a read job panicked");
    }
    let (conn, _) = c.into_sqlite();
    if !conn.is_autocommit() {
        if let Err(e) = run_cached(&conn, "COMMIT") {
            tracing::error!(error = %e, "cannot end a read transaction");
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    conn
}

fn writer_loop(conn: rusqlite::Connection, rx: Receiver<Job>, hook: Arc<dyn CacheHook>) {
    let mut conn = conn;
    let mut pending: Option<Job> = None;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Stop => return,
            Job::Read(job) => conn = run_read(conn, job),
            Job::Raw(job) => {
                if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                    tracing::error!("a maintenance job panicked");
                }
            }
            Job::Write(first) => conn = run_batch(conn, first, &rx, &mut pending, hook.as_ref()),
        }
    }
}

/// Runs `first` and the write jobs queued behind it (up to [`MAX_BATCH`]) in
/// one transaction, each in its own savepoint, and delivers the results
/// after the commit. A job of another kind ends the batch and waits in
/// `pending`.
fn run_batch(
    conn: rusqlite::Connection,
    first: WriteJob,
    rx: &Receiver<Job>,
    pending: &mut Option<Job>,
    hook: &dyn CacheHook,
) -> rusqlite::Connection {
    if let Err(e) = run_cached(&conn, "BEGIN IMMEDIATE") {
        // The job never runs: dropping it tells its caller the write was not done.
        tracing::error!(error = %e, "cannot begin a write transaction");
        drop(first);
        return conn;
    }
    let mut conn = conn;
    let mut deliveries = Vec::new();
    // Per user id, the record the last job touching it read back (or none).
    let mut changed: HashMap<i64, Option<Box<dyn std::any::Any + Send>>> = HashMap::new();
    let mut after_commit = Vec::new();
    let mut order: Vec<i64> = Vec::new();
    let mut kept = 0u64;
    let mut next = Some(first);
    let mut taken = 0;
    // The jobs queued now; those arriving meanwhile wait for the next batch,
    // which keeps each request's wait short (measured: taking them too made
    // batches longer and throughput lower).
    let initial = rx.len() + 1;
    while let Some(job) = next.take() {
        taken += 1;
        if let Err(e) = run_cached(&conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open a savepoint");
            drop(job);
            break;
        }
        let mut c = Conn::sqlite(conn);
        let finished = catch_unwind(AssertUnwindSafe(|| job(&mut c)));
        let (back, changes) = c.into_sqlite();
        conn = back;
        let keep = matches!(&finished, Ok(f) if f.ok);
        if keep {
            kept += 1;
            after_commit.extend(record_changes(&mut changed, &mut order, changes));
            let _ = run_cached(&conn, "RELEASE job");
        } else {
            let _ = run_cached(&conn, "ROLLBACK TO job");
            let _ = run_cached(&conn, "RELEASE job");
        }
        match finished {
            Ok(f) => deliveries.push(f.deliver),
            Err(_) => tracing::error!("a write job panicked; its savepoint was rolled back"),
        }
        if taken < initial.min(MAX_BATCH) {
            match rx.try_recv() {
                Ok(Job::Write(queued)) => next = Some(queued),
                Ok(other) => *pending = Some(other),
                Err(_) => {}
            }
        }
    }
    let commit = run_cached(&conn, "COMMIT").map_err(|e| e.to_string());
    match &commit {
        Ok(()) => {
            COMMITS.fetch_add(1, Ordering::Relaxed);
            COMMITTED_JOBS.fetch_add(kept, Ordering::Relaxed);
            for id in order {
                match changed.remove(&id).flatten() {
                    Some(record) => hook.refreshed(id, record),
                    None => hook.changed(&[id]),
                }
            }
            Changes::committed(after_commit);
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = deliveries.len(), "group commit failed; every job of the batch is refused");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    for deliver in deliveries {
        deliver(commit.clone().map_err(StoreError::Commit));
    }
    conn
}

/// Takes in a kept job's changes; returns its after-commit actions.
fn record_changes(
    changed: &mut HashMap<i64, Option<Box<dyn std::any::Any + Send>>>,
    order: &mut Vec<i64>,
    changes: Changes,
) -> Vec<Box<dyn FnOnce() + Send>> {
    for id in changes.touched {
        if changed.insert(id, None).is_none() {
            order.push(id);
        }
    }
    for (id, record) in changes.fresh {
        if changed.insert(id, Some(record)).is_none() {
            order.push(id);
        }
    }
    changes.after_commit
}

fn run_cached(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// `$1`-style parameters become SQLite's `?1`, which bind by number
/// whatever order they appear in.
fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

thread_local! {
    /// SQL text → its SQLite form, per database thread.
    static TRANSLATED: std::cell::RefCell<HashMap<String, std::rc::Rc<str>>> = std::cell::RefCell::new(HashMap::new());
}

fn prepare<'c>(conn: &'c rusqlite::Connection, sql: &str) -> StoreResult<rusqlite::CachedStatement<'c>> {
    let translated = TRANSLATED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(t) = cache.get(sql) {
            return std::rc::Rc::clone(t);
        }
        PREPARES.fetch_add(1, Ordering::Relaxed);
        let t: std::rc::Rc<str> = translate(sql).into();
        if cache.len() < 4096 {
            cache.insert(sql.to_owned(), std::rc::Rc::clone(&t));
        }
        t
    });
    Ok(conn.prepare_cached(&translated)?)
}

fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: &[Param<'_>]) -> StoreResult<()> {
    let expected = statement.parameter_count();
    if expected != params.len() {
        return Err(StoreError::Decode(format!("statement takes {expected} parameters, {} given", params.len())));
    }
    for (i, param) in params.iter().enumerate() {
        let index = i + 1;
        match *param {
            Param::Int(v) => statement.raw_bind_parameter(index, v)?,
            Param::Text(v) => statement.raw_bind_parameter(index, v)?,
            Param::NullInt | Param::NullText => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

fn count_reprepares(statement: &rusqlite::CachedStatement<'_>) {
    let n = statement.reset_status(StatementStatus::RePrepare);
    if n > 0 {
        REPREPARES.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Runs a statement on `conn`; returns the number of changed rows.
pub(crate) fn execute(conn: &rusqlite::Connection, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
    let mut statement = prepare(conn, sql)?;
    bind(&mut statement, params)?;
    let changed = statement.raw_execute();
    count_reprepares(&statement);
    Ok(changed? as u64)
}

/// Up to `limit` rows of a query on `conn`.
pub(crate) fn fetch<T: FromRow>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param<'_>],
    limit: usize,
) -> StoreResult<Vec<T>> {
    let mut statement = prepare(conn, sql)?;
    bind(&mut statement, params)?;
    let mut out = Vec::new();
    {
        let mut rows = statement.raw_query();
        while out.len() < limit {
            match rows.next()? {
                Some(row) => out.push(T::from_row(&SqliteRow(row))?),
                None => break,
            }
        }
    }
    count_reprepares(&statement);
    Ok(out)
}

struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row for SqliteRow<'_, '_> {
    fn int(&self, index: usize) -> StoreResult<Option<i64>> {
        match self.0.get_ref(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(v) => Ok(Some(v)),
            other => {
                Err(StoreError::Decode(format!("column {index}: expected an integer, found {:?}", other.data_type())))
            }
        }
    }

    fn text(&self, index: usize) -> StoreResult<Option<String>> {
        match self.0.get_ref(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| StoreError::Decode(format!("column {index} is not UTF-8"))),
            other => Err(StoreError::Decode(format!("column {index}: expected text, found {:?}", other.data_type()))),
        }
    }
}

/// Applies `migrations` not yet applied, recording them in sqlx's
/// `_sqlx_migrations` table so databases created by earlier versions (which
/// ran sqlx's migrator) and by this one stay interchangeable.
fn migrate(conn: &mut rusqlite::Connection, migrations: &sqlx::migrate::Migrator) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )?;
    for migration in migrations.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied: Option<(Vec<u8>, bool)> = {
            let mut statement = tx.prepare("SELECT checksum, success FROM _sqlx_migrations WHERE version = ?1")?;
            let mut rows = statement.query([migration.version])?;
            match rows.next()? {
                Some(row) => Some((row.get(0)?, row.get(1)?)),
                None => None,
            }
        };
        match applied {
            Some((_, false)) => return Err(StoreError::Migration(format!("migration {} is dirty", migration.version))),
            Some((checksum, true)) if checksum != migration.checksum.as_ref() => {
                return Err(StoreError::Migration(format!(
                    "migration {} was changed after it was applied",
                    migration.version
                )))
            }
            Some(_) => continue,
            None => {}
        }
        let start = Instant::now();
        tx.execute_batch(&migration.sql)
            .map_err(|e| StoreError::Migration(format!("migration {} failed: {e}", migration.version)))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                migration.version,
                migration.description.as_ref(),
                migration.checksum.as_ref(),
                i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
            ],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The database file of a `sqlite://` URL, or `None` for an in-memory one.
pub(crate) fn location(url: &str) -> Option<Location> {
    if url.starts_with("sqlite::memory:") {
        return Some(Location::Memory);
    }
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() {
        return None;
    }
    Some(Location::File(Path::new(path).to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered() {
        assert_eq!(translate("SELECT $2, $1 WHERE a = $10"), "SELECT ?2, ?1 WHERE a = ?10");
        assert_eq!(translate("SELECT '$' || x"), "SELECT '$' || x");
    }

    #[test]
    fn urls() {
        assert!(matches!(location("sqlite::memory:"), Some(Location::Memory)));
        assert!(matches!(location("sqlite://userapi.db"), Some(Location::File(p)) if p == Path::new("userapi.db")));
        assert!(
            matches!(location("sqlite:///tmp/x.db?mode=rwc"), Some(Location::File(p)) if p == Path::new("/tmp/x.db"))
        );
        assert!(location("postgres://x").is_none());
    }
}
