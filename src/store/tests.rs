//! The store on a real SQLite file: the leases every leased table shares (freeing an earlier
//! life's among them), the backlog counting exactly the rows the claims take, and each move
//! written with its history entry; a process row read by position as SeaORM reads it by name, and
//! the detail's read on a reader connection as the pool's.
use chrono::{DateTime, Duration, Utc};

use super::SeaStore;
use super::cipher::test_cipher;
use crate::domain::model::{AuthType, Authorization, AuthorizationStatus};
use crate::domain::ports::{ChangeSet, Lease, Store};
use crate::domain::values::{AuthId, MemberNo};

async fn store(dir: &tempfile::TempDir) -> SeaStore {
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SeaStore::connect(&url, 2, test_cipher()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// An authorization of member ETC000000001 (also the commit's statement tests').
pub(super) fn authorization(
    id: &str,
    status: AuthorizationStatus,
    download_url: Option<&str>,
    at: DateTime<Utc>,
) -> Authorization {
    Authorization {
        auth_id: AuthId::parse("auth_id", id).unwrap(),
        member_no: MemberNo::parse("ETC000000001").unwrap(),
        request_id: id.to_owned(),
        request_fingerprint: "f".into(),
        organize_id: "org".into(),
        auth_type: AuthType::Platform,
        person_id: None,
        authorizer_type: None,
        legal_rep_id: None,
        status,
        auth_des: None,
        download_url: download_url.map(str::to_owned),
        download_url_expires_at: download_url.map(|_| at + Duration::hours(1)),
        begin_at: None,
        end_at: None,
        created_at: at,
        updated_at: at,
        next_poll_at: at,
        poll_attempts: 0,
    }
}

fn lease(holder: &str, now: DateTime<Utc>) -> Lease {
    Lease { holder: holder.into(), until: now + Duration::minutes(1) }
}

#[tokio::test]
async fn the_backlog_counts_exactly_the_authorizations_a_claim_takes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let t0 = DateTime::from_timestamp_millis(1_900_000_000_000).unwrap();
    let authorizations = vec![
        authorization("in-progress", AuthorizationStatus::InProgress, None, t0),
        // Signed, but the callback came before its letter: still to poll.
        authorization("signed-no-letter", AuthorizationStatus::Succeeded, None, t0 + Duration::seconds(1)),
        authorization("signed", AuthorizationStatus::Succeeded, Some("https://x/a.pdf"), t0),
        authorization("refused", AuthorizationStatus::Failed, None, t0),
        authorization("cancelled", AuthorizationStatus::Cancelled, None, t0),
    ];
    store.commit(ChangeSet { authorizations, ..Default::default() }).await.unwrap();

    assert_eq!(store.backlog().await.unwrap(), (2, Some(t0)));
    let now = t0 + Duration::seconds(5);
    let mut claimed: Vec<String> = store
        .claim_due_authorizations(now, &lease("a", now), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.auth_id.as_str().to_owned())
        .collect();
    claimed.sort();
    assert_eq!(claimed, ["in-progress", "signed-no-letter"]);
    // Leased rows stay in the backlog (they are not done) but are not claimed twice.
    assert_eq!(store.backlog().await.unwrap().0, 2);
    assert!(store.claim_due_authorizations(now, &lease("b", now), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lease_is_taken_once_released_by_reschedule_and_claimed_again_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let t0 = DateTime::from_timestamp_millis(1_900_000_000_000).unwrap();
    let auth = authorization("a1", AuthorizationStatus::InProgress, None, t0);
    store.commit(ChangeSet { authorizations: vec![auth.clone()], ..Default::default() }).await.unwrap();

    assert!(store.try_lease_authorization(&auth.auth_id, &lease("a", t0), t0).await.unwrap());
    assert!(!store.try_lease_authorization(&auth.auth_id, &lease("b", t0), t0).await.unwrap());
    // An expired lease is anyone's.
    let later = t0 + Duration::minutes(2);
    assert!(store.try_lease_authorization(&auth.auth_id, &lease("b", later), later).await.unwrap());

    store.reschedule_authorization(&auth.auth_id, later + Duration::seconds(10), 1).await.unwrap();
    assert!(store.claim_due_authorizations(later, &lease("c", later), 10).await.unwrap().is_empty(), "not due yet");
    let due = later + Duration::seconds(10);
    let claimed = store.claim_due_authorizations(due, &lease("c", due), 10).await.unwrap();
    assert_eq!(claimed.iter().map(|a| a.poll_attempts).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn a_member_lease_is_released_only_by_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let member = MemberNo::parse("ETC000000002").unwrap();
    let now = Utc::now();
    assert!(store.try_lease_member(&member, &lease("a", now), now).await.unwrap());
    store.release_member(&member, "b").await.unwrap();
    assert!(!store.try_lease_member(&member, &lease("b", now), now).await.unwrap(), "b released nothing");
    store.release_member(&member, "a").await.unwrap();
    assert!(store.try_lease_member(&member, &lease("b", now), now).await.unwrap());
    assert_eq!(store.process(&member).await.unwrap().map(|p| p.version()), Some(1), "the lease made the row");
}

#[tokio::test]
async fn leases_of_a_replicas_earlier_life_are_freed_and_no_one_elses() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let now = Utc::now();
    let members: Vec<MemberNo> = (3..=7).map(|i| MemberNo::parse(&format!("ETC00000000{i}")).unwrap()).collect();
    // Earlier life "old" of replica "r", its current life "new", replicas whose names merely share
    // a prefix or a case, and another replica.
    let holders = ["r/old/1", "r/new/2", "r2/old/3", "R/old/4", "other/old/5"];
    for (m, h) in members.iter().zip(holders) {
        assert!(store.try_lease_member(m, &lease(h, now), now).await.unwrap());
    }
    let auth = authorization("AUTH-RECLAIM", AuthorizationStatus::InProgress, None, now);
    store.commit(ChangeSet { authorizations: vec![auth.clone()], ..Default::default() }).await.unwrap();
    assert!(store.try_lease_authorization(&auth.auth_id, &lease("r/old/reconciler", now), now).await.unwrap());

    assert_eq!(store.release_leases_held_by("r/", "r/new/").await.unwrap(), 2);

    let mut free = Vec::new();
    for m in &members {
        free.push(store.member_lease_until(m).await.unwrap().is_none());
    }
    assert_eq!(free, [true, false, false, false, false]);
    assert!(store.try_lease_authorization(&auth.auth_id, &lease("x", now), now).await.unwrap(), "freed");
    let until = DateTime::from_timestamp_millis(lease("", now).until.timestamp_millis());
    assert_eq!(store.member_lease_until(&members[1]).await.unwrap(), until, "stored to the millisecond");
}

#[tokio::test]
async fn a_move_is_stored_with_its_history_entry_and_never_without_its_source() {
    use crate::domain::model::{Process, ProcessStatus, Source};
    use crate::domain::ports::StoreError;

    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let member = MemberNo::parse("ETC000000009").unwrap();
    let t0 = DateTime::from_timestamp_millis(1_900_000_000_000).unwrap();
    let mut process = Process::restore(member.clone(), ProcessStatus::AuthorizeFailed, 0);
    assert!(process.cancel(t0));

    let unsourced = store.commit(ChangeSet { process: Some(process.clone()), ..Default::default() }).await;
    assert!(matches!(unsourced, Err(StoreError::Unsourced)), "{unsourced:?}");
    assert!(store.process(&member).await.unwrap().is_none(), "nothing of a refused change is written");

    let by = Source::Rpc { method: "CancelProcess".into(), caller: "E02".into() };
    store.commit(ChangeSet { process: Some(process), source: Some(by.clone()), ..Default::default() }).await.unwrap();
    let history = store.history(&member, None, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].change.from, history[0].change.to, &history[0].source),
        (ProcessStatus::AuthorizeFailed, ProcessStatus::NotStarted, &by)
    );
    assert!(store.history(&member, Some(history[0].seq), 10).await.unwrap().is_empty(), "after the last: nothing");
}

#[tokio::test]
async fn a_commit_that_fails_part_way_writes_nothing_and_leaves_no_transaction_open() {
    use sea_orm::ConnectionTrait;

    use crate::domain::model::{Process, ProcessStatus, Source};

    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let member = MemberNo::parse("ETC000000010").unwrap();
    let now = Utc::now();
    assert!(store.try_lease_member(&member, &lease("a", now), now).await.unwrap(), "the lease made the row");
    let mut process = Process::restore(member.clone(), ProcessStatus::AuthorizeFailed, 1);
    assert!(process.cancel(now));
    let changes = ChangeSet {
        process: Some(process),
        source: Some(Source::Rpc { method: "CancelProcess".into(), caller: "E02".into() }),
        ..Default::default()
    };

    // The history entry's insert fails after the commit's transaction has begun.
    store.db.execute_unprepared("ALTER TABLE process_history RENAME TO history_away").await.unwrap();
    assert!(store.commit(changes.clone()).await.is_err());
    // On another pooled connection: a transaction left open would hold the write lock until the
    // busy timeout ran out.
    store.db.execute_unprepared("ALTER TABLE history_away RENAME TO process_history").await.unwrap();
    assert_eq!(store.process(&member).await.unwrap().map(|p| p.version()), Some(1), "nothing was written");

    store.commit(changes).await.unwrap();
    assert_eq!(store.process(&member).await.unwrap().map(|p| p.version()), Some(2));
    assert_eq!(store.history(&member, None, 10).await.unwrap().len(), 1);
}

/// SQLite's history keys are the table's rowid without AUTOINCREMENT (m0012): a commit recording a
/// move writes no `sqlite_sequence` row, and a database made before keeps its entries, its index
/// and increasing keys across the rebuild, both ways.
#[tokio::test]
async fn history_keys_keep_increasing_across_the_rebuild_that_drops_autoincrement() {
    use sea_orm::{ConnectionTrait, Statement};
    use sea_orm_migration::MigratorTrait;

    use super::migration::Migrator;
    use crate::domain::model::{Process, ProcessStatus, Source};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SeaStore::connect(&url, 2, test_cipher()).await.unwrap();
    let all = Migrator::migrations().len() as u32;
    Migrator::up(&store.db, Some(all - 1)).await.unwrap();

    let member = MemberNo::parse("ETC000000012").unwrap();
    let now = Utc::now();
    let by = Source::Rpc { method: "CancelProcess".into(), caller: "E02".into() };
    let cancel = |version| {
        let mut process = Process::restore(member.clone(), ProcessStatus::AuthorizeFailed, version);
        assert!(process.cancel(now));
        ChangeSet { process: Some(process), source: Some(by.clone()), ..Default::default() }
    };
    let one = |sql: &str| {
        let (db, sql) = (store.db.clone(), sql.to_owned());
        async move {
            let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            row.map(|r| r.try_get_by_index::<String>(0).unwrap())
        }
    };
    let keyed_by = r#"SELECT sql FROM sqlite_master WHERE name = 'process_history'"#;
    let sequenced = "SELECT name FROM sqlite_sequence WHERE name = 'process_history'";
    let indexed = "SELECT name FROM sqlite_master WHERE name = 'process_history_member'";
    // Each column's name, type, NOT NULL and key position: the same table but for AUTOINCREMENT.
    let columns = async || -> Vec<(String, String, i64, i64)> {
        let sql = "SELECT name, type, \"notnull\", pk FROM pragma_table_info('process_history') ORDER BY cid";
        let rows = store.db.query_all_raw(Statement::from_string(store.db.get_database_backend(), sql)).await.unwrap();
        let column = |r: sea_orm::QueryResult| {
            let at = |i| r.try_get_by_index::<i64>(i).unwrap();
            (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), at(2), at(3))
        };
        rows.into_iter().map(column).collect()
    };
    let seqs = async |store: &SeaStore| -> Vec<i64> {
        store.history(&member, None, 10).await.unwrap().iter().map(|e| e.seq).collect()
    };

    // Before: AUTOINCREMENT, and each entry rewrites its sequence row.
    assert!(store.try_lease_member(&member, &lease("a", now), now).await.unwrap());
    store.commit(cancel(1)).await.unwrap();
    assert!(one(keyed_by).await.unwrap().contains("AUTOINCREMENT"));
    assert_eq!(one(sequenced).await.as_deref(), Some("process_history"));
    let before = seqs(&store).await;
    assert_eq!(before.len(), 1);
    let made = columns().await;
    assert_eq!(made.len(), 13, "{made:?}");

    // The rebuild keeps the entry and the index; new keys follow on; no sequence row is written.
    Migrator::up(&store.db, None).await.unwrap();
    assert!(!one(keyed_by).await.unwrap().contains("AUTOINCREMENT"));
    assert_eq!(one(sequenced).await, None);
    assert_eq!(one(indexed).await.as_deref(), Some("process_history_member"));
    assert_eq!(columns().await, made);
    store.commit(cancel(2)).await.unwrap();
    let after = seqs(&store).await;
    assert_eq!(after.len(), 2);
    assert!(after.contains(&before[0]) && after.iter().all(|s| *s >= before[0]), "{before:?} {after:?}");
    assert_eq!(one(sequenced).await, None, "a commit wrote no sequence row");

    // Back down: AUTOINCREMENT again, the entries kept, the sequence at the highest key.
    Migrator::down(&store.db, Some(1)).await.unwrap();
    assert!(one(keyed_by).await.unwrap().contains("AUTOINCREMENT"));
    assert_eq!(seqs(&store).await, after);
    assert_eq!(columns().await, made);
    store.commit(cancel(3)).await.unwrap();
    let highest = *after.iter().max().unwrap();
    assert!(seqs(&store).await.iter().any(|s| *s > highest));
}

