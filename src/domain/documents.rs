//! RecognizeIdCard and RecognizeBusinessLicense (the platform's ocr/idCard and ocr/org): pictures
//! checked at the edge are read by e签宝's OCR, the reading checked against the member's declared
//! identity, then the pictures and their thumbnails kept (encrypted, by the `Documents` port) and
//! what was read written on the process. A mismatch keeps nothing.
use std::sync::Arc;

use super::Service;
use super::doc_ports::{DocumentError, Documents, IdCardOcrRequest, IdCardReading, LicenceOcrRequest, LicenceReading};
use super::error::DomainError;
use super::model::{IdCardDocs, KeptPicture, LicenceDocs, Process, Source};
use super::ports::ChangeSet;
use super::values::{MemberNo, Picture, ValidPeriod};

/// RecognizeIdCard, checked.
#[derive(Debug)]
pub struct RecognizeIdCard {
    pub member_no: MemberNo,
    /// 人像面.
    pub info: Picture,
    /// 国徽面.
    pub emblem: Picture,
}

/// RecognizeBusinessLicense, checked.
#[derive(Debug)]
pub struct RecognizeLicence {
    pub member_no: MemberNo,
    pub picture: Picture,
}

/// What a card read, and the process that now holds it.
#[derive(Debug)]
pub struct RecognizedCard {
    pub reading: IdCardReading,
    pub valid_period: ValidPeriod,
    pub process: Process,
}

/// What a licence read, and the process that now holds it.
#[derive(Debug)]
pub struct RecognizedLicence {
    pub reading: LicenceReading,
    pub process: Process,
}

fn precondition(p: &Process, message: &str) -> DomainError {
    DomainError::FailedPrecondition { status: p.status(), message: message.to_owned() }
}

impl Service {
    fn documents(&self) -> Result<Arc<dyn Documents>, DomainError> {
        self.documents.clone().ok_or_else(|| DocumentError::Unavailable("no document store configured".into()).into())
    }

    /// Keeps a picture and its thumbnail under fresh keys (the thumbnail made off the runtime's threads).
    async fn keep(
        &self,
        docs: &Arc<dyn Documents>,
        member: &MemberNo,
        what: &str,
        picture: Picture,
    ) -> Result<KeptPicture, DomainError> {
        let kept = KeptPicture::fresh(member, what);
        let (picture, thumb) = tokio::task::spawn_blocking(move || {
            let thumb = picture.thumbnail();
            (picture, thumb)
        })
        .await
        .map_err(|_| DocumentError::Unavailable("the thumbnail could not be made".into()))?;
        let (thumb, _) = thumb.map_err(DocumentError::Unavailable)?;
        docs.put(&kept.original, picture.bytes().to_vec()).await?;
        docs.put(&kept.thumbnail, thumb).await?;
        Ok(kept)
    }

    pub async fn recognize_id_card(&self, cmd: RecognizeIdCard, by: &Source) -> Result<RecognizedCard, DomainError> {
        let docs = self.documents()?;
        let member = cmd.member_no.clone();
        let process = self.process(&member).await?;
        let Some(handler) = process.handler.clone() else {
            return Err(precondition(&process, "RecognizeIdCard needs the handler declared by StartFaceAuth first"));
        };
        let req = IdCardOcrRequest { info_img: cmd.info.bytes().to_vec(), emblem_img: cmd.emblem.bytes().to_vec() };
        let reading = self.esign.ocr_id_card(&req).await?;
        // The number is compared, never echoed: a message carries no identity number.
        if !reading.id_no.trim().eq_ignore_ascii_case(handler.id_number.expose()) {
            return Err(precondition(&process, "the card's number is not the handler's"));
        }
        // e签宝 writes `2010.09.02-2020.09.01`; the seeds' other form (`…年…月…日至…`) is read too.
        let period = reading.validity_period.trim();
        let valid_period = ValidPeriod::read_back("validityPeriod", period)
            .ok()
            .or_else(|| licence_period(period, "").and_then(|p| ValidPeriod::read_back("validityPeriod", &p).ok()))
            .ok_or_else(|| precondition(&process, "the card's validity period could not be read"))?;
        let front = self.keep(&docs, &member, "idcard-front", cmd.info).await?;
        let back = self.keep(&docs, &member, "idcard-back", cmd.emblem).await?;
        let card = IdCardDocs { front, back };
        let process = self
            .retry_on_conflict(|| async {
                let mut p = self.process(&member).await?;
                // The handler may have changed (CancelProcess, another StartFaceAuth) since the read.
                let Some(h) = p.handler.as_mut().filter(|h| h.id_number == handler.id_number) else {
                    return Err(precondition(&p, "the card's number is not the handler's"));
                };
                // The card wins over the period StartFaceAuth declared.
                h.valid_period = valid_period.clone();
                p.id_card = Some(card.clone());
                self.store
                    .commit(ChangeSet { process: Some(p.clone()), source: Some(by.clone()), ..Default::default() })
                    .await?;
                self.process(&member).await
            })
            .await?;
        tracing::info!("identity card recognised and kept");
        Ok(RecognizedCard { reading, valid_period, process })
    }

