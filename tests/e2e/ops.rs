//! Production shape: `/metrics` moves during a real flow, logs carry one span per RPC and per callback
//! with the member masked, and the Kubernetes manifests under `k8s/` agree with what the binary
//! actually serves and reads (ports, health names, paths, environment variables, required settings).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser};
use etc_esign::config::{Cli, Command};
use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use etc_esign::grpc::{LIVENESS_NAME, SERVICE_NAME};
use etc_esign::http::{CALLBACK_PATH, METRICS_PATH};
use serde_json::Value;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Metrics

/// One sample of the exposition: its labels and value.
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of `name` in an OpenMetrics text exposition (label values hold no `,` or `"` here).
fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            (series_name == name).then_some(())?;
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some(Sample { labels, value: value.parse().ok()? })
        })
        .collect()
}

/// The value of the series `name{labels}`, if it was exported.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|got| got == v)))
        .map(|s| s.value)
}

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(format!("http://{}{METRICS_PATH}", app.http_addr)).await.expect("scrape");
    assert!(response.status().is_success(), "/metrics answered {}", response.status());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "content type {content_type}");
    response.text().await.expect("exposition")
}

const RPC_REQUESTS: &str = "etc_esign_rpc_requests_total";
const RPC_SECONDS: &str = "etc_esign_rpc_duration_seconds_count";
const UPSTREAM_REQUESTS: &str = "etc_esign_upstream_requests_total";
const UPSTREAM_SECONDS: &str = "etc_esign_upstream_duration_seconds_count";
const CALLBACKS: &str = "etc_esign_callbacks_total";
const BACKLOG: &str = "etc_esign_reconciler_backlog";
const OLDEST_AGE: &str = "etc_esign_reconciler_oldest_pending_age_seconds";

fn rpc(method: &str, code: &'static str) -> [(&'static str, String); 2] {
    [("method", format!("/etc.esign.v1.AuthService/{method}")), ("code", code.to_owned())]
}

