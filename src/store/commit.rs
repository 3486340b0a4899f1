//! One change set in one transaction: the process (optimistically, by version) with a history row
//! for each of its moves, the evidence records, the flows, the authorizations and the inbox events
//! it applies. A move without a source is refused, so no transition exists without its entry.
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};

use super::SeaStore;
use super::columns::{db_err, ms};
use super::entities::{
    authorization as auth_e, evidence as ev_e, face_flow as flow_e, history as hist_e, inbox_event as inbox_e,
    org_flow as org_e, process as proc_e,
};
use crate::domain::model::OrgFlowStatus;
use crate::domain::ports::{ChangeSet, StoreError};

impl SeaStore {
    pub(super) async fn commit_changes(&self, changes: ChangeSet) -> Result<(), StoreError> {
        let moved = changes.process.as_ref().is_some_and(|p| !p.moves().is_empty());
        if moved && changes.source.is_none() {
            return Err(StoreError::Unsourced);
        }
        let txn = self.db.begin().await.map_err(db_err)?;
        if let Some(p) = &changes.process {
            let expected = p.version();
            if expected == 0 {
                if !insert_new(proc_e::ActiveModel::seal(p, 1, &self.cipher)?, &txn).await? {
                    return Err(StoreError::Conflict);
                }
            } else {
                let res = proc_e::Entity::update_many()
                    .set(proc_e::ActiveModel::seal(p, expected + 1, &self.cipher)?)
                    .filter(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
                    .filter(proc_e::Column::Version.eq(expected))
                    .exec(&txn)
                    .await
                    .map_err(db_err)?;
                if res.rows_affected != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            if let Some(source) = &changes.source
                && !p.moves().is_empty()
            {
                let rows = p.moves().iter().map(|m| hist_e::ActiveModel::recorded(p.member_no(), m, source));
                hist_e::Entity::insert_many(rows).exec_without_returning(&txn).await.map_err(db_err)?;
            }
        }
        for e in &changes.evidence {
            // One record per place in a member's chain: a writer that chained to a stale end loses.
            if !insert_new(ev_e::ActiveModel::from(e), &txn).await? {
                return Err(StoreError::Conflict);
            }
        }
        for f in &changes.face_flows {
            flow_e::Entity::insert(flow_e::ActiveModel::from(f))
                .on_conflict(OnConflict::column(flow_e::Column::FlowId).update_columns(flow_e::UPSERTED).to_owned())
                .exec_without_returning(&txn)
                .await
                .map_err(db_err)?;
        }
        for f in &changes.org_flows {
            // A new flow is inserted; a known one is rewritten only while it still runs or by a copy
            // with its own final status, so a stale copy (a poll racing a callback) never undoes its end.
            let row = org_e::ActiveModel::seal(f, &self.cipher)?;
            if !insert_new(row.clone(), &txn).await? {
                org_e::Entity::update_many()
                    .set(row)
                    .filter(org_e::Column::FlowId.eq(f.flow_id.as_str()))
                    .filter(
                        sea_orm::Condition::any()
                            .add(org_e::Column::Status.eq(org_e::status_name(OrgFlowStatus::Running)))
                            .add(org_e::Column::Status.eq(org_e::status_name(f.status))),
                    )
                    .exec(&txn)
                    .await
                    .map_err(db_err)?;
            }
        }
        for a in &changes.authorizations {
            auth_e::Entity::insert(auth_e::ActiveModel::seal(a, &self.cipher)?)
                .on_conflict(OnConflict::column(auth_e::Column::AuthId).update_columns(auth_e::UPSERTED).to_owned())
                .exec_without_returning(&txn)
                .await
                .map_err(db_err)?;
        }
        if !changes.inbox_applied.is_empty() {
            inbox_e::Entity::update_many()
                .col_expr(inbox_e::Column::AppliedAt, Expr::value(ms(Utc::now())))
                .filter(inbox_e::Column::Id.is_in(changes.inbox_applied.clone()))
                .filter(inbox_e::Column::AppliedAt.is_null())
                .exec(&txn)
                .await
                .map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }
}

/// Inserts `row` unless its key is taken (then nothing is written): whether it was inserted.
async fn insert_new<A>(row: A, txn: &DatabaseTransaction) -> Result<bool, StoreError>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let res = <A::Entity as EntityTrait>::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(matches!(res, sea_orm::TryInsertResult::Inserted(1)))
}
