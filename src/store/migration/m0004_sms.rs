//! The handler's identity flows by SMS share `face_flows` with the face flows: `method` says which
//! (every row written before is a face flow).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("face_flows").add_column(string_len("method", 8).default("FACE")).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("face_flows").drop_column("method").to_owned()).await
    }
}
