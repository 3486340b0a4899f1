//! SeaORM entities, one file per table. Instants are stored as Unix milliseconds (BIGINT) so that
//! comparisons behave the same on SQLite and PostgreSQL.
pub mod authorization;
pub mod face_flow;
pub mod inbox_event;
pub mod process;
