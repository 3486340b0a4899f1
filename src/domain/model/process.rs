//! The member's authentication process and its only legal transitions (the statuses and nodes are
//! in `status`, who the member is in `member`). `Process::status` is private; it changes only through the transition methods below, each of
//! which names the statuses it may start from, so an illegal move cannot be written.
use chrono::{DateTime, Utc};

use super::documents::{IdCardDocs, LicenceDocs};
use super::evidence::{Evidence, EvidenceKind, EvidenceStatus};
use super::history::Move;
pub use super::member::{CertRef, Handler, OrgInfo, OrgProfile};
use super::seal::OrgSeal;
pub use super::status::{IllegalTransition, Node, ProcessStatus, node_list};
use crate::domain::values::{AccountId, FlowId, MemberNo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    member_no: MemberNo,
    status: ProcessStatus,
    /// Optimistic-concurrency version: 0 for a process never stored.
    version: i64,
    pub handler: Option<Handler>,
    pub org: Option<OrgInfo>,
    pub org_profile: Option<OrgProfile>,
    /// The company's e签宝 organization account (orgId), once created.
    pub org_account_id: Option<AccountId>,
    pub esign_account_id: Option<AccountId>,
    /// The identity flow (face or SMS) the handler passed; the company's verification names it.
    pub handler_flow_id: Option<FlowId>,
    pub needs_pub_payment: bool,
    pub fail_reason: Option<String>,
    pub origin_sign_file_url: Option<String>,
    pub signed_file_url: Option<String>,
    /// e签宝's letter URLs expire (60 minutes); never hand one out past this.
    pub signed_file_url_expires_at: Option<DateTime<Utc>>,
    /// The company's default seal, once saved (node SAVE_ORG_SEAL).
    pub seal: Option<OrgSeal>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The handler's identity card pictures (RecognizeIdCard).
    pub id_card: Option<IdCardDocs>,
    /// The company's licence as read, with its picture (RecognizeBusinessLicense).
    pub licence: Option<LicenceDocs>,
    /// The handler's and the company's evidence records (`certInfo`).
    pub handler_cert: Option<CertRef>,
    pub org_cert: Option<CertRef>,
    /// Who confirmed the evidence (ConfirmEvidence's `confirmer`), and when.
    pub cert_confirmed: Option<(String, DateTime<Utc>)>,
    /// The moves made since the process was read, oldest first: the store writes each to the
    /// member's history in the commit that writes the process.
    moves: Vec<Move>,
    /// How many times the process was cancelled: names the e签宝 accounts of this life
    /// (`AccountKey`), so that a member starting over gets accounts for its new handler and company.
    pub generation: u32,
}

impl Process {
    /// A member that has done nothing.
    pub fn not_started(member_no: MemberNo) -> Self {
        Self {
            member_no,
            status: ProcessStatus::NotStarted,
            version: 0,
            handler: None,
            org: None,
            org_profile: None,
            org_account_id: None,
            esign_account_id: None,
            handler_flow_id: None,
            needs_pub_payment: false,
            fail_reason: None,
            origin_sign_file_url: None,
            signed_file_url: None,
            signed_file_url_expires_at: None,
            seal: None,
            updated_at: None,
            id_card: None,
            licence: None,
            handler_cert: None,
            org_cert: None,
            cert_confirmed: None,
            moves: Vec::new(),
            generation: 0,
        }
    }

    /// Rebuilds a stored process; only the store calls this.
    pub fn restore(member_no: MemberNo, status: ProcessStatus, version: i64) -> Self {
        Self { status, version, ..Self::not_started(member_no) }
    }

    pub fn member_no(&self) -> &MemberNo {
        &self.member_no
    }
    pub fn status(&self) -> ProcessStatus {
        self.status
    }
    pub fn version(&self) -> i64 {
        self.version
    }
    /// The moves made since the process was read (or created), oldest first.
    pub fn moves(&self) -> &[Move] {
        &self.moves
    }
    /// The node of the current status; PUB_PAYMENT_AUTH while the company's payment runs.
    pub fn node(&self) -> Option<Node> {
        if self.status == ProcessStatus::OrgAuthing && self.needs_pub_payment {
            return Some(Node::PubPaymentAuth);
        }
        self.status.node()
    }

