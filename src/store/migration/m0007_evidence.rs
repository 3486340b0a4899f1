//! Evidence (存证): `evidence`, one signed record per verified handler or company, each chained to
//! the member's previous one (one record per place in a member's chain), and on `processes` the
//! records the detail answers (`certInfo`) and who confirmed them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const PROCESS_COLUMNS: [&str; 6] =
    ["cert_no", "cert_created_at", "org_cert_no", "org_cert_created_at", "cert_confirmed_by", "cert_confirmed_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("evidence")
                .if_not_exists()
                .col(string_len("cert_no", 32).primary_key())
                .col(string_len("member_no", 32))
                .col(big_integer("position"))
                .col(string_len("kind", 16))
                .col(text("masked_name"))
                .col(string_len("id_digest", 64))
                .col(text("account_id"))
                .col(text("flow_id"))
                .col(string_len("method", 32))
                .col(big_integer("at"))
                .col(string_len("prev_digest", 64))
                .col(string_len("key_id", 16))
                .col(string_len("signature", 128))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("evidence_chain")
                .table("evidence")
                .col("member_no")
                .col("position")
                .unique()
                .to_owned(),
        )
        .await?;
        for col in PROCESS_COLUMNS {
            let column = if col.ends_with("_at") { big_integer_null(col) } else { text_null(col) };
            m.alter_table(Table::alter().table("processes").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in PROCESS_COLUMNS.iter().rev() {
            m.alter_table(Table::alter().table("processes").drop_column(*col).to_owned()).await?;
        }
        m.drop_table(Table::drop().table("evidence").if_exists().to_owned()).await
    }
}
