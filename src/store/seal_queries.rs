//! The seals' review on SeaORM (issue 18): `org_seals` rows, and a review written with its history
//! entry in one transaction. The `Store` methods in `queries.rs` hand over to these.
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::SeaStore;
use super::columns::db_err;
use super::entities::{history as hist_e, org_seal as seal_e};
use crate::domain::model::{ProcessStatus, SealRecord, SealReview, SealReviewStatus, Source};
use crate::domain::ports::StoreError;
use crate::domain::values::MemberNo;

impl SeaStore {
    pub(super) async fn seal_records_of(&self, member: &MemberNo) -> Result<Vec<SealRecord>, StoreError> {
        seal_e::Entity::find()
            .filter(seal_e::Column::MemberNo.eq(member.as_str()))
            .order_by_asc(seal_e::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(SealRecord::try_from)
            .collect()
    }

    pub(super) async fn seal_record_by_id(&self, seal_id: &str) -> Result<Option<SealRecord>, StoreError> {
        let rows = seal_e::Entity::find_by_id(seal_id.to_owned()).all(&self.db).await.map_err(db_err)?;
        rows.into_iter().next().map(SealRecord::try_from).transpose()
    }

    pub(super) async fn insert_new_seal_records(&self, records: &[SealRecord]) -> Result<(), StoreError> {
        for r in records {
            seal_e::Entity::insert(seal_e::ActiveModel::from(r))
                .on_conflict(OnConflict::column(seal_e::Column::SealId).do_nothing().to_owned())
                .exec_without_returning(&self.db)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub(super) async fn update_seal_record_if(
        &self,
        record: &SealRecord,
        expected: SealReviewStatus,
        review: Option<(ProcessStatus, SealReview, Source)>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(db_err)?;
        let res = seal_e::Entity::update_many()
            .set(seal_e::ActiveModel::from(record))
            .filter(seal_e::Column::SealId.eq(record.seal_id.as_str()))
            .filter(seal_e::Column::ReviewStatus.eq(expected.as_str()))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected != 1 {
            return Ok(false);
        }
        if let Some((status, review, source)) = review {
            let at = record.reviewed_at.unwrap_or_else(chrono::Utc::now);
            let row = hist_e::ActiveModel::reviewed(&record.member_no, status, at, &review, &source);
            hist_e::Entity::insert(row).exec_without_returning(&txn).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(true)
    }

    pub(super) async fn forget_seal_record(&self, seal_id: &str) -> Result<(), StoreError> {
        seal_e::Entity::delete_by_id(seal_id.to_owned()).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn pending_seal_records(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<SealRecord>, u64), StoreError> {
        let pending =
            || seal_e::Entity::find().filter(seal_e::Column::ReviewStatus.eq(SealReviewStatus::Pending.as_str()));
        let total = pending().count(&self.db).await.map_err(db_err)?;
        let oldest_first = pending().order_by_asc(seal_e::Column::SavedAt).order_by_asc(seal_e::Column::SealId);
        let rows = super::queries::limited(&self.db, oldest_first, limit, offset).await.map_err(db_err)?;
        let records = rows.into_iter().map(SealRecord::try_from).collect::<Result<_, _>>()?;
        Ok((records, total))
    }
}