    /// Whether the company was verified (ORG_AUTHED or any later status, with its e签宝 account).
    pub fn org_verified(&self) -> bool {
        self.status.after_org_auth() && self.org_account_id.is_some()
    }
    pub fn node_list(&self) -> Vec<Node> {
        node_list(self.needs_pub_payment)
    }
    /// The node after the current one; the first node before the process started.
    pub fn next_node(&self) -> Option<Node> {
        let list = self.node_list();
        match self.node() {
            None => list.first().copied(),
            Some(node) => list.iter().position(|n| *n == node).and_then(|i| list.get(i + 1)).copied(),
        }
    }

    pub(super) fn go(&mut self, allowed: bool, to: ProcessStatus, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        if !allowed {
            return Err(IllegalTransition { current: self.status });
        }
        self.moves.push(Move { from: self.status, to, at: now, cert_no: None });
        self.status = to;
        self.updated_at = Some(now);
        Ok(())
    }

    /// Back to NOT_STARTED from any status, forgetting the handler, the company and the letter, so
    /// that the member can start over. False when it had not started: nothing to do.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> bool {
        if self.status == ProcessStatus::NotStarted {
            return false;
        }
        let mut fresh = Self::restore(self.member_no.clone(), ProcessStatus::NotStarted, self.version);
        fresh.moves = std::mem::take(&mut self.moves);
        fresh.moves.push(Move { from: self.status, to: ProcessStatus::NotStarted, at: now, cert_no: None });
        fresh.updated_at = Some(now);
        fresh.generation = self.generation + 1;
        *self = fresh;
        true
    }

    /// An identity flow (face) started for the handler (also a new flow after the previous link expired).
    pub fn handler_flow_started(
        &mut self,
        handler: Handler,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        self.go(self.status.may_start_face(), ProcessStatus::HandlerAuthing, now)?;
        self.handler = Some(handler);
        self.esign_account_id = Some(account);
        self.fail_reason = None;
        Ok(())
    }

    /// The handler passed the identity flow `flow`.
    pub fn handler_passed(&mut self, flow: FlowId, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.go(self.status == ProcessStatus::HandlerAuthing, ProcessStatus::HandlerAuthed, now)?;
        self.handler_flow_id = Some(flow);
        self.fail_reason = None;
        Ok(())
    }

    pub fn handler_failed(&mut self, reason: Option<String>, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.go(self.status == ProcessStatus::HandlerAuthing, ProcessStatus::HandlerAuthFailed, now)?;
        self.fail_reason = reason;
        Ok(())
    }

    /// `record` proves the pass just made (HANDLER_AUTHED or ORG_AUTHED, the last move): the move
    /// names it, the detail answers it. The company's is followed at once by CERT_UNCONFIRMED.
    pub fn evidence_written(&mut self, record: &Evidence) -> Result<(), IllegalTransition> {
        let passed = match record.kind {
            EvidenceKind::Handler => ProcessStatus::HandlerAuthed,
            EvidenceKind::Org => ProcessStatus::OrgAuthed,
        };
        let last = self.moves.last_mut().filter(|m| m.to == passed && self.status == passed);
        let Some(last) = last else { return Err(IllegalTransition { current: self.status }) };
        last.cert_no = Some(record.cert_no);
        let cert =
            Some(CertRef { cert_no: record.cert_no, created_at: record.at, status: Some(EvidenceStatus::Normal) });
        match record.kind {
            EvidenceKind::Handler => self.handler_cert = cert,
            EvidenceKind::Org => {
                self.org_cert = cert;
                self.cert_confirmed = None;
                self.go(true, ProcessStatus::CertUnconfirmed, record.at)?;
            }
        }
        Ok(())
    }

    /// The platform confirmed the evidence (ConfirmEvidence).
    pub fn evidence_confirmed(&mut self, confirmer: String, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.go(self.status == ProcessStatus::CertUnconfirmed, ProcessStatus::CertConfirmed, now)?;
        self.cert_confirmed = Some((confirmer, now));
        Ok(())
    }

    /// Checks, without moving, that the company's verification may start now.
    pub fn check_may_start_org(&self) -> Result<(), IllegalTransition> {
        if self.status.may_start_org() { Ok(()) } else { Err(IllegalTransition { current: self.status }) }
    }

    /// The company's e签宝 account exists with the information given: ORG_NOT_AUTH (its flow not
    /// started yet). A restart from ORG_AUTHING (its old flow dead) stays ORG_AUTHING.
    pub fn org_account_created(
        &mut self,
        org: OrgInfo,
        profile: OrgProfile,
        org_account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        let to = if self.status == ProcessStatus::OrgAuthing {
            ProcessStatus::OrgAuthing
        } else {
            ProcessStatus::OrgNotAuth
        };
        self.go(self.status.may_start_org(), to, now)?;
        self.org = Some(org);
        self.org_profile = Some(profile);
        self.org_account_id = Some(org_account);
        self.fail_reason = None;
        Ok(())
    }

    /// The company's flow runs; `needs_payment` when its legal person is not the handler.
    pub fn org_flow_started(&mut self, needs_payment: bool, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        let allowed = matches!(self.status, ProcessStatus::OrgNotAuth | ProcessStatus::OrgAuthing);
        self.go(allowed, ProcessStatus::OrgAuthing, now)?;
        self.needs_pub_payment = needs_payment;
        Ok(())
    }

    /// The company is verified (its flow ended SUCCESS).
    pub fn org_passed(&mut self, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        let allowed = matches!(self.status, ProcessStatus::OrgNotAuth | ProcessStatus::OrgAuthing);
        self.go(allowed, ProcessStatus::OrgAuthed, now)?;
        self.fail_reason = None;
        Ok(())
    }

    /// The company's verification failed (its flow ended FAIL, or its information did not match).
    pub fn org_failed(&mut self, reason: Option<String>, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        let allowed = matches!(self.status, ProcessStatus::OrgNotAuth | ProcessStatus::OrgAuthing);
        self.go(allowed, ProcessStatus::OrgAuthFailed, now)?;
        self.fail_reason = reason;
        Ok(())
    }

    /// Checks, without moving, that an authorization may start now.
    pub fn check_may_authorize(&self) -> Result<(), IllegalTransition> {
        if self.status.may_start_authorization() { Ok(()) } else { Err(IllegalTransition { current: self.status }) }
    }

    /// The caller asked for the authorization: ORG_SEAL_SAVED → UNAUTHORIZED, written before e签宝
    /// is asked. From UNAUTHORIZED or AUTHORIZE_FAILED nothing moves.
    pub fn authorization_requested(&mut self, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        match self.status {
            ProcessStatus::OrgSealSaved => self.go(true, ProcessStatus::Unauthorized, now),
            s if s.may_start_authorization() => Ok(()),
            current => Err(IllegalTransition { current }),
        }
    }

    /// e签宝 made the authorization: AUTHORIZING (through UNAUTHORIZED from ORG_SEAL_SAVED).
    pub fn authorization_started(&mut self, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.authorization_requested(now)?;
        self.go(self.status.may_start_authorization(), ProcessStatus::Authorizing, now)?;
        self.fail_reason = None;
        self.set_signed_file(None);
        Ok(())
    }

    pub fn authorization_finished(
        &mut self,
        signed_file: Option<(String, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        self.go(self.status == ProcessStatus::Authorizing, ProcessStatus::AuthorizeFinish, now)?;
        self.set_signed_file(signed_file);
        Ok(())
    }

    /// A fresher copy of the signed letter's URL (they expire after 60 minutes).
    pub fn set_signed_file(&mut self, signed_file: Option<(String, DateTime<Utc>)>) {
        let (url, exp) = signed_file.unzip();
        self.signed_file_url = url;
        self.signed_file_url_expires_at = exp;
    }

    /// The signed letter's URL while it still works at `at`.
    pub fn signed_file_url_valid_at(&self, at: DateTime<Utc>) -> Option<&str> {
        match (&self.signed_file_url, self.signed_file_url_expires_at) {
            (Some(url), Some(exp)) if exp > at => Some(url),
            _ => None,
        }
    }

    pub fn authorization_failed(
        &mut self,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        self.go(self.status == ProcessStatus::Authorizing, ProcessStatus::AuthorizeFailed, now)?;
        self.fail_reason = reason;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::evidence::CertNo;
    use super::*;
    use crate::domain::values::{Mobile, PersonName, ResidentId, ValidPeriod};

    fn flow() -> FlowId {
        FlowId::parse("flow_id", "f1").unwrap()
    }

    fn member() -> MemberNo {
        MemberNo::parse("ETC000123456").unwrap()
    }

    fn handler() -> Handler {
        Handler {
            name: PersonName::parse("name", "张三").unwrap(),
            id_number: ResidentId::parse("id", "11010519491231002X").unwrap(),
            mobile: Mobile::parse("m", "13800138000").unwrap(),
            valid_period: ValidPeriod { start: chrono::NaiveDate::from_ymd_opt(2019, 1, 1).unwrap(), end: None },
        }
    }

    #[test]
    fn there_are_18_statuses_and_5_nodes() {
        assert_eq!(ProcessStatus::ALL.len(), 18);
        assert_eq!(Node::ALL.len(), 5);
        for s in ProcessStatus::ALL {
            assert_eq!(ProcessStatus::parse(s.as_str()), Some(*s));
        }
    }

    #[test]
    fn a_new_member_is_not_started_with_handler_auth_next() {
        let p = Process::not_started(member());
        assert_eq!(p.status(), ProcessStatus::NotStarted);
        assert_eq!(p.node(), None);
        assert_eq!(p.next_node(), Some(Node::HandlerAuth));
        assert_eq!(p.node_list(), vec![Node::HandlerAuth, Node::OrgAuth, Node::SaveOrgSeal, Node::Authorized]);
    }

    #[test]
    fn each_move_is_recorded_and_cancel_starts_over_from_any_status() {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        assert!(!p.cancel(now), "nothing to cancel before the start");
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        p.handler_passed(flow(), now).unwrap();
        assert!(p.cancel(now));
        let moves: Vec<_> = p.moves().iter().map(|m| (m.from, m.to, m.node())).collect();
        use ProcessStatus::*;
        assert_eq!(
            moves,
            vec![
                (NotStarted, HandlerAuthing, Some(Node::HandlerAuth)),
                (HandlerAuthing, HandlerAuthed, Some(Node::HandlerAuth)),
                (HandlerAuthed, NotStarted, Some(Node::HandlerAuth)),
            ]
        );
        assert_eq!((p.status(), p.handler.is_none(), p.handler_flow_id.is_none()), (NotStarted, true, true));
        assert_eq!(Process::restore(member(), HandlerAuthed, 3).moves(), &[], "a stored process has no new moves");
    }

    #[test]
    fn the_happy_path_moves_forward_only() {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        assert!(p.authorization_started(now).is_err());
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        assert_eq!(p.status(), ProcessStatus::HandlerAuthing);
        p.handler_passed(flow(), now).unwrap();
        assert_eq!((p.node(), p.next_node()), (Some(Node::HandlerAuth), Some(Node::OrgAuth)));
        assert_eq!(p.handler_flow_id, Some(flow()), "the company's verification names the passed flow");
        // A late failure of the same flow cannot undo a pass.
        assert_eq!(p.handler_failed(None, now), Err(IllegalTransition { current: ProcessStatus::HandlerAuthed }));
        sealed(&mut p, now);
        p.authorization_started(now).unwrap();
        assert_eq!((p.node(), p.next_node()), (Some(Node::Authorized), None));
        p.authorization_finished(Some(("https://x/y.pdf".into(), now)), now).unwrap();
        assert_eq!(p.status(), ProcessStatus::AuthorizeFinish);
        assert!(p.authorization_failed(None, now).is_err());
        assert!(p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).is_err());
    }

    fn seal() -> OrgSeal {
        OrgSeal {
            seal_id: "s1".into(),
            alias: Some("公章".into()),
            file_key: Some("k".into()),
            url: None,
            url_expires_at: None,
            created_at: None,
        }
    }

    /// A handler passed, the company verified by its legal person, its seal saved.
    fn sealed(p: &mut Process, now: DateTime<Utc>) {
        let (info, profile, acc) = org();
        p.org_account_created(info, profile, acc, now).unwrap();
        p.org_flow_started(false, now).unwrap();
        p.org_passed(now).unwrap();
        p.evidence_written(&record(EvidenceKind::Org, 1)).unwrap();
        assert!(p.seal_started(now).is_err(), "no seal before the evidence is confirmed");
        p.evidence_confirmed("platform-ops".into(), now).unwrap();
        assert!(p.authorization_started(now).is_err(), "no authorization before the seal");
        p.seal_started(now).unwrap();
        p.seal_saved(seal(), now).unwrap();
        assert_eq!((p.node(), p.next_node()), (Some(Node::SaveOrgSeal), Some(Node::Authorized)));
    }

    #[test]
    fn the_seal_may_be_saved_again_after_a_refusal_and_the_authorization_passes_unauthorized() {
        let now = Utc::now();
        let mut p = authed();
        assert_eq!(p.seal_started(now), Err(IllegalTransition { current: ProcessStatus::HandlerAuthed }));
        let (info, profile, acc) = org();
        p.org_account_created(info, profile, acc, now).unwrap();
        p.org_passed(now).unwrap();
        p.evidence_written(&record(EvidenceKind::Org, 1)).unwrap();
        p.evidence_confirmed("platform-ops".into(), now).unwrap();
        p.seal_started(now).unwrap();
        p.seal_started(now).unwrap();
        p.seal_failed(Some("refused".into()), now).unwrap();
        assert_eq!(p.status(), ProcessStatus::OrgSealSaveFailed);
        p.seal_started(now).unwrap();
        p.seal_saved(seal(), now).unwrap();
        p.authorization_started(now).unwrap();
        let tail: Vec<_> = p.moves().iter().rev().take(2).map(|m| (m.from, m.to)).collect();
        use ProcessStatus::*;
        assert_eq!(tail, vec![(Unauthorized, Authorizing), (OrgSealSaved, Unauthorized)]);
    }

    fn org() -> (OrgInfo, OrgProfile, AccountId) {
        let info = OrgInfo {
            name: "房友".into(),
            id_number: "91350100M000100Y43".into(),
            id_type: "CRED_ORG_USCC".into(),
            legal_name: "张三".into(),
            legal_id_number: "11010519491231002X".into(),
        };
        (info, OrgProfile::default(), AccountId::parse("o", "org1").unwrap())
    }

    fn authed() -> Process {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        p.handler_passed(flow(), now).unwrap();
        p
    }

    #[test]
    fn the_company_walks_through_its_payment_node_forward_only() {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        let (info, profile, acc) = org();
        assert!(p.org_account_created(info.clone(), profile.clone(), acc.clone(), now).is_err());
        let mut p2 = authed();
        p2.org_account_created(info.clone(), profile.clone(), acc.clone(), now).unwrap();
        assert_eq!((p2.status(), p2.node()), (ProcessStatus::OrgNotAuth, Some(Node::OrgAuth)));
        p2.org_flow_started(true, now).unwrap();
        assert_eq!(p2.status(), ProcessStatus::OrgAuthing);
        assert_eq!((p2.node(), p2.next_node()), (Some(Node::PubPaymentAuth), Some(Node::SaveOrgSeal)));
        assert!(p2.node_list().contains(&Node::PubPaymentAuth));
        p2.org_passed(now).unwrap();
        assert!(p2.org_verified());
        assert_eq!(p2.node(), Some(Node::OrgAuth));
        assert!(p2.org_failed(None, now).is_err(), "never backwards");
        assert!(p2.check_may_start_org().is_err());
        p = p2;
        assert!(p.handler_failed(None, now).is_err());
    }

    #[test]
    fn a_failed_company_may_start_again_and_a_legal_person_needs_no_payment() {
        let now = Utc::now();
        let (info, profile, acc) = org();
        let mut p = authed();
        p.org_account_created(info.clone(), profile.clone(), acc.clone(), now).unwrap();
        p.org_failed(Some("mismatch".into()), now).unwrap();
        assert_eq!(p.status(), ProcessStatus::OrgAuthFailed);
        p.org_account_created(info, profile, acc, now).unwrap();
        assert_eq!(p.fail_reason, None);
        p.org_flow_started(false, now).unwrap();
        assert_eq!(p.node(), Some(Node::OrgAuth));
        p.org_passed(now).unwrap();
        assert_eq!(p.node_list(), vec![Node::HandlerAuth, Node::OrgAuth, Node::SaveOrgSeal, Node::Authorized]);
    }

    fn record(kind: EvidenceKind, position: i64) -> Evidence {
        Evidence {
            cert_no: CertNo::random(),
            member_no: member(),
            position,
            kind,
            masked_name: "张*".into(),
            id_digest: String::new(),
            account_id: "acc".into(),
            flow_id: "f1".into(),
            method: super::super::EvidenceMethod::Face,
            at: Utc::now(),
            prev_digest: String::new(),
            key_id: "k".into(),
            signature: Vec::new(),
        }
    }

    #[test]
    fn a_pass_names_its_record_and_the_company_s_moves_on_to_cert_unconfirmed_then_confirmed() {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        assert!(p.evidence_written(&record(EvidenceKind::Handler, 0)).is_err(), "no pass to prove");
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        p.handler_passed(flow(), now).unwrap();
        let h = record(EvidenceKind::Handler, 0);
        assert!(p.evidence_written(&record(EvidenceKind::Org, 0)).is_err(), "the handler's pass is no company's");
        p.evidence_written(&h).unwrap();
        assert_eq!(p.handler_cert.map(|c| c.cert_no), Some(h.cert_no));
        assert_eq!(p.moves().last().and_then(|m| m.cert_no), Some(h.cert_no));

        let (info, profile, acc) = org();
        p.org_account_created(info, profile, acc, now).unwrap();
        p.org_flow_started(false, now).unwrap();
        assert!(p.evidence_confirmed("ops".into(), now).is_err(), "nothing to confirm yet");
        p.org_passed(now).unwrap();
        let o = record(EvidenceKind::Org, 1);
        p.evidence_written(&o).unwrap();
        use ProcessStatus::*;
        let tail: Vec<_> = p.moves().iter().rev().take(2).map(|m| (m.from, m.to, m.cert_no)).collect();
        assert_eq!(tail, vec![(OrgAuthed, CertUnconfirmed, None), (OrgAuthing, OrgAuthed, Some(o.cert_no))]);
        assert_eq!((p.status(), p.node()), (CertUnconfirmed, Some(Node::OrgAuth)));
        p.evidence_confirmed("ops".into(), now).unwrap();
        assert_eq!((p.status(), p.cert_confirmed.clone()), (CertConfirmed, Some(("ops".to_owned(), now))));
        assert!(p.evidence_confirmed("ops".into(), now).is_err(), "once");
        assert!(p.cancel(now));
        assert_eq!((p.handler_cert, p.org_cert, p.cert_confirmed), (None, None, None), "the records stay in the store");
    }

    #[test]
    fn failures_may_be_retried() {
        let now = Utc::now();
        let mut p = Process::not_started(member());
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        p.handler_failed(Some("face mismatch".into()), now).unwrap();
        assert_eq!(p.fail_reason.as_deref(), Some("face mismatch"));
        p.handler_flow_started(handler(), AccountId::parse("a", "acc").unwrap(), now).unwrap();
        p.handler_passed(flow(), now).unwrap();
        sealed(&mut p, now);
        p.authorization_started(now).unwrap();
        p.authorization_failed(Some("refused".into()), now).unwrap();
        p.authorization_started(now).unwrap();
        assert_eq!(p.status(), ProcessStatus::Authorizing);
    }
}
