//! Schema migrations, applied at start-up (and by `etc-esign migrate`).
use sea_orm_migration::prelude::*;

mod m0001_init;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_init::Migration)]
    }
}