    pub async fn recognize_licence(
        &self,
        cmd: RecognizeLicence,
        by: &Source,
    ) -> Result<RecognizedLicence, DomainError> {
        let docs = self.documents()?;
        let member = cmd.member_no.clone();
        let req = LicenceOcrRequest { img: cmd.picture.bytes().to_vec() };
        let reading = self.esign.ocr_licence(&req).await?;
        let cert_no = reading.cert_no.trim().to_ascii_uppercase();
        let own =
            |p: &Process| p.org.as_ref().map(|o| o.id_number.trim().to_ascii_uppercase()).filter(|c| !c.is_empty());
        let process = self.process(&member).await?;
        if own(&process).is_some_and(|c| c != cert_no) {
            return Err(precondition(&process, "the licence's credit code is not the company's"));
        }
        let picture = self.keep(&docs, &member, "licence", cmd.picture).await?;
        let licence = LicenceDocs {
            picture,
            credit_code: cert_no.clone(),
            address: Some(reading.address.trim().to_owned()).filter(|a| !a.is_empty()),
            valid_period: licence_period(&reading.valid_term, &reading.establish_date),
        };
        let process = self
            .retry_on_conflict(|| async {
                let mut p = self.process(&member).await?;
                if own(&p).is_some_and(|c| c != cert_no) {
                    return Err(precondition(&p, "the licence's credit code is not the company's"));
                }
                p.licence = Some(licence.clone());
                self.store
                    .commit(ChangeSet { process: Some(p.clone()), source: Some(by.clone()), ..Default::default() })
                    .await?;
                self.process(&member).await
            })
            .await?;
        tracing::info!("business licence recognised and kept");
        Ok(RecognizedLicence { reading, process })
    }
}

/// `2010年09月02日` → `2010.09.02`.
fn chinese_date(s: &str) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(s.trim(), "%Y年%m月%d日").ok()?;
    Some(date.format("%Y.%m.%d").to_string())
}

/// A licence's `validTerm` (`2010年09月02日至2020年09月01日`, or `长期` from its establishment date)
/// in the detail's form `2010.09.02-2020.09.01` / `2010.09.02-长期`; `None` when it does not read.
pub fn licence_period(valid_term: &str, establish_date: &str) -> Option<String> {
    let term = valid_term.trim();
    if term.is_empty() {
        return None;
    }
    let (start, end) = match term.split_once('至') {
        Some((a, b)) => (chinese_date(a)?, b.trim()),
        None => (chinese_date(establish_date)?, term),
    };
    let end = if end == "长期" { "长期".to_owned() } else { chinese_date(end)? };
    Some(format!("{start}-{end}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_terms_read_in_the_detail_form() {
        assert_eq!(licence_period("2010年09月02日至2020年09月01日", "").as_deref(), Some("2010.09.02-2020.09.01"));
        assert_eq!(licence_period("2010年09月02日至长期", "").as_deref(), Some("2010.09.02-长期"));
        assert_eq!(licence_period("长期", "2015年01月05日").as_deref(), Some("2015.01.05-长期"));
        assert_eq!(licence_period("长期", ""), None);
        assert_eq!(licence_period("", "2015年01月05日"), None);
    }
}
