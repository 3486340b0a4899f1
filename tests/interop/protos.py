"""Python stubs generated from the repository's proto/ at test time with grpcio-tools, as any other
ETC service would generate them. google/protobuf/timestamp.proto comes with grpcio-tools; the
google.rpc messages for decoding `grpc-status-details-bin` come from googleapis-common-protos."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from types import ModuleType

import grpc_tools
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")
AUTH_PROTO = "etc/esign/v1/auth.proto"


def generate() -> tuple[ModuleType, ModuleType]:
    """Compiles proto/etc/esign/v1/auth.proto into a fresh folder; answers (auth_pb2, auth_pb2_grpc)."""
    out = tempfile.mkdtemp(prefix="etc-esign-stubs-")
    bundled = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{bundled}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            AUTH_PROTO,
        ]
    )
    if code != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with {code} on {AUTH_PROTO}")
    sys.path.insert(0, out)
    pb2 = importlib.import_module("etc.esign.v1.auth_pb2")
    pb2_grpc = importlib.import_module("etc.esign.v1.auth_pb2_grpc")
    return pb2, pb2_grpc
