//! SQLite's writes on a start's path — the member's lease and the commit's script — on a connection
//! of their own, run on the calling thread; and the detail's reads that miss the read cache, on
//! reader connections of their own that a read uses only when one is free (`try_run`). sqlx runs
//! every SQLite connection on a worker thread of its own: each statement woke that thread, then
//! the runtime's, and a start found both asleep after its upstream calls (README "Performance").
//! Here a statement costs what SQLite itself does: the statements are prepared once and kept,
//! values bound in place, the rows read where they are. Only a write lock held elsewhere is waited
//! for off the runtime's threads.
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use libsqlite3_sys as ffi;
use sea_orm::sea_query::{OptionEnum, Value};
use sea_orm::sqlx::SqlitePool;

use crate::domain::ports::StoreError;

/// Scripts kept prepared; a few shapes of change set recur, so this bound is only a guard.
const KEPT_SCRIPTS: usize = 64;
/// WAL pages past which a commit asks for a checkpoint: SQLite's own default threshold.
const CHECKPOINT_PAGES: c_int = 1000;

/// The connection, shared by the store's clones; one writer at a time, as SQLite allows anyway.
pub(super) struct Direct {
    conn: Mutex<Conn>,
    /// How long a script waits for another connection's write lock, off the runtime's threads.
    busy_ms: c_int,
    /// Set when a commit left the WAL past [`CHECKPOINT_PAGES`].
    checkpoint: Arc<AtomicBool>,
    /// The store's pool, whose connections run the checkpoints this connection does not.
    pool: SqlitePool,
    /// Checkpoints run to their end, for tests.
    #[cfg(test)]
    checkpoints: Arc<std::sync::atomic::AtomicU32>,
}

impl Direct {
    /// Opens the database file at `path` (the pool made it) with the pool's settings: WAL,
    /// `synchronous=NORMAL`, the busy timeout. `pool` is the store's, on the same file.
    pub(super) fn open(path: &Path, busy: Duration, pool: SqlitePool) -> Result<Arc<Self>, StoreError> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| StoreError::Database("a NUL in the database's path".into()))?;
        let mut db = ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `name` is NUL-terminated and outlives the call; SQLite writes a handle to `db`
        // (even on failure, when it must still be closed: `Conn`'s drop does).
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let checkpoint = Arc::new(AtomicBool::new(false));
        let conn = Conn { db, scripts: HashMap::default(), busy_ms: -1, _checkpoint: checkpoint.clone() };
        if rc != ffi::SQLITE_OK {
            return Err(conn.error(rc));
        }
        // This connection never checkpoints (an fsync of the database and its WAL) on the thread
        // that runs a start: registering a WAL hook replaces SQLite's automatic checkpoints, and
        // the hook only says that one is due, for the pool to run (`checkpoint_if_due`).
        // SAFETY: `db` is open; the flag is the Arc's, which `conn` keeps until the connection is
        // closed (`Conn`'s drop closes it before dropping its fields).
        unsafe { ffi::sqlite3_wal_hook(db, Some(wal_grew), Arc::as_ptr(&checkpoint).cast_mut().cast()) };
        conn.execute(c"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256")?;
        let busy_ms = c_int::try_from(busy.as_millis()).unwrap_or(c_int::MAX);
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            busy_ms,
            checkpoint,
            pool,
            #[cfg(test)]
            checkpoints: Default::default(),
        }))
    }

    /// Runs `sql` (one statement or several separated by `;`), binding `values` to its `?` marks in
    /// order across the statements, and answers the rows the statements returned. A statement that
    /// fails rolls back a transaction the script left open, so the connection is always clean.
    ///
    /// First on the calling thread, waiting for no lock: SQLite's own work is tens of
    /// microseconds, as any computation between two awaits. Only when another connection holds the
    /// database's write lock (or another task this one) does it wait, on a thread of its own, for
    /// up to the busy timeout. A script refused as busy wrote nothing (it stopped at its `BEGIN`,
    /// or was rolled back), so running it again is safe.
    pub(super) async fn run(self: &Arc<Self>, sql: String, values: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        if let Some(done) = self.try_run(&sql, &values) {
            self.checkpoint_if_due();
            return done;
        }
        let this = Arc::clone(self);
        let wait = move || {
            let mut conn = this.conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.run(&sql, &values, this.busy_ms).map_err(StoreError::from)
        };
        let done = tokio::task::spawn_blocking(wait)
            .await
            .map_err(|e| StoreError::Database(format!("the statement's thread failed: {e}")))?;
        self.checkpoint_if_due();
        done
    }

    /// Runs `sql` as [`Self::run`] does, but only if the connection is free and the database's
    /// locks are too: `None` when it would have to wait (the caller waits elsewhere, or reads
    /// elsewhere instead). A script refused as busy wrote nothing. No checkpoint follows: a
    /// writer asks for it (`run`).
    pub(super) fn try_run(&self, sql: &str, values: &[Value]) -> Option<Result<Vec<Row>, StoreError>> {
        let mut conn = self.conn.try_lock().ok()?;
        match conn.run(sql, values, 0) {
            Err(Failure::Busy(_)) => None,
            done => Some(done.map_err(StoreError::from)),
        }
    }

    /// Holds the connection as a script running on it would, until the guard is dropped.
    #[cfg(test)]
    pub(super) fn occupied(&self) -> impl Sized + '_ {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checkpoints the WAL on a pooled connection, on a task of its own (no answer waits for
    /// it), when this connection's commits grew it past SQLite's threshold since the last one.
    fn checkpoint_if_due(&self) {
        if !self.checkpoint.swap(false, Ordering::Relaxed) {
            return;
        }
        let pool = self.pool.clone();
        #[cfg(test)]
        let checkpoints = self.checkpoints.clone();
        tokio::spawn(async move {
            match sea_orm::sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                Ok(_) => {
                    #[cfg(test)]
                    checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::warn!(%error, "could not checkpoint the database's WAL; the next commit asks again")
                }
            }
        });
    }
}