fn count(text: &str, name: &str, labels: &[(&str, String)]) -> f64 {
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    value(text, name, &labels).unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_rpcs_upstream_calls_callbacks_and_the_backlog_during_a_full_flow() {
    let app = spawn_app().await;
    let member = "ETC000000800";
    let before = scrape(&app).await;
    assert_eq!(value(&before, BACKLOG, &[]), Some(0.0), "the backlog gauge is exported from the start");
    assert_eq!(value(&before, OLDEST_AGE, &[]), Some(0.0));

    // A running face flow is backlog until its result arrives.
    let started = app.start_face(member).await;
    eventually(Duration::from_secs(10), "the running flow in the backlog", || async {
        let text = scrape(&app).await;
        (value(&text, BACKLOG, &[]).is_some_and(|n| n >= 1.0)).then_some(())
    })
    .await;
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status(member, S::HandlerAuthed).await;
    // The company (its legal person is the handler) and its seal come before the authorization.
    let mut c = app.client.clone();
    c.start_org_auth(authed(legal_person_request(member))).await.expect("StartOrgAuth");
    app.wait_status(member, S::CertUnconfirmed).await;
    confirm_evidence(&app.client, member).await;
    app.create_seal(seal_request(member, "合同章")).await.expect("CreateOrgSeal");

    let created = {
        let mut c = app.client.clone();
        c.create_org_authorization(authed(create_request(member, "req-metrics")))
            .await
            .expect("CreateOrgAuthorization")
            .into_inner()
    };
    app.sim.sign_authorization(&created.auth_id).expect("sign");
    app.wait_signed_file(member).await;
    let mut c = app.client.clone();
    c.query_authorization(authed(pb::QueryAuthorizationRequest { auth_id: created.auth_id.clone() }))
        .await
        .expect("QueryAuthorization");
    let err = c
        .get_process_detail(authed(pb::GetProcessDetailRequest {
            etc_member_no: "not a member".into(),
            refresh: false,
        }))
        .await
        .expect_err("an invalid member number");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Everything finished: the backlog drains back to empty.
    let text = eventually(Duration::from_secs(10), "an empty backlog", || async {
        let text = scrape(&app).await;
        (value(&text, BACKLOG, &[]) == Some(0.0)).then_some(text)
    })
    .await;
    assert_eq!(value(&text, OLDEST_AGE, &[]), Some(0.0));

    for (method, code, at_least) in [
        ("StartFaceAuth", "OK", 1.0),
        ("CreateOrgAuthorization", "OK", 1.0),
        ("QueryAuthorization", "OK", 1.0),
        // wait_status polls it, so more than once.
        ("GetProcessDetail", "OK", 2.0),
        ("GetProcessDetail", "INVALID_ARGUMENT", 1.0),
    ] {
        let labels = rpc(method, code);
        let n = count(&text, RPC_REQUESTS, &labels);
        assert!(n >= at_least, "{method} {code}: {n} calls counted, {at_least} made");
        assert_eq!(count(&text, RPC_SECONDS, &labels), n, "{method} {code}: one latency per call");
    }
    for endpoint in ["face", "auth_create", "auth_query"] {
        let labels = [("endpoint", endpoint.to_owned()), ("outcome", "ok".to_owned())];
        let n = count(&text, UPSTREAM_REQUESTS, &labels);
        assert!(n >= 1.0, "e签宝 {endpoint} ok: {n}");
        assert_eq!(count(&text, UPSTREAM_SECONDS, &labels), n, "{endpoint}: one latency per exchange");
    }
    let applied = count(&text, CALLBACKS, &[("outcome", "applied".to_owned())]);
    assert!(applied >= 2.0, "the face and the authorization callbacks were applied: {applied}");
    app.finish().await;
}

// ---------------------------------------------------------------------------------------------
// Rotation

#[tokio::test]
async fn a_caller_token_rotates_without_refusals_while_both_tokens_are_listed() {
    const NEW_TOKEN: &str = "test-token-rotated-000001";
    let app = spawn_app_with(|c| {
        c.callers.push(etc_esign::grpc::auth::CallerCredential { sys_id: SYS_ID.into(), token: NEW_TOKEN.into() })
    })
    .await;
    let ask = |token: &'static str| {
        let mut c = app.client.clone();
        async move {
            let mut r = tonic::Request::new(pb::GetProcessDetailRequest {
                etc_member_no: "ETC000000802".into(),
                refresh: false,
            });
            r.metadata_mut().insert("etc-sys-id", SYS_ID.parse().expect("ascii"));
            r.metadata_mut().insert("etc-token", token.parse().expect("ascii"));
            c.get_process_detail(r).await.map(|_| ()).map_err(|e| e.code())
        }
    };
    assert_eq!(ask(TOKEN).await, Ok(()), "the old token still works");
    assert_eq!(ask(NEW_TOKEN).await, Ok(()), "the new token already works");
    assert_eq!(ask("neither-of-the-two").await, Err(tonic::Code::Unauthenticated));
    app.finish().await;
}

// ---------------------------------------------------------------------------------------------
// Logs

/// The spans of a JSON log line, outermost first.
fn spans(line: &Value) -> Vec<&Value> {
    line["spans"].as_array().map(|s| s.iter().collect()).unwrap_or_default()
}

