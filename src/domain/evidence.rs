//! Evidence (存证, process.md §3): the service's evidence keys (Ed25519, rotated like the data
//! keys), the writing of a record when the handler or the company passes, ConfirmEvidence
//! (CERT_UNCONFIRMED → CERT_CONFIRMED), GetEvidence, and the certificate statuses of the detail.
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::Service;
use super::error::DomainError;
use super::model::{
    CertNo, CheckedEvidence, Evidence, EvidenceKind, EvidenceMethod, FaceFlow, HandlerMethod, IllegalTransition,
    OrgFlow, Process, ProcessStatus, Source, id_digest, mask_name,
};
use super::ports::ChangeSet;
use super::values::MemberNo;

/// The evidence keys: the first signs new records, every one verifies the records it signed.
#[derive(Clone)]
pub struct EvidenceKeys {
    current: (String, SigningKey),
    verifying: HashMap<String, VerifyingKey>,
    /// Signatures that verified, shared by the clones (the keys are the same).
    verified: Arc<VerifiedRecords>,
}

/// Records whose signature verified, each as the SHA-256 of what was verified: the key's id, the
/// signed bytes and the signature. Every read of the database checks the detail's records (two
/// Ed25519 verifications, about half of such a read's instructions by callgrind), and a record,
/// once written, never changes: a record that verified verifies again. A record changed
/// in any byte (or a signature, or its key id) hashes to another entry and is verified in full, so
/// a tampered row is caught as before; only verifications that passed are kept.
#[derive(Default)]
struct VerifiedRecords {
    seen: Mutex<HashSet<[u8; 32]>>,
}

/// How many verified records are kept (32 bytes each, about 4 MiB when full); full, all are
/// forgotten and verified again as they are read.
const VERIFIED_KEPT: usize = 100_000;

impl VerifiedRecords {
    fn entry(key_id: &str, signed: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        // Lengths first: no two different triples hash the same bytes.
        for part in [key_id.as_bytes(), signed, signature] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn contains(&self, entry: &[u8; 32]) -> bool {
        self.lock().contains(entry)
    }

    fn keep(&self, entry: [u8; 32], limit: usize) {
        let mut seen = self.lock();
        if seen.len() >= limit {
            seen.clear();
        }
        seen.insert(entry);
    }
}

impl fmt::Debug for EvidenceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvidenceKeys(current: {}, keys: {})", self.current.0, self.verifying.len())
    }
}

/// The dev evidence key (the seed is 32 bytes "etc-esign-dev-evidence-not-real!"); `serve` refuses it.
pub const DEV_EVIDENCE_KEYS: &str = "dev=ZXRjLWVzaWduLWRldi1ldmlkZW5jZS1ub3QtcmVhbCE=";

impl EvidenceKeys {
    /// Parses `ID=BASE64(32-byte Ed25519 seed)`, comma- or newline-separated, the first current.
    /// An id is 1-16 letters, digits, '-' or '_'.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, SigningKey)> = Vec::new();
        for pair in s.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (id, seed) = pair.split_once('=').ok_or("EVIDENCE_KEYS entries must be ID=BASE64SEED")?;
            let id = id.trim();
            if id.is_empty() || id.len() > 16 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err("an evidence key id must be 1-16 letters, digits, '-' or '_'".into());
            }
            let bytes = zeroize::Zeroizing::new(
                B64.decode(seed.trim()).map_err(|_| format!("evidence key {id} is not base64"))?,
            );
            let seed: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| format!("evidence key {id} must be 32 bytes"))?;
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("evidence key id {id} appears twice"));
            }
            keys.push((id.to_owned(), SigningKey::from_bytes(&seed)));
        }
        let verifying = keys.iter().map(|(id, k)| (id.clone(), k.verifying_key())).collect();
        let current = keys.into_iter().next().ok_or("EVIDENCE_KEYS lists no key")?;
        Ok(Self { current, verifying, verified: Default::default() })
    }

    /// The dev keys (`dev` and tests that name none).
    pub fn dev() -> Self {
        Self::parse(DEV_EVIDENCE_KEYS).unwrap_or_else(|_| unreachable!("the dev evidence key parses"))
    }

    /// Whether any of these keys is the dev key (which `serve` refuses).
    pub fn contains_dev_key(&self) -> bool {
        let dev = Self::dev().current.1.verifying_key();
        self.verifying.values().any(|k| *k == dev)
    }

    /// The public key of `id`, if it is listed.
    pub fn public_key(&self, id: &str) -> Option<[u8; 32]> {
        self.verifying.get(id).map(|k| k.to_bytes())
    }

    /// Names the current key in `record` and signs it.
    pub fn sign(&self, record: &mut Evidence) {
        record.key_id = self.current.0.clone();
        record.signature = self.current.1.sign(&record.signed_bytes()).to_bytes().to_vec();
    }

    /// Whether `record`'s signature verifies with the key it names (false for a key no longer listed).
    pub fn verifies(&self, record: &Evidence) -> bool {
        self.verifies_keeping(record, VERIFIED_KEPT)
    }

    /// [`Self::verifies`], keeping at most `limit` verified records.
    fn verifies_keeping(&self, record: &Evidence, limit: usize) -> bool {
        let Some(key) = self.verifying.get(&record.key_id) else { return false };
        let signed = record.signed_bytes();
        let entry = VerifiedRecords::entry(&record.key_id, &signed, &record.signature);
        if self.verified.contains(&entry) {
            return true;
        }
        let Ok(sig) = Signature::from_slice(&record.signature) else { return false };
        let valid = key.verify_strict(&signed, &sig).is_ok();
        if valid {
            self.verified.keep(entry, limit);
        }
        valid
    }
}

