//! Thin handlers: decode, validate, call the domain, map the result.
use tonic::{Request, Response, Status};

use super::auth::Caller;
use super::detached::detached;
use super::limits::CallDeadline;
use super::pb::{self, auth_service_server::AuthService};
use super::{convert, convert_org, convert_seal, convert_seals, documents, evidence, history, status::to_status};
use crate::files::LinkSigner;
// The `rpc` span (opened by `observe::Observe`) names the member once the request is parsed.
use crate::domain::model::Source;
use crate::domain::{Service, record_member};

/// When the call answers DEADLINE_EXCEEDED (`limits` sets it; absent only when a test serves the
/// handlers without it): use cases that wait for another holder stop in time to answer before it.
fn deadline_of<T>(req: &Request<T>) -> Option<tokio::time::Instant> {
    req.extensions().get::<CallDeadline>().map(|d| d.0)
}

/// What a change made by this call records as its source: the RPC and the authenticated caller.
fn by<T>(req: &Request<T>, method: &str) -> Source {
    let caller = req.extensions().get::<Caller>().map(|c| c.sys_id.clone()).unwrap_or_default();
    Source::Rpc { method: method.to_owned(), caller }
}

#[derive(Clone)]
pub struct AuthServiceImpl {
    service: Service,
    /// Mints the detail's picture links; `None`: no pictures are kept, none answered.
    links: Option<LinkSigner>,
}

impl AuthServiceImpl {
    pub fn new(service: Service) -> Self {
        Self { service, links: None }
    }

    /// Answers the kept pictures' links, minted by `links`.
    pub fn with_links(mut self, links: LinkSigner) -> Self {
        self.links = Some(links);
        self
    }

    /// The detail of `p`, with picture links when pictures are kept.
    fn detail(&self, p: &crate::domain::model::Process) -> pb::AuthProcess {
        match &self.links {
            Some(links) => documents::process_with_documents(p, links, self.now()),
            None => convert::process(p, self.now()),
        }
    }

    fn links(&self) -> Result<&LinkSigner, Status> {
        self.links.as_ref().ok_or_else(|| Status::unavailable("document storage is not configured"))
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.service.now()
    }
}

#[tonic::async_trait]
impl AuthService for AuthServiceImpl {
    async fn get_process_detail(
        &self,
        req: Request<pb::GetProcessDetailRequest>,
    ) -> Result<Response<pb::GetProcessDetailResponse>, Status> {
        let (by, deadline) = (by(&req, "GetProcessDetail"), deadline_of(&req));
        let query = convert::process_query(req.into_inner()).map_err(to_status)?;
        record_member(&query.member_no);
        if query.refresh {
            // Boxed, as `process_for_read`'s refreshes: the common read's future stays small.
            Box::pin(self.service.refresh_process(&query.member_no, &by)).await.map_err(to_status)?;
        }
        // One read (the process with its evidence records, the certificates' statuses checked),
        // unless an expired seal or letter URL must be asked of e签宝 again first.
        let process = self.service.process_for_read(&query.member_no, &by, deadline).await.map_err(to_status)?;
        Ok(Response::new(pb::GetProcessDetailResponse { process: Some(self.detail(&process)) }))
    }

