//! The company's verification: `org_flows` (one row per e签宝 company flow, polled by the reconciler
//! like `face_flows`, with its reverse payment) and, on `processes`, the company's e签宝 account and
//! its declared profile (sealed: it holds a mobile).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("org_flows")
                .if_not_exists()
                .col(string_len("flow_id", 64).primary_key())
                .col(string_len("member_no", 32))
                .col(text("org_id"))
                .col(boolean("needs_payment"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(string_len("status", 16))
                .col(text_null("fail_reason"))
                .col(big_integer_null("finished_at"))
                .col(string_len("payment_process", 16))
                .col(text_null("main_account_name"))
                .col(text_null("sub_account_no"))
                .col(text_null("main_account_bank"))
                .col(text_null("payment_amount"))
                .col(text_null("progress"))
                .col(big_integer("next_poll_at"))
                .col(integer("poll_attempts"))
                .col(text_null("lease_holder"))
                .col(big_integer_null("lease_until"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("org_flows_member")
                .table("org_flows")
                .col("member_no")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("org_flows_due")
                .table("org_flows")
                .col("status")
                .col("next_poll_at")
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table("processes").add_column(text_null("org_account_id")).to_owned()).await?;
        m.alter_table(Table::alter().table("processes").add_column(text_null("org_profile")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("processes").drop_column("org_profile").to_owned()).await?;
        m.alter_table(Table::alter().table("processes").drop_column("org_account_id").to_owned()).await?;
        m.drop_table(Table::drop().table("org_flows").if_exists().to_owned()).await
    }
}
