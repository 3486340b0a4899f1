//! Schema migrations, applied at start-up (and by `etc-esign migrate`).
use sea_orm_migration::prelude::*;

mod m0001_init;
mod m0002_handler_flow;
mod m0003_history;
mod m0004_sms;
mod m0005_org;
mod m0006_documents;
mod m0007_evidence;
mod m0008_seal;
mod m0009_account_generation;
mod m0010_seal_review;
mod m0011_change_notify;
mod m0012_history_rowid;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_init::Migration),
            Box::new(m0002_handler_flow::Migration),
            Box::new(m0003_history::Migration),
            Box::new(m0004_sms::Migration),
            Box::new(m0005_org::Migration),
            Box::new(m0006_documents::Migration),
            Box::new(m0007_evidence::Migration),
            Box::new(m0008_seal::Migration),
            Box::new(m0009_account_generation::Migration),
            Box::new(m0010_seal_review::Migration),
            Box::new(m0011_change_notify::Migration),
            Box::new(m0012_history_rowid::Migration),
        ]
    }
}