/// What a new record states: whose identity, how it was verified, and where at e签宝.
struct Verified<'a> {
    pub kind: EvidenceKind,
    pub method: EvidenceMethod,
    pub name: &'a str,
    pub id_number: &'a str,
    pub account_id: &'a str,
    pub flow_id: &'a str,
}

impl Service {
    /// A new signed record for `member`, chained to the member's newest one. Written by the caller
    /// in the commit of the move it proves; two writers racing for one place in the chain conflict
    /// in the store (one place per member), and the loser retries with the new chain.
    async fn new_evidence(
        &self,
        member: &MemberNo,
        what: Verified<'_>,
        at: DateTime<Utc>,
    ) -> Result<Evidence, DomainError> {
        let chain = self.store.member_evidence(member).await?;
        let (position, prev_digest) = match chain.last() {
            Some(prev) => (prev.position + 1, prev.digest()),
            None => (0, String::new()),
        };
        let cert_no = CertNo::random();
        let mut record = Evidence {
            cert_no,
            member_no: member.clone(),
            position,
            kind: what.kind,
            masked_name: mask_name(what.name),
            id_digest: id_digest(&cert_no, what.id_number),
            account_id: what.account_id.to_owned(),
            flow_id: what.flow_id.to_owned(),
            method: what.method,
            at,
            prev_digest,
            key_id: String::new(),
            signature: Vec::new(),
        };
        self.settings.evidence_keys.sign(&mut record);
        Ok(record)
    }

    /// The signed record that the handler of `process` passed `flow`.
    pub(super) async fn handler_evidence(
        &self,
        process: &Process,
        flow: &FaceFlow,
        now: DateTime<Utc>,
    ) -> Result<Evidence, DomainError> {
        let handler = process.handler.as_ref().ok_or(IllegalTransition { current: process.status() })?;
        let method = match flow.method {
            HandlerMethod::Face => EvidenceMethod::Face,
            HandlerMethod::Sms => EvidenceMethod::Sms,
        };
        let what = Verified {
            kind: EvidenceKind::Handler,
            method,
            name: handler.name.as_str(),
            id_number: handler.id_number.expose(),
            account_id: flow.account_id.as_str(),
            flow_id: flow.flow_id.as_str(),
        };
        self.new_evidence(&flow.member_no, what, now).await
    }

    /// The signed record that the company of `process` passed `flow` (ORG_AUTHED, just moved).
    pub(super) async fn org_evidence(
        &self,
        process: &Process,
        flow: &OrgFlow,
        now: DateTime<Utc>,
    ) -> Result<Evidence, DomainError> {
        let org = process.org.as_ref().ok_or(IllegalTransition { current: process.status() })?;
        let method = if flow.needs_payment { EvidenceMethod::ReversePayment } else { EvidenceMethod::LegalPerson };
        let what = Verified {
            kind: EvidenceKind::Org,
            method,
            name: &org.name,
            id_number: &org.id_number,
            account_id: flow.org_id.as_str(),
            flow_id: flow.flow_id.as_str(),
        };
        self.new_evidence(&flow.member_no, what, now).await
    }

