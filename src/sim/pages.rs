//! The pages a person sees: the simulator's index, the face-check page (Pass / Fail), the reverse
//! payment (pay from the company's account / from another), the authorization letter (Sign /
//! Refuse) and the signed letter's file.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Shared, SimError};
use crate::esign::codes::{AUTH_CANCELLED, AUTH_FAILED, AUTH_IN_PROGRESS, AUTH_SUCCEEDED, AUTH_TYPE_HANDLER};

type Sim = State<Arc<Shared>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim", get(index))
        .route("/sim/face/{flowId}", get(face_page))
        .route("/sim/face/{flowId}/pass", post(face_pass))
        .route("/sim/face/{flowId}/fail", post(face_fail))
        .route("/sim/auth/{authId}", get(auth_page))
        .route("/sim/auth/{authId}/sign", post(auth_sign))
        .route("/sim/auth/{authId}/refuse", post(auth_refuse))
        .route("/sim/files/{file}", get(file))
        .route("/sim/pay/{flowId}", get(pay_page))
        .route("/sim/pay/{flowId}/company", post(pay_company))
        .route("/sim/pay/{flowId}/other", post(pay_other))
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:42em;margin:2em auto}}button{{font-size:1.2em;margin:.3em}}\
         td,th{{padding:.2em .6em;text-align:left}}</style></head><body><h1>{t}</h1>{body}\
         <p><a href=\"/sim\">e签宝 simulator</a></p></body></html>",
        t = escape(title)
    ))
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, page("Not found", &format!("<p>No such {}.</p>", escape(what)))).into_response()
}

fn error_page(error: SimError) -> Response {
    match error {
        SimError::NotFound { what, .. } => not_found(what),
        other => (StatusCode::CONFLICT, page("Already finished", &format!("<p>{}</p>", escape(&other.to_string()))))
            .into_response(),
    }
}

/// After the person acts, e签宝 sends the browser on to the caller's URL; a meta refresh does that
/// for a browser without making an HTTP client (a test) follow it off-host.
fn done_page(title: &str, message: &str, next: Option<&str>) -> Response {
    let next_html = next.map_or_else(String::new, |url| {
        let url = escape(url);
        format!("<meta http-equiv=\"refresh\" content=\"1;url={url}\"><p><a href=\"{url}\">Continue</a></p>")
    });
    page(title, &format!("<p>{}</p>{next_html}", escape(message))).into_response()
}

async fn index(State(sim): Sim) -> Html<String> {
    let st = sim.lock();
    // Newest first: ids are random, so order by creation time.
    let mut recent_flows: Vec<_> = st.flows.values().collect();
    recent_flows.sort_by_key(|f| std::cmp::Reverse(f.create_time));
    let flows: String = recent_flows
        .into_iter()
        .take(50)
        .map(|f| {
            format!(
                "<tr><td><a href=\"/sim/face/{id}\">{id}</a></td><td>{ctx}</td><td>{s}</td></tr>",
                id = escape(&f.flow_id),
                ctx = escape(&f.context_id),
                s = f.status.as_str()
            )
        })
        .collect();
    let mut recent_auths: Vec<_> = st.authorizations.values().collect();
    recent_auths.sort_by_key(|a| std::cmp::Reverse(a.create_time));
    let auths: String = recent_auths
        .into_iter()
        .take(50)
        .map(|a| {
            format!(
                "<tr><td><a href=\"/sim/auth/{id}\">{id}</a></td><td>{org}</td><td>{s}</td></tr>",
                id = escape(&a.auth_id),
                org = escape(&a.organize_id),
                s = a.status
            )
        })
        .collect();
    let mut recent_orgs: Vec<_> = st.org_flows.values().collect();
    recent_orgs.sort_by_key(|f| std::cmp::Reverse(f.create_time));
    let org_flows: String = recent_orgs
        .into_iter()
        .take(50)
        .map(|f| {
            format!(
                "<tr><td><a href=\"/sim/pay/{id}\">{id}</a></td><td>{ctx}</td><td>{s}</td><td>{p}</td></tr>",
                id = escape(&f.flow_id),
                ctx = escape(&f.context_id),
                s = f.status.as_str(),
                p = escape(f.payment.as_ref().map_or("-", |p| p.process.as_str()))
            )
        })
        .collect();
    let c = st.calls;
    page(
        "e签宝 simulator",
        &format!(
            "<p>Accounts: {}. Calls: account {}, face {}, outline {}, auth_create {}, auth_query {}, sms_start {}, \
             sms_verify {}; refused {}. Callbacks sent: {}. Control API: <code>/sim/control/state</code>. \
             <a href=\"/sim/sms\">SMS sent</a>.</p>\
             <h2>Face flows</h2><table><tr><th>flowId</th><th>contextId</th><th>status</th></tr>{flows}</table>\
             <h2>Company flows</h2><table><tr><th>flowId</th><th>contextId</th><th>status</th><th>payment</th></tr>{org_flows}</table>\
             <h2>Authorizations</h2><table><tr><th>authId</th><th>organizeId</th><th>status</th></tr>{auths}</table>",
            st.accounts.len(),
            c.account,
            c.face,
            c.outline,
            c.auth_create,
            c.auth_query,
            c.sms_start,
            c.sms_verify,
            c.rejected,
            st.callbacks.len()
        ),
    )
}