/// SQLite's WAL hook: after each commit of the connection, the WAL's size in pages.
unsafe extern "C" fn wal_grew(due: *mut c_void, _db: *mut ffi::sqlite3, _name: *const c_char, pages: c_int) -> c_int {
    if pages >= CHECKPOINT_PAGES {
        // SAFETY: `due` is the connection's flag, registered in `Direct::open` and alive while the
        // connection is open.
        unsafe { (*due.cast::<AtomicBool>()).store(true, Ordering::Relaxed) };
    }
    ffi::SQLITE_OK
}

/// Why a script did not run: the database was busy (nothing was written), or anything else.
enum Failure {
    Busy(StoreError),
    Other(StoreError),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Busy(e) | Failure::Other(e) => e,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Other(e)
    }
}

/// One connection and the statements prepared on it, by their script's text.
struct Conn {
    db: *mut ffi::sqlite3,
    /// Found by their text on every run: SipHash, std's default, took 11,000 instructions for a
    /// start's commit script, twice (README "Performance").
    scripts: HashMap<String, Vec<Statement>, foldhash::fast::FixedState>,
    /// The busy timeout set on the connection.
    busy_ms: c_int,
    /// The WAL hook's flag, kept alive as long as the connection.
    _checkpoint: Arc<AtomicBool>,
}

// SAFETY: the connection is opened without SQLite's own mutex (`SQLITE_OPEN_NOMUTEX`), which is
// sound when one thread uses it at a time: it is only reached through `Direct`'s mutex.
unsafe impl Send for Conn {}

