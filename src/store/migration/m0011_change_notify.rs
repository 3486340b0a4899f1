//! PostgreSQL: every change to a member's `processes` or `evidence` rows NOTIFYs
//! `etc_esign_changes` with the member's number, in the writer's transaction, so that each
//! replica's read cache forgets that member's copy (`crate::store::changes`). A trigger, not the
//! service's own writes, so that writers of any version and changes made by hand are seen too.
//! SQLite needs nothing: its feed reads `data_version`.
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["processes", "evidence"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION etc_esign_member_changed() RETURNS trigger AS $$
             BEGIN
               IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('etc_esign_changes', OLD.member_no); END IF;
               IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('etc_esign_changes', NEW.member_no); END IF;
               RETURN NULL;
             END $$ LANGUAGE plpgsql",
        )
        .await?;
        for table in TABLES {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
                 FOR EACH ROW EXECUTE FUNCTION etc_esign_member_changed()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_changed ON {table}")).await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS etc_esign_member_changed()").await?;
        Ok(())
    }
}
