//! The member's identity documents on the process (RecognizeIdCard, RecognizeBusinessLicense): the
//! object keys of the pictures (the objects are encrypted in the object store) and what the licence
//! read. SQLite adds one column per statement.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 9] = [
    "id_card_front",
    "id_card_front_thumb",
    "id_card_back",
    "id_card_back_thumb",
    "licence_picture",
    "licence_thumb",
    "licence_credit_code",
    "licence_address",
    "licence_valid_period",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(Table::alter().table("processes").add_column(text_null(column)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(Table::alter().table("processes").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
