//! Leases on rows, written once for every leased table: lease one row, release it, free what a
//! holder's earlier life held, and — for the
//! tables the reconciler polls — claim the due rows, reschedule-and-release one, and count the
//! backlog. An entity names its key and lease columns ([`Leased`]); a polled one also its schedule
//! and which rows still need polling ([`Polled`]), the one definition the claim and the backlog share.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, IntoIden, PostgresQueryBuilder, Query, SelectStatement, SqliteQueryBuilder, TableRef,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait, ModelTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, UpdateMany, sqlx,
};
use sea_query_sqlx::SqlxValues;

use super::columns::{db_err, ms, sqlx_err};
use crate::domain::ports::{Lease, StoreError};

/// A table whose rows one holder at a time may work on.
pub(crate) trait Leased: EntityTrait {
    /// The primary key (a string).
    const KEY: Self::Column;
    const LEASE_HOLDER: Self::Column;
    /// Until when the lease holds, in milliseconds; null when free.
    const LEASE_UNTIL: Self::Column;
}

/// A leased table the reconciler polls until each row is final.
pub(crate) trait Polled: Leased {
    const NEXT_POLL_AT: Self::Column;
    const POLL_ATTEMPTS: Self::Column;
    /// When a row was created: the age of the backlog.
    const CREATED_AT: Self::Column;
    /// The rows that still need polling, whenever their next poll comes: the backlog. A row is due
    /// (claimed) once its next poll has come and its lease is free.
    fn outstanding() -> Condition;
}

fn free<E: Leased>(now: DateTime<Utc>) -> Condition {
    Condition::any().add(E::LEASE_UNTIL.is_null()).add(E::LEASE_UNTIL.lt(ms(now)))
}

/// [`free`] as one expression (an upsert's `WHERE` takes no `Condition`).
pub(crate) fn free_expr<E: Leased>(now: DateTime<Utc>) -> Expr {
    E::LEASE_UNTIL.is_null().or(E::LEASE_UNTIL.lt(ms(now)))
}

fn due<E: Polled>(now: DateTime<Utc>) -> Condition {
    Condition::all().add(E::outstanding()).add(E::NEXT_POLL_AT.lte(ms(now))).add(free::<E>(now))
}

fn taken<E: Leased>(update: UpdateMany<E>, lease: &Lease) -> UpdateMany<E> {
    update
        .col_expr(E::LEASE_HOLDER, Expr::value(lease.holder.clone()))
        .col_expr(E::LEASE_UNTIL, Expr::value(ms(lease.until)))
}

fn freed<E: Leased>(update: UpdateMany<E>) -> UpdateMany<E> {
    update
        .col_expr(E::LEASE_HOLDER, Expr::value(Option::<String>::None))
        .col_expr(E::LEASE_UNTIL, Expr::value(Option::<i64>::None))
}

/// Leases the row `key` to `lease.holder` unless its lease (whoever holds it) runs past `now`. A
/// conditional update is atomic on both databases: exactly one contender wins.
pub(crate) async fn try_lease<E: Leased>(
    db: &DatabaseConnection,
    key: &str,
    lease: &Lease,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(updated(db, taken(E::update_many(), lease).filter(E::KEY.eq(key)).filter(free::<E>(now))).await? == 1)
}

/// Releases the row's lease if `holder` still holds it. Committed without waiting for the WAL
/// flush on PostgreSQL (see [`async_commit`]): a release lost to a crash of the server only
/// leaves the lease to expire.
pub(crate) async fn release<E: Leased>(db: &DatabaseConnection, key: &str, holder: &str) -> Result<(), StoreError> {
    let mut update = freed(E::update_many()).filter(E::KEY.eq(key)).filter(E::LEASE_HOLDER.eq(holder));
    if db.get_database_backend() == DbBackend::Postgres {
        update = update.filter(Expr::cust(format!("{ASYNC_COMMIT} IS NOT NULL")));
    }
    updated(db, update).await?;
    Ok(())
}

/// Sets PostgreSQL's `synchronous_commit` off for the transaction of the statement it is part of.
const ASYNC_COMMIT: &str = "set_config('synchronous_commit', 'off', true)";