impl Conn {
    fn run(&mut self, sql: &str, values: &[Value], busy_ms: c_int) -> Result<Vec<Row>, Failure> {
        if self.busy_ms != busy_ms {
            // SAFETY: `db` is an open connection.
            unsafe { ffi::sqlite3_busy_timeout(self.db, busy_ms) };
            self.busy_ms = busy_ms;
        }
        if !self.scripts.contains_key(sql) {
            let prepared = self.prepare(sql)?;
            if self.scripts.len() >= KEPT_SCRIPTS {
                self.scripts.clear();
            }
            self.scripts.insert(sql.to_owned(), prepared);
        }
        let db = self.db;
        let statements = self.scripts.get(sql).map(Vec::as_slice).unwrap_or_default();
        // SAFETY (every call below): the statements were prepared on `db`, which is open, and are
        // used by this thread alone (`&mut self`).
        let marks: usize = statements.iter().map(|s| unsafe { ffi::sqlite3_bind_parameter_count(s.0) } as usize).sum();
        if marks != values.len() {
            return Err(StoreError::Database(format!("{} values for {marks} marks", values.len())).into());
        }
        let mut values = values.iter();
        let mut rows = Vec::new();
        for s in statements {
            let ran = run_one(s.0, &mut values, &mut rows);
            unsafe {
                ffi::sqlite3_reset(s.0);
                ffi::sqlite3_clear_bindings(s.0);
            }
            if let Err(rc) = ran {
                let error = error(db, rc);
                // A script that stopped inside its transaction: undone, as if it never ran.
                if unsafe { ffi::sqlite3_get_autocommit(db) } == 0 {
                    let _ = self.execute(c"ROLLBACK");
                }
                let busy = rc & 0xff == ffi::SQLITE_BUSY || rc & 0xff == ffi::SQLITE_LOCKED;
                return Err(if busy { Failure::Busy(error) } else { Failure::Other(error) });
            }
        }
        Ok(rows)
    }