    async fn start_face_auth(
        &self,
        req: Request<pb::StartFaceAuthRequest>,
    ) -> Result<Response<pb::StartFaceAuthResponse>, Status> {
        let (by, deadline) = (by(&req, "StartFaceAuth"), deadline_of(&req));
        let cmd = convert::start_face_auth(req.into_inner(), self.now().date_naive()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let outcome = detached(async move { service.start_face_auth(cmd, &by, deadline).await }).await?;
        Ok(Response::new(convert::face_start(&outcome)))
    }

    async fn start_sms_auth(
        &self,
        req: Request<pb::StartSmsAuthRequest>,
    ) -> Result<Response<pb::StartSmsAuthResponse>, Status> {
        let (by, deadline) = (by(&req, "StartSmsAuth"), deadline_of(&req));
        let cmd = convert::start_sms_auth(req.into_inner(), self.now().date_naive()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let outcome = detached(async move { service.start_sms_auth(cmd, &by, deadline).await }).await?;
        Ok(Response::new(convert::sms_start(&outcome)))
    }

    async fn verify_sms_code(
        &self,
        req: Request<pb::VerifySmsCodeRequest>,
    ) -> Result<Response<pb::VerifySmsCodeResponse>, Status> {
        let by = by(&req, "VerifySmsCode");
        let cmd = convert::verify_sms_code(req.into_inner()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let process = detached(async move {
            let process = service.verify_sms_code(cmd, &by).await?;
            service.with_cert_status(process).await
        })
        .await?;
        Ok(Response::new(pb::VerifySmsCodeResponse { process: Some(self.detail(&process)) }))
    }

    async fn create_org_authorization(
        &self,
        req: Request<pb::CreateOrgAuthorizationRequest>,
    ) -> Result<Response<pb::CreateOrgAuthorizationResponse>, Status> {
        let (by, deadline) = (by(&req, "CreateOrgAuthorization"), deadline_of(&req));
        let cmd = convert::create_authorization(req.into_inner(), self.now()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let auth = detached(async move { service.create_authorization(cmd, &by, deadline).await }).await?;
        Ok(Response::new(pb::CreateOrgAuthorizationResponse {
            auth_id: auth.auth_id.as_str().to_owned(),
            authorization: Some(convert::authorization(&auth, self.now())),
        }))
    }

    async fn create_org_seal(
        &self,
        req: Request<pb::CreateOrgSealRequest>,
    ) -> Result<Response<pb::CreateOrgSealResponse>, Status> {
        let (by, deadline) = (by(&req, "CreateOrgSeal"), deadline_of(&req));
        let cmd = convert_seal::create_org_seal(req.into_inner()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let process = detached(async move { service.create_org_seal(cmd, &by, deadline).await }).await?;
        Ok(Response::new(pb::CreateOrgSealResponse { process: Some(convert::process(&process, self.now())) }))
    }

    async fn list_org_seals(
        &self,
        req: Request<pb::ListOrgSealsRequest>,
    ) -> Result<Response<pb::ListOrgSealsResponse>, Status> {
        let pb::ListOrgSealsRequest { etc_member_no, page_size, page_num } = req.into_inner();
        let (member, page) = convert_seals::member_page(&etc_member_no, page_size, page_num).map_err(to_status)?;
        record_member(&member);
        let listed = self.service.list_company_seals(&member, page).await.map_err(to_status)?;
        let (seals, total, total_pages) = convert_seals::page_of(&listed);
        Ok(Response::new(pb::ListOrgSealsResponse { seals, total, total_pages }))
    }

    async fn list_person_seals(
        &self,
        req: Request<pb::ListPersonSealsRequest>,
    ) -> Result<Response<pb::ListPersonSealsResponse>, Status> {
        let pb::ListPersonSealsRequest { etc_member_no, page_size, page_num } = req.into_inner();
        let (member, page) = convert_seals::member_page(&etc_member_no, page_size, page_num).map_err(to_status)?;
        record_member(&member);
        let listed = self.service.list_handler_seals(&member, page).await.map_err(to_status)?;
        let (seals, total, total_pages) = convert_seals::page_of(&listed);
        Ok(Response::new(pb::ListPersonSealsResponse { seals, total, total_pages }))
    }

    async fn create_org_template_seal(
        &self,
        req: Request<pb::CreateOrgTemplateSealRequest>,
    ) -> Result<Response<pb::CreateOrgTemplateSealResponse>, Status> {
        let deadline = deadline_of(&req);
        let (member, template) = convert_seals::template_seal(req.into_inner()).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        let made = detached(async move { service.create_template_seal(&member, &template, deadline).await }).await?;
        Ok(Response::new(pb::CreateOrgTemplateSealResponse { seal: Some(convert_seals::seal(&made)) }))
    }

    async fn create_org_image_seal(
        &self,
        req: Request<pb::CreateOrgImageSealRequest>,
    ) -> Result<Response<pb::CreateOrgImageSealResponse>, Status> {
        let deadline = deadline_of(&req);
        // Decoding the PNG is work for a blocking thread, not the runtime's.
        let inner = req.into_inner();
        let cmd = tokio::task::spawn_blocking(move || convert_seals::image_seal(inner))
            .await
            .map_err(|_| Status::internal("the call failed inside the service"))?
            .map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let made = detached(async move { service.create_image_seal(&cmd, deadline).await }).await?;
        Ok(Response::new(pb::CreateOrgImageSealResponse { seal: Some(convert_seals::seal(&made)) }))
    }

    async fn save_org_seal(
        &self,
        req: Request<pb::SaveOrgSealRequest>,
    ) -> Result<Response<pb::SaveOrgSealResponse>, Status> {
        let pb::SaveOrgSealRequest { etc_member_no, seal_id } = req.into_inner();
        let (member, seal_id) = convert_seals::member_seal(&etc_member_no, &seal_id).map_err(to_status)?;
        record_member(&member);
        let saved = self.service.save_company_seal(&member, &seal_id).await.map_err(to_status)?;
        Ok(Response::new(pb::SaveOrgSealResponse { seal: Some(convert_seals::seal(&saved)) }))
    }

    async fn set_default_org_seal(
        &self,
        req: Request<pb::SetDefaultOrgSealRequest>,
    ) -> Result<Response<pb::SetDefaultOrgSealResponse>, Status> {
        let deadline = deadline_of(&req);
        let pb::SetDefaultOrgSealRequest { etc_member_no, seal_id } = req.into_inner();
        let (member, seal_id) = convert_seals::member_seal(&etc_member_no, &seal_id).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        let seal = detached(async move { service.set_default_company_seal(&member, &seal_id, deadline).await }).await?;
        Ok(Response::new(pb::SetDefaultOrgSealResponse { seal: Some(convert_seals::seal(&seal)) }))
    }

    async fn delete_org_seal(
        &self,
        req: Request<pb::DeleteOrgSealRequest>,
    ) -> Result<Response<pb::DeleteOrgSealResponse>, Status> {
        let deadline = deadline_of(&req);
        let pb::DeleteOrgSealRequest { etc_member_no, seal_id } = req.into_inner();
        let (member, seal_id) = convert_seals::member_seal(&etc_member_no, &seal_id).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        detached(async move { service.delete_company_seal(&member, &seal_id, deadline).await }).await?;
        Ok(Response::new(pb::DeleteOrgSealResponse {}))
    }

    async fn list_seals_to_review(
        &self,
        req: Request<pb::ListSealsToReviewRequest>,
    ) -> Result<Response<pb::ListSealsToReviewResponse>, Status> {
        let by = by(&req, "ListSealsToReview");
        let page = convert_seals::review_page(req.into_inner()).map_err(to_status)?;
        let listed = self.service.seals_to_review(page, &by).await.map_err(to_status)?;
        let (seals, total, total_pages) = convert_seals::page_of(&listed);
        Ok(Response::new(pb::ListSealsToReviewResponse { seals, total, total_pages }))
    }

    async fn review_org_seal(
        &self,
        req: Request<pb::ReviewOrgSealRequest>,
    ) -> Result<Response<pb::ReviewOrgSealResponse>, Status> {
        let by = by(&req, "ReviewOrgSeal");
        let (seal_id, approve, reason) = convert_seals::review(req.into_inner()).map_err(to_status)?;
        let seal = self.service.review_seal(&seal_id, approve, reason, &by).await.map_err(to_status)?;
        Ok(Response::new(pb::ReviewOrgSealResponse { seal: Some(convert_seals::seal(&seal)) }))
    }

    async fn query_authorization(
        &self,
        req: Request<pb::QueryAuthorizationRequest>,
    ) -> Result<Response<pb::QueryAuthorizationResponse>, Status> {
        let by = by(&req, "QueryAuthorization");
        let id = convert::authorization_query(req.into_inner()).map_err(to_status)?;
        let auth = self.service.query_authorization(&id, &by).await.map_err(to_status)?;
        record_member(&auth.member_no);
        Ok(Response::new(pb::QueryAuthorizationResponse {
            authorization: Some(convert::authorization(&auth, self.now())),
        }))
    }

    async fn start_org_auth(
        &self,
        req: Request<pb::StartOrgAuthRequest>,
    ) -> Result<Response<pb::StartOrgAuthResponse>, Status> {
        let (by, deadline) = (by(&req, "StartOrgAuth"), deadline_of(&req));
        let cmd = convert_org::start_org_auth(req.into_inner(), self.now().date_naive()).map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let outcome = detached(async move { service.start_org_auth(cmd, &by, deadline).await }).await?;
        Ok(Response::new(convert_org::org_start(&outcome, self.now())))
    }

    async fn start_reverse_payment(
        &self,
        req: Request<pb::StartReversePaymentRequest>,
    ) -> Result<Response<pb::StartReversePaymentResponse>, Status> {
        let deadline = deadline_of(&req);
        let pb::StartReversePaymentRequest { etc_member_no } = req.into_inner();
        let member = convert_org::member_no(&etc_member_no).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        let (account, view) = detached(async move { service.start_reverse_payment(&member, deadline).await }).await?;
        Ok(Response::new(convert_org::payment_started(&account, &view)))
    }

    async fn get_reverse_payment(
        &self,
        req: Request<pb::GetReversePaymentRequest>,
    ) -> Result<Response<pb::GetReversePaymentResponse>, Status> {
        let by = by(&req, "GetReversePayment");
        let pb::GetReversePaymentRequest { etc_member_no, refresh } = req.into_inner();
        let member = convert_org::member_no(&etc_member_no).map_err(to_status)?;
        record_member(&member);
        let view = self.service.reverse_payment(&member, refresh, &by).await.map_err(to_status)?;
        Ok(Response::new(convert_org::payment(&view)))
    }

    async fn cancel_process(
        &self,
        req: Request<pb::CancelProcessRequest>,
    ) -> Result<Response<pb::CancelProcessResponse>, Status> {
        let by = by(&req, "CancelProcess");
        let member = history::cancel_query(req.into_inner()).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        let (process, applied) = detached(async move { service.cancel_process(&member, &by).await }).await?;
        Ok(Response::new(pb::CancelProcessResponse {
            process: Some(self.detail(&process)),
            cancelled: applied == crate::domain::Applied::Changed,
        }))
    }

    async fn get_process_history(
        &self,
        req: Request<pb::GetProcessHistoryRequest>,
    ) -> Result<Response<pb::GetProcessHistoryResponse>, Status> {
        let query = history::history_query(req.into_inner()).map_err(to_status)?;
        record_member(&query.member_no);
        let page = self.service.history(&query.member_no, query.after, query.page_size).await.map_err(to_status)?;
        Ok(Response::new(history::history_page(&page)))
    }
    async fn recognize_id_card(
        &self,
        req: Request<pb::RecognizeIdCardRequest>,
    ) -> Result<Response<pb::RecognizeIdCardResponse>, Status> {
        let by = by(&req, "RecognizeIdCard");
        let links = self.links()?.clone();
        let req = req.into_inner();
        // Decoding the pictures is CPU work: off the runtime's threads.
        let cmd = tokio::task::spawn_blocking(move || documents::recognize_id_card(req))
            .await
            .map_err(|_| Status::internal("the call failed inside the service"))?
            .map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let card = detached(async move { service.recognize_id_card(cmd, &by).await }).await?;
        Ok(Response::new(documents::card_answer(&card, &links, self.now())))
    }

    async fn recognize_business_license(
        &self,
        req: Request<pb::RecognizeBusinessLicenseRequest>,
    ) -> Result<Response<pb::RecognizeBusinessLicenseResponse>, Status> {
        let by = by(&req, "RecognizeBusinessLicense");
        let links = self.links()?.clone();
        let req = req.into_inner();
        let cmd = tokio::task::spawn_blocking(move || documents::recognize_licence(req))
            .await
            .map_err(|_| Status::internal("the call failed inside the service"))?
            .map_err(to_status)?;
        record_member(&cmd.member_no);
        let service = self.service.clone();
        let licence = detached(async move { service.recognize_licence(cmd, &by).await }).await?;
        Ok(Response::new(documents::licence_answer(&licence, &links, self.now())))
    }

    async fn confirm_evidence(
        &self,
        req: Request<pb::ConfirmEvidenceRequest>,
    ) -> Result<Response<pb::ConfirmEvidenceResponse>, Status> {
        let by = by(&req, "ConfirmEvidence");
        let (member, confirmer) = evidence::confirm_query(req.into_inner()).map_err(to_status)?;
        record_member(&member);
        let service = self.service.clone();
        let process = detached(async move { service.confirm_evidence(&member, &confirmer, &by).await }).await?;
        let (confirmer, at) = process.cert_confirmed.clone().unzip();
        Ok(Response::new(pb::ConfirmEvidenceResponse {
            process: Some(self.detail(&process)),
            confirmer: confirmer.unwrap_or_default(),
            confirm_time: at.map(convert::ts),
        }))
    }

    async fn get_evidence(
        &self,
        req: Request<pb::GetEvidenceRequest>,
    ) -> Result<Response<pb::GetEvidenceResponse>, Status> {
        let cert_no = evidence::evidence_query(req.into_inner()).map_err(to_status)?;
        let checked = self.service.evidence(&cert_no).await.map_err(to_status)?;
        record_member(&checked.record.member_no);
        let key = self.service.settings().evidence_keys.public_key(&checked.record.key_id);
        Ok(Response::new(evidence::evidence(&checked, key)))
    }
}