/// What a one-row insert on PostgreSQL selects its row from (`INSERT … SELECT … FROM` this) so that
/// its commit does not wait for the WAL flush: `(SELECT set_config(…)) AS "async_commit"`, the
/// setting holding for the statement's own transaction. For leases only: their writes are visible
/// to every other session at once as always, and a crash of the server within the flush delay
/// (`wal_writer_delay`) can lose only the lease itself, never progress (a process's moves commit
/// synchronously). The flush waited for was half of a lease's time (README "Performance").
pub(crate) fn async_commit() -> TableRef {
    let setting = Query::select().expr(Expr::cust(ASYNC_COMMIT)).to_owned();
    TableRef::SubQuery(Box::new(setting), Alias::new("async_commit").into_iden())
}

/// Frees every lease of the table whose holder starts with `prefix` but not with `keep`. Prefixes
/// are compared with `substr`, not `LIKE`: nothing to escape, and case-sensitive on SQLite too.
pub(crate) async fn release_held_by<E: Leased>(
    db: &DatabaseConnection,
    prefix: &str,
    keep: &str,
) -> Result<u64, StoreError> {
    let head = |p: &str| {
        let len = i32::try_from(p.chars().count()).unwrap_or(i32::MAX);
        Expr::expr(Func::cust("substr").arg(Expr::col(E::LEASE_HOLDER)).arg(1i32).arg(len))
    };
    let free =
        freed(E::update_many()).filter(ExprTrait::eq(head(prefix), prefix)).filter(ExprTrait::ne(head(keep), keep));
    updated(db, free).await
}

/// Leases up to `limit` due rows, oldest poll first.
pub(crate) async fn claim_due<E: Polled>(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    lease: &Lease,
    limit: u64,
) -> Result<Vec<E::Model>, StoreError> {
    let due_first = E::find().filter(due::<E>(now)).order_by_asc(E::NEXT_POLL_AT);
    let candidates = super::queries::limited(db, due_first, limit, 0).await.map_err(db_err)?;
    let mut claimed = Vec::new();
    for c in candidates {
        // Each row is won by one replica, and only while it is still due (another replica may
        // have polled it since the read).
        let take = taken(E::update_many(), lease).filter(E::KEY.eq(c.get(E::KEY))).filter(due::<E>(now));
        if updated(db, take).await? == 1 {
            claimed.push(c);
        }
    }
    Ok(claimed)
}

/// Moves the row's next poll and releases its lease, touching nothing else of it.
pub(crate) async fn reschedule<E: Polled>(
    db: &DatabaseConnection,
    key: &str,
    next_poll_at: DateTime<Utc>,
    attempts: i32,
) -> Result<(), StoreError> {
    let update = freed(E::update_many())
        .col_expr(E::NEXT_POLL_AT, Expr::value(ms(next_poll_at)))
        .col_expr(E::POLL_ATTEMPTS, Expr::value(attempts))
        .filter(E::KEY.eq(key));
    updated(db, update).await?;
    Ok(())
}

/// Runs `update` on sqlx's pool and answers how many rows it changed. SeaORM's statement future is
/// large and was copied whole at each step: about 30,000 instructions of `memcpy` a statement, for
/// the release after every start and each row every reconciler round claims (README
/// "Performance").
async fn updated<E: EntityTrait>(db: &DatabaseConnection, update: UpdateMany<E>) -> Result<u64, StoreError> {
    let update = update.into_query();
    let done = if db.get_database_backend() == DbBackend::Postgres {
        let (sql, values) = update.build(PostgresQueryBuilder);
        let run = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(values));
        run.execute(db.get_postgres_connection_pool()).await.map(|r| r.rows_affected())
    } else {
        let (sql, values) = update.build(SqliteQueryBuilder);
        let run = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(values));
        run.execute(db.get_sqlite_connection_pool()).await.map(|r| r.rows_affected())
    };
    done.map_err(sqlx_err)
}

/// The name of the one column of [`backlog`].
pub(crate) const BACKLOG_AT: &str = "at";

/// The table's backlog as a query of one column, [`BACKLOG_AT`]: when each outstanding row was
/// created. The store counts the backlogs of every table in one round trip.
pub(crate) fn backlog<E: Polled>() -> SelectStatement {
    E::find().select_only().column_as(E::CREATED_AT, BACKLOG_AT).filter(E::outstanding()).into_query()
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    use super::async_commit;

    #[test]
    fn a_row_selected_from_the_async_commit_source_sets_synchronous_commit_off_in_its_statement() {
        let select = Query::select().expr(sea_orm::sea_query::Expr::val(1)).from(async_commit()).to_owned();
        assert_eq!(
            select.to_string(PostgresQueryBuilder),
            r#"SELECT 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS "async_commit""#
        );
    }
}
