"""The interop suite: starts `etc-esign dev` (the built binary) on a fresh SQLite file, runs real
grpcurl (README examples included) and a grpcio client generated from proto/, stops the server with
SIGTERM, prints a pass/fail summary and exits non-zero on any failure.

    .tools/venv/bin/python tests/interop/run.py --bin target/debug/etc-esign [--counts-file F]

Ports: the README's defaults (gRPC 50051, HTTP 8080, simulator 8090) when all three are free on
127.0.0.1, otherwise three free ones (the README check then rewrites the address, and says so)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import client_suite  # noqa: E402
import grpcurl_suite  # noqa: E402
import protos  # noqa: E402
from harness import DevServer, Recorder, free_port, port_free  # noqa: E402

DEFAULT_PORTS = (50051, 8080, 8090)


def serving(addr: str) -> bool:
    try:
        with grpc.insecure_channel(addr) as ch:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="etc.esign.v1.AuthService"), timeout=1)
            return r.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the built etc-esign binary")
    ap.add_argument("--tools-bin", default=os.path.dirname(sys.executable), help="folder holding grpcurl (the venv's bin)")
    ap.add_argument("--counts-file", help="append one JSON line of counts here")
    args = ap.parse_args()

    started = time.monotonic()
    pb2, pb2_grpc = protos.generate()
    print(f"interop: stubs generated from proto/{protos.AUTH_PROTO} with grpcio-tools")

    if all(port_free("127.0.0.1", p) for p in DEFAULT_PORTS):
        ports = DEFAULT_PORTS
    else:
        ports = (free_port(), free_port(), free_port())
        print(f"interop: a default port is taken; using gRPC {ports[0]}, HTTP {ports[1]}, simulator {ports[2]}")
    server = DevServer(binary=os.path.abspath(args.bin), grpc_port=ports[0], http_port=ports[1], sim_port=ports[2])
    server.start()
    recorders = [Recorder("grpcurl"), Recorder("grpcio")]
    try:
        server.wait_serving(lambda: serving(server.grpc_addr))
        print(f"interop: etc-esign dev serving on {server.grpc_addr} (simulator {server.sim_base})")
        print("== grpcurl")
        recorders[0].run(lambda rec: grpcurl_suite.suite(rec, server, args.tools_bin, pb2))
        print("== grpcio client")
        recorders[1].run(lambda rec: client_suite.suite(rec, server, pb2, pb2_grpc))
    except Exception as e:  # noqa: BLE001 - the server did not start: report it as a failure
        recorders[0].failed.append(f"server: {e}")
        print(f"  FAIL  server: {e}")
    finally:
        code = server.stop()
        stop = Recorder("server")
        stop.check("SIGTERM stops etc-esign dev with exit code 0", code == 0, f"exit code {code}")
        recorders.append(stop)
        if any(r.failed for r in recorders):
            print("---- server log (tail)\n" + server.log_tail())

    passed = sum(r.passed for r in recorders)
    failed = [f"{r.suite}: {name}" for r in recorders for name in r.failed]
    calls = sum(r.calls for r in recorders)
    faults = sum(r.faults for r in recorders)
    transitions = sum(r.transitions for r in recorders)
    if args.counts_file:
        with open(args.counts_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": "interop-python", "calls": calls, "faults": faults, "transitions": transitions, "lost": 0, "duplicated": 0}) + "\n")
    for name in failed:
        print(f"failed: {name}")
    print(f"interop (grpcurl + grpcio): calls={calls} faults={faults} transitions={transitions} in {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
