//! Personal data protection: identity numbers and mobiles are encrypted at rest under rotating
//! keys, never appear in logs, and `serve` refuses the dev secrets.
use etc_esign::config::{DEV_APP_SECRET, DEV_DATA_KEYS, DEV_TOKEN, EXIT_CONFIG};
use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use etc_esign::store::cipher::parse_keys;
use sea_orm::{Database, FromQueryResult, JsonValue, Statement};
use tonic::Code;

use crate::helpers::*;

/// A second test key, for rotation.
const NEW_KEY: &str = "t2=ZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWU=";

/// Every row of every table, as JSON text, read around the service.
async fn raw_rows(url: &str) -> Vec<String> {
    let db = Database::connect(url).await.expect("connect");
    let mut rows = Vec::new();
    for table in ["processes", "face_flows", "org_flows", "authorizations", "inbox_events", "evidence"] {
        let sql = Statement::from_string(db.get_database_backend(), format!("SELECT * FROM {table}"));
        let found = JsonValue::find_by_statement(sql).all(&db).await.expect("read table");
        rows.extend(found.into_iter().map(|r| format!("{table}: {r}")));
    }
    let _ = db.close().await;
    rows
}

/// One stored column of one process, as stored.
async fn stored_column(url: &str, member: &str, column: &str) -> String {
    let db = Database::connect(url).await.expect("connect");
    let sql = Statement::from_string(
        db.get_database_backend(),
        format!("SELECT {column} AS v FROM processes WHERE member_no = '{member}'"),
    );
    let row = JsonValue::find_by_statement(sql).one(&db).await.expect("read").expect("row");
    let _ = db.close().await;
    row["v"].as_str().expect("text").to_owned()
}

/// A member walked from NOT_STARTED to AUTHORIZE_FINISH.
async fn walk_to_finish(app: &TestApp, member: &str) {
    app.sealed_member(member).await;
    let mut c = app.client.clone();
    let created = c.create_org_authorization(authed(create_request(member, "req-pii"))).await.expect("created");
    app.sim.sign_authorization(&created.into_inner().auth_id).expect("sign");
    app.wait_status(member, S::AuthorizeFinish).await;
}

