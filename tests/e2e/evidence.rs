//! Evidence (存证) end to end: the handler's record after face and after SMS, the company's record
//! and CERT_UNCONFIRMED in one commit, ConfirmEvidence, GetEvidence verified independently from the
//! documented encoding, records altered in the database, key rotation, a record replaced by a new
//! verification, and `serve` refusing the dev evidence key.
use ed25519_dalek::{Signature, VerifyingKey};
use etc_esign::config::{DEV_EVIDENCE_KEYS, EXIT_CONFIG};
use etc_esign::domain::EvidenceKeys;
use etc_esign::grpc::pb::{self, AuthProcessStatus as S, CertStatus as C, EvidenceKind as K, EvidenceMethod as M};
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::helpers::*;

/// A second evidence key, for rotation (seed: 32 bytes of 0x2c).
const NEW_EVIDENCE_KEY: &str = "e2=LCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCw=";

async fn evidence(app: &TestApp, cert_no: &str) -> Result<pb::GetEvidenceResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.get_evidence(authed(pb::GetEvidenceRequest { cert_no: cert_no.into() })).await.map(|r| r.into_inner())
}

async fn confirm(app: &TestApp, member: &str, confirmer: &str) -> Result<pb::ConfirmEvidenceResponse, tonic::Status> {
    let mut c = app.client.clone();
    let req = pb::ConfirmEvidenceRequest { etc_member_no: member.into(), confirmer: confirmer.into() };
    c.confirm_evidence(authed(req)).await.map(|r| r.into_inner())
}

async fn history(app: &TestApp, member: &str) -> Vec<pb::ProcessTransition> {
    let mut c = app.client.clone();
    let req = pb::GetProcessHistoryRequest { etc_member_no: member.into(), page_size: 0, page_token: String::new() };
    c.get_process_history(authed(req)).await.expect("history").into_inner().transitions
}

fn cert_info(p: &pb::AuthProcess) -> pb::CertInfo {
    p.cert_info.clone().expect("certInfo")
}