#[tokio::test]
async fn logs_have_a_span_per_rpc_and_callback_with_the_member_masked_and_upstream_calls_as_children() {
    // tokio::test's current-thread runtime runs the app's tasks on this thread.
    let captured = capture_logs();

    let app = spawn_app().await;
    let member = "ETC000000801";
    app.authenticated_member(member).await;
    app.finish().await;

    let lines = captured.lines();
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["target"].as_str().is_some_and(|t| t.starts_with("etc_esign") && !t.starts_with("etc_esign::sim"))
        })
        .collect();
    let raw = ours.iter().find(|l| l.to_string().contains(member));
    assert!(raw.is_none(), "a log line names the member in clear: {raw:?}");

    let finished = ours
        .iter()
        .find(|l| l["message"] == "rpc finished" && l["span"]["method"] == "/etc.esign.v1.AuthService/StartFaceAuth")
        .expect("a line when StartFaceAuth finished");
    assert_eq!(finished["span"]["name"], "rpc");
    assert_eq!(finished["span"]["member"], "ETC***801");
    assert_eq!(finished["span"]["code"], "OK");
    assert!(finished["span"]["latency_ms"].as_f64().is_some(), "latency on the span: {finished}");
    assert_eq!(finished["span"]["caller"], SYS_ID);

    let upstream = ours
        .iter()
        .find(|l| spans(l).last().is_some_and(|s| s["name"] == "esign" && s["endpoint"] == "face"))
        .expect("a line inside the e签宝 face exchange");
    let chain: Vec<&str> = spans(upstream).iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(chain, ["rpc", "esign"], "the exchange is a child of the RPC");
    assert_eq!(spans(upstream)[0]["member"], "ETC***801");

    let callback =
        ours.iter().find(|l| l["message"] == "callback handled").expect("a line when the face callback was handled");
    assert_eq!(callback["span"]["name"], "callback");
    assert_eq!(callback["span"]["action"], "FACE_AUTH_RESULT");
    assert_eq!(callback["span"]["member"], "ETC***801");
    assert_eq!(callback["span"]["outcome"], "applied");
    assert_eq!(callback["span"]["status"], 200);
    assert!(callback["span"]["latency_ms"].as_f64().is_some(), "latency on the span: {callback}");
}

// ---------------------------------------------------------------------------------------------
// Kubernetes manifests against the binary

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

/// Every document of `k8s/<file>`, as JSON values.
fn manifest(file: &str) -> Value {
    let path = k8s_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn container() -> Value {
    let d = manifest("deployment.yaml");
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().expect("containers").clone();
    assert_eq!(containers.len(), 1, "one container, the binary");
    containers[0].clone()
}

fn container_port(name: &str) -> u64 {
    container()["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("the container declares no port named {name}"))
}

fn config_map() -> BTreeMap<String, String> {
    serde_json::from_value(manifest("configmap.yaml")["data"].clone()).expect("ConfigMap data: strings")
}

fn port_of(addr: &str) -> u64 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("{addr} has no port"))
}

/// The default of `serve`'s flag that reads `env`.
fn serve_default(env: &str) -> String {
    serve_args()
        .into_iter()
        .find(|(name, _)| name == env)
        .and_then(|(_, arg)| arg.get_default_values().first().map(|v| v.to_string_lossy().into_owned()))
        .unwrap_or_else(|| panic!("serve has no default for {env}"))
}

/// `serve`'s arguments by the environment variable each reads.
fn serve_args() -> Vec<(String, clap::Arg)> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve subcommand");
    serve.get_arguments().filter_map(|a| Some((a.get_env()?.to_string_lossy().into_owned(), a.clone()))).collect()
}

/// Read by `tracing_subscriber::EnvFilter`, not by clap.
const READ_OUTSIDE_CLAP: &[&str] = &["RUST_LOG"];

#[tokio::test]
async fn the_probes_ask_the_port_and_health_names_the_binary_serves() {
    let c = container();
    let grpc = container_port("grpc");
    assert_eq!(port_of(&config_map()["GRPC_ADDR"]), grpc, "GRPC_ADDR listens where the container port says");
    assert_eq!(port_of(&serve_default("GRPC_ADDR")), grpc, "and the binary's default agrees");
    for (probe, service) in
        [("startupProbe", LIVENESS_NAME), ("livenessProbe", LIVENESS_NAME), ("readinessProbe", SERVICE_NAME)]
    {
        assert_eq!(c[probe]["grpc"]["port"].as_u64(), Some(grpc), "{probe} asks the gRPC port");
        assert_eq!(c[probe]["grpc"]["service"], service, "{probe} asks for {service}");
    }

    // What they ask for is answered: SERVING once migrated.
    let app = spawn_app().await;
    assert_eq!(health(app.grpc_addr, LIVENESS_NAME).await, ServingStatus::Serving);
    assert_eq!(health(app.grpc_addr, SERVICE_NAME).await, ServingStatus::Serving);
    app.finish().await;
}

