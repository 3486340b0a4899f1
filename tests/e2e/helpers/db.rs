//! `TestDb`: a database of the test's own, a SQLite file in a temp dir, or a new PostgreSQL database
//! when `ETC_ESIGN_TEST_PG` names a server (`.ci/run`'s second pass).
use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, Database, Statement};

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

    /// The file of a SQLite database, or `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<String> {
        let path = self.url().strip_prefix("sqlite://")?;
        Some(path.split('?').next().unwrap_or(path).to_owned())
    }

    /// The leases of the members whose number starts with `prefix`: member → (holder, until in ms).
    pub async fn leases(&self, prefix: &str) -> BTreeMap<String, (Option<String>, Option<i64>)> {
        let db = Database::connect(self.url()).await.expect("connect to the test database");
        // `prefix` is the test's own constant: no caller input reaches this SQL.
        let sql =
            format!("SELECT member_no, lease_holder, lease_until FROM processes WHERE member_no LIKE '{prefix}%'");
        let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("read leases");
        let out = rows
            .into_iter()
            .map(|r| {
                let member: String = r.try_get("", "member_no").expect("member_no");
                let holder: Option<String> = r.try_get("", "lease_holder").expect("lease_holder");
                let until: Option<i64> = r.try_get("", "lease_until").expect("lease_until");
                (member, (holder, until))
            })
            .collect();
        let _ = db.close().await;
        out
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
