"""A Python grpcio client, its stubs generated from proto/ at test time, as another ETC service would
use the contract: a member walked from NOT_STARTED to AUTHORIZE_FINISH (the simulator's pages pressed
over HTTP), every error code of the design (design.md §2) with its details decoded from the
`grpc-status-details-bin` trailer, and the standard health service through grpcio-health-checking."""

from __future__ import annotations

import random
import time
from typing import Optional

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import METADATA, SYS_ID, TOKEN, DevServer, Recorder, eventually, http

ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"


def status_details(err: grpc.RpcError) -> status_pb2.Status:
    """google.rpc.Status from the `grpc-status-details-bin` trailer (empty when absent)."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return status_pb2.Status()


def detail(st: status_pb2.Status, cls):
    for any_ in st.details:
        if any_.Is(cls.DESCRIPTOR):
            msg = cls()
            any_.Unpack(msg)
            return msg
    return None


class Client:
    def __init__(self, server: DevServer, pb2, pb2_grpc, rec: Recorder):
        self.channel = grpc.insecure_channel(server.grpc_addr)
        self.stub = pb2_grpc.AuthServiceStub(self.channel)
        self.pb2 = pb2
        self.rec = rec
        self.sim = server.sim_base

    def call(self, rpc: str, req, metadata=METADATA, timeout: float = 15.0):
        self.rec.calls += 1
        return getattr(self.stub, rpc)(req, metadata=metadata, timeout=timeout)

    def error(self, rpc: str, req, metadata=METADATA) -> grpc.RpcError:
        try:
            self.call(rpc, req, metadata=metadata)
        except grpc.RpcError as e:
            return e
        raise AssertionError(f"{rpc} answered OK where an error was expected")

    def process(self, member: str):
        return self.call("GetProcessDetail", self.pb2.GetProcessDetailRequest(etc_member_no=member)).process

    def wait_status(self, member: str, status: int):
        def probe():
            p = self.process(member)
            return p if p.status == status else None

        return eventually(15, f"{member} to reach {self.pb2.AuthProcessStatus.Name(status)}", probe, every_s=0.05)

    def face_request(self, member: str, **over):
        fields = dict(
            etc_member_no=member,
            name="张三",
            id_number=ID_NUMBER,
            mobile=MOBILE,
            valid_period="2019.01.01-2039.01.01",
            redirect_url="https://etc.example.com/face/done",
        )
        fields.update(over)
        return self.pb2.StartFaceAuthRequest(**fields)

    def auth_request(self, member: str, request_id: str):
        # Fixed (2030-12-31): a retry with the same request_id must be the same request, and a
        # "now + 1 year" ticks over between two calls now and then (INVALID_ARGUMENT).
        valid = timestamp_pb2.Timestamp(seconds=1_924_905_600)
        return self.pb2.CreateOrgAuthorizationRequest(
            etc_member_no=member,
            request_id=request_id,
            contact="15300001111",
            valid_date=valid,
        )

    def fault(self, body: dict) -> None:
        status, text = http("POST", f"{self.sim}/sim/control/faults", body)
        self.rec.calls += 1
        self.rec.faults += 1
        self.rec.require(f"the simulator arms fault {body['fault']}", status == 204, text)


def suite(rec: Recorder, server: DevServer, pb2, pb2_grpc) -> None:
    c = Client(server, pb2, pb2_grpc, rec)
    S = pb2.AuthProcessStatus
    run = f"{random.randrange(10**8):08d}"

    # --- health, through the standard client
    health = health_pb2_grpc.HealthStub(c.channel)
    for service in ["", "etc.esign.v1.AuthService"]:
        rec.calls += 1
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        rec.check(f"health Check({service!r}) is SERVING", r.status == health_pb2.HealthCheckResponse.SERVING, str(r))
    try:
        rec.calls += 1
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        rec.check("health of an unknown service is NOT_FOUND", False, "answered OK")
    except grpc.RpcError as e:
        rec.check("health of an unknown service is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, str(e.code()))

    # --- the walk: NOT_STARTED → HANDLER_AUTHING → HANDLER_AUTHED → AUTHORIZING → AUTHORIZE_FINISH
    member = f"PY{run}"
    p = c.process(member)
    rec.require("a new member is NOT_STARTED, next node HANDLER_AUTH", p.status == S.Value("AUTH_PROCESS_STATUS_NOT_STARTED") and p.next_node == pb2.AUTH_PROCESS_NODE_HANDLER_AUTH, str(p))
    started = c.call("StartFaceAuth", c.face_request(member))
    rec.require("StartFaceAuth answers a link and a flow id", bool(started.auth_url) and bool(started.flow_id) and started.message == "success", str(started))
    rec.check("StartFaceAuth answers HANDLER_AUTHING", started.status == S.Value("AUTH_PROCESS_STATUS_HANDLER_AUTHING"), str(started.status))
    again = c.call("StartFaceAuth", c.face_request(member))
    rec.check("a second StartFaceAuth answers the same link", (again.flow_id, again.auth_url) == (started.flow_id, started.auth_url))
    rec.transitions += 1
    status, page = http("GET", started.auth_url)
    rec.check("the link is the simulator's face page", status == 200 and "Pass" in page and "Fail" in page, page[:200])
    status, page = http("POST", f"{c.sim}/sim/face/{started.flow_id}/pass")
    rec.calls += 2
    rec.require("pressing Pass", status == 200, page[:200])
    p = c.wait_status(member, S.Value("AUTH_PROCESS_STATUS_HANDLER_AUTHED"))
    rec.transitions += 1
    rec.check("HANDLER_AUTHED carries the e签宝 account id", p.esign_account_id == started.esign_account_id and p.esign_account_id != "")
    rec.check("identity number and mobile are answered masked", (p.member_info.id_number, p.member_info.mobile) == ("110***********002X", "138****8000"), str(p.member_info))
    done = c.call("StartFaceAuth", c.face_request(member))
    rec.check("an authenticated member gets its account and no link", done.already_authenticated and not done.auth_url and done.esign_account_id == started.esign_account_id, str(done))

    # The company (its legal person is the handler: verified at once), then its seal.
    org = c.call("StartOrgAuth", pb2.StartOrgAuthRequest(etc_member_no=member, name="房友科技有限公司", id_type=pb2.ORG_ID_TYPE_USCC, id_number="91350100M000100Y43", org_legal_name="张三", org_legal_id_number=ID_NUMBER))
    rec.require("StartOrgAuth answers CERT_UNCONFIRMED for the legal person (ORG_AUTHED, then its evidence)", org.process.status == S.Value("AUTH_PROCESS_STATUS_CERT_UNCONFIRMED"), str(org.process.status))
    rec.transitions += 4
    confirmed = c.call("ConfirmEvidence", pb2.ConfirmEvidenceRequest(etc_member_no=member, confirmer="platform-ops"))
    rec.require("ConfirmEvidence answers CERT_CONFIRMED", confirmed.process.status == S.Value("AUTH_PROCESS_STATUS_CERT_CONFIRMED"), str(confirmed.process.status))
    rec.transitions += 1
    template = pb2.SealTemplate(alias="合同专用章", color=pb2.SEAL_COLOR_RED, type=pb2.SEAL_TYPE_TEMPLATE_ROUND, central=pb2.SEAL_CENTRAL_STAR)
    sealed = c.call("CreateOrgSeal", pb2.CreateOrgSealRequest(etc_member_no=member, template=template)).process
    rec.require("CreateOrgSeal answers ORG_SEAL_SAVED with the seal", sealed.status == S.Value("AUTH_PROCESS_STATUS_ORG_SEAL_SAVED") and bool(sealed.seal_info.seal_id) and bool(sealed.seal_info.seal_url), str(sealed))
    rec.transitions += 2

    created = c.call("CreateOrgAuthorization", c.auth_request(member, "req-1"))
    rec.require("CreateOrgAuthorization answers an authId", bool(created.auth_id), str(created))
    rec.transitions += 1
    same = c.call("CreateOrgAuthorization", c.auth_request(member, "req-1"))
    rec.check("the same request_id answers the same authId", same.auth_id == created.auth_id)
    c.wait_status(member, S.Value("AUTH_PROCESS_STATUS_AUTHORIZING"))
    status, page = http("GET", f"{c.sim}/sim/auth/{created.auth_id}")
    rec.check("the letter's page has Sign and Refuse", status == 200 and "Sign" in page and "Refuse" in page, page[:200])
    status, page = http("POST", f"{c.sim}/sim/auth/{created.auth_id}/sign")
    rec.calls += 2
    rec.require("pressing Sign", status == 200, page[:200])
    p = c.wait_status(member, S.Value("AUTH_PROCESS_STATUS_AUTHORIZE_FINISH"))
    rec.transitions += 1
    rec.check("AUTHORIZE_FINISH carries the signed file URL, node AUTHORIZED", bool(p.signed_file_url) and p.node == pb2.AUTH_PROCESS_NODE_AUTHORIZED, str(p.signed_file_url))
    a = c.call("QueryAuthorization", pb2.QueryAuthorizationRequest(auth_id=created.auth_id)).authorization
    rec.check(
        "QueryAuthorization answers SUCCEEDED with a live download URL",
        a.status == pb2.AUTHORIZATION_STATUS_SUCCEEDED and bool(a.auth_download_url) and a.auth_download_url_expire_time.seconds > time.time() and a.etc_member_no == member and a.request_id == "req-1",
        str(a),
    )

    # --- every error code of design.md §2 (the walk above covers OK)
    e = c.error("StartFaceAuth", c.face_request(f"PYBAD{run}", id_number="110105194912310021", mobile="1500000000"))
    st = status_details(e)
    bad = detail(st, error_details_pb2.BadRequest)
    fields = sorted(v.field for v in bad.field_violations) if bad else []
    rec.check("malformed input: INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, str(e.code()))
    rec.check("grpc-status-details-bin decodes to google.rpc.Status with the same code", st.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], str(st))
    rec.check("BadRequest names id_number and mobile", fields == ["id_number", "mobile"], str(fields))
    rec.check("no full identity number in the error", "110105194912310021" not in (e.details() or "") + str(bad))

    e = c.error("CreateOrgAuthorization", c.auth_request(member, "req with spaces"))
    bad = detail(status_details(e), error_details_pb2.BadRequest)
    rec.check("a bad request_id: INVALID_ARGUMENT naming request_id", e.code() == grpc.StatusCode.INVALID_ARGUMENT and bad is not None and any(v.field == "request_id" for v in bad.field_violations), str(bad))

    req = pb2.GetProcessDetailRequest(etc_member_no=member)
    e = c.error("GetProcessDetail", req, metadata=(("etc-sys-id", SYS_ID),))
    rec.check("no etc-token: UNAUTHENTICATED", e.code() == grpc.StatusCode.UNAUTHENTICATED, str(e.code()))
    e = c.error("GetProcessDetail", req, metadata=(("etc-sys-id", SYS_ID), ("etc-token", "wrong-token")))
    rec.check("a wrong etc-token: UNAUTHENTICATED", e.code() == grpc.StatusCode.UNAUTHENTICATED, str(e.code()))
    e = c.error("GetProcessDetail", req, metadata=(("etc-sys-id", "E99"), ("etc-token", TOKEN)))
    rec.check("an etc-sys-id not allowed: PERMISSION_DENIED", e.code() == grpc.StatusCode.PERMISSION_DENIED, str(e.code()))

    e = c.error("QueryAuthorization", pb2.QueryAuthorizationRequest(auth_id="1000000000000000001"))
    rec.check("an unknown authorization: NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, str(e.code()))

    fresh = f"PYPRE{run}"
    e = c.error("CreateOrgAuthorization", c.auth_request(fresh, "req-1"))
    rec.check(
        "a step not allowed now: FAILED_PRECONDITION naming the status",
        e.code() == grpc.StatusCode.FAILED_PRECONDITION and "NOT_STARTED" in (e.details() or ""),
        f"{e.code()} {e.details()}",
    )

    refused = f"PYREF{run}"
    c.fault({"endpoint": "face", "fault": {"kind": "business", "code": 30500101, "message": "参数错误"}, "times": 1})
    e = c.error("StartFaceAuth", c.face_request(refused))
    info: Optional[error_details_pb2.ErrorInfo] = detail(status_details(e), error_details_pb2.ErrorInfo)
    rec.check("e签宝 refusing: FAILED_PRECONDITION", e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT), str(e.code()))
    rec.check(
        'e签宝 refusing: ErrorInfo{domain:"esign.cn", metadata.code}',
        info is not None and info.domain == "esign.cn" and info.metadata.get("code") == "30500101" and bool(info.reason),
        str(info),
    )
    rec.check("a refused start changes nothing", c.process(refused).status == S.Value("AUTH_PROCESS_STATUS_NOT_STARTED"))

    down = f"PYDOWN{run}"
    c.fault({"endpoint": "account", "fault": {"kind": "status", "status": 503}, "times": 1})
    e = c.error("StartFaceAuth", c.face_request(down))
    rec.check("e签宝 answering 503: UNAVAILABLE", e.code() == grpc.StatusCode.UNAVAILABLE, f"{e.code()} {e.details()}")
    rec.check("an unavailable start changes nothing", c.process(down).status == S.Value("AUTH_PROCESS_STATUS_NOT_STARTED"))
    retried = c.call("StartFaceAuth", c.face_request(down))
    rec.check("UNAVAILABLE is safe to retry: the retry answers a link", bool(retried.flow_id), str(retried))

    slow = f"PYSLOW{run}"
    c.fault({"endpoint": "account", "fault": {"kind": "delay", "ms": 1500}, "times": 1})
    try:
        rec.calls += 1
        c.stub.StartFaceAuth(c.face_request(slow), metadata=METADATA, timeout=0.3)
        rec.check("a deadline that passes: DEADLINE_EXCEEDED", False, "answered OK")
    except grpc.RpcError as e:
        rec.check("a deadline that passes: DEADLINE_EXCEEDED", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, str(e.code()))

    status, body = http("GET", f"{c.sim}/sim/control/faults")
    rec.check("no armed fault is left over", status == 200 and '"endpoints":[]' in body.replace(" ", ""), body[:300])
    c.channel.close()