/// A file's start writes go to the direct connection; an in-memory database, which no second
/// connection can share, takes the same lease and commits the same script through its pool. A
/// commit frees the member's lease it names only while that holder holds it.
#[tokio::test]
async fn a_start_s_lease_and_commit_run_on_a_file_and_in_memory_alike() {
    use crate::domain::model::{Process, ProcessStatus, Source};

    let dir = tempfile::tempdir().unwrap();
    let on_file = store(&dir).await;
    let in_memory = SeaStore::connect("sqlite::memory:", 1, test_cipher()).await.unwrap();
    in_memory.migrate().await.unwrap();
    assert!(on_file.direct.is_some() && in_memory.direct.is_none());
    for store in [on_file, in_memory] {
        let member = MemberNo::parse("ETC000000011").unwrap();
        let now = Utc::now();
        assert!(store.try_lease_member(&member, &lease("a", now), now).await.unwrap());
        assert!(!store.try_lease_member(&member, &lease("b", now), now).await.unwrap(), "taken");
        let source = Some(Source::Rpc { method: "CancelProcess".into(), caller: "E02".into() });
        let moved = |version, release: &str| {
            let mut process = Process::restore(member.clone(), ProcessStatus::AuthorizeFailed, version);
            assert!(process.cancel(now));
            let release_lease = Some(release.to_owned());
            ChangeSet { process: Some(process), source: source.clone(), release_lease, ..Default::default() }
        };
        store.commit(moved(1, "someone else")).await.unwrap();
        assert!(!store.try_lease_member(&member, &lease("b", now), now).await.unwrap(), "still a's");
        store.commit(moved(2, "a")).await.unwrap();
        let conflict = store.commit(moved(2, "a")).await;
        assert!(matches!(conflict, Err(crate::domain::ports::StoreError::Conflict)), "{conflict:?}");
        assert_eq!(store.process(&member).await.unwrap().map(|p| p.version()), Some(3));
        assert_eq!(store.history(&member, None, 10).await.unwrap().len(), 2, "the stale commit wrote nothing");
        assert_eq!(store.member_lease_until(&member).await.unwrap(), None, "a's commit freed a's lease");
    }
}

