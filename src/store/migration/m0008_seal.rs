//! The company's default seal (node SAVE_ORG_SEAL) on `processes`: its e签宝 id, alias, file key and
//! creation instant for good, and its picture URL (one hour at e签宝) with that URL's expiry.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column per statement: SQLite alters a table one column at a time.
const TEXT_COLUMNS: [&str; 4] = ["seal_id", "seal_alias", "seal_file_key", "seal_url"];
const INSTANT_COLUMNS: [&str; 2] = ["seal_url_expires_at", "seal_created_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in TEXT_COLUMNS {
            m.alter_table(Table::alter().table("processes").add_column(text_null(col)).to_owned()).await?;
        }
        for col in INSTANT_COLUMNS {
            m.alter_table(Table::alter().table("processes").add_column(big_integer_null(col)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in TEXT_COLUMNS.iter().chain(INSTANT_COLUMNS.iter()) {
            m.alter_table(Table::alter().table("processes").drop_column(*col).to_owned()).await?;
        }
        Ok(())
    }
}
