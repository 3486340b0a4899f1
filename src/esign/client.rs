//! The one client through which every e签宝 call goes: signs each request (esign.md §2), reads each
//! answer into typed results (`answer`), and retries only the idempotent reads.
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use reqwest::Method;
use reqwest::header::{ACCEPT as ACCEPT_HEADER, CONTENT_TYPE as CONTENT_TYPE_HEADER, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;
use tracing::field::Empty;

use super::answer::{Answer, interpret, transport_error};
use super::sign::{
    ACCEPT, AUTH_MODE, CONTENT_TYPE, HEADER_APP_ID, HEADER_AUTH_MODE, HEADER_CONTENT_MD5, HEADER_REQUEST_SIGNATURE,
    HEADER_REQUEST_TIMESTAMP, content_md5, signature, string_to_sign,
};
use crate::domain::doc_ports::{IdCardOcrRequest, IdCardReading, LicenceOcrRequest, LicenceReading};
use crate::domain::model::{PaymentProcess, PaymentProgress, ReceivingAccount, SealTemplate, UpstreamSeal};
use crate::domain::ports::{
    AuthorizationInfo, CreateAuthorizationRequest, ESign, FaceAuthRequest, FaceAuthStarted, FlowOutline,
    FourFactorsRequest, OrgAccount, OrgAccountRequest, PersonAccountRequest, SmsAuthRequest, UpstreamError,
};
use crate::domain::values::{AccountId, AuthId, FlowId, SmsCode};

mod authorization;
mod ocr;
mod org;
mod person;
mod seal;
mod sms;
use crate::metrics::{Metrics, UpstreamOutcome};
pub use seal::{central_str, color_str, type_str};

/// Where e签宝 is and how to talk to it.
#[derive(Clone, Debug)]
pub struct EsignSettings {
    /// e.g. `https://smlopenapi.esign.cn` (sandbox); a path prefix is allowed and is signed.
    pub base_url: String,
    pub app_id: String,
    /// `SecretString`'s `Debug` prints `[REDACTED]`.
    pub app_secret: SecretString,
    pub connect_timeout: Duration,
    /// For the whole exchange, body included.
    pub total_timeout: Duration,
    /// Extra attempts for the idempotent reads (outline, authorization query).
    pub read_retries: u32,
    /// First backoff; doubles per attempt, jittered.
    pub retry_base_delay: Duration,
}

impl EsignSettings {
    /// The longest one call through the client can take when it makes `attempts` attempts: each
    /// attempt up to the connect timeout plus the total timeout (counted apart, so the bound holds
    /// whatever part of the exchange the total covers), and before each retry the longest backoff.
    pub fn call_bound(&self, attempts: u32) -> Duration {
        let retries = attempts.saturating_sub(1);
        let backoff: Duration = (0..retries).map(|i| longest_backoff(self.retry_base_delay, i)).sum();
        (self.connect_timeout + self.total_timeout) * attempts.max(1) + backoff
    }

    /// The longest a write can take: writes are never retried, so one attempt.
    pub fn write_bound(&self) -> Duration {
        self.call_bound(1)
    }

    /// The longest an idempotent read can take, with its `read_retries`.
    pub fn read_bound(&self) -> Duration {
        self.call_bound(self.read_retries.saturating_add(1))
    }
}

/// The longest delay `backoff` waits before retry `retry` (0-based): the nominal doubling delay,
/// capped (its jitter never goes past either).
fn longest_backoff(base: Duration, retry: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(retry)).min(MAX_BACKOFF)
}

/// The client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("ESIGN_BASE_URL must be an absolute http(s) URL without query or fragment")]
    BaseUrl,
    #[error("ESIGN_APP_ID must be visible ASCII and not empty")]
    AppId,
    #[error("could not build the HTTP client: {0}")]
    Http(String),
}

