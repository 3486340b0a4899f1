//! SQLite: `process_history`'s key becomes the table's rowid without AUTOINCREMENT. AUTOINCREMENT
//! keeps the highest key as a row of `sqlite_sequence`, which every commit that records a move
//! rewrote: one more page in the WAL for each (README "Performance"). Entries are never deleted,
//! so the rowid's own choice, one past the highest key, gives the same increasing keys. The table
//! is rebuilt (SQLite cannot alter a key) in the migration's transaction. PostgreSQL's `bigserial`
//! keeps its sequence, outside the commit's pages.
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns in the order m0003 and m0010 made them.
const COLUMNS: &str = r#""id", "member_no", "at", "from_status", "to_status", "source", "source_detail", "caller", "cert_no", "kind", "seal_id", "reason", "approved""#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, "integer NOT NULL PRIMARY KEY").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, "integer NOT NULL PRIMARY KEY AUTOINCREMENT").await
    }

    /// The copy, the drop and the rename stand or fall together.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Rebuilds the table on SQLite with `key` as its `id`'s definition, its rows and index kept.
async fn rebuild(m: &SchemaManager<'_>, key: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let db = m.get_connection();
    // The table as m0003 and m0010 made it (sea-query's SQLite types), but for its key.
    db.execute_unprepared(&format!(
        "CREATE TABLE \"process_history_rebuilt\" (\"id\" {key}, \"member_no\" varchar(32) NOT NULL, \
         \"at\" integer NOT NULL, \"from_status\" varchar(32) NOT NULL, \"to_status\" varchar(32) NOT NULL, \
         \"source\" varchar(16) NOT NULL, \"source_detail\" text NOT NULL, \"caller\" text NULL, \
         \"cert_no\" text NULL, \"kind\" text NULL, \"seal_id\" text NULL, \"reason\" text NULL, \
         \"approved\" boolean NULL);
         INSERT INTO \"process_history_rebuilt\" ({COLUMNS}) SELECT {COLUMNS} FROM \"process_history\";
         DROP TABLE \"process_history\";
         ALTER TABLE \"process_history_rebuilt\" RENAME TO \"process_history\";
         CREATE INDEX \"process_history_member\" ON \"process_history\" (\"member_no\", \"id\");"
    ))
    .await?;
    Ok(())
}
