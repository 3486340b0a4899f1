#!/usr/bin/env python3
"""An e签宝 stand-in written from ../shared/docs/esign.md alone, sharing no code with the service or
its Rust simulator: it checks every request's App ID, auth mode, timestamp window, Accept,
Content-Type, Content-MD5 and signature as e签宝's gateway does, answers the endpoints the service
calls (person account, face, outline, authorization; the company's account, 4 factors and reverse
payment of esign.md §7), and signs its callbacks the way e签宝 does. A bug mirrored in the Rust signer and the
Rust simulator cannot pass here.

    python3 esign_standin.py --app-id 7438000001 --secret S [--port 0]

Prints `listening on http://127.0.0.1:PORT` once ready. Standard library only; loopback only.
Control (unsigned, for tests): POST /standin/face/{flowId}/{pass|fail}, POST /standin/auth/{authId}/sign,
POST /standin/pay/{flowId} (the company pays 0.01; the result is posted without an `action`, esign.md
§11), POST /standin/mismatch/{idNumber} and DELETE it (the registry), GET /standin/requests (every
request received, raw), GET /standin/refusals.
"""

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

WINDOW_MS = 15 * 60 * 1000
CONTENT_TYPE = "application/json; charset=UTF-8"


def now_ms() -> int:
    return int(time.time() * 1000)


def path_and_parameters(raw_path: str) -> str:
    """esign.md §2: the path, then `?` and the query parameters sorted by name, as on the wire."""
    parts = urlsplit(raw_path)
    if not parts.query:
        return parts.path
    params = sorted(parts.query.split("&"), key=lambda p: p.split("=", 1)[0])
    return parts.path + "?" + "&".join(params)


def request_signature(secret: str, method: str, accept: str, md5: str, ctype: str, raw_path: str) -> str:
    text = "\n".join([method.upper(), accept, md5, ctype, "", path_and_parameters(raw_path)])
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def callback_signature(secret: str, timestamp: str, notify_url: str, body: bytes) -> str:
    """esign.md §5: timestamp + the notify URL's query values ordered by name + the raw body."""
    query = urlsplit(notify_url).query
    pairs = sorted((p.split("=", 1) + [""])[:2] for p in query.split("&") if p)
    message = timestamp.encode() + "".join(v for _, v in pairs).encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class State:
    def __init__(self, app_id: str, secret: str):
        self.app_id, self.secret = app_id, secret
        self.lock = threading.Lock()
        self.accounts = {}  # thirdPartyUserId -> accountId
        self.people = {}  # accountId -> (name, idNumber)
        self.orgs = {}  # thirdPartyUserId -> dict
        self.org_flows = {}  # flowId -> dict
        self.mismatches = set()  # company idNumbers whose 4 factors never match
        self.flows = {}  # flowId -> dict
        self.auths = {}  # authId -> dict
        self.seals = {}  # orgId -> [seal dict], oldest first; e签宝 makes a default one with the account
        self.requests = []  # every request, raw
        self.refusals = []  # (path, which check failed)