/// Backoff never grows beyond this, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// e签宝 over HTTP.
#[derive(Clone)]
pub struct EsignClient {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    secret: SecretString,
    read_retries: u32,
    retry_base_delay: Duration,
    metrics: Option<Arc<Metrics>>,
}

impl fmt::Debug for EsignClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsignClient")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("read_retries", &self.read_retries)
            .finish_non_exhaustive()
    }
}

impl EsignClient {
    pub fn new(settings: EsignSettings) -> Result<Self, ClientBuildError> {
        let base = url::Url::parse(settings.base_url.trim()).map_err(|_| ClientBuildError::BaseUrl)?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() || base.fragment().is_some() {
            return Err(ClientBuildError::BaseUrl);
        }
        if settings.app_id.is_empty() || HeaderValue::from_str(&settings.app_id).is_err() {
            return Err(ClientBuildError::AppId);
        }
        super::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("etc-esign/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base_url: base.as_str().trim_end_matches('/').to_owned(),
            app_id: settings.app_id,
            secret: settings.app_secret,
            read_retries: settings.read_retries,
            retry_base_delay: settings.retry_base_delay,
            metrics: None,
        })
    }

    /// Counts every exchange into `metrics` (by endpoint and outcome).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// One exchange and the reading of its answer, as a child span of whatever asked (an RPC, a
    /// callback, the reconciler), counted by its outcome: a well-formed envelope whose data does not
    /// fit is `malformed`, not `ok`.
    async fn exchange<T>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        decode: impl FnOnce(Answer) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let span = tracing::info_span!("esign", endpoint, outcome = Empty, latency_ms = Empty);
        async {
            let started = Instant::now();
            let result = self.send_once(endpoint, method, path, body).await.and_then(decode);
            let elapsed = started.elapsed();
            let outcome = match &result {
                Ok(_) => UpstreamOutcome::Ok,
                Err(UpstreamError::Refused { .. }) => UpstreamOutcome::Refused,
                Err(UpstreamError::Unavailable(_)) => UpstreamOutcome::Unavailable,
                Err(UpstreamError::Timeout) => UpstreamOutcome::Timeout,
                Err(UpstreamError::Malformed(_)) => UpstreamOutcome::Malformed,
            };
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            let span = tracing::Span::current();
            span.record("outcome", outcome.as_str());
            span.record("latency_ms", latency_ms);
            // A span shows in the logs only through its events: one line per exchange.
            match outcome {
                UpstreamOutcome::Ok => tracing::info!(outcome = outcome.as_str(), latency_ms, "e签宝 call finished"),
                _ => tracing::warn!(outcome = outcome.as_str(), latency_ms, "e签宝 call finished"),
            }
            if let Some(metrics) = &self.metrics {
                metrics.observe_upstream(endpoint, outcome, elapsed);
            }
            result
        }
        .instrument(span)
        .await
    }

    /// One signed exchange. `body` is the one serialization: these bytes are hashed and sent.
    async fn send_once(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, UpstreamError> {
        let url = url::Url::parse(&format!("{}{path}", self.base_url))
            .map_err(|_| UpstreamError::Malformed(format!("{endpoint}: the request URL is invalid")))?;
        // Sign the path exactly as it goes on the wire (a base URL's path prefix included).
        let signed_path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let body = body.unwrap_or_default();
        let md5 = content_md5(&body);
        let timestamp = Utc::now().timestamp_millis().to_string();
        let sts = string_to_sign(method.as_str(), ACCEPT, &md5, CONTENT_TYPE, &signed_path);
        let sig = signature(self.secret.expose_secret().as_bytes(), &sts);

        let mut request = self
            .http
            .request(method.clone(), url)
            .header(HEADER_APP_ID, self.app_id.as_str())
            .header(HEADER_AUTH_MODE, AUTH_MODE)
            .header(HEADER_REQUEST_TIMESTAMP, timestamp)
            .header(HEADER_REQUEST_SIGNATURE, sig)
            .header(ACCEPT_HEADER, ACCEPT)
            .header(CONTENT_TYPE_HEADER, CONTENT_TYPE)
            .header(HEADER_CONTENT_MD5, md5);
        if !body.is_empty() {
            request = request.body(body);
        }

        let started = Instant::now();
        let result = async {
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(transport_error)?;
            interpret(endpoint, status, &bytes)
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        // The path without its query: a query may name a member (getByThirdId), which logs mask.
        let signed_path = signed_path.split('?').next().unwrap_or_default();
        match &result {
            Ok(answer) => {
                tracing::debug!(endpoint, %method, path = %signed_path, code = answer.code, elapsed_ms, "e签宝 answered")
            }
            Err(error) => {
                tracing::warn!(endpoint, %method, path = %signed_path, %error, elapsed_ms, "e签宝 call failed")
            }
        }
        result
    }

    /// An idempotent read: retried with jittered exponential backoff on transport failures only,
    /// at most `read_retries` extra attempts. Each attempt is signed afresh (new timestamp).
    async fn read<T>(
        &self,
        endpoint: &'static str,
        path: &str,
        decode: impl Fn(Answer) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let mut attempt: u32 = 0;
        (|| self.exchange(endpoint, Method::GET, path, None, &decode))
            .retry(backoff(self.retry_base_delay, self.read_retries))
            .when(is_retryable)
            .notify(|error, delay| {
                attempt += 1;
                tracing::info!(endpoint, attempt, delay_ms = delay.as_millis() as u64, %error, "retrying e签宝 read");
            })
            .await
    }
}

fn is_retryable(error: &UpstreamError) -> bool {
    matches!(error, UpstreamError::Unavailable(_) | UpstreamError::Timeout | UpstreamError::Malformed(_))
}

/// "Equal jitter": half the exponential delay fixed, half random, so that replicas retrying the
/// same outage spread out while each still waits at least half the nominal delay. backon's jitter
/// adds up to the delay again, so its delays start at half the base and stop at half the cap.
fn backoff(base: Duration, retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(base / 2)
        .with_factor(2.0)
        .with_max_delay(MAX_BACKOFF / 2)
        .with_max_times(retries as usize)
        .with_jitter()
}

fn serialize<T: serde::Serialize>(endpoint: &str, body: &T) -> Result<Vec<u8>, UpstreamError> {
    serde_json::to_vec(body)
        .map_err(|_| UpstreamError::Malformed(format!("{endpoint}: the request could not be serialized")))
}

#[async_trait]
impl ESign for EsignClient {
    async fn create_person_account(&self, req: &PersonAccountRequest) -> Result<AccountId, UpstreamError> {
        self.person_account(req).await
    }

    async fn start_face_auth(&self, req: &FaceAuthRequest) -> Result<FaceAuthStarted, UpstreamError> {
        self.face_start(req).await
    }

    async fn start_sms_auth(&self, req: &SmsAuthRequest) -> Result<FlowId, UpstreamError> {
        self.sms_start(req).await
    }

    async fn verify_sms_code(&self, flow_id: &FlowId, code: &SmsCode) -> Result<(), UpstreamError> {
        self.sms_verify(flow_id, code).await
    }

    async fn flow_outline(&self, flow_id: &FlowId) -> Result<FlowOutline, UpstreamError> {
        self.outline(flow_id).await
    }

    async fn create_authorization(&self, req: &CreateAuthorizationRequest) -> Result<AuthId, UpstreamError> {
        self.authorization_create(req).await
    }

    async fn query_authorization(&self, auth_id: &AuthId) -> Result<AuthorizationInfo, UpstreamError> {
        self.authorization_query(auth_id).await
    }

    async fn create_org_account(&self, req: &OrgAccountRequest) -> Result<OrgAccount, UpstreamError> {
        self.org_account(req).await
    }

    async fn start_org_four_factors(&self, req: &FourFactorsRequest) -> Result<FlowId, UpstreamError> {
        self.four_factors(req).await
    }

    async fn start_reverse_payment(&self, flow_id: &FlowId) -> Result<ReceivingAccount, UpstreamError> {
        self.reverse_payment(flow_id).await
    }

    async fn reverse_payment_progress(
        &self,
        flow_id: &FlowId,
    ) -> Result<(PaymentProcess, PaymentProgress), UpstreamError> {
        self.payment_process(flow_id).await
    }

    async fn ocr_id_card(&self, req: &IdCardOcrRequest) -> Result<IdCardReading, UpstreamError> {
        self.id_card_ocr(req).await
    }

    async fn ocr_licence(&self, req: &LicenceOcrRequest) -> Result<LicenceReading, UpstreamError> {
        self.licence_ocr(req).await
    }

    async fn create_template_seal(
        &self,
        org_id: &AccountId,
        template: &SealTemplate,
    ) -> Result<UpstreamSeal, UpstreamError> {
        self.template_seal(org_id, template).await
    }

    async fn list_org_seals(&self, org_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        self.org_seals(org_id).await
    }

    async fn set_default_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError> {
        self.default_seal(org_id, seal_id).await
    }

    async fn create_image_seal(
        &self,
        org_id: &AccountId,
        seal: &crate::domain::ports::ImageSealRequest,
    ) -> Result<UpstreamSeal, UpstreamError> {
        self.image_seal(org_id, seal).await
    }

    async fn delete_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError> {
        self.remove_seal(org_id, seal_id).await
    }

    async fn list_person_seals(&self, account_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        self.person_seals(account_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use backon::BackoffBuilder;

    use super::super::codes;

    use super::*;
    use crate::domain::model::{AuthType, AuthorizationStatus};
    use crate::domain::ports::{OutlineStatus, Refusal};
    use crate::sim::testing::{
        SECRET, account_request, authorization_request, client, face_request, settings, start_sim,
    };
    use crate::sim::{Chaos, Endpoint, FaultKind, FaultTrigger, codes as sim_codes};

    const NOTIFY: &str = "http://127.0.0.1:9/esign/callback";

    #[tokio::test]
    async fn person_account_is_created_then_reused_on_53000000() {
        let sim = start_sim().await;
        let client = client(&sim);
        let first = client.create_person_account(&account_request("ETC000123456")).await.unwrap();
        let second = client.create_person_account(&account_request("ETC000123456")).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(sim.accounts().len(), 1);
        assert_eq!(sim.calls().account, 2);
    }

    #[tokio::test]
    async fn face_flow_round_trip_reads_each_status_through_the_outline() {
        let sim = start_sim().await;
        let client = client(&sim);
        let account = client.create_person_account(&account_request("ETC9")).await.unwrap();
        let started = client.start_face_auth(&face_request(&account, NOTIFY)).await.unwrap();
        assert!(started.auth_url.ends_with(&format!("/sim/face/{}", started.flow_id)));
        assert!(started.original_url.starts_with(&started.auth_url));
        let flow = sim.flow(started.flow_id.as_str()).unwrap();
        assert_eq!((flow.context_id.as_str(), flow.notify_url.as_deref()), ("ETC000123456", Some(NOTIFY)));

        let outline = client.flow_outline(&started.flow_id).await.unwrap();
        assert_eq!((outline.status, outline.context_id.as_deref()), (OutlineStatus::Init, Some("ETC000123456")));
        sim.open_face_page(started.flow_id.as_str()).unwrap();
        assert_eq!(client.flow_outline(&started.flow_id).await.unwrap().status, OutlineStatus::Ing);
        sim.pass_face(started.flow_id.as_str()).unwrap();
        let outline = client.flow_outline(&started.flow_id).await.unwrap();
        assert_eq!((outline.status, outline.fail_reason), (OutlineStatus::Success, None));
        assert!(outline.modify_time.is_some());

        let other = client.start_face_auth(&face_request(&account, NOTIFY)).await.unwrap();
        sim.fail_face(other.flow_id.as_str(), Some("blurred")).unwrap();
        let outline = client.flow_outline(&other.flow_id).await.unwrap();
        assert_eq!((outline.status, outline.fail_reason.as_deref()), (OutlineStatus::Fail, Some("blurred")));
        assert_eq!(sim.flows_for_account(account.as_str()).len(), 2);
    }

    #[tokio::test]
    async fn unknown_flow_and_account_are_refused_with_their_codes() {
        let sim = start_sim().await;
        let client = client(&sim);
        let err = client.flow_outline(&FlowId::parse("flowId", "404").unwrap()).await.unwrap_err();
        assert!(
            matches!(err, UpstreamError::Refused { code: codes::FLOW_NOT_FOUND, reason: Refusal::FlowNotFound, .. }),
            "{err:?}"
        );
        let ghost = AccountId::parse("accountId", "ghost").unwrap();
        let err = client.start_face_auth(&face_request(&ghost, NOTIFY)).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: sim_codes::ACCOUNT_NOT_FOUND, .. }), "{err:?}");
        let err = client.query_authorization(&AuthId::parse("authId", "404").unwrap()).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: sim_codes::AUTH_NOT_FOUND, .. }), "{err:?}");
    }

    #[tokio::test]
    async fn authorization_round_trip_reports_signed_refused_and_cancelled() {
        let sim = start_sim().await;
        let client = client(&sim);
        let auth_id = client.create_authorization(&authorization_request(NOTIFY)).await.unwrap();
        let info = client.query_authorization(&auth_id).await.unwrap();
        assert_eq!(
            (info.status, info.auth_type, info.auth_download_url),
            (AuthorizationStatus::InProgress, Some(AuthType::Platform), None)
        );
        let stored = sim.authorization(auth_id.as_str()).unwrap();
        assert_eq!((stored.contact.as_str(), stored.seal_scope.as_deref()), ("153****1111", Some("合同专用章")));

        sim.sign_authorization(auth_id.as_str()).unwrap();
        let info = client.query_authorization(&auth_id).await.unwrap();
        assert_eq!(info.status, AuthorizationStatus::Succeeded);
        assert!(info.auth_download_url.unwrap().starts_with(sim.base_url()));
        assert!(info.begin_date.is_some() && info.end_date > info.begin_date);
        sim.cancel_authorization(auth_id.as_str()).unwrap();
        assert_eq!(client.query_authorization(&auth_id).await.unwrap().status, AuthorizationStatus::Cancelled);

        let refused = client.create_authorization(&authorization_request(NOTIFY)).await.unwrap();
        sim.refuse_authorization(refused.as_str(), Some("not now")).unwrap();
        let info = client.query_authorization(&refused).await.unwrap();
        assert_eq!((info.status, info.auth_des.as_deref()), (AuthorizationStatus::Failed, Some("not now")));
    }

    #[tokio::test]
    async fn handler_authorization_needs_a_person_id() {
        let sim = start_sim().await;
        let client = client(&sim);
        let mut req = authorization_request(NOTIFY);
        req.auth_type = AuthType::Handler;
        let err = client.create_authorization(&req).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: sim_codes::BAD_PARAM, .. }), "{err:?}");
        req.person_id = Some(AccountId::parse("personId", "37655E43BDB1111829A9C20C4559B689E").unwrap());
        let auth_id = client.create_authorization(&req).await.unwrap();
        let info = client.query_authorization(&auth_id).await.unwrap();
        assert_eq!(info.person_id.as_deref(), Some("37655E43BDB1111829A9C20C4559B689E"));
    }

    #[tokio::test]
    async fn a_client_with_the_wrong_secret_is_refused_by_the_gateway() {
        let sim = start_sim().await;
        let mut s = settings(sim.base_url());
        s.app_secret = SecretString::from("wrong-secret");
        let client = EsignClient::new(s).unwrap();
        let err = client.create_person_account(&account_request("ETC3")).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: 401, .. }), "{err:?}");
        assert_eq!(sim.calls().rejected, 1);
    }

    #[tokio::test]
    async fn each_injected_fault_surfaces_as_its_upstream_error() {
        let sim = start_sim().await;
        let mut s = settings(sim.base_url());
        s.total_timeout = Duration::from_millis(150);
        let client = EsignClient::new(s).unwrap();
        let account = client.create_person_account(&account_request("ETC4")).await.unwrap();
        let flow = client.start_face_auth(&face_request(&account, NOTIFY)).await.unwrap().flow_id;

        let cases = [
            (FaultKind::Status(503), "unavailable"),
            (FaultKind::Status(500), "unavailable"),
            (FaultKind::Delay(Duration::from_millis(600)), "timeout"),
            (FaultKind::Malformed, "malformed"),
            (FaultKind::Business { code: 1435002, message: "参数错误".into() }, "refused"),
        ];
        for (fault, expected) in cases {
            sim.inject_fault(Endpoint::Outline, fault.clone(), FaultTrigger::Times(1));
            let err = client.flow_outline(&flow).await.unwrap_err();
            let kind = match err {
                UpstreamError::Unavailable(_) => "unavailable",
                UpstreamError::Timeout => "timeout",
                UpstreamError::Malformed(_) => "malformed",
                UpstreamError::Refused { code: 1435002, .. } => "refused",
                UpstreamError::Refused { .. } => "other refusal",
            };
            assert_eq!(kind, expected, "{fault:?}");
        }
        // Every endpoint honours its own faults.
        sim.inject_fault(Endpoint::Account, FaultKind::Status(502), FaultTrigger::Times(1));
        assert!(matches!(
            client.create_person_account(&account_request("ETC4")).await,
            Err(UpstreamError::Unavailable(_))
        ));
        sim.inject_fault(Endpoint::Face, FaultKind::Malformed, FaultTrigger::Times(1));
        assert!(matches!(
            client.start_face_auth(&face_request(&account, NOTIFY)).await,
            Err(UpstreamError::Malformed(_))
        ));
        sim.inject_fault(Endpoint::AuthCreate, FaultKind::Delay(Duration::from_millis(600)), FaultTrigger::Times(1));
        assert_eq!(client.create_authorization(&authorization_request(NOTIFY)).await, Err(UpstreamError::Timeout));
        let auth = client.create_authorization(&authorization_request(NOTIFY)).await.unwrap();
        sim.inject_fault(
            Endpoint::AuthQuery,
            FaultKind::Business { code: 7, message: "x".into() },
            FaultTrigger::Times(1),
        );
        assert!(matches!(client.query_authorization(&auth).await, Err(UpstreamError::Refused { code: 7, .. })));
    }

    #[tokio::test]
    async fn reads_retry_until_the_budget_and_no_further() {
        let sim = start_sim().await;
        let mut s = settings(sim.base_url());
        s.read_retries = 2;
        let client = EsignClient::new(s).unwrap();
        let auth = client.create_authorization(&authorization_request(NOTIFY)).await.unwrap();

        sim.inject_fault(Endpoint::AuthQuery, FaultKind::Status(503), FaultTrigger::Times(10));
        assert!(matches!(client.query_authorization(&auth).await, Err(UpstreamError::Unavailable(_))));
        assert_eq!(sim.calls().auth_query, 3);

        sim.clear_faults();
        sim.reset_calls();
        sim.inject_fault(Endpoint::AuthQuery, FaultKind::Malformed, FaultTrigger::Times(2));
        assert!(client.query_authorization(&auth).await.is_ok());
        assert_eq!(sim.calls().auth_query, 3);

        // A refusal is e签宝's considered answer: not retried.
        sim.reset_calls();
        sim.inject_fault(
            Endpoint::AuthQuery,
            FaultKind::Business { code: 9, message: "no".into() },
            FaultTrigger::Times(5),
        );
        assert!(client.query_authorization(&auth).await.is_err());
        assert_eq!(sim.calls().auth_query, 1);
    }

    #[tokio::test]
    async fn reads_heal_under_seeded_chaos_with_enough_retries() {
        let sim = start_sim().await;
        let mut s = settings(sim.base_url());
        s.read_retries = 10;
        s.total_timeout = Duration::from_millis(200);
        let client = EsignClient::new(s).unwrap();
        let account = client.create_person_account(&account_request("ETC6")).await.unwrap();
        let flow = client.start_face_auth(&face_request(&account, NOTIFY)).await.unwrap().flow_id;
        sim.set_chaos(Some(Chaos { probability: 0.5, seed: 11, max_delay: Duration::from_millis(20) }));
        for _ in 0..10 {
            assert_eq!(client.flow_outline(&flow).await.unwrap().flow_id, flow);
        }
        assert!(sim.calls().outline > 10, "chaos injected no fault");
    }

    #[tokio::test]
    async fn writes_are_never_retried() {
        let sim = start_sim().await;
        let mut s = settings(sim.base_url());
        s.read_retries = 3;
        let client = EsignClient::new(s).unwrap();
        sim.inject_fault(Endpoint::Account, FaultKind::Status(503), FaultTrigger::Times(10));
        assert!(matches!(
            client.create_person_account(&account_request("ETC5")).await,
            Err(UpstreamError::Unavailable(_))
        ));
        assert_eq!(sim.calls().account, 1);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = EsignClient::new(settings(&format!("http://{addr}"))).unwrap();
        let err = client.flow_outline(&FlowId::parse("flowId", "1").unwrap()).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Unavailable(_)), "{err:?}");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        let delays: Vec<Duration> = backoff(base, 60).build().collect();
        assert_eq!(delays.len(), 60, "one delay per retry");
        for (attempt, d) in delays.iter().take(5).enumerate() {
            let nominal = base * 2u32.pow(attempt as u32);
            assert!(*d >= nominal / 2 && *d <= nominal, "{attempt}: {d:?}");
        }
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF), "{delays:?}");
        assert!(backoff(Duration::ZERO, 3).build().all(|d| d == Duration::ZERO));
    }

    #[test]
    fn the_longest_call_adds_every_attempt_and_the_backoff_between_them() {
        let mut s = settings("http://127.0.0.1:1");
        s.connect_timeout = Duration::from_secs(3);
        s.total_timeout = Duration::from_secs(10);
        s.read_retries = 2;
        s.retry_base_delay = Duration::from_millis(100);
        assert_eq!(s.write_bound(), Duration::from_secs(13));
        // Three attempts, and the longest backoff before the second (100 ms) and the third (200 ms).
        assert_eq!(s.read_bound(), Duration::from_millis(39_300));
        // Every delay `backoff` draws stays within what the bound counts.
        let delays: Vec<Duration> = backoff(Duration::from_millis(100), 60).build().collect();
        for (retry, d) in delays.iter().enumerate() {
            assert!(*d <= longest_backoff(Duration::from_millis(100), retry as u32), "{retry}: {d:?}");
        }
    }

    #[test]
    fn settings_and_client_debug_never_print_the_secret() {
        let s = settings("http://127.0.0.1:1");
        assert!(!format!("{s:?}").contains(SECRET));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = EsignClient::new(s).unwrap();
        assert!(!format!("{c:?}").contains(SECRET));
        assert!(matches!(EsignClient::new(settings("ftp://x")), Err(ClientBuildError::BaseUrl)));
    }

    #[tokio::test]
    async fn a_trailing_slash_on_the_base_url_is_not_signed_twice() {
        let sim = start_sim().await;
        let client = EsignClient::new(settings(&format!("{}/", sim.base_url()))).unwrap();
        let err = client.flow_outline(&FlowId::parse("flowId", "1").unwrap()).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: codes::FLOW_NOT_FOUND, .. }), "{err:?}");
        assert_eq!(sim.calls().rejected, 0);
    }
}