#[test]
fn the_http_port_serves_metrics_where_the_scrape_annotations_point() {
    let http = container_port("http");
    assert_eq!(port_of(&config_map()["HTTP_ADDR"]), http);
    assert_eq!(port_of(&serve_default("HTTP_ADDR")), http);
    let annotations = &manifest("deployment.yaml")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], http.to_string());
    assert_eq!(annotations["prometheus.io/path"], METRICS_PATH);
}

#[test]
fn every_env_var_the_manifests_set_is_one_the_binary_reads() {
    let known: BTreeSet<String> =
        serve_args().into_iter().map(|(env, _)| env).chain(READ_OUTSIDE_CLAP.iter().map(|s| s.to_string())).collect();
    let mut set: Vec<String> = config_map().into_keys().collect();
    set.extend(
        container()["env"].as_array().expect("env").iter().filter_map(|e| e["name"].as_str().map(str::to_owned)),
    );
    let unknown: Vec<&String> = set.iter().filter(|name| !known.contains(*name)).collect();
    assert!(unknown.is_empty(), "the manifests set {unknown:?}, which `etc-esign serve` does not read");
}

/// The environment the Deployment gives the container, with the Secret's values from `secret`
/// (files for the `_FILE` settings written under `dir`).
fn pod_environment(secret: &BTreeMap<String, String>, dir: &Path) -> BTreeMap<String, String> {
    let c = container();
    let mount = c["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == "secrets")
        .and_then(|m| m["mountPath"].as_str())
        .expect("the Secret is mounted")
        .to_owned();
    let mut env = config_map();
    for e in c["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("env name").to_owned();
        let value = if let Some(v) = e["value"].as_str() {
            match v.strip_prefix(&format!("{mount}/")) {
                Some(key) => {
                    let content =
                        secret.get(key).unwrap_or_else(|| panic!("{name} reads key {key}, not in the Secret"));
                    let path = dir.join(key);
                    std::fs::write(&path, content).expect("write a secret file");
                    path.display().to_string()
                }
                None => v.to_owned(),
            }
        } else if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            assert_eq!(e["valueFrom"]["secretKeyRef"]["name"], "etc-esign-secrets");
            secret.get(key).unwrap_or_else(|| panic!("{name} reads key {key}, not in the Secret")).clone()
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
            "etc-esign-7d9f-abcde".to_owned()
        } else {
            panic!("{name}: a value source this test does not model: {e}");
        };
        env.insert(name, value);
    }
    env
}

/// `etc-esign serve` resolving its settings from `env` alone (as flags: the test's own environment
/// must not leak in).
fn resolve_serve(env: &BTreeMap<String, String>) -> Result<etc_esign::config::AppConfig, String> {
    let args = serve_args();
    let mut argv = vec!["etc-esign".to_owned(), "serve".to_owned()];
    for (name, value) in env {
        if READ_OUTSIDE_CLAP.contains(&name.as_str()) {
            continue;
        }
        let (_, arg) = args.iter().find(|(e, _)| e == name).unwrap_or_else(|| panic!("serve does not read {name}"));
        argv.push(format!("--{}", arg.get_long().expect("a long flag")));
        argv.push(value.clone());
    }
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Command::Serve(serve) = cli.command else { unreachable!("parsed as serve") };
    serve.resolve_serve().map_err(|e| e.to_string())
}

fn template_secret() -> BTreeMap<String, String> {
    let s = manifest("secret.yaml");
    assert_eq!(s["metadata"]["name"], "etc-esign-secrets");
    serde_json::from_value(s["stringData"].clone()).expect("Secret stringData: strings")
}