#[tokio::test]
async fn after_a_full_walk_no_identity_number_or_mobile_is_stored_in_plaintext() {
    let mut app = spawn_app().await;
    walk_to_finish(&app, "ETC000000701").await;
    let url = app.db.as_ref().expect("db").url().to_owned();

    let rows = raw_rows(&url).await.join("\n");
    for plain in [ID_NUMBER, MOBILE, CONTACT] {
        assert!(!rows.contains(plain), "a table holds {plain} in plaintext:\n{rows}");
    }
    // They are there, sealed under the current key.
    for column in ["handler_id_number", "handler_mobile"] {
        let v = stored_column(&url, "ETC000000701", column).await;
        assert!(v.starts_with("v1:t1:"), "{column} is stored as {v}");
    }

    app.stop_app().await;
    if let Some(path) = url.strip_prefix("sqlite://") {
        // The database file and its WAL, byte for byte: nothing hides in pages the SQL does not show.
        let mut scanned = 0;
        for suffix in ["", "-wal", "-shm"] {
            let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) else { continue };
            scanned += bytes.len();
            for plain in [ID_NUMBER, MOBILE, CONTACT] {
                assert!(
                    !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                    "{path}{suffix} holds {plain} in plaintext"
                );
            }
        }
        assert!(scanned > 0, "the SQLite file was read");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_company_that_paid_leaves_no_account_number_or_identity_number_in_plaintext() {
    let app = spawn_app().await;
    let member = "ETC000000705";
    app.authenticated_member(member).await;
    let mut c = app.client.clone();
    let legal_id = "310104198001011239";
    let contact_mobile = "13021221998";
    let started = c
        .start_org_auth(authed(pb::StartOrgAuthRequest {
            etc_member_no: member.into(),
            name: "房友科技有限公司".into(),
            id_type: pb::OrgIdType::Uscc as i32,
            id_number: "91350100M000100Y43".into(),
            org_legal_name: "王五".into(),
            org_legal_id_number: legal_id.into(),
            profile: Some(pb::OrgProfile { contact_mobile: contact_mobile.into(), ..Default::default() }),
        }))
        .await
        .expect("started")
        .into_inner();
    let account = c
        .start_reverse_payment(authed(pb::StartReversePaymentRequest { etc_member_no: member.into() }))
        .await
        .expect("account")
        .into_inner();
    let paid = app.sim.pay_from_company(&started.flow_id).expect("pay");
    let payer = paid.payment.and_then(|p| p.opp_account_no).expect("payer account");
    app.wait_status(member, S::CertUnconfirmed).await;
    // The progress (with the payer's account) is read and stored.
    let progress = c
        .get_reverse_payment(authed(pb::GetReversePaymentRequest { etc_member_no: member.into(), refresh: true }))
        .await
        .expect("progress")
        .into_inner()
        .payment
        .expect("payment");
    assert!(progress.opp_account_no.ends_with(&payer[payer.len() - 4..]) && !progress.opp_account_no.contains(&payer));
    let url = app.db.as_ref().expect("db").url().to_owned();
    let rows = raw_rows(&url).await.join("\n");
    assert!(rows.contains("org_flows"), "the company flow was read");
    for plain in [legal_id, contact_mobile, account.sub_account_no.as_str(), payer.as_str()] {
        assert!(!rows.contains(plain), "a table holds {plain} in plaintext:\n{rows}");
    }
    for column in ["org_legal_id_number", "org_profile"] {
        let v = stored_column(&url, member, column).await;
        assert!(v.starts_with("v1:t1:"), "{column} is stored as {v}");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_new_key_encrypts_new_values_while_old_values_stay_readable() {
    let mut app = spawn_app().await;
    app.authenticated_member("ETC000000702").await;
    let url = app.db.as_ref().expect("db").url().to_owned();
    assert!(stored_column(&url, "ETC000000702", "handler_id_number").await.starts_with("v1:t1:"));

    // Rotate: t2 first (current), t1 kept to read what it sealed.
    app.config.data_keys = parse_keys(&format!("{NEW_KEY},{DATA_KEYS}")).expect("keys");
    app.restart().await;
    let old = app.process("ETC000000702").await;
    let handler = old.member_info.expect("member info");
    assert_eq!(handler.id_number, "110***********002X", "read back through the old key, answered masked");
    assert_eq!(handler.mobile, "138****8000");

    app.start_face("ETC000000703").await;
    assert!(stored_column(&url, "ETC000000703", "handler_id_number").await.starts_with("v1:t2:"));
    assert!(stored_column(&url, "ETC000000703", "handler_mobile").await.starts_with("v1:t2:"));

    // Without the old key its values cannot be read: a clear error, no panic, no plaintext.
    app.config.data_keys = parse_keys(NEW_KEY).expect("keys");
    app.restart().await;
    let mut c = app.client.clone();
    let err = c
        .get_process_detail(authed(pb::GetProcessDetailRequest {
            etc_member_no: "ETC000000702".into(),
            refresh: false,
        }))
        .await
        .expect_err("unreadable without its key");
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(!err.message().contains(ID_NUMBER) && !err.message().contains("v1:"), "{}", err.message());
    assert_eq!(app.status("ETC000000703").await, S::HandlerAuthing, "values under the current key still read");
    app.finish().await;
}

/// What looks like a base64 signature, key, digest or ciphertext: a run of the base64 alphabet of
/// 40 or more that is not a URL path, or a '/'-free piece of 20 or more mixing upper case, lower
/// case and digits (lower-case hex ids and CamelCase names are neither).
fn long_opaque_runs(log: &str) -> Vec<&str> {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    let whole = log.split(|c: char| !b64(c)).filter(|run| run.len() >= 40 && !run.starts_with('/'));
    let pieces = log.split(|c: char| !b64(c) || c == '/').filter(|run| {
        run.len() >= 20
            && run.chars().any(|c| c.is_ascii_uppercase())
            && run.chars().any(|c| c.is_ascii_lowercase())
            && run.chars().any(|c| c.is_ascii_digit())
    });
    whole.chain(pieces).collect()
}

#[tokio::test]
async fn the_logs_of_a_whole_walk_hold_no_identity_number_mobile_secret_token_or_signature() {
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let server = ServeProcess::start(serve_env(db.url(), sim.base_url(), free_addr(), free_addr())).await;
    let mut c = connect(server.grpc_addr).await;
    let member = "ETC000000704";

    // Refusals that carry the secrets themselves.
    let mut wrong = tonic::Request::new(pb::GetProcessDetailRequest { etc_member_no: member.into(), refresh: false });
    wrong.metadata_mut().insert("etc-sys-id", SYS_ID.parse().expect("ascii"));
    wrong.metadata_mut().insert("etc-token", "wrong-token-0000000000".parse().expect("ascii"));
    assert_eq!(c.get_process_detail(wrong).await.expect_err("wrong token").code(), Code::Unauthenticated);
    let mut bad_id = face_request(member);
    bad_id.id_number = "110105194912310021".into(); // a checksum away from a real number
    let err = c.start_face_auth(authed(bad_id)).await.expect_err("bad checksum");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(!err.message().contains("110105194912310021"), "the error does not echo it: {}", err.message());
    let forged = reqwest::Client::new()
        .post(format!("http://{}/esign/callback", server.http_addr))
        .header("X-Tsign-Open-App-Id", APP_ID)
        .header("X-Tsign-Open-TIMESTAMP", chrono::Utc::now().timestamp_millis().to_string())
        .header("X-Tsign-Open-SIGNATURE", "forgedSignatureValue0123456789")
        .body(r#"{"action":"FACE_AUTH_RESULT","flowId":"x","success":true}"#)
        .send()
        .await
        .expect("posted");
    assert_eq!(forged.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The whole walk, callbacks included.
    let started = c.start_face_auth(authed(face_request(member))).await.expect("started").into_inner();
    sim.pass_face(&started.flow_id).expect("pass");
    wait_status_of(&c, member, S::HandlerAuthed).await;
    // The company pays: its legal person's identity number and both account numbers stay out.
    let org = c
        .start_org_auth(authed(pb::StartOrgAuthRequest {
            etc_member_no: member.into(),
            name: "房友科技有限公司".into(),
            id_type: pb::OrgIdType::Uscc as i32,
            id_number: "91350100M000100Y43".into(),
            org_legal_name: "王五".into(),
            org_legal_id_number: "310104198001011239".into(),
            profile: Some(pb::OrgProfile { contact_mobile: "13021221998".into(), ..Default::default() }),
        }))
        .await
        .expect("company started")
        .into_inner();
    let account = c
        .start_reverse_payment(authed(pb::StartReversePaymentRequest { etc_member_no: member.into() }))
        .await
        .expect("account")
        .into_inner();
    let payer = sim.pay_from_company(&org.flow_id).expect("pay").payment.and_then(|p| p.opp_account_no).expect("payer");
    wait_status_of(&c, member, S::CertUnconfirmed).await;
    c.get_reverse_payment(authed(pb::GetReversePaymentRequest { etc_member_no: member.into(), refresh: true }))
        .await
        .expect("progress");
    confirm_evidence(&c, member).await;
    c.create_org_seal(authed(seal_request(member, "合同章"))).await.expect("seal saved");
    let created = c.create_org_authorization(authed(create_request(member, "req-logs"))).await.expect("created");
    sim.sign_authorization(&created.into_inner().auth_id).expect("sign");
    wait_status_of(&c, member, S::AuthorizeFinish).await;

    let (status, log) = server.terminate().await;
    assert!(status.success(), "SIGTERM stops serve cleanly: {status}\n{log}");
    // The log is real: JSON lines covering the RPCs, the callbacks and the e签宝 calls.
    assert!(log.lines().filter(|l| l.starts_with('{')).count() > 10, "JSON log lines:\n{log}");
    for expected in
        ["StartFaceAuth", "StartOrgAuth", "StartReversePayment", "CreateOrgAuthorization", "callback handled", "esign"]
    {
        assert!(log.contains(expected), "the log mentions {expected}:\n{log}");
    }
    let data_key = DATA_KEYS.split_once('=').map(|(_, k)| k).expect("key");
    for secret in [
        ID_NUMBER,
        "110105194912310021",
        MOBILE,
        CONTACT,
        APP_SECRET,
        TOKEN,
        "wrong-token-0000000000",
        data_key,
        "310104198001011239",
        "13021221998",
        account.sub_account_no.as_str(),
        payer.as_str(),
    ] {
        assert!(!log.contains(secret), "the log holds {secret}:\n{log}");
    }
    assert!(!log.contains("forgedSignatureValue"), "the log holds a signature");
    let opaque = long_opaque_runs(&log);
    assert!(opaque.is_empty(), "the log holds what looks like a signature, key or ciphertext: {opaque:?}");
    sim.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn serve_with_a_dev_secret_exits_with_a_clear_message_and_echoes_no_secret() {
    let db = TestDb::fresh().await;
    let mut env = serve_env(db.url(), "http://127.0.0.1:9", free_addr(), free_addr());
    set_env(&mut env, "ESIGN_APP_SECRET", DEV_APP_SECRET);
    set_env(&mut env, "ETC_CALLERS", format!("{SYS_ID}={DEV_TOKEN}"));
    set_env(&mut env, "DATA_KEYS", DEV_DATA_KEYS);
    let (code, out) = serve_until_exit(&env);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    for named in ["dev secret", "dev token", "dev key"] {
        assert!(out.contains(named), "the message names the {named}: {out}");
    }
    assert!(!out.contains(DEV_APP_SECRET) && !out.contains(DEV_TOKEN), "no secret echoed: {out}");

    // With no data key at all, it names the setting.
    let env: Vec<_> = serve_env(db.url(), "http://127.0.0.1:9", free_addr(), free_addr())
        .into_iter()
        .filter(|(k, _)| *k != "DATA_KEYS")
        .collect();
    let (code, out) = serve_until_exit(&env);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    assert!(out.contains("DATA_KEYS"), "{out}");
    db.drop_db().await;
}

#[test]
fn the_log_scanner_finds_signatures_and_keys_but_not_paths_ids_or_names() {
    let sig = etc_esign::esign::callback_signature(b"secret", "1700000000000", None, b"{}");
    for leaked in [sig.as_str(), DATA_KEYS, "v1:t1:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ"] {
        assert!(!long_opaque_runs(&format!(r#"{{"sig":"{leaked}"}}"#)).is_empty(), "{leaked} is found");
    }
    let clean = r#"{"path":"/v2/identity/auth/api/individual/4a82fcc0953c49b19ca11a9c84ec5d6f/face","method":"/etc.esign.v1.AuthService/CreateOrgAuthorization"}"#;
    assert!(long_opaque_runs(clean).is_empty());
}