#[tokio::test]
async fn a_process_row_read_by_position_is_the_row_seaorm_reads_by_name() {
    use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IntoActiveModel, QueryOrder, QueryTrait};

    use super::entities::process as proc_e;

    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let s = |v: &str| Some(v.to_owned());
    // Every column set, each to a value of its own, so that a column read from another's place shows.
    let full = proc_e::Model {
        member_no: "ETC000000031".into(),
        status: "HANDLER_AUTHED".into(),
        version: 7,
        handler_name: s("handler_name"),
        handler_id_number: s("handler_id_number"),
        handler_mobile: s("handler_mobile"),
        handler_valid_period: s("handler_valid_period"),
        org_name: s("org_name"),
        org_id_number: s("org_id_number"),
        org_id_type: s("org_id_type"),
        org_legal_name: s("org_legal_name"),
        org_legal_id_number: s("org_legal_id_number"),
        esign_account_id: s("esign_account_id"),
        needs_pub_payment: true,
        fail_reason: s("fail_reason"),
        origin_sign_file_url: s("origin_sign_file_url"),
        signed_file_url: s("signed_file_url"),
        signed_file_url_expires_at: Some(101),
        updated_at: Some(102),
        account_generation: 3,
        lease_holder: s("lease_holder"),
        lease_until: Some(103),
        handler_flow_id: s("handler_flow_id"),
        org_account_id: s("org_account_id"),
        org_profile: s("org_profile"),
        id_card_front: s("id_card_front"),
        id_card_front_thumb: s("id_card_front_thumb"),
        id_card_back: s("id_card_back"),
        id_card_back_thumb: s("id_card_back_thumb"),
        licence_picture: s("licence_picture"),
        licence_thumb: s("licence_thumb"),
        licence_credit_code: s("licence_credit_code"),
        licence_address: s("licence_address"),
        licence_valid_period: s("licence_valid_period"),
        cert_no: s("cert_no"),
        cert_created_at: Some(104),
        org_cert_no: s("org_cert_no"),
        org_cert_created_at: Some(105),
        cert_confirmed_by: s("cert_confirmed_by"),
        cert_confirmed_at: Some(106),
        seal_id: s("seal_id"),
        seal_alias: s("seal_alias"),
        seal_file_key: s("seal_file_key"),
        seal_url: s("seal_url"),
        seal_url_expires_at: Some(107),
        seal_created_at: Some(108),
    };
    let bare = proc_e::Model {
        member_no: "ETC000000032".into(),
        status: "NOT_STARTED".into(),
        version: 1,
        handler_name: None,
        handler_id_number: None,
        handler_mobile: None,
        handler_valid_period: None,
        org_name: None,
        org_id_number: None,
        org_id_type: None,
        org_legal_name: None,
        org_legal_id_number: None,
        esign_account_id: None,
        needs_pub_payment: false,
        fail_reason: None,
        origin_sign_file_url: None,
        signed_file_url: None,
        signed_file_url_expires_at: None,
        updated_at: None,
        account_generation: 0,
        lease_holder: None,
        lease_until: None,
        handler_flow_id: None,
        org_account_id: None,
        org_profile: None,
        id_card_front: None,
        id_card_front_thumb: None,
        id_card_back: None,
        id_card_back_thumb: None,
        licence_picture: None,
        licence_thumb: None,
        licence_credit_code: None,
        licence_address: None,
        licence_valid_period: None,
        cert_no: None,
        cert_created_at: None,
        org_cert_no: None,
        org_cert_created_at: None,
        cert_confirmed_by: None,
        cert_confirmed_at: None,
        seal_id: None,
        seal_alias: None,
        seal_file_key: None,
        seal_url: None,
        seal_url_expires_at: None,
        seal_created_at: None,
    };
    for m in [&full, &bare] {
        proc_e::Entity::insert(m.clone().into_active_model()).exec(&store.db).await.unwrap();
    }
    // SeaORM's select lists every column in the entity's order, as the lease's RETURNING does.
    let select = proc_e::Entity::find().order_by_asc(proc_e::Column::MemberNo).build(DbBackend::Sqlite);
    let rows = store.db.query_all_raw(select).await.unwrap();
    let by_position: Vec<_> =
        rows.iter().map(|r| proc_e::Model::by_position(r.try_as_sqlite_row().unwrap()).unwrap()).collect();
    let by_name: Vec<_> = rows.iter().map(|r| proc_e::Model::from_query_result(r, "").unwrap()).collect();
    assert_eq!(by_position, vec![full, bare]);
    assert_eq!(by_position, by_name);
}