#[test]
fn the_manifests_give_serve_every_setting_it_requires() {
    let template = template_secret();
    let real: BTreeMap<String, String> = [
        ("database-url", "postgres://etc_esign:pw@postgres.db.svc:5432/etc_esign"),
        ("esign-app-secret", "a-real-looking-app-secret"),
        ("etc-callers", "E02=a-real-looking-token"),
        ("data-keys", "k2=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="),
        ("file-link-key", "a-real-looking-file-link-key-0123456789"),
        ("aws-access-key-id", "AKIAREALLOOKING"),
        ("aws-secret-access-key", "a-real-looking-aws-secret"),
        ("evidence-keys", "v2=KysrKysrKysrKysrKysrKysrKysrKysrKysrKysrKys="),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(template.keys().collect::<Vec<_>>(), real.keys().collect::<Vec<_>>(), "the Secret's keys");

    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = resolve_serve(&pod_environment(&real, dir.path())).expect("serve starts with the manifests' settings");
    assert_eq!(cfg.replica_id, "etc-esign-7d9f-abcde", "replicas are named by their pod");
    assert!(cfg.public_callback_base_url.is_some());

    // The template's placeholders are refused, naming what to fill in.
    let err = resolve_serve(&pod_environment(&template, dir.path())).expect_err("placeholders are refused");
    assert!(err.contains("DATABASE_URL") && err.contains("DATA_KEYS"), "{err}");
    assert!(err.contains("EVIDENCE_KEYS"), "{err}");
}

#[test]
fn the_service_ingress_and_network_policy_point_at_ports_the_pod_declares() {
    let service = manifest("service.yaml");
    let selector = &manifest("deployment.yaml")["spec"]["selector"]["matchLabels"];
    assert_eq!(&service["spec"]["selector"], selector, "the Service selects the Deployment's pods");
    let ports = service["spec"]["ports"].as_array().expect("Service ports");
    for name in ["grpc", "http"] {
        let p = ports.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("Service port {name}"));
        assert_eq!(p["targetPort"], name, "Service port {name} targets the container's");
        assert_eq!(p["port"].as_u64(), Some(container_port(name)), "Service port {name} keeps the number");
    }

    let ingress = manifest("ingress.yaml");
    let paths: Vec<&Value> = ingress["spec"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .flat_map(|r| r["http"]["paths"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(paths.len(), 1, "the Ingress exposes the callback path alone");
    assert_eq!(paths[0]["path"], CALLBACK_PATH);
    assert_eq!(paths[0]["pathType"], "Exact");
    assert_eq!(paths[0]["backend"]["service"]["name"], service["metadata"]["name"]);
    assert_eq!(paths[0]["backend"]["service"]["port"]["name"], "http");
    let host = ingress["spec"]["rules"][0]["host"].as_str().expect("host");
    assert_eq!(config_map()["PUBLIC_CALLBACK_BASE_URL"], format!("https://{host}"), "e签宝 is told the Ingress' host");

    let policy = manifest("networkpolicy.yaml");
    assert_eq!(&policy["spec"]["podSelector"]["matchLabels"], selector);
    let allowed: BTreeSet<&str> = policy["spec"]["ingress"]
        .as_array()
        .expect("ingress rules")
        .iter()
        .flat_map(|r| r["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["port"].as_str())
        .collect();
    assert_eq!(allowed, BTreeSet::from(["grpc", "http"]), "the NetworkPolicy names the container's ports");

    let pdb = manifest("poddisruptionbudget.yaml");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector, "the PodDisruptionBudget selects the pods");
    let hpa = manifest("horizontalpodautoscaler.yaml");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], manifest("deployment.yaml")["metadata"]["name"]);
    assert!(hpa["spec"]["minReplicas"].as_u64().is_some_and(|n| n >= 2), "never fewer than two replicas");
}

#[test]
fn the_kustomization_lists_every_manifest() {
    let listed: BTreeSet<String> = manifest("kustomization.yaml")["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(k8s_dir())
        .expect("k8s/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present, "kustomization.yaml lists exactly the manifests under k8s/");
}
