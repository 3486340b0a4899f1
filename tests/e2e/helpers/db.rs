//! `TestDb`: a database of the test's own, a SQLite file in a temp dir, or a new PostgreSQL database
//! when `ETC_ESIGN_TEST_PG` names a server (`.ci/run`'s second pass).
use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, Database, QueryResult, Statement};

pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDb {
    pub async fn fresh() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        match std::env::var("ETC_ESIGN_TEST_PG") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let prefix = std::env::var("ETC_ESIGN_TEST_DB_PREFIX").unwrap_or_else(|_| "etc_esign_test".into());
                let name = format!("{prefix}_{:016x}", rand::random::<u64>());
                let admin = Database::connect(&admin_url).await.expect("connect to PostgreSQL");
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
                let _ = admin.close().await;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("admin url has a database");
                let url = format!("{base}/{name}");
                TestDb::Postgres { admin_url, name, url }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/etc-esign.db", dir.path().display());
                TestDb::Sqlite { _dir: dir, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    /// Runs `statement` on the test's database, as an operator's SQL would; answers the rows it changed.
    pub async fn execute(&self, statement: &str) -> u64 {
        let db = Database::connect(self.url()).await.expect("connect to the test database");
        let changed = db.execute_unprepared(statement).await.expect("sql").rows_affected();
        let _ = db.close().await;
        changed
    }

    /// The lease of `member` (holder, until in ms), or `None` when it has no process row.
    pub async fn lease(&self, member: &str) -> Option<(Option<String>, Option<i64>)> {
        self.leases(member).await.remove(member)
    }

    /// From now on, records every write of a process row (insert or update) with the version and
    /// the lease holder it leaves, by a trigger of the test's own: the one way to tell a lease
    /// freed by the commit that moved the process from one freed by a write just after it, which a
    /// read of the lease once the answer came cannot.
    pub async fn log_process_writes(&self) {
        let sql = if self.is_postgres() {
            "CREATE TABLE test_process_writes (n bigserial PRIMARY KEY, member_no text, version bigint, holder text);
             CREATE FUNCTION test_process_written() RETURNS trigger AS $$
             BEGIN
               INSERT INTO test_process_writes (member_no, version, holder)
                 VALUES (NEW.member_no, NEW.version, NEW.lease_holder);
               RETURN NULL;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER test_process_written AFTER INSERT OR UPDATE ON processes
               FOR EACH ROW EXECUTE FUNCTION test_process_written();"
        } else {
            "CREATE TABLE test_process_writes (n INTEGER PRIMARY KEY, member_no TEXT, version INTEGER, holder TEXT);
             CREATE TRIGGER test_process_inserted AFTER INSERT ON processes BEGIN
               INSERT INTO test_process_writes (member_no, version, holder)
                 VALUES (NEW.member_no, NEW.version, NEW.lease_holder);
             END;
             CREATE TRIGGER test_process_updated AFTER UPDATE ON processes BEGIN
               INSERT INTO test_process_writes (member_no, version, holder)
                 VALUES (NEW.member_no, NEW.version, NEW.lease_holder);
             END;"
        };
        self.execute(sql).await;
    }

    /// The writes of `member`'s process row since [`Self::log_process_writes`], oldest first: the
    /// version and the lease holder each left.
    pub async fn process_writes(&self, member: &str) -> Vec<(i64, Option<String>)> {
        // `member` is the test's own constant: no caller input reaches this SQL.
        let sql = format!("SELECT version, holder FROM test_process_writes WHERE member_no = '{member}' ORDER BY n");
        let row =
            |r: QueryResult| (r.try_get("", "version").expect("version"), r.try_get("", "holder").expect("holder"));
        self.rows(sql).await.into_iter().map(row).collect()
    }

    /// Asserts that `member`'s lease is free (holder and expiry cleared), that its last lease
    /// (since [`Self::log_process_writes`]) was freed by the write that moved its process, and that
    /// nothing wrote the row after it.
    pub async fn assert_lease_freed_by_its_commit(&self, member: &str, what: &str) {
        assert_eq!(self.lease(member).await, Some((None, None)), "{what}");
        let writes = self.process_writes(member).await;
        let taken = writes.iter().rposition(|(_, holder)| holder.is_some());
        let freed = match taken {
            Some(i) => &writes[i..],
            None => panic!("{what}: no lease taken: {writes:?}"),
        };
        assert!(
            matches!(freed, [(v0, Some(_)), (v1, None)] if *v1 == v0 + 1),
            "{what}: the lease is freed by the commit that moved the process, and nothing writes after it: {writes:?}"
        );
    }

    /// The file of a SQLite database, or `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<String> {
        let path = self.url().strip_prefix("sqlite://")?;
        Some(path.split('?').next().unwrap_or(path).to_owned())
    }

    /// The leases of the members whose number starts with `prefix`: member → (holder, until in ms).
    pub async fn leases(&self, prefix: &str) -> BTreeMap<String, (Option<String>, Option<i64>)> {
        // `prefix` is the test's own constant: no caller input reaches this SQL.
        let sql =
            format!("SELECT member_no, lease_holder, lease_until FROM processes WHERE member_no LIKE '{prefix}%'");
        let row = |r: QueryResult| {
            let member: String = r.try_get("", "member_no").expect("member_no");
            let holder: Option<String> = r.try_get("", "lease_holder").expect("lease_holder");
            let until: Option<i64> = r.try_get("", "lease_until").expect("lease_until");
            (member, (holder, until))
        };
        self.rows(sql).await.into_iter().map(row).collect()
    }

    /// The rows `sql` answers, on a connection of its own.
    async fn rows(&self, sql: String) -> Vec<QueryResult> {
        let db = Database::connect(self.url()).await.expect("connect to the test database");
        let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("query");
        let _ = db.close().await;
        rows
    }

    pub async fn drop_db(self) {
        if let TestDb::Postgres { admin_url, name, .. } = self
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            let _ = admin.close().await;
        }
    }
}
