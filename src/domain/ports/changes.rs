//! Following what other writers commit, so that a copy of a member's process kept in memory is
//! never answered after the member changed (`crate::domain::read_cache`). `crate::store::changes`
//! implements it: PostgreSQL's LISTEN/NOTIFY, or SQLite's `data_version`.
use async_trait::async_trait;

/// Tells the read cache what changed; the store calls it as it learns of commits.
pub trait ChangeSink: Send + Sync {
    /// The member's rows changed (any table the detail reads).
    fn changed(&self, member_no: &str);
    /// Something changed, or changes may have been missed: nothing kept can be trusted.
    fn changed_all(&self);
}

#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Returns once every change committed before the call has been passed to the sink, so that
    /// a copy still kept is as new as the database; `false` when that cannot be known now (the
    /// feed is not connected yet or lost its connection): the caller reads the database.
    async fn caught_up(&self) -> bool;
}
