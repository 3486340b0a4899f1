//! The member's history (`process_history`: one row per move of its process, written with it), and
//! the `action` of each stored notification, so that a move a notification made names it even when
//! the reconciler applied it after a crash.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("process_history")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(string_len("member_no", 32))
                .col(big_integer("at"))
                .col(string_len("from_status", 32))
                .col(string_len("to_status", 32))
                .col(string_len("source", 16))
                .col(text("source_detail"))
                .col(text_null("caller"))
                .col(text_null("cert_no"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("process_history_member")
                .table("process_history")
                .col("member_no")
                .col("id")
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table("inbox_events").add_column(text_null("action")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("inbox_events").drop_column("action").to_owned()).await?;
        m.drop_table(Table::drop().table("process_history").to_owned()).await
    }
}