async fn face_page(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    let flow = match sim.open_face_page(&flow_id) {
        Ok(flow) => flow,
        Err(e) => return error_page(e),
    };
    let id = escape(&flow.flow_id);
    let body = if flow.status.is_final() {
        format!("<p>Flow {id} is finished: {}.</p>", flow.status.as_str())
    } else {
        format!(
            "<p>Face check for flow <b>{id}</b> (context {ctx}, mode {mode}).</p>\
             <form method=\"post\" action=\"/sim/face/{id}/pass\"><button type=\"submit\">Pass</button></form>\
             <form method=\"post\" action=\"/sim/face/{id}/fail\">\
             <input name=\"failReason\" value=\"人脸比对不通过\"><button type=\"submit\">Fail</button></form>",
            ctx = escape(&flow.context_id),
            mode = escape(&flow.faceauth_mode)
        )
    };
    page("刷脸认证 (face check)", &body).into_response()
}

/// A form body's field, if present and not empty.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).filter(|v| !v.is_empty())
}

async fn face_pass(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    match sim.finish_face(&flow_id, true, None) {
        Ok(flow) => done_page("认证成功 (passed)", "The face check passed.", flow.callback_url.as_deref()),
        Err(e) => error_page(e),
    }
}

async fn face_fail(State(sim): Sim, Path(flow_id): Path<String>, body: Bytes) -> Response {
    match sim.finish_face(&flow_id, false, form_field(&body, "failReason")) {
        Ok(flow) => done_page("认证失败 (failed)", "The face check failed.", flow.callback_url.as_deref()),
        Err(e) => error_page(e),
    }
}

fn status_name(status: i64) -> &'static str {
    match status {
        AUTH_IN_PROGRESS => "in progress",
        AUTH_SUCCEEDED => "signed",
        AUTH_FAILED => "refused",
        AUTH_CANCELLED => "cancelled",
        _ => "unknown",
    }
}

async fn auth_page(State(sim): Sim, Path(auth_id): Path<String>) -> Response {
    let Some(auth) = sim.lock().authorizations.get(&auth_id).cloned() else {
        return not_found("authorization");
    };
    let id = escape(&auth.auth_id);
    let letter = format!(
        "<p>Authorization letter <b>{id}</b>: company {org} authorizes {to} to seal silently \
         (seals: {scope}; files: {files}) until {until}.</p>",
        org = escape(&auth.organize_id),
        to = if auth.auth_type == AUTH_TYPE_HANDLER { "the handler" } else { "the platform" },
        scope = escape(auth.seal_scope.as_deref().unwrap_or("all")),
        files = escape(auth.file_type.as_deref().unwrap_or("all")),
        until = chrono::DateTime::from_timestamp_millis(auth.valid_date).map_or_else(String::new, |d| d.to_rfc3339()),
    );
    let actions = if auth.status == AUTH_IN_PROGRESS {
        format!(
            "<form method=\"post\" action=\"/sim/auth/{id}/sign\"><button type=\"submit\">Sign</button></form>\
             <form method=\"post\" action=\"/sim/auth/{id}/refuse\"><button type=\"submit\">Refuse</button></form>"
        )
    } else {
        format!("<p>Status: {}.</p>", status_name(auth.status))
    };
    page("企业授权书 (authorization letter)", &format!("{letter}{actions}")).into_response()
}