class Handler(BaseHTTPRequestHandler):
    server_version = "esign-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: tests read /standin/refusals instead
        pass

    @property
    def state(self) -> State:
        return self.server.state

    def reply(self, status: int, payload) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def envelope(self, data=None, code=0, message="成功"):
        self.reply(200, {"code": code, "message": message, "data": data})

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def refuse(self, why: str) -> None:
        with self.state.lock:
            self.state.refusals.append({"path": self.path, "check": why})
        self.reply(401, {"code": 401, "message": why, "data": None})

    def verified(self, body: bytes) -> bool:
        h = self.headers
        st = self.state
        if h.get("X-Tsign-Open-App-Id") != st.app_id:
            return self.refuse("app id") or False
        if h.get("X-Tsign-Open-Auth-Mode") != "Signature":
            return self.refuse("auth mode") or False
        try:
            ts = int(h.get("X-Tsign-Open-Ca-Timestamp", ""))
        except ValueError:
            return self.refuse("timestamp") or False
        if abs(now_ms() - ts) > WINDOW_MS:
            return self.refuse("timestamp window") or False
        accept, ctype = h.get("Accept", ""), h.get("Content-Type", "")
        if accept != "*/*":
            return self.refuse("accept") or False
        if ctype != CONTENT_TYPE:
            return self.refuse("content type") or False
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""
        if h.get("Content-MD5", "") != md5:
            return self.refuse("content md5") or False
        expected = request_signature(st.secret, self.command, accept, md5, ctype, self.path)
        if not hmac.compare_digest(expected, h.get("X-Tsign-Open-Ca-Signature", "")):
            return self.refuse("signature") or False
        return True

    def record(self, body: bytes) -> None:
        with self.state.lock:
            self.state.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
            )

    def do_GET(self):
        if self.path.startswith("/standin/"):
            return self.control(b"")
        self.record(b"")
        if not self.verified(b""):
            return
        parts = urlsplit(self.path).path.strip("/").split("/")
        with self.state.lock:
            if parts[:5] == ["v2", "identity", "auth", "api", "common"] and len(parts) == 7 and parts[6] == "outline":
                org_flow = self.state.org_flows.get(parts[5])
                if org_flow is not None:
                    return self.envelope({k: org_flow[k] for k in ("flowId", "flowStatus", "contextId", "failReason", "createTime", "modifyTime")} | {"objectType": "ORGANIZATION", "subFlows": [], "relatedFlows": []})
                flow = self.state.flows.get(parts[5])
                if flow is None:
                    return self.envelope(None, 30500001, "认证流程不存在")
                return self.envelope({k: flow[k] for k in ("flowId", "flowStatus", "contextId", "failReason", "createTime", "modifyTime")} | {"objectType": "INDIVIDUAL", "subFlows": [], "relatedFlows": []})
            if parts == ["v1", "organizations", "getByThirdId"]:
                query = dict(p.split("=", 1) for p in urlsplit(self.path).query.split("&") if "=" in p)
                org = self.state.orgs.get(query.get("thirdPartyUserId", ""))
                if org is None:
                    return self.envelope(None, 1435203, "机构不存在")
                return self.envelope({k: org[k] for k in ("orgId", "name", "idType", "idNumber", "thirdPartyUserId")})
            if parts[:5] == ["v2", "identity", "auth", "pub", "organization"] and parts[6:] == ["query", "reversePaymentProcess"]:
                flow = self.state.org_flows.get(parts[5])
                if flow is None:
                    return self.envelope(None, 30500004, "认证流程不存在")
                pay = flow.get("payment") or {"process": "INIT"}
                return self.envelope({k: pay.get(k) for k in ("process", "message", "subAccount", "subAccountChannelName", "mainAccountName", "oppAccountNo", "oppAccountName", "oppBankName", "payAmount", "tradeTime", "createTime", "modifyTime", "bizFlowNo")})
            if parts[:2] == ["v1", "organizations"] and len(parts) == 4 and parts[3] == "seals":
                if parts[2] not in self.state.seals:
                    return self.envelope(None, 1435203, "机构不存在")
                query = dict(p.split("=", 1) for p in urlsplit(self.path).query.split("&") if "=" in p)
                offset, size = int(query.get("offset", "0")), int(query.get("size", "20"))
                seals = self.state.seals[parts[2]]
                host = self.headers.get("Host")
                listed = [seal | {"url": f"http://{host}/standin/seals/{seal['sealId']}.png?expires={now_ms() + 3600000}"} for seal in seals[offset:offset + size]]
                return self.envelope({"total": len(seals), "seals": listed})
            if parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "seals":
                # esign.md §8: a person's seals; the stand-in's people have their signature seal.
                if parts[2] not in self.state.accounts.values():
                    return self.envelope(None, 1435203, "账号不存在")
                host = self.headers.get("Host")
                seal = {"sealId": "psn-" + parts[2], "alias": "个人签名", "createDate": now_ms(), "defaultFlag": True, "fileKey": "$psn$", "width": 95, "height": 95, "sealType": 1}
                return self.envelope({"total": 1, "seals": [seal | {"url": f"http://{host}/standin/seals/{seal['sealId']}.png?expires={now_ms() + 3600000}"}]})
            if parts[:2] == ["v1", "authorizations"] and len(parts) == 3:
                auth = self.state.auths.get(parts[2])
                if auth is None:
                    return self.envelope(None, 1436201, "授权不存在")
                return self.envelope(dict(auth))
        self.envelope(None, 404, "no such endpoint")

    def do_DELETE(self):
        if self.path.startswith("/standin/"):
            return self.control(b"")
        body = self.body()
        self.record(body)
        if not self.verified(body):
            return
        parts = urlsplit(self.path).path.strip("/").split("/")
        st = self.state
        # esign.md §8: delete a seal; never the default (60000).
        if parts[:2] == ["v1", "organizations"] and len(parts) == 5 and parts[3] == "seals":
            with st.lock:
                seals = st.seals.get(parts[2], [])
                found = [seal for seal in seals if seal["sealId"] == parts[4]]
                if not found:
                    return self.envelope(None, 60002, "印章不存在")
                if found[0]["defaultFlag"]:
                    return self.envelope(None, 60000, "默认印章不能删除")
                seals.remove(found[0])
            return self.envelope(None)
        self.envelope(None, 404, "no such endpoint")

    def do_POST(self):
        body = self.body()
        if self.path.startswith("/standin/"):
            return self.control(body)
        self.record(body)
        if not self.verified(body):
            return
        try:
            req = json.loads(body)
        except ValueError:
            return self.envelope(None, 1435002, "参数错误")
        parts = urlsplit(self.path).path.strip("/").split("/")
        st = self.state
        with st.lock:
            if self.path == "/v1/accounts/createByThirdPartyUserId":
                if req.get("idType") != "CRED_PSN_CH_IDCARD" or not all(req.get(k) for k in ("thirdPartyUserId", "name", "idNumber", "mobile")):
                    return self.envelope(None, 1435002, "参数错误")
                existing = st.accounts.get(req["thirdPartyUserId"])
                if existing:
                    return self.envelope({"accountId": existing}, 53000000, "账号已存在")
                st.accounts[req["thirdPartyUserId"]] = account = uuid.uuid4().hex
                st.people[account] = (req["name"], req["idNumber"].upper())
                return self.envelope({"accountId": account})
            if self.path == "/v1/organizations/createByThirdPartyUserId":
                keys = ("thirdPartyUserId", "creator", "name", "idType", "idNumber", "orgLegalName", "orgLegalIdNumber")
                if req.get("idType") not in ("CRED_ORG_USCC", "CRED_ORG_REGCODE") or not all(req.get(k) for k in keys):
                    return self.envelope(None, 1435002, "参数错误")
                if req["creator"] not in st.people:
                    return self.envelope(None, 1435203, "创建人不存在")
                if req["thirdPartyUserId"] in st.orgs:
                    # esign.md §7: the existing account is read back with getByThirdId.
                    return self.envelope(None, 53000000, "账号已存在")
                org = {k: req[k] for k in keys} | {"orgId": uuid.uuid4().hex}
                st.orgs[req["thirdPartyUserId"]] = org
                # esign.md §8: e签宝 makes the company's default template seal with its account.
                st.seals[org["orgId"]] = [{"sealId": str(uuid.uuid4()), "alias": "默认印章", "createDate": now_ms(), "defaultFlag": True, "fileKey": "$" + uuid.uuid4().hex + "$", "width": 159, "height": 159, "sealType": 1}]
                return self.envelope({"orgId": org["orgId"]})
            if parts[:6] == ["v2", "identity", "auth", "api", "organization", "enterprise"] and len(parts) == 8 and parts[7] == "fourFactors":
                org = next((o for o in st.orgs.values() if o["orgId"] == parts[6]), None)
                if org is None or req.get("frAuthEnable") is not True or not req.get("notifyUrl"):
                    return self.envelope(None, 1435002, "参数错误")
                agent_flow = st.flows.get(req.get("agentFlowId", ""))
                if agent_flow is None or agent_flow["accountId"] != req.get("agentAccountId") or agent_flow["flowStatus"] != "SUCCESS":
                    return self.envelope(None, 30502008, "经办人未实名")
                if org["idNumber"] in st.mismatches:
                    return self.envelope(None, 30504001, "企业信息不一致")
                legal = st.people.get(req["agentAccountId"]) == (org["orgLegalName"], org["orgLegalIdNumber"].upper())
                flow_id = str(900000000000000000 + len(st.org_flows) + 1)
                st.org_flows[flow_id] = {"flowId": flow_id, "flowStatus": "SUCCESS" if legal else "ING", "contextId": req.get("contextId"), "failReason": None, "createTime": now_ms(), "modifyTime": now_ms(), "notifyUrl": req["notifyUrl"], "orgId": org["orgId"], "orgName": org["name"], "payment": None}
                return self.envelope({"flowId": flow_id})
            if parts[:5] == ["v2", "identity", "auth", "pub", "organization"] and len(parts) == 7 and parts[6] == "reversePayment":
                flow = st.org_flows.get(parts[5])
                if flow is None:
                    return self.envelope(None, 30500004, "认证流程不存在")
                if flow["flowStatus"] in ("SUCCESS", "FAIL"):
                    return self.envelope(None, 30500002, "认证流程已结束")
                if flow["payment"] is None:
                    flow["payment"] = {"process": "CREATED", "message": "收款账户已创建", "subAccount": "6225880212345678901", "subAccountChannelName": "招商银行", "mainAccountName": "e签宝收款户", "mainAccountBank": "招商银行杭州分行", "createTime": str(now_ms()), "modifyTime": str(now_ms())}
                pay = flow["payment"]
                return self.envelope({"mainAccountName": pay["mainAccountName"], "subAccountNo": pay["subAccount"], "mainAccountBank": pay["mainAccountBank"], "paymentAmount": "0.01"})
            if parts[:5] == ["v2", "identity", "auth", "api", "individual"] and len(parts) == 7 and parts[6] == "face":
                if parts[5] not in st.accounts.values() or not req.get("notifyUrl"):
                    return self.envelope(None, 1435002, "参数错误")
                flow_id = str(800000000000000000 + len(st.flows) + 1)
                st.flows[flow_id] = {"flowId": flow_id, "flowStatus": "ING", "contextId": req.get("contextId"), "failReason": None, "createTime": now_ms(), "modifyTime": now_ms(), "notifyUrl": req["notifyUrl"], "accountId": parts[5]}
                url = f"http://{self.headers.get('Host')}/standin/face/{flow_id}"
                return self.envelope({"flowId": flow_id, "authUrl": url, "originalUrl": url + "?long=1"})
            if parts[:5] == ["v2", "identity", "auth", "api", "individual"] and len(parts) == 7 and parts[6] == "telecom3Factors":
                # esign.md §10: name and identity number are the account's; the code goes to mobileNo.
                if parts[5] not in st.accounts.values() or not req.get("mobileNo") or not req.get("notifyUrl"):
                    return self.envelope(None, 1435002, "参数错误")
                flow_id = str(800000000000000000 + len(st.flows) + 1)
                code = f"{secrets.randbelow(1000000):06d}"
                st.flows[flow_id] = {"flowId": flow_id, "flowStatus": "ING", "contextId": req.get("contextId"), "failReason": None, "createTime": now_ms(), "modifyTime": now_ms(), "notifyUrl": req["notifyUrl"], "accountId": parts[5], "smsCode": code, "wrong": 0}
                return self.envelope({"flowId": flow_id})
            if parts[:2] == ["v1", "organizations"] and parts[3:] == ["seals", "officialtemplate"]:
                seals = st.seals.get(parts[2])
                if seals is None:
                    return self.envelope(None, 1435203, "机构不存在")
                if not req.get("alias") or req.get("color") not in ("RED", "BLUE", "BLACK") or req.get("type") not in ("TEMPLATE_ROUND", "TEMPLATE_OVAL") or req.get("central") not in ("STAR", "NONE"):
                    return self.envelope(None, 1435002, "参数错误")
                if len(req.get("htext") or "") > 8 or len(req.get("qtext") or "") > 20:
                    return self.envelope(None, 1435002, "参数错误")
                if any(seal["alias"] == req["alias"] for seal in seals):
                    return self.envelope(None, 60001, "印章别名已存在")
                seal = {"sealId": str(uuid.uuid4()), "alias": req["alias"], "createDate": now_ms(), "defaultFlag": False, "fileKey": "$" + uuid.uuid4().hex + "$", "width": req.get("width", 159), "height": req.get("height", 159), "sealType": 1}
                seals.append(seal)
                url = f"http://{self.headers.get('Host')}/standin/seals/{seal['sealId']}.png?expires={now_ms() + 3600000}"
                return self.envelope({"sealId": seal["sealId"], "fileKey": seal["fileKey"], "url": url, "width": seal["width"], "height": seal["height"]})
            if parts[:2] == ["v1", "organizations"] and parts[3:] == ["seals", "image"]:
                # esign.md §8: a PNG in base64 without a data: prefix.
                seals = st.seals.get(parts[2])
                if seals is None:
                    return self.envelope(None, 1435203, "机构不存在")
                try:
                    png = base64.b64decode(req.get("data") or "", validate=True)
                except ValueError:
                    png = b""
                if not req.get("alias") or req.get("type") != "BASE64" or not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > 1024 * 1024:
                    return self.envelope(None, 1435002, "参数错误")
                if any(seal["alias"] == req["alias"] for seal in seals):
                    return self.envelope(None, 60001, "印章别名已存在")
                seal = {"sealId": str(uuid.uuid4()), "alias": req["alias"], "createDate": now_ms(), "defaultFlag": False, "fileKey": "$" + uuid.uuid4().hex + "$", "width": req.get("width", 159), "height": req.get("height", 159), "sealType": 2}
                seals.append(seal)
                url = f"http://{self.headers.get('Host')}/standin/seals/{seal['sealId']}.png?expires={now_ms() + 3600000}"
                return self.envelope({"sealId": seal["sealId"], "fileKey": seal["fileKey"], "url": url, "width": seal["width"], "height": seal["height"]})
            if self.path == "/v1/authorizations":
                if not req.get("organizeId") or not req.get("notifyUrl") or req.get("authType") not in (1, 2):
                    return self.envelope(None, 1435002, "参数错误")
                auth_id = uuid.uuid4().hex
                st.auths[auth_id] = {"authId": auth_id, "authorizerType": 1, "organizeId": req["organizeId"], "legalRepId": None, "authType": req["authType"], "personId": req.get("personId"), "authDownloadUrl": None, "status": 1, "authDes": None, "beginDate": None, "endDate": req.get("validDate"), "notifyUrl": req["notifyUrl"]}
                return self.envelope({"authId": auth_id})
        self.envelope(None, 404, "no such endpoint")

    def do_PUT(self):
        body = self.body()
        self.record(body)
        if not self.verified(body):
            return
        try:
            req = json.loads(body)
        except ValueError:
            return self.envelope(None, 1435002, "参数错误")
        parts = urlsplit(self.path).path.strip("/").split("/")
        st = self.state
        if parts[:2] == ["v1", "organizations"] and len(parts) == 6 and parts[3] == "seals" and parts[5] == "setDefault":
            with st.lock:
                seals = st.seals.get(parts[2], [])
                if not any(seal["sealId"] == parts[4] for seal in seals):
                    return self.envelope(None, 60002, "印章不存在")
                for seal in seals:
                    seal["defaultFlag"] = seal["sealId"] == parts[4]
            return self.envelope(None)
        if parts[:5] == ["v2", "identity", "auth", "pub", "individual"] and len(parts) == 7 and parts[6] == "telecom3Factors":
            with st.lock:
                flow = st.flows.get(parts[5])
                if flow is None or "smsCode" not in flow:
                    return self.envelope(None, 30500001, "认证流程不存在")
                if flow["flowStatus"] in ("SUCCESS", "FAIL"):
                    return self.envelope(None, 30500002, "认证流程已结束")
                if req.get("authcode") != flow["smsCode"]:
                    flow["wrong"] += 1
                    if flow["wrong"] < 3:
                        return self.envelope(None, 30503002, "验证码错误")
                    flow.update(flowStatus="FAIL", failReason="验证码错误次数过多", modifyTime=now_ms())
                else:
                    flow.update(flowStatus="SUCCESS", modifyTime=now_ms())
                ok = flow["flowStatus"] == "SUCCESS"
                event = {"action": "identity_psn_end", "flowId": flow["flowId"], "accountId": flow["accountId"], "success": ok, "contextId": flow["contextId"], "timestamp": now_ms()}
                url = flow["notifyUrl"]
            self.notify(url, event)
            return self.envelope(None) if ok else self.envelope(None, 30503004, "验证码错误次数过多")
        self.envelope(None, 404, "no such endpoint")

    def control(self, body: bytes):
        parts = urlsplit(self.path).path.strip("/").split("/")
        st = self.state
        if self.command == "GET" and parts == ["standin", "requests"]:
            with st.lock:
                return self.reply(200, st.requests)
        if self.command == "GET" and parts == ["standin", "refusals"]:
            with st.lock:
                return self.reply(200, st.refusals)
        if self.command == "GET" and len(parts) == 3 and parts[1] == "sms":
            with st.lock:
                flow = st.flows.get(parts[2])
                return self.reply(200, {"code": flow.get("smsCode") if flow else None})
        if len(parts) == 4 and parts[1] == "face" and parts[3] in ("pass", "fail"):
            with st.lock:
                flow = st.flows.get(parts[2])
                if flow is None:
                    return self.reply(404, {"error": "no such flow"})
                ok = parts[3] == "pass"
                flow.update(flowStatus="SUCCESS" if ok else "FAIL", failReason=None if ok else "人脸比对不通过", modifyTime=now_ms())
                event = {"action": "FACE_AUTH_RESULT", "flowId": flow["flowId"], "accountId": flow["accountId"], "success": ok, "failReason": flow["failReason"], "contextId": flow["contextId"], "timestamp": now_ms()}
                url = flow["notifyUrl"]
            return self.reply(200, {"callbackStatus": self.notify(url, event)})
        if len(parts) == 4 and parts[1] == "auth" and parts[3] == "sign":
            with st.lock:
                auth = st.auths.get(parts[2])
                if auth is None:
                    return self.reply(404, {"error": "no such authorization"})
                auth.update(status=2, authDes="已签署", beginDate=now_ms(), authDownloadUrl=f"http://{self.headers.get('Host')}/standin/files/{auth['authId']}.pdf")
                event = {"action": "AUTHORIZATION_RESULT", "authId": auth["authId"], "status": 2, "authDes": "已签署", "timestamp": now_ms()}
                url = auth["notifyUrl"]
            return self.reply(200, {"callbackStatus": self.notify(url, event)})
        if len(parts) == 3 and parts[1] == "pay" and self.command == "POST":
            with st.lock:
                flow = st.org_flows.get(parts[2])
                if flow is None or flow["payment"] is None:
                    return self.reply(404, {"error": "no such payment"})
                flow["payment"].update(process="ORGANFINISHED", message="打款成功", oppAccountNo="6222020200112233", oppAccountName=flow["orgName"], oppBankName="中国工商银行", payAmount="0.01", tradeTime=str(now_ms()), bizFlowNo="B1", modifyTime=str(now_ms()))
                flow.update(flowStatus="SUCCESS", modifyTime=now_ms())
                # esign.md §11: a company's end without an `action`, as e签宝 sends it to an
                # application that subscribed to none.
                event = {"flowId": flow["flowId"], "success": True, "accountId": flow["orgId"], "contextId": flow["contextId"], "agentFlowId": "a", "agentAccountId": "b", "timestamp": now_ms()}
                url = flow["notifyUrl"]
            return self.reply(200, {"callbackStatus": self.notify(url, event)})
        if len(parts) == 3 and parts[1] == "mismatch":
            with st.lock:
                (st.mismatches.discard if self.command == "DELETE" else st.mismatches.add)(parts[2])
            return self.reply(200, {"mismatches": sorted(st.mismatches)})
        self.reply(404, {"error": "unknown control path"})

    def notify(self, url: str, event: dict) -> int:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        ts = str(now_ms())
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=UTF-8",
            "X-Tsign-Open-App-Id": self.state.app_id,
            "X-Tsign-Open-TIMESTAMP": ts,
            "X-Tsign-Open-SIGNATURE": callback_signature(self.state.secret, ts, url, body),
            "X-Tsign-Open-SIGNATURE-ALGORITHM": "hmac-sha256",
        })
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def self_check() -> None:
    """The worked vectors of esign.md, so the stand-in itself is known to sign right."""
    s = "etc-esign-demo-secret-not-real-01"
    ct = CONTENT_TYPE
    assert request_signature(s, "GET", "*/*", "", ct, "/v2/identity/auth/api/common/803719636976683872/outline") == "1pqcPFSsjAIVrxM7VCcQki1pbvdEWPGzYBoxTJD8mCg="
    v2 = '{"thirdPartyUserId":"ETC000123456","name":"张三","idType":"CRED_PSN_CH_IDCARD","idNumber":"11010519491231002X","mobile":"13800138000"}'.encode()
    md5 = base64.b64encode(hashlib.md5(v2).digest()).decode()
    assert md5 == "mxXdCCRVA+eGrNgsqfj14A=="
    assert request_signature(s, "POST", "*/*", md5, ct, "/v1/accounts/createByThirdPartyUserId") == "ROIY5OhGMCGWkieYBNpwPkril883eWOVTShOgkMgRRU="
    assert request_signature(s, "GET", "*/*", "", ct, "/v1/authorizations?pageSize=20&authId=a1b2c3&pageNum=1") == "isaMwkW3zRS/SucbwCAoaQV9wagOWR4FtFo98EBb4lc="
    c1 = b'{"action":"FACE_AUTH_RESULT","flowId":"803719636976683872","accountId":"6b3e1a9f0c2d4e5f8a7b9c0d1e2f3a4b","success":true,"contextId":"ETC000123456","timestamp":1732262400100}'
    assert callback_signature(s, "1732262400123", "https://x/esign/callback", c1) == "143c9fbfbc23dc8e2bfa6eca17924b938d2244be4946f7a50043e014971c19d3"
    assert callback_signature(s, "1732262400123", "https://x/esign/callback?memberNo=ETC000123456&kind=face", c1) == "c5aafd062d1bec1ffaf345bcbc2fd88862c3c48fb3bd5145fd11e7dd144a0640"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    self_check()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.app_id, args.secret)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
