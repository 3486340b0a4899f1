//! The `Store` port on SeaORM: SQLite (the dev default) or PostgreSQL, chosen by `DATABASE_URL`.
//! Only this module names a SeaORM type: `connection` opens and migrates the database, `entities`
//! are the tables with their conversions, `lease` the one lease and claim helper of every leased
//! table, `queries` the port itself, `changes` the feed that keeps the read cache current.
pub mod changes;
pub mod cipher;
mod columns;
mod commit;
mod connection;
mod data_version;
pub mod entities;
mod lease;
mod member_lease;
pub mod migration;
mod queries;
mod seal_queries;
mod sqlite_direct;

pub use connection::MIGRATION_LOCK_KEY;

use sea_orm::DatabaseConnection;

use cipher::Cipher;

#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    cipher: Cipher,
    /// SQLite's connection for a start's lease and commit, on the calling thread (none for an
    /// in-memory database, which no second connection can share).
    direct: Option<std::sync::Arc<sqlite_direct::Direct>>,
    /// SQLite's connections for the detail's reads that miss the read cache, on the calling
    /// thread (none on PostgreSQL or an in-memory database).
    readers: std::sync::Arc<[std::sync::Arc<sqlite_direct::Direct>]>,
}

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore").field("backend", &self.db.get_database_backend()).finish()
    }
}
#[cfg(test)]
mod tests;
