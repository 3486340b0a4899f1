//! Callbacks from the simulator to the service (esign.md §5): bodies with e签宝's field names,
//! signed at send time with the same secret, delivered in order by one sender task, with the
//! callback faults (drop, duplicate, reorder) applied when a callback is queued.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::sync::mpsc;

use super::Shared;
use super::faults::CallbackFault;
use super::state::{CallbackRecord, DeliveryState, SimAuthorization, SimFlow, SimState};
use crate::esign::api::FlowStatus;
use crate::esign::callback::{
    ACTION_AUTHORIZATION_RESULT, ACTION_FACE_PAGE_OPENED, ACTION_FACE_RESULT, ACTION_PSN_END, ALGORITHM,
    HEADER_NOTIFY_ALGORITHM, HEADER_NOTIFY_SIGNATURE, HEADER_NOTIFY_TIMESTAMP, callback_signature,
};
use crate::esign::sign::{CONTENT_TYPE, HEADER_APP_ID};

/// One delivery: the exact bytes to post and the record it updates.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub seq: u64,
    pub url: String,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FaceResultBody<'a> {
    action: &'a str,
    flow_id: &'a str,
    account_id: &'a str,
    success: bool,
    fail_reason: Option<&'a str>,
    context_id: &'a str,
    timestamp: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageOpenedBody<'a> {
    action: &'a str,
    flow_id: &'a str,
    account_id: &'a str,
    context_id: &'a str,
    timestamp: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationResultBody<'a> {
    action: &'a str,
    auth_id: &'a str,
    status: i64,
    auth_des: Option<&'a str>,
    timestamp: i64,
}

impl Shared {
    pub(crate) fn notify_face_page_opened(&self, flow: &SimFlow) {
        let body = PageOpenedBody {
            action: ACTION_FACE_PAGE_OPENED,
            flow_id: &flow.flow_id,
            account_id: &flow.account_id,
            context_id: &flow.context_id,
            timestamp: Self::now_ms(),
        };
        self.notify(flow.notify_url.as_deref(), ACTION_FACE_PAGE_OPENED, &flow.flow_id, &body);
    }

    pub(crate) fn notify_face_result(&self, flow: &SimFlow) {
        self.notify_person_result(flow, ACTION_FACE_RESULT);
    }

    /// The end of a person's identity flow in e签宝's own form (esign.md §11): `identity_psn_end`.
    pub(crate) fn notify_person_end(&self, flow: &SimFlow) {
        self.notify_person_result(flow, ACTION_PSN_END);
    }

    /// A person's flow ended; both forms carry the same fields, under their own `action`.
    fn notify_person_result(&self, flow: &SimFlow, action: &'static str) {
        let body = FaceResultBody {
            action,
            flow_id: &flow.flow_id,
            account_id: &flow.account_id,
            success: flow.status == FlowStatus::Success,
            fail_reason: flow.fail_reason.as_deref(),
            context_id: &flow.context_id,
            timestamp: flow.modify_time,
        };
        self.notify(flow.notify_url.as_deref(), action, &flow.flow_id, &body);
    }

    pub(crate) fn notify_authorization_result(&self, auth: &SimAuthorization) {
        let body = AuthorizationResultBody {
            action: ACTION_AUTHORIZATION_RESULT,
            auth_id: &auth.auth_id,
            status: auth.status,
            auth_des: auth.auth_des.as_deref(),
            timestamp: auth.modify_time,
        };
        self.notify(auth.notify_url.as_deref(), ACTION_AUTHORIZATION_RESULT, &auth.auth_id, &body);
    }