/// The bytes the proto's `Evidence` comment says are signed, rebuilt from the answer alone.
fn documented_bytes(e: &pb::Evidence, key_id: &str) -> Vec<u8> {
    let kind = match e.kind() {
        K::Handler => "HANDLER",
        K::Org => "ORG",
        K::Unspecified => panic!("a record has a kind"),
    };
    let method = match e.method() {
        M::Face => "FACE",
        M::Sms => "SMS",
        M::LegalPerson => "LEGAL_PERSON",
        M::ReversePayment => "REVERSE_PAYMENT",
        M::Unspecified => panic!("a record has a method"),
    };
    let t = e.time.expect("time");
    let millis = t.seconds * 1000 + i64::from(t.nanos) / 1_000_000;
    let fields = [
        e.cert_no.clone(),
        e.etc_member_no.clone(),
        e.position.to_string(),
        kind.into(),
        e.masked_name.clone(),
        e.id_digest.clone(),
        e.esign_account_id.clone(),
        e.flow_id.clone(),
        method.into(),
        millis.to_string(),
        e.prev_digest.clone(),
        key_id.to_owned(),
    ];
    let mut out = b"etc-esign evidence v1".to_vec();
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// Checks an answered record as an outside verifier would: its signature with the answered public
/// key over the documented bytes. Answers the record's digest (what the next record chains to).
fn verify_independently(r: &pb::GetEvidenceResponse) -> String {
    let e = r.evidence.as_ref().expect("evidence");
    let bytes = documented_bytes(e, &r.key_id);
    let key: [u8; 32] = r.public_key.as_slice().try_into().expect("a 32-byte public key");
    let sig = Signature::from_slice(&r.signature).expect("a 64-byte signature");
    VerifyingKey::from_bytes(&key).expect("key").verify_strict(&bytes, &sig).expect("the signature verifies");
    let mut h = Sha256::new();
    h.update(&bytes);
    h.update(&r.signature);
    hex::encode(h.finalize())
}

async fn sql(app: &TestApp, statement: &str) {
    assert_eq!(app.db.as_ref().expect("db").execute(statement).await, 1, "{statement}");
}

/// A member whose handler passed by face and whose company (its legal person) passed at once.
async fn verified_company(app: &TestApp, member: &str) -> pb::AuthProcess {
    app.authenticated_member(member).await;
    let mut c = app.client.clone();
    let started = c.start_org_auth(authed(legal_person_request(member))).await.expect("StartOrgAuth");
    let p = started.into_inner().process.expect("process");
    assert_eq!(p.status(), S::CertUnconfirmed, "ORG_AUTHED is followed at once by CERT_UNCONFIRMED");
    p
}

#[tokio::test]
async fn a_handler_passing_by_face_gets_a_signed_record_named_by_the_detail_and_its_move() {
    let app = spawn_app().await;
    let member = "ETC000000900";
    app.authenticated_member(member).await;
    let cert = cert_info(&app.process(member).await);
    assert_eq!(cert.cert_no.len(), 32);
    assert!(cert.cert_no.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{}", cert.cert_no);
    assert_eq!((cert.cert_status(), cert.org_cert_no.as_str()), (C::Normal, ""));
    assert!(cert.cert_create_time.is_some());

    let passed = history(&app, member).await.into_iter().find(|t| t.to_status() == S::HandlerAuthed).expect("move");
    assert_eq!(passed.cert_no, cert.cert_no, "the move that wrote the record names it");

    let got = evidence(&app, &cert.cert_no).await.expect("GetEvidence");
    assert!(got.valid);
    assert_eq!((got.status(), got.key_id.as_str()), (C::Normal, "e1"));
    let e = got.evidence.clone().expect("evidence");
    assert_eq!((e.kind(), e.method(), e.masked_name.as_str(), e.position), (K::Handler, M::Face, "张*", 0));
    assert_eq!(e.id_digest, hex::encode(Sha256::digest(format!("{}:{ID_NUMBER}", cert.cert_no))));
    assert!(e.prev_digest.is_empty() && !e.esign_account_id.is_empty() && !e.flow_id.is_empty());
    verify_independently(&got);

    let unknown = evidence(&app, &"0".repeat(32)).await.expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let bad = evidence(&app, "ABC").await.expect_err("malformed");
    assert_eq!(bad.code(), Code::InvalidArgument);
    app.finish().await;
}

#[tokio::test]
async fn a_handler_passing_by_sms_gets_a_record_of_that_method() {
    let app = spawn_app().await;
    let member = "ETC000000901";
    let mut c = app.client.clone();
    let started = c.start_sms_auth(authed(sms_request(member))).await.expect("StartSmsAuth").into_inner();
    let code = app.sim.sms_code(&started.flow_id).expect("code");
    let req = pb::VerifySmsCodeRequest { etc_member_no: member.into(), code };
    let p = c.verify_sms_code(authed(req)).await.expect("VerifySmsCode").into_inner().process.expect("process");
    let cert = cert_info(&p);
    assert_eq!(cert.cert_status(), C::Normal);
    let got = evidence(&app, &cert.cert_no).await.expect("GetEvidence");
    let e = got.evidence.clone().expect("evidence");
    assert_eq!((e.method(), e.flow_id.as_str(), got.valid), (M::Sms, started.flow_id.as_str(), true));
    verify_independently(&got);
    app.finish().await;
}

#[tokio::test]
async fn the_company_record_and_cert_unconfirmed_come_in_one_commit_and_confirm_evidence_confirms() {
    let app = spawn_app().await;
    let member = "ETC000000902";
    verified_company(&app, member).await;
    let cert = cert_info(&app.process(member).await);
    assert_eq!((cert.cert_status(), cert.org_cert_status()), (C::Normal, C::Normal));
    assert!(cert.org_cert_no.len() == 32 && cert.org_cert_no != cert.cert_no);

    // Two moves, two rows: the pass names the record, the evidence status follows it.
    let moves: Vec<_> = history(&app, member)
        .await
        .into_iter()
        .filter(|t| t.from_status >= S::OrgAuthing as i32)
        .map(|t| (t.from_status(), t.to_status(), t.cert_no, t.method))
        .collect();
    assert_eq!(
        moves,
        vec![
            (S::OrgAuthing, S::OrgAuthed, cert.org_cert_no.clone(), "StartOrgAuth".to_owned()),
            (S::OrgAuthed, S::CertUnconfirmed, String::new(), "StartOrgAuth".to_owned()),
        ]
    );

    // The company's record chains to the handler's.
    let handler = evidence(&app, &cert.cert_no).await.expect("handler record");
    let org = evidence(&app, &cert.org_cert_no).await.expect("company record");
    let e = org.evidence.clone().expect("evidence");
    assert_eq!((e.kind(), e.method(), e.position, e.masked_name.as_str()), (K::Org, M::LegalPerson, 1, "房******司"));
    assert_eq!(e.prev_digest, verify_independently(&handler));
    verify_independently(&org);

    // ConfirmEvidence: who and when; a repeat changes nothing.
    let confirmed = confirm(&app, member, "platform-ops").await.expect("ConfirmEvidence");
    assert_eq!(confirmed.process.as_ref().expect("process").status(), S::CertConfirmed);
    assert_eq!(confirmed.confirmer, "platform-ops");
    let moves = history(&app, member).await.len();
    let again = confirm(&app, member, "someone-else").await.expect("again");
    assert_eq!((again.confirmer.as_str(), again.confirm_time), ("platform-ops", confirmed.confirm_time));
    assert_eq!(history(&app, member).await.len(), moves, "a repeat writes nothing");
    let last = history(&app, member).await.pop().expect("move");
    assert_eq!((last.to_status(), last.method.as_str()), (S::CertConfirmed, "ConfirmEvidence"));

    // Out of order, and bad input.
    let early = confirm(&app, "ETC000000903", "platform-ops").await.expect_err("not started");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("NOT_STARTED"), "{}", early.message());
    let bad = confirm(&app, "ETC000000903", " ").await.expect_err("no confirmer");
    assert_eq!(bad.code(), Code::InvalidArgument);
    app.finish().await;
}

#[tokio::test]
async fn a_record_altered_in_the_database_verifies_false_and_is_abnormal() {
    let app = spawn_app().await;
    // Each alteration on a member of its own: (member, record, SQL assignment). A hex column has its
    // first digit changed to another (whatever the random record holds).
    let flip =
        |col: &str| format!("{col} = CASE WHEN substr({col}, 1, 1) = '0' THEN '1' ELSE '0' END || substr({col}, 2)");
    let alterations = [
        ("ETC000000910", "handler", "masked_name = '李*'".to_owned()),
        ("ETC000000911", "org", flip("signature")),
        ("ETC000000912", "org", "at = at + 1".to_owned()),
        ("ETC000000913", "handler", flip("id_digest")),
        ("ETC000000914", "org", flip("prev_digest")),
    ];
    for (member, which, assignment) in &alterations {
        let (member, which) = (*member, *which);
        verified_company(&app, member).await;
        let cert = cert_info(&app.process(member).await);
        let (altered, other) =
            if which == "handler" { (&cert.cert_no, &cert.org_cert_no) } else { (&cert.org_cert_no, &cert.cert_no) };
        sql(&app, &format!("UPDATE evidence SET {assignment} WHERE cert_no = '{altered}'")).await;

        let got = evidence(&app, altered).await.expect("GetEvidence");
        assert!(!got.valid, "{member}: {assignment}");
        assert_eq!(got.status(), C::Abnormal, "{member}: {assignment}");
        let detail = cert_info(&app.process(member).await);
        let (mine, theirs) = if which == "handler" {
            (detail.cert_status(), detail.org_cert_status())
        } else {
            (detail.org_cert_status(), detail.cert_status())
        };
        assert_eq!(mine, C::Abnormal, "{member}: the detail says so too");
        // The company's record chains to the handler's: altering the handler's breaks both.
        let other_expected = if which == "handler" { C::Abnormal } else { C::Normal };
        assert_eq!(theirs, other_expected, "{member}");
        assert_eq!(evidence(&app, other).await.expect("other").status(), other_expected);
    }
    app.finish().await;
}

#[tokio::test]
async fn after_a_key_rotation_old_records_verify_with_the_old_key_listed_second() {
    let mut app = spawn_app().await;
    app.authenticated_member("ETC000000920").await;
    let old = cert_info(&app.process("ETC000000920").await).cert_no;

    app.config.evidence_keys = EvidenceKeys::parse(&format!("{NEW_EVIDENCE_KEY},{EVIDENCE_KEYS}")).expect("keys");
    app.restart().await;
    let got = evidence(&app, &old).await.expect("old record");
    assert_eq!((got.valid, got.key_id.as_str(), got.status()), (true, "e1", C::Normal));
    app.authenticated_member("ETC000000921").await;
    let new = cert_info(&app.process("ETC000000921").await).cert_no;
    let got = evidence(&app, &new).await.expect("new record");
    assert_eq!((got.valid, got.key_id.as_str()), (true, "e2"), "the first key signs");
    verify_independently(&got);

    // Without the old key its records cannot be verified: abnormal, not an error.
    app.config.evidence_keys = EvidenceKeys::parse(NEW_EVIDENCE_KEY).expect("keys");
    app.restart().await;
    let got = evidence(&app, &old).await.expect("old record");
    assert_eq!((got.valid, got.status(), got.public_key.is_empty()), (false, C::Abnormal, true));
    assert_eq!(cert_info(&app.process("ETC000000920").await).cert_status(), C::Abnormal);
    app.finish().await;
}

#[tokio::test]
async fn a_record_replaced_by_a_new_verification_is_abnormal_and_kept() {
    let app = spawn_app().await;
    let member = "ETC000000930";
    app.authenticated_member(member).await;
    let first = cert_info(&app.process(member).await).cert_no;
    let mut c = app.client.clone();
    c.cancel_process(authed(pb::CancelProcessRequest { etc_member_no: member.into() })).await.expect("cancel");
    assert!(app.process(member).await.cert_info.is_none(), "a cancelled process has no certificate");
    assert_eq!(evidence(&app, &first).await.expect("kept").status(), C::Normal, "not replaced yet");

    app.authenticated_member(member).await;
    let second = cert_info(&app.process(member).await);
    assert_ne!(second.cert_no, first);
    assert_eq!(second.cert_status(), C::Normal);
    let old = evidence(&app, &first).await.expect("kept");
    assert_eq!((old.valid, old.status()), (true, C::Abnormal), "replaced");
    let new = evidence(&app, &second.cert_no).await.expect("new");
    assert_eq!(new.evidence.expect("evidence").position, 1, "chained after the first");
    app.finish().await;
}

#[tokio::test]
async fn serve_refuses_the_dev_evidence_key_and_echoes_no_key() {
    let db = TestDb::fresh().await;
    let mut env = serve_env(db.url(), "http://127.0.0.1:9", free_addr(), free_addr());
    set_env(&mut env, "EVIDENCE_KEYS", format!("{DEV_EVIDENCE_KEYS},{EVIDENCE_KEYS}"));
    let (code, out) = serve_until_exit(&env);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    assert!(out.contains("dev evidence key"), "{out}");
    let seed = DEV_EVIDENCE_KEYS.split_once('=').map(|(_, s)| s).expect("seed");
    assert!(!out.contains(seed), "no key echoed: {out}");

    let env: Vec<_> = serve_env(db.url(), "http://127.0.0.1:9", free_addr(), free_addr())
        .into_iter()
        .filter(|(k, _)| *k != "EVIDENCE_KEYS")
        .collect();
    let (code, out) = serve_until_exit(&env);
    assert_eq!(code, Some(EXIT_CONFIG), "{out}");
    assert!(out.contains("EVIDENCE_KEYS"), "{out}");
    db.drop_db().await;
}
