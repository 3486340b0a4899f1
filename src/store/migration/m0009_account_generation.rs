//! `processes.account_generation`: how many times the member's process was cancelled, which names
//! the e签宝 accounts of its current life (a member starting over gets new ones).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("processes").add_column(integer("account_generation").default(0)).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("processes").drop_column("account_generation").to_owned()).await
    }
}
