//! The first schema: `processes`, `face_flows`, `authorizations` and `inbox_events`, with the
//! indexes their lookups and the reconciler's claims use.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("processes")
                .if_not_exists()
                .col(string_len("member_no", 32).primary_key())
                .col(string_len("status", 32))
                .col(big_integer("version"))
                .col(text_null("handler_name"))
                .col(text_null("handler_id_number"))
                .col(text_null("handler_mobile"))
                .col(text_null("handler_valid_period"))
                .col(text_null("org_name"))
                .col(text_null("org_id_number"))
                .col(text_null("org_id_type"))
                .col(text_null("org_legal_name"))
                .col(text_null("org_legal_id_number"))
                .col(text_null("esign_account_id"))
                .col(boolean("needs_pub_payment"))
                .col(text_null("fail_reason"))
                .col(text_null("origin_sign_file_url"))
                .col(text_null("signed_file_url"))
                .col(big_integer_null("signed_file_url_expires_at"))
                .col(big_integer_null("updated_at"))
                .col(text_null("lease_holder"))
                .col(big_integer_null("lease_until"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("face_flows")
                .if_not_exists()
                .col(string_len("flow_id", 64).primary_key())
                .col(string_len("member_no", 32))
                .col(text("account_id"))
                .col(text("auth_url"))
                .col(text("original_url"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(string_len("status", 16))
                .col(text_null("fail_reason"))
                .col(big_integer_null("finished_at"))
                .col(big_integer("next_poll_at"))
                .col(integer("poll_attempts"))
                .col(text_null("lease_holder"))
                .col(big_integer_null("lease_until"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("face_flows_member")
                .table("face_flows")
                .col("member_no")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("face_flows_due")
                .table("face_flows")
                .col("status")
                .col("next_poll_at")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("authorizations")
                .if_not_exists()
                .col(string_len("auth_id", 64).primary_key())
                .col(string_len("member_no", 32))
                .col(string_len("request_id", 64))
                .col(text("request_fingerprint"))
                .col(text("organize_id"))
                .col(integer("auth_type"))
                .col(text_null("person_id"))
                .col(integer_null("authorizer_type"))
                .col(text_null("legal_rep_id"))
                .col(integer("status"))
                .col(text_null("auth_des"))
                .col(text_null("download_url"))
                .col(big_integer_null("download_url_expires_at"))
                .col(big_integer_null("begin_at"))
                .col(big_integer_null("end_at"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .col(big_integer("next_poll_at"))
                .col(integer("poll_attempts"))
                .col(text_null("lease_holder"))
                .col(big_integer_null("lease_until"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("authorizations_request")
                .table("authorizations")
                .col("member_no")
                .col("request_id")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("authorizations_member")
                .table("authorizations")
                .col("member_no")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("authorizations_due")
                .table("authorizations")
                .col("status")
                .col("next_poll_at")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("inbox_events")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(string_len_uniq("event_key", 128))
                .col(string_len("kind", 32))
                .col(string_len("subject_id", 64))
                .col(string_len("outcome", 16))
                .col(text_null("reason"))
                .col(big_integer("occurred_at"))
                .col(big_integer("received_at"))
                .col(big_integer_null("applied_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("inbox_pending")
                .table("inbox_events")
                .col("applied_at")
                .col("id")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["inbox_events", "authorizations", "face_flows", "processes"] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
