//! Node HANDLER_AUTH by SMS (esign.md §10): the handler proves who they are by e签宝's telecom
//! 3-factor check (name, identity number, mobile) and the 6-digit code it sends, instead of a face.
//! The start is the face flow's (`face_auth`), so is the end: the code's answer is applied as the
//! flow's result, and the callback or the outline that follows finds it applied.
use super::Service;
use super::error::DomainError;
use super::face_auth::{FaceAuthOutcome, FlowStart};
use super::model::{FaceFlowStatus, Handler, HandlerMethod, IdentityResult, Process, ProcessStatus, Source};
use super::ports::{Refusal, UpstreamError};
use super::values::{MemberNo, SmsCode};
use tokio::time::Instant;

/// What StartSmsAuth asks for, already parsed.
#[derive(Debug, Clone)]
pub struct StartSmsAuth {
    pub member_no: MemberNo,
    pub handler: Handler,
}

/// What VerifySmsCode asks for, already parsed.
#[derive(Debug, Clone)]
pub struct VerifySmsCode {
    pub member_no: MemberNo,
    pub code: SmsCode,
}

impl Service {
    /// Sends the handler an SMS code (a new telecom 3-factor flow), or answers the flow whose code
    /// still lives, or the passed handler: the same idempotency (and deadline) as StartFaceAuth.
    pub async fn start_sms_auth(
        &self,
        cmd: StartSmsAuth,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<FaceAuthOutcome, DomainError> {
        self.start_handler_flow(&cmd.member_no, &cmd.handler, FlowStart::Sms, by, deadline).await
    }

    /// Fills the code back. Right: the handler passes (HANDLER_AUTHED). Wrong: e签宝's refusal
    /// (30503002) and nothing changes. The third wrong code: e签宝 fails the flow (30503004), and so
    /// does the process (HANDLER_AUTH_FAILED) before the refusal is answered.
    pub async fn verify_sms_code(&self, cmd: VerifySmsCode, by: &Source) -> Result<Process, DomainError> {
        let process = self.process(&cmd.member_no).await?;
        let flow = match self.store.latest_face_flow(&cmd.member_no).await? {
            Some(flow)
                if process.status() == ProcessStatus::HandlerAuthing
                    && flow.method == HandlerMethod::Sms
                    && flow.status == FaceFlowStatus::Running =>
            {
                flow
            }
            _ => {
                return Err(DomainError::FailedPrecondition {
                    status: process.status(),
                    message: format!(
                        "no SMS code is awaited while the process is {}; StartSmsAuth first",
                        process.status().as_str()
                    ),
                });
            }
        };
        let ended = |success, fail_reason| IdentityResult { flow_id: flow.flow_id.clone(), success, fail_reason };
        match self.esign.verify_sms_code(&flow.flow_id, &cmd.code).await {
            Ok(()) => {
                self.apply_face_result(&ended(true, None), None, by).await?;
            }
            Err(e @ UpstreamError::Refused { reason: Refusal::TooManyWrongCodes, .. }) => {
                self.apply_face_result(&ended(false, Some("too many wrong SMS codes".to_owned())), None, by).await?;
                return Err(e.into());
            }
            Err(e @ UpstreamError::Refused { reason: Refusal::FlowEnded, .. }) => {
                // Ended some other way (expired, or failed): the outline says how; apply it.
                self.reconcile_face_flow(&flow, by).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.process(&cmd.member_no).await
    }
}