    /// Queues a callback (the body is serialized once, here), applying the next callback fault.
    pub(crate) fn notify<B: Serialize>(&self, url: Option<&str>, action: &str, subject: &str, body: &B) {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(body) else {
            tracing::error!(action, subject, "simulator: a callback body could not be serialized");
            return;
        };
        // Queueing under the lock keeps the sender's order equal to the order of state changes.
        let mut st = self.lock();
        let fault = st.faults.next_callback_fault();
        let delivery = |st: &mut SimState, fault: Option<CallbackFault>, state: DeliveryState| {
            st.next_seq += 1;
            let seq = st.next_seq;
            st.callbacks.push(CallbackRecord {
                seq,
                action: action.to_owned(),
                subject: subject.to_owned(),
                url: url.to_owned(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
                fault,
                state,
                attempts: 0,
                last_status: None,
                last_error: None,
            });
            Delivery { seq, url: url.to_owned(), body: bytes.clone() }
        };
        match fault {
            Some(CallbackFault::Drop) => {
                delivery(&mut st, fault, DeliveryState::Dropped);
                tracing::info!(action, subject, "simulator: callback dropped (fault)");
            }
            Some(CallbackFault::Reorder) => {
                let d = delivery(&mut st, fault, DeliveryState::Held);
                st.held.push(d);
                tracing::info!(action, subject, "simulator: callback held back (fault)");
            }
            Some(CallbackFault::Duplicate) => {
                let first = delivery(&mut st, None, DeliveryState::Queued);
                let second = delivery(&mut st, fault, DeliveryState::Queued);
                self.enqueue(first);
                self.enqueue(second);
                self.release_held(&mut st);
            }
            None => {
                let d = delivery(&mut st, None, DeliveryState::Queued);
                self.enqueue(d);
                self.release_held(&mut st);
            }
        }
    }

    /// Queues every held callback, oldest first.
    pub(crate) fn release_held(&self, st: &mut SimState) {
        for d in std::mem::take(&mut st.held) {
            if let Some(rec) = st.callback_mut(d.seq) {
                rec.state = DeliveryState::Queued;
            }
            self.enqueue(d);
        }
    }

    fn enqueue(&self, d: Delivery) {
        // Fails only once the sender has stopped, i.e. during shutdown.
        let _ = self.outbox.send(d);
    }

    /// One attempt. True when the receiver answered 2xx.
    async fn deliver_once(&self, d: &Delivery) -> bool {
        let timestamp = Self::now_ms().to_string();
        // The signature covers the notify URL's query values (esign.md §5).
        let query = url::Url::parse(&d.url).ok().and_then(|u| u.query().map(str::to_owned));
        let signature =
            callback_signature(self.secret.expose_secret().as_bytes(), &timestamp, query.as_deref(), &d.body);
        let result = self
            .http
            .post(&d.url)
            .header(HEADER_APP_ID, self.app_id.as_str())
            .header(HEADER_NOTIFY_TIMESTAMP, timestamp)
            .header(HEADER_NOTIFY_SIGNATURE, signature)
            .header(HEADER_NOTIFY_ALGORITHM, ALGORITHM)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(d.body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(resp) => (Some(resp.status().as_u16()), None),
            Err(e) if e.is_timeout() => (None, Some("no answer within 5 seconds".to_owned())),
            Err(e) if e.is_connect() => (None, Some("could not connect".to_owned())),
            Err(_) => (None, Some("the exchange failed".to_owned())),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let mut st = self.lock();
        if let Some(rec) = st.callback_mut(d.seq) {
            rec.attempts += 1;
            rec.last_status = status;
            rec.last_error = error;
            rec.state = if delivered { DeliveryState::Delivered } else { DeliveryState::Retrying };
        }
        delivered
    }

    fn mark_failed(&self, seq: u64) {
        if let Some(rec) = self.lock().callback_mut(seq) {
            rec.state = DeliveryState::Failed;
        }
    }
}

/// The sender: first attempts strictly in queue order; a failed delivery is retried in its own
/// task with doubling gaps, so one dead receiver does not hold back the rest.
pub(crate) async fn run_sender(shared: Arc<Shared>, mut inbox: mpsc::UnboundedReceiver<Delivery>) {
    loop {
        let delivery = tokio::select! {
            () = shared.cancel.cancelled() => break,
            next = inbox.recv() => match next {
                Some(d) => d,
                None => break,
            },
        };
        if shared.deliver_once(&delivery).await {
            continue;
        }
        let retries = shared.callback_retries.load(Ordering::Relaxed);
        if retries == 0 {
            shared.mark_failed(delivery.seq);
            continue;
        }
        let first_gap = *shared.callback_retry_delay.lock().unwrap_or_else(|p| p.into_inner());
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut gap = first_gap;
            for _ in 0..retries {
                tokio::select! {
                    () = shared.cancel.cancelled() => return,
                    () = tokio::time::sleep(gap) => {}
                }
                if shared.deliver_once(&delivery).await {
                    return;
                }
                gap = gap.saturating_mul(2).min(Duration::from_secs(30));
            }
            shared.mark_failed(delivery.seq);
        });
    }
}
