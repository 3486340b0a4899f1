//! The platform's review of the companies' seals: `org_seals`, one row per seal e签宝 holds for a
//! member's company (its review status, reason, reviewer and instants), and on `process_history`
//! the columns of an entry that records a review instead of a status move.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column per statement: SQLite alters a table one column at a time.
const HISTORY_TEXT_COLUMNS: [&str; 3] = ["kind", "seal_id", "reason"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("org_seals")
                .if_not_exists()
                .col(string_len("seal_id", 64).primary_key())
                .col(string_len("member_no", 32))
                .col(text("org_id"))
                .col(text_null("alias"))
                .col(string_len("review_status", 16))
                .col(text_null("reject_reason"))
                .col(text_null("reviewer"))
                .col(big_integer("created_at"))
                .col(big_integer_null("saved_at"))
                .col(big_integer_null("reviewed_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().if_not_exists().name("org_seals_member").table("org_seals").col("member_no").to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("org_seals_review_queue")
                .table("org_seals")
                .col("review_status")
                .col("saved_at")
                .to_owned(),
        )
        .await?;
        for col in HISTORY_TEXT_COLUMNS {
            m.alter_table(Table::alter().table("process_history").add_column(text_null(col)).to_owned()).await?;
        }
        m.alter_table(Table::alter().table("process_history").add_column(boolean_null("approved")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("process_history").drop_column("approved").to_owned()).await?;
        for col in HISTORY_TEXT_COLUMNS.iter().rev() {
            m.alter_table(Table::alter().table("process_history").drop_column(*col).to_owned()).await?;
        }
        m.drop_table(Table::drop().table("org_seals").if_exists().to_owned()).await
    }
}
