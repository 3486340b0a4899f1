//! The handler's passed identity flow on the process: the company's 4-factor verification names it
//! as `agentFlowId` (esign.md §7).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("processes").add_column(text_null("handler_flow_id")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("processes").drop_column("handler_flow_id").to_owned()).await
    }
}