async fn auth_sign(State(sim): Sim, Path(auth_id): Path<String>) -> Response {
    match sim.finish_authorization(&auth_id, AUTH_SUCCEEDED, None) {
        Ok(auth) => done_page("授权成功 (signed)", "The letter is signed.", auth.redirect_url.as_deref()),
        Err(e) => error_page(e),
    }
}

async fn auth_refuse(State(sim): Sim, Path(auth_id): Path<String>, body: Bytes) -> Response {
    match sim.finish_authorization(&auth_id, AUTH_FAILED, form_field(&body, "authDes")) {
        Ok(auth) => done_page("已拒绝 (refused)", "The letter was refused.", auth.redirect_url.as_deref()),
        Err(e) => error_page(e),
    }
}

/// The reverse payment page: what to pay where, and the two ways a payment can arrive.
async fn pay_page(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    let Some(flow) = sim.lock().org_flows.get(&flow_id).cloned() else {
        return not_found("company flow");
    };
    let id = escape(&flow.flow_id);
    let body = match &flow.payment {
        None => format!("<p>Company flow {id} ({}): no receiving account yet.</p>", flow.status.as_str()),
        Some(p) => {
            let account = format!(
                "<p>Pay <b>{amount}</b> to <b>{name}</b>, {bank}, account <code>{no}</code> (flow {id}).</p><p>Progress: {process}.</p>",
                amount = escape(&p.payment_amount),
                name = escape(&p.main_account_name),
                bank = escape(&p.main_account_bank),
                no = escape(&p.sub_account_no),
                process = escape(&p.process),
            );
            if flow.status.is_final() {
                format!("{account}<p>Flow {id} is finished: {}.</p>", flow.status.as_str())
            } else {
                format!(
                    "{account}<form method=\"post\" action=\"/sim/pay/{id}/company\"><button type=\"submit\">Pay 0.01 from the company's account</button></form>\
                     <form method=\"post\" action=\"/sim/pay/{id}/other\"><button type=\"submit\">Pay from another account</button></form>"
                )
            }
        }
    };
    page("对公打款 (reverse payment)", &body).into_response()
}

async fn pay_company(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    match sim.pay(&flow_id, true) {
        Ok(_) => done_page("打款成功 (paid)", "The payment from the company's account arrived.", None),
        Err(e) => error_page(e),
    }
}

async fn pay_other(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    match sim.pay(&flow_id, false) {
        Ok(_) => done_page("打款失败 (wrong account)", "A payment from another account arrived: PAY_FAILED.", None),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
struct FileQuery {
    expires: Option<i64>,
}

/// The signed letter. Its link expires (60 minutes, like e签宝's), so a stale link is refused.
async fn file(State(sim): Sim, Path(file): Path<String>, Query(q): Query<FileQuery>) -> Response {
    let Some(auth_id) = file.strip_suffix(".pdf") else {
        return not_found("file");
    };
    if q.expires.is_none_or(|e| e < Shared::now_ms()) {
        return (StatusCode::FORBIDDEN, "the download link has expired").into_response();
    }
    let signed = sim.lock().authorizations.get(auth_id).is_some_and(|a| a.status == AUTH_SUCCEEDED);
    if !signed {
        return not_found("file");
    }
    let pdf = format!(
        "%PDF-1.4\n% e签宝 simulator: authorization letter {auth_id}\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    );
    ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response()
}
