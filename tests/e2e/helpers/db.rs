//! `TestDb`: a database of the test's own, a SQLite file in a temp dir, or a new PostgreSQL database
//! when `ETC_ESIGN_TEST_PG` names a server (`.ci/run`'s second pass).
use sea_orm::{ConnectionTrait, Database};

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

    pub async fn drop_db(self) {
        if let TestDb::Postgres { admin_url, name, .. } = self
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            let _ = admin.close().await;
        }
    }
}