    /// Checks `record` against the member's chain `chain` (every record of the member, by position).
    fn check(&self, record: &Evidence, chain: &[Evidence]) -> CheckedEvidence {
        let prev_ok = match record.position {
            0 => record.prev_digest.is_empty(),
            p => chain.iter().find(|r| r.position == p - 1).is_some_and(|prev| prev.digest() == record.prev_digest),
        };
        let valid = prev_ok && self.settings.evidence_keys.verifies(record);
        let replaced = chain.iter().any(|r| r.kind == record.kind && r.position > record.position);
        CheckedEvidence { record: record.clone(), valid, replaced }
    }

    /// GetEvidence: the record, whether it verifies now, and whether a later one replaced it.
    pub async fn evidence(&self, cert_no: &CertNo) -> Result<CheckedEvidence, DomainError> {
        let record = self.store.evidence(cert_no).await?.ok_or(DomainError::NotFound("evidence"))?;
        let chain = self.store.member_evidence(&record.member_no).await?;
        Ok(self.check(&record, &chain))
    }

    /// Fills the statuses of the process's certificates (its evidence records): read once, checked here.
    pub async fn with_cert_status(&self, mut process: Process) -> Result<Process, DomainError> {
        if process.handler_cert.is_none() && process.org_cert.is_none() {
            return Ok(process);
        }
        let chain = self.store.member_evidence(process.member_no()).await?;
        self.fill_cert_status(&mut process, &chain);
        Ok(process)
    }

    /// Checks the process's certificates against the member's records `chain`.
    pub(super) fn fill_cert_status(&self, process: &mut Process, chain: &[Evidence]) {
        for cert in [&mut process.handler_cert, &mut process.org_cert].into_iter().flatten() {
            let status = match chain.iter().find(|r| r.cert_no == cert.cert_no) {
                Some(record) => self.check(record, chain).status(),
                // A record the process names but the table lost is no evidence.
                None => super::model::EvidenceStatus::Abnormal,
            };
            cert.status = Some(status);
        }
    }

