//! The member's start lease as one statement (`lease_member`): its SQL text is sea-query's, built
//! once per backend and kept, since every lease writes every column of a new row; each call lists
//! only its values. Building and dropping a statement tree of 46 columns and values on each start
//! was most of the lease's own instructions (README "Performance").
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, PostgresQueryBuilder, Query, SqliteQueryBuilder, Value};
use sea_orm::{ActiveModelTrait, ActiveValue, DbBackend, EntityTrait, Iterable, QueryTrait, Values};

use super::columns::ms;
use super::commit::selected_from;
use super::entities::process as proc_e;
use super::lease;
use crate::domain::ports::StoreError;

/// The upsert of `fresh` (a member's new row with its lease taken): inserted if the member has no
/// row; otherwise only the lease columns taken, and only where the stored lease is free at `now`.
/// It answers the row as it then stands, every column in the entity's order
/// ([`proc_e::Model::by_position`]), or nothing when the lease was not free.
pub(super) fn statement(
    backend: DbBackend,
    fresh: &proc_e::ActiveModel,
    now: DateTime<Utc>,
) -> Result<(String, Values), StoreError> {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let kept = if backend == DbBackend::Postgres { &POSTGRES } else { &SQLITE };
    // The kept text holds for rows that set every column, in the entity's order, then `now`.
    let mut values = Vec::with_capacity(64);
    for c in proc_e::Column::iter() {
        match fresh.get(c) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => values.push(v),
            ActiveValue::NotSet => return built(backend, fresh.clone(), now),
        }
    }
    values.push(Value::from(ms(now)));
    let sql = match kept.get() {
        Some(sql) => sql.clone(),
        None => {
            let (first, _) = built(backend, fresh.clone(), now)?;
            kept.get_or_init(|| first).clone()
        }
    };
    Ok((sql, Values(values)))
}

/// The same statement as sea-query builds it, text and values.
fn built(backend: DbBackend, fresh: proc_e::ActiveModel, now: DateTime<Utc>) -> Result<(String, Values), StoreError> {
    let on_conflict = OnConflict::column(proc_e::Column::MemberNo)
        .update_columns([proc_e::Column::LeaseHolder, proc_e::Column::LeaseUntil])
        .action_and_where(lease::free_expr::<proc_e::Entity>(now))
        .to_owned();
    let returning = Query::returning().columns(proc_e::Column::iter());
    Ok(if backend == DbBackend::Postgres {
        // `INSERT … SELECT` from the subquery that commits it without waiting for the WAL flush
        // (`lease::async_commit`).
        let mut upsert = selected_from(fresh, Query::select().from(lease::async_commit()).to_owned())?;
        upsert.on_conflict(on_conflict).returning(returning);
        upsert.build(PostgresQueryBuilder)
    } else {
        let mut upsert = proc_e::Entity::insert(fresh).on_conflict(on_conflict).into_query();
        upsert.returning(returning);
        upsert.build(SqliteQueryBuilder)
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveValue::Set;
    use sea_orm::DbBackend;

    use super::{built, statement};
    use crate::domain::model::Process;
    use crate::domain::values::MemberNo;
    use crate::store::cipher::test_cipher;
    use crate::store::entities::process as proc_e;

    #[test]
    fn the_kept_lease_statement_is_the_sql_and_values_sea_query_builds_for_each_call() {
        let cipher = test_cipher();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            // Two calls: the first builds and keeps the text, the second only lists its values.
            for (member, holder, at) in [("ETC000000021", "r1/a", 1_900_000_000_000), ("ETC000000022", "r2/b", 7)] {
                let p = Process::not_started(MemberNo::parse(member).expect("a member"));
                let mut fresh = proc_e::ActiveModel::seal(&p, 1, &cipher).expect("sealed");
                fresh.lease_holder = Set(Some(holder.into()));
                fresh.lease_until = Set(Some(at + 30_000));
                let now = chrono::DateTime::from_timestamp_millis(at).expect("a time");
                let (sql, values) = statement(backend, &fresh, now).expect("kept");
                let (their_sql, their_values) = built(backend, fresh, now).expect("built");
                assert_eq!(sql, their_sql, "{backend:?}");
                assert_eq!(values, their_values, "{backend:?}");
                assert!(sql.ends_with(r#" RETURNING "member_no", "status", "version", "handler_name", "handler_id_number", "handler_mobile", "handler_valid_period", "org_name", "org_id_number", "org_id_type", "org_legal_name", "org_legal_id_number", "esign_account_id", "needs_pub_payment", "fail_reason", "origin_sign_file_url", "signed_file_url", "signed_file_url_expires_at", "updated_at", "account_generation", "lease_holder", "lease_until", "handler_flow_id", "org_account_id", "org_profile", "id_card_front", "id_card_front_thumb", "id_card_back", "id_card_back_thumb", "licence_picture", "licence_thumb", "licence_credit_code", "licence_address", "licence_valid_period", "cert_no", "cert_created_at", "org_cert_no", "org_cert_created_at", "cert_confirmed_by", "cert_confirmed_at", "seal_id", "seal_alias", "seal_file_key", "seal_url", "seal_url_expires_at", "seal_created_at""#), "{sql}");
            }
        }
    }
}