#[tokio::test]
async fn the_detail_s_read_on_a_reader_connection_is_the_pool_s_which_answers_when_every_reader_is_busy() {
    use sea_orm::EntityTrait;

    use super::entities::{evidence as ev_e, process as proc_e};
    use crate::domain::model::{CertNo, Evidence, EvidenceKind, EvidenceMethod, Process};

    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let member = MemberNo::parse("ETC000000041").unwrap();
    let fresh = proc_e::ActiveModel::seal(&Process::not_started(member.clone()), 1, &store.cipher).unwrap();
    proc_e::Entity::insert(fresh).exec(&store.db).await.unwrap();
    let record = |member: &str, position: i64, cert: &str| Evidence {
        cert_no: CertNo::parse("c", cert).unwrap(),
        member_no: MemberNo::parse(member).unwrap(),
        position,
        kind: if position == 0 { EvidenceKind::Handler } else { EvidenceKind::Org },
        masked_name: "张*".into(),
        id_digest: "d".repeat(64),
        account_id: format!("acc{position}"),
        flow_id: format!("flow{position}"),
        method: EvidenceMethod::Face,
        at: DateTime::from_timestamp_millis(1_700_000_000_000 + position).unwrap(),
        prev_digest: String::new(),
        key_id: "k1".into(),
        signature: vec![position as u8; 64],
    };
    // Written out of order, and another member's record beside them.
    for r in [
        record("ETC000000041", 1, "00000000000000000000000000000001"),
        record("ETC000000042", 0, "00000000000000000000000000000002"),
        record("ETC000000041", 0, "00000000000000000000000000000003"),
    ] {
        ev_e::Entity::insert(ev_e::ActiveModel::from(&r)).exec(&store.db).await.unwrap();
    }

    let here = store.process_with_evidence_here(&member).expect("a reader is free").unwrap();
    let (process, chain) = here.clone().expect("the process");
    assert_eq!(process.member_no(), &member);
    let read: Vec<_> = chain.iter().map(|r| (r.position, r.cert_no.to_string())).collect();
    assert_eq!(
        read,
        [(0, "00000000000000000000000000000003".to_owned()), (1, "00000000000000000000000000000001".to_owned())]
    );
    assert_eq!(chain[1], record("ETC000000041", 1, "00000000000000000000000000000001"));

    let held: Vec<_> = store.readers.iter().map(|r| r.occupied()).collect();
    assert!(store.process_with_evidence_here(&member).is_none(), "every reader busy: none waits");
    let pooled = store.process_with_evidence(&member).await.unwrap();
    drop(held);
    assert_eq!(pooled, here, "the pool's read answers the same");

    let nobody = MemberNo::parse("ETC000000043").unwrap();
    assert_eq!(store.process_with_evidence_here(&nobody).expect("a reader is free").unwrap(), None);
    assert_eq!(store.process_with_evidence(&nobody).await.unwrap(), None);
}