    /// Prepares each statement of `sql`, kept for reuse (`SQLITE_PREPARE_PERSISTENT`).
    fn prepare(&self, sql: &str) -> Result<Vec<Statement>, StoreError> {
        let mut prepared = Vec::new();
        let mut rest = sql.as_bytes();
        while !rest.is_empty() {
            let mut stmt = ptr::null_mut();
            let mut tail: *const c_char = ptr::null();
            let len = c_int::try_from(rest.len()).map_err(|_| StoreError::Database("a script too long".into()))?;
            // SAFETY: `rest` is valid for `len` bytes; SQLite writes the statement (or null for
            // a blank remainder) and where it stopped reading, inside `rest`.
            let rc = unsafe {
                ffi::sqlite3_prepare_v3(
                    self.db,
                    rest.as_ptr().cast(),
                    len,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &mut stmt,
                    &mut tail,
                )
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.error(rc));
            }
            if !stmt.is_null() {
                prepared.push(Statement(stmt));
            }
            // SAFETY: `tail` points into `rest` (at its end at most).
            let read = unsafe { tail.cast::<u8>().offset_from(rest.as_ptr()) };
            let read = usize::try_from(read).unwrap_or(rest.len()).clamp(1, rest.len());
            rest = &rest[read..];
        }
        Ok(prepared)
    }

    /// Runs statements that take no values and answer no rows.
    fn execute(&self, sql: &CStr) -> Result<(), StoreError> {
        // SAFETY: `db` is open and `sql` NUL-terminated.
        let rc = unsafe { ffi::sqlite3_exec(self.db, sql.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
        if rc == ffi::SQLITE_OK { Ok(()) } else { Err(self.error(rc)) }
    }

    fn error(&self, rc: c_int) -> StoreError {
        error(self.db, rc)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The statements before their connection.
        self.scripts.clear();
        // SAFETY: SQLite's own handle (or null, which it accepts), closed once.
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

/// A prepared statement, finalized when dropped.
struct Statement(*mut ffi::sqlite3_stmt);

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: SQLite's own statement, finalized once.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// Binds the statement's marks from `values`, steps it to its end, and keeps the rows it returns.
fn run_one(
    stmt: *mut ffi::sqlite3_stmt,
    values: &mut std::slice::Iter<'_, Value>,
    rows: &mut Vec<Row>,
) -> Result<(), c_int> {
    // SAFETY (every call below): `stmt` is prepared on `db` and used by this thread alone; text
    // and blobs are copied by SQLite (`SQLITE_TRANSIENT`) before the binding call returns.
    let marks = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
    for i in 1..=marks {
        let rc = match values.next() {
            Some(v) => bind(stmt, i, v),
            None => ffi::SQLITE_RANGE,
        };
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
    }
    loop {
        match unsafe { ffi::sqlite3_step(stmt) } {
            ffi::SQLITE_DONE => return Ok(()),
            ffi::SQLITE_ROW => {
                let n = unsafe { ffi::sqlite3_column_count(stmt) };
                let row = (0..n).map(|i| unsafe { cell(stmt, i) }).collect();
                rows.push(Row(row));
            }
            rc => return Err(rc),
        }
    }
}

/// Binds one value as sqlx binds it on SQLite: booleans and integers as integers, text and blobs
/// as themselves. Values no table of this service holds are refused.
fn bind(stmt: *mut ffi::sqlite3_stmt, i: c_int, value: &Value) -> c_int {
    let int = |v: Option<i64>| match v {
        // SAFETY: as `run_one`'s.
        Some(v) => unsafe { ffi::sqlite3_bind_int64(stmt, i, v) },
        None => unsafe { ffi::sqlite3_bind_null(stmt, i) },
    };
    let text = |v: Option<&str>| match v {
        // SAFETY: as `run_one`'s; the length is the text's own.
        Some(t) => unsafe {
            ffi::sqlite3_bind_text64(
                stmt,
                i,
                t.as_ptr().cast(),
                t.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            )
        },
        None => unsafe { ffi::sqlite3_bind_null(stmt, i) },
    };
    match value {
        Value::Bool(v) => int(v.map(i64::from)),
        Value::TinyInt(v) => int(v.map(i64::from)),
        Value::SmallInt(v) => int(v.map(i64::from)),
        Value::Int(v) => int(v.map(i64::from)),
        Value::BigInt(v) => int(*v),
        Value::TinyUnsigned(v) => int(v.map(i64::from)),
        Value::SmallUnsigned(v) => int(v.map(i64::from)),
        Value::Unsigned(v) => int(v.map(i64::from)),
        Value::BigUnsigned(Some(v)) => match i64::try_from(*v) {
            Ok(v) => int(Some(v)),
            Err(_) => ffi::SQLITE_RANGE,
        },
        Value::BigUnsigned(None) => int(None),
        Value::String(v) => text(v.as_deref()),
        Value::Enum(OptionEnum::Some(v)) => text(Some(&v.value)),
        Value::Enum(OptionEnum::None(_)) => text(None),
        Value::Char(v) => text(v.map(String::from).as_deref()),
        Value::Bytes(Some(b)) => unsafe {
            // SAFETY: as `run_one`'s; the length is the blob's own.
            ffi::sqlite3_bind_blob64(stmt, i, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_TRANSIENT())
        },
        Value::Bytes(None) => int(None),
        _ => ffi::SQLITE_MISMATCH,
    }
}

/// Column `i` of the statement's current row, copied out.
///
/// # Safety
/// `stmt` has just stepped to a row and `i` is one of its columns.
unsafe fn cell(stmt: *mut ffi::sqlite3_stmt, i: c_int) -> Cell {
    // SAFETY: as the function's contract; text and blob pointers are read before the next step,
    // for the length SQLite gives (asked after the pointer, as SQLite documents).
    unsafe {
        match ffi::sqlite3_column_type(stmt, i) {
            ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_column_int64(stmt, i)),
            ffi::SQLITE_FLOAT => Cell::Real(ffi::sqlite3_column_double(stmt, i)),
            ffi::SQLITE_TEXT => {
                let p = ffi::sqlite3_column_text(stmt, i);
                let n = ffi::sqlite3_column_bytes(stmt, i) as usize;
                let bytes = if p.is_null() { &[][..] } else { std::slice::from_raw_parts(p, n) };
                Cell::Text(String::from_utf8_lossy(bytes).into_owned())
            }
            ffi::SQLITE_BLOB => {
                let p = ffi::sqlite3_column_blob(stmt, i).cast::<u8>();
                let n = ffi::sqlite3_column_bytes(stmt, i) as usize;
                Cell::Blob(if p.is_null() { Vec::new() } else { std::slice::from_raw_parts(p, n).to_vec() })
            }
            _ => Cell::Null,
        }
    }
}

/// SQLite's message for the connection's last error (names of tables and columns at most, never
/// a value), with its code.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> StoreError {
    // SAFETY: `sqlite3_errmsg` answers a NUL-terminated string owned by the connection (or a
    // static one for a null handle), copied here at once.
    let text = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
    StoreError::Database(format!("{} (SQLite {rc})", text.to_string_lossy()))
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row a statement returned, its columns in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row(pub(super) Vec<Cell>);

impl Row {
    /// Column `i` as `T`: the same reading as sqlx's of SQLite's values.
    pub(super) fn try_get<T: FromCell>(&self, i: usize) -> Result<T, StoreError> {
        let cell = self.0.get(i).unwrap_or(&Cell::Null);
        T::from_cell(cell).ok_or_else(|| StoreError::Corrupt(format!("column {i} of a returned row")))
    }
}

/// A Rust value read from a cell; `None` when the cell holds another type.
pub(super) trait FromCell: Sized {
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromCell for i32 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        i64::from_cell(cell).and_then(|v| i32::try_from(v).ok())
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Option<Self> {
        i64::from_cell(cell).map(|v| v != 0)
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn opened() -> (tempfile::TempDir, Arc<Direct>) {
        use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.db");
        let options =
            SqliteConnectOptions::new().filename(&path).create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await.expect("the pool, which makes the file");
        let direct = Direct::open(&path, Duration::from_secs(1), pool).expect("open");
        let ddl = "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL, b INTEGER, x BLOB)".to_owned();
        direct.run(ddl, vec![]).await.expect("create");
        (dir, direct)
    }

    fn row(k: &str, n: i64) -> Vec<Value> {
        vec![Value::from(k), Value::from(n), Value::from(true), Value::Bytes(None)]
    }

    #[tokio::test]
    async fn a_script_binds_its_values_in_order_across_statements_and_answers_the_returned_rows() {
        let (_dir, direct) = opened().await;
        let script = "BEGIN IMMEDIATE; INSERT INTO t VALUES (?, ?, ?, ?); INSERT INTO t VALUES (?, ?, ?, ?) \
                      RETURNING k, n, b, x; COMMIT";
        let values = [row("a", 1), row("b", 2)].concat();
        let rows = direct.run(script.to_owned(), values.clone()).await.expect("ran");
        assert_eq!(rows, vec![Row(vec![Cell::Text("b".into()), Cell::Int(2), Cell::Int(1), Cell::Null])]);
        let (k, n, b, x): (String, i64, bool, Option<String>) = (
            rows[0].try_get(0).unwrap(),
            rows[0].try_get(1).unwrap(),
            rows[0].try_get(2).unwrap(),
            rows[0].try_get(3).unwrap(),
        );
        assert_eq!((k.as_str(), n, b, x), ("b", 2, true, None));
        // Kept prepared, the same script runs again with other values.
        let again = [row("c", 3), row("d", 4)].concat();
        assert_eq!(direct.run(script.to_owned(), again).await.expect("ran again").len(), 1);
        let all = direct.run("SELECT k FROM t ORDER BY k".to_owned(), vec![]).await.expect("read");
        let keys: Vec<String> = all.iter().map(|r| r.try_get(0).unwrap()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_that_fails_inside_the_script_undoes_the_whole_script() {
        let (_dir, direct) = opened().await;
        direct.run("INSERT INTO t VALUES (?, ?, ?, ?)".to_owned(), row("a", 1)).await.expect("first");
        let script = "BEGIN IMMEDIATE; INSERT INTO t VALUES (?, ?, ?, ?); INSERT INTO t VALUES (?, ?, ?, ?); COMMIT";
        let failed = direct.run(script.to_owned(), [row("b", 2), row("a", 3)].concat()).await;
        assert!(matches!(&failed, Err(StoreError::Database(m)) if m.contains("UNIQUE")), "{failed:?}");
        let all = direct.run("SELECT k FROM t ORDER BY k".to_owned(), vec![]).await.expect("read");
        assert_eq!(all.len(), 1, "the script's first insert was rolled back");
        // And the connection is usable: no transaction was left open.
        direct.run(script.to_owned(), [row("b", 2), row("c", 3)].concat()).await.expect("a later script");
    }

    #[tokio::test]
    async fn too_few_or_too_many_values_run_nothing() {
        let (_dir, direct) = opened().await;
        let insert = "INSERT INTO t VALUES (?, ?, ?, ?)";
        let mut short = row("a", 1);
        short.pop();
        assert!(direct.run(insert.to_owned(), short).await.is_err());
        let mut long = row("a", 1);
        long.push(Value::from(1i64));
        assert!(direct.run(insert.to_owned(), long).await.is_err());
        assert!(direct.run("SELECT k FROM t".to_owned(), vec![]).await.expect("read").is_empty());
    }

    #[tokio::test]
    async fn commits_that_grow_the_wal_past_the_threshold_have_the_pool_checkpoint_it_once() {
        let (dir, direct) = opened().await;
        let wal = dir.path().join("d.db-wal");
        let wal_bytes = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let insert = "INSERT INTO t VALUES (?, ?, ?, ?)";
        let mut commits: i64 = 0;
        let mut commit = async || {
            commits += 1;
            // Each row a page of its own: the WAL grows by at least a page a commit.
            let mut values = row(&format!("k{commits}"), commits);
            values[3] = Value::Bytes(Some(vec![7; 4000]));
            direct.run(insert.to_owned(), values).await.expect("insert");
            commits
        };
        // Past the threshold the commit that crossed it asked the pool for a checkpoint.
        // (A WAL frame is a 4 KiB page and its 24-byte header, after the file's 32-byte header.)
        let past = 32 + u64::try_from(CHECKPOINT_PAGES).unwrap() * (4096 + 24);
        let mut n = 0;
        while wal_bytes() < past {
            n = commit().await;
            assert!(n <= 2 * i64::from(CHECKPOINT_PAGES), "the WAL did not grow: {} bytes", wal_bytes());
        }
        assert!(n > 100, "the threshold is SQLite's, not every commit: {n}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while direct.checkpoints.load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "no checkpoint ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Checkpointed whole, the WAL is written again from its start: it grows no more.
        let size = wal_bytes();
        for _ in 0..100 {
            commit().await;
        }
        assert_eq!(wal_bytes(), size, "the WAL was reused");
        assert_eq!(direct.checkpoints.load(Ordering::Relaxed), 1, "one checkpoint");
        assert!(!direct.checkpoint.load(Ordering::Relaxed), "and none due");
    }

    #[test]
    fn a_cell_of_another_type_is_corrupt_not_a_default() {
        let r = Row(vec![Cell::Text("x".into()), Cell::Null, Cell::Int(i64::MAX)]);
        assert!(r.try_get::<i64>(0).is_err());
        assert!(r.try_get::<String>(1).is_err());
        assert_eq!(r.try_get::<Option<String>>(1).unwrap(), None);
        assert!(r.try_get::<i32>(2).is_err());
    }
}
