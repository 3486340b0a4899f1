//! SQLite's `PRAGMA data_version` read on a connection of the change feed's own, on the calling
//! thread. sqlx runs every SQLite connection on a worker thread of its own, so each catch-up check
//! woke that thread and then the runtime's: under load a check ran every few reads, and the two
//! thread switches cost more than the rest of a read (README "Performance"). The statement reads
//! the WAL index in shared memory and answers in microseconds, so it runs where the check is.
use std::ffi::{CStr, CString, c_int};
use std::path::Path;
use std::ptr;

use libsqlite3_sys as ffi;

/// An open connection with `PRAGMA data_version` prepared on it.
pub struct DataVersion {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

// SAFETY: the connection is opened without SQLite's own mutex (`SQLITE_OPEN_NOMUTEX`), which is
// sound when one thread uses it at a time: `&mut self` on every use gives that, wherever it runs.
unsafe impl Send for DataVersion {}

impl DataVersion {
    /// Opens the database file at `path` (it exists: migrations made it) for reading its version.
    pub fn open(path: &Path) -> Result<Self, String> {
        let name = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "a NUL in the database's path")?;
        let mut db = ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `name` is NUL-terminated and outlives the call; SQLite writes a handle to `db`
        // (even on failure, when it must still be closed).
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let mut this = Self { db, stmt: ptr::null_mut() };
        if rc != ffi::SQLITE_OK {
            return Err(this.error(rc));
        }
        // Never wait for a lock on the runtime's thread: busy is answered as a failed check (the
        // reads then go to the database) and the next check tries again.
        // SAFETY: `db` is an open connection.
        unsafe { ffi::sqlite3_busy_timeout(db, 0) };
        let sql = c"PRAGMA data_version";
        // SAFETY: `db` is open, `sql` NUL-terminated (-1: read up to the NUL); SQLite writes the
        // statement to `this.stmt`, finalized in `drop`.
        let rc = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut this.stmt, ptr::null_mut()) };
        if rc != ffi::SQLITE_OK {
            return Err(this.error(rc));
        }
        Ok(this)
    }

    /// The database's data version: it moves whenever another connection (of this process or any
    /// other) committed since the last read.
    pub fn read(&mut self) -> Result<i64, String> {
        // SAFETY: `stmt` is a statement prepared on `db`, used by one thread at a time (`&mut`);
        // it is reset before this returns, so no read transaction stays open between checks.
        unsafe {
            let rc = ffi::sqlite3_step(self.stmt);
            let version = (rc == ffi::SQLITE_ROW).then(|| ffi::sqlite3_column_int64(self.stmt, 0));
            ffi::sqlite3_reset(self.stmt);
            version.ok_or_else(|| self.error(rc))
        }
    }

    /// SQLite's message for `rc` (a result code, never the database's content).
    fn error(&self, rc: c_int) -> String {
        // SAFETY: `sqlite3_errstr` answers a static NUL-terminated string for any code.
        let text = unsafe { CStr::from_ptr(ffi::sqlite3_errstr(rc)) };
        format!("{} ({rc})", text.to_string_lossy())
    }
}

impl Drop for DataVersion {
    fn drop(&mut self) {
        // SAFETY: both are SQLite's own handles (or null, which both calls accept), finalized and
        // closed once: the statement before its connection.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
            ffi::sqlite3_close(self.db);
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
    use sea_orm::sqlx::{self, Connection};

    use super::*;

    #[tokio::test]
    async fn the_version_moves_when_another_connection_commits_and_not_otherwise() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let mut writer = SqliteConnection::connect_with(&options.journal_mode(SqliteJournalMode::Wal))
            .await
            .expect("a writer, as the pool's");
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut writer).await.expect("create");
        let mut version = DataVersion::open(&path).expect("open");
        let first = version.read().expect("read");
        assert_eq!(version.read().expect("read"), first, "nothing was committed");
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut writer).await.expect("insert");
        let second = version.read().expect("read");
        assert_ne!(second, first, "another connection committed");
        assert_eq!(version.read().expect("read"), second);
        writer.close().await.expect("close");
    }

    #[test]
    fn a_missing_database_is_an_error_not_a_new_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing.db");
        assert!(DataVersion::open(&path).is_err());
        assert!(!path.exists(), "the check never creates a database");
    }
}
