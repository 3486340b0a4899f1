//! SeaORM entities, one file per table, each with its conversions to and from the domain's
//! records and its own, frozen encodings of their statuses. Instants are stored as Unix
//! milliseconds (BIGINT) so that comparisons behave the same on SQLite and PostgreSQL.
pub mod authorization;
pub mod evidence;
pub mod face_flow;
pub mod history;
pub mod inbox_event;
pub mod org_flow;
pub mod org_seal;
pub mod process;