    /// ConfirmEvidence: the platform confirms the member's evidence (CERT_UNCONFIRMED →
    /// CERT_CONFIRMED), recording who and when. Once confirmed, a repeat answers the process as it
    /// is (still naming the first confirmer) and writes nothing.
    pub async fn confirm_evidence(
        &self,
        member: &MemberNo,
        confirmer: &str,
        by: &Source,
    ) -> Result<Process, DomainError> {
        let process = self
            .retry_on_conflict(|| async {
                let mut process = self.process(member).await?;
                if process.status() != ProcessStatus::CertUnconfirmed && process.cert_confirmed.is_some() {
                    return Ok(process);
                }
                process.evidence_confirmed(confirmer.to_owned(), self.now())?;
                self.store
                    .commit(ChangeSet {
                        process: Some(process.clone()),
                        source: Some(by.clone()),
                        ..Default::default()
                    })
                    .await?;
                tracing::info!(member = %member, "evidence confirmed");
                Ok(process)
            })
            .await?;
        self.with_cert_status(process).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Evidence {
        let cert_no = CertNo::parse("c", "00112233445566778899aabbccddeeff").unwrap();
        Evidence {
            cert_no,
            member_no: MemberNo::parse("ETC000123456").unwrap(),
            position: 1,
            kind: EvidenceKind::Handler,
            masked_name: mask_name("张三"),
            id_digest: id_digest(&cert_no, "11010519491231002X"),
            account_id: "acc1".into(),
            flow_id: "flow1".into(),
            method: EvidenceMethod::Face,
            at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            prev_digest: "ab".repeat(32),
            key_id: String::new(),
            signature: Vec::new(),
        }
    }

    /// The fixed vector: the encoding and the signature of a known record with the dev key. A
    /// change here breaks every stored record: it must be a new encoding version, not an edit.
    #[test]
    fn the_signed_encoding_and_its_signature_are_fixed() {
        let keys = EvidenceKeys::dev();
        let mut r = record();
        keys.sign(&mut r);
        assert_eq!(r.key_id, "dev");
        let bytes = r.signed_bytes();
        assert!(
            bytes.starts_with(b"etc-esign evidence v1\0\0\0\x2000112233445566778899aabbccddeeff\0\0\0\x0cETC000123456")
        );
        assert!(bytes.ends_with(b"\0\0\0\x0d1700000000123\0\0\0\x40abababababababababababababababababababababababababababababababab\0\0\0\x03dev"));
        assert_eq!(bytes.len(), 21 + 12 * 4 + 32 + 12 + 1 + 7 + 4 + 64 + 4 + 5 + 4 + 13 + 64 + 3);
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), EXPECTED_BYTES_SHA256);
        assert_eq!(hex::encode(&r.signature), EXPECTED_SIGNATURE);
        assert!(keys.verifies(&r));
    }

    const EXPECTED_BYTES_SHA256: &str = "da4aad4d513fd6e8125c7504ef42807395e8f8f801682c5d019dbb368c5a2b2f";
    const EXPECTED_SIGNATURE: &str = "936b694905d51970548812277ef9604c622ee0556ed05d4992498b3644603c24affbb7ef0956033bf3a337c290f285bfe73d2758e43cb49c283f175c5985660d";

    #[test]
    fn any_changed_field_or_signature_byte_fails_and_old_keys_still_verify() {
        let old = EvidenceKeys::parse("k1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").unwrap();
        let mut r = record();
        old.sign(&mut r);
        let rotated = EvidenceKeys::parse(&format!(
            "k2={},k1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            B64.encode([7u8; 32])
        ))
        .unwrap();
        assert!(rotated.verifies(&r), "the old key, listed second, still verifies");
        assert!(!EvidenceKeys::dev().verifies(&r), "a key not listed verifies nothing");
        let mut changed = r.clone();
        changed.masked_name = "李*".into();
        assert!(!old.verifies(&changed));
        let mut changed = r.clone();
        changed.signature[0] ^= 1;
        assert!(!old.verifies(&changed));
        let mut changed = r.clone();
        changed.at += chrono::Duration::milliseconds(1);
        assert!(!old.verifies(&changed));
        assert_ne!(changed.digest(), r.digest());
    }

    #[test]
    fn a_record_verified_before_still_fails_in_any_changed_byte() {
        let keys = EvidenceKeys::parse("k1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").unwrap();
        let mut r = record();
        keys.sign(&mut r);
        assert!(keys.verifies(&r));
        assert!(keys.clone().verifies(&r), "verified once, it verifies again (and clones share that)");
        let mut changed = r.clone();
        changed.flow_id = "flow2".into();
        assert!(!keys.verifies(&changed), "a changed field is verified in full");
        let mut changed = r.clone();
        changed.signature[63] ^= 0x80;
        assert!(!keys.verifies(&changed), "a changed signature is verified in full");
        let mut changed = r.clone();
        changed.key_id = "k2".into();
        assert!(!keys.verifies(&changed), "a key not listed verifies nothing");
        assert!(keys.verifies(&r));
        assert_eq!(keys.verified.lock().len(), 1, "only what verified is kept");
    }

    #[test]
    fn verified_records_are_forgotten_when_their_limit_is_reached() {
        let keys = EvidenceKeys::dev();
        let records: Vec<Evidence> = (1..=3)
            .map(|position| {
                let mut r = Evidence { position, ..record() };
                keys.sign(&mut r);
                r
            })
            .collect();
        for r in &records {
            assert!(keys.verifies_keeping(r, 2));
        }
        assert_eq!(keys.verified.lock().len(), 1, "the third emptied the two kept before it");
        assert!(records.iter().all(|r| keys.verifies_keeping(r, 2)), "forgotten ones verify in full again");
    }

    #[test]
    fn keys_parse_like_the_data_keys_and_the_dev_key_is_known() {
        assert!(EvidenceKeys::parse("").is_err());
        assert!(EvidenceKeys::parse("a=AAAA").is_err());
        assert!(EvidenceKeys::parse("a/b=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").is_err());
        let k = "a=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
        assert!(EvidenceKeys::parse(&format!("{k},{k}")).is_err());
        assert!(!EvidenceKeys::parse(k).unwrap().contains_dev_key());
        assert!(EvidenceKeys::parse(&format!("{k},{DEV_EVIDENCE_KEYS}")).unwrap().contains_dev_key());
        assert!(!format!("{:?}", EvidenceKeys::dev()).contains("ZXRj"));
    }
}
