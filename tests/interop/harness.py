"""Shared pieces of the interop suite: a check recorder, the `dev` server as a child process, small
HTTP helpers for the simulator's pages, and waiting with a deadline (never a fixed sleep)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

# The caller pair `dev` accepts (README: "dev prints the caller pair it accepts").
SYS_ID = "E02"
TOKEN = "dev-token-not-secret"
METADATA = (("etc-sys-id", SYS_ID), ("etc-token", TOKEN))


class CheckFailed(AssertionError):
    pass


@dataclass
class Recorder:
    """Counts what the suite did and which checks passed; prints one line per check."""

    suite: str
    passed: int = 0
    failed: list = field(default_factory=list)
    calls: int = 0
    faults: int = 0
    transitions: int = 0

    def check(self, name: str, cond: bool, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            print(f"  ok    {self.suite}: {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"  FAIL  {self.suite}: {name}" + (f"\n        {detail}" if detail else ""), flush=True)
        return cond

    def require(self, name: str, cond: bool, detail: str = "") -> None:
        """A check the rest of the walk depends on: stop the suite when it fails."""
        if not self.check(name, cond, detail):
            raise CheckFailed(name)

    def run(self, body: Callable[["Recorder"], None]) -> None:
        try:
            body(self)
        except CheckFailed:
            print(f"  ..    {self.suite}: stopped after a failed prerequisite", flush=True)
        except Exception as e:  # an unexpected error is a failed check, not a crash of the runner
            self.failed.append(f"unexpected {type(e).__name__}: {e}")
            print(f"  FAIL  {self.suite}: unexpected {type(e).__name__}: {e}", flush=True)


def eventually(within_s: float, what: str, probe: Callable[[], Optional[T]], every_s: float = 0.05) -> T:
    """Polls `probe` until it answers something other than None; raises after `within_s`."""
    deadline = time.monotonic() + within_s
    last_error: Optional[Exception] = None
    while True:
        try:
            value = probe()
            if value is not None:
                return value
        except Exception as e:  # noqa: BLE001 - the probe may fail until the state is reached
            last_error = e
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {within_s}s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(every_s)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Optional[dict] = None, timeout: float = 10.0) -> tuple[int, str]:
    """One HTTP exchange with the simulator (loopback only); answers (status, body text)."""
    assert url.startswith("http://127.0.0.1:"), f"loopback only: {url}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    elif method == "POST":
        req.data = b""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


@dataclass
class DevServer:
    """`etc-esign dev` on a fresh SQLite file, loopback addresses only."""

    binary: str
    grpc_port: int
    http_port: int
    sim_port: int
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="etc-esign-interop-"))
    proc: Optional[subprocess.Popen] = None

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def sim_base(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "server.log")

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ESIGN_", "ETC_", "DATABASE_", "DATA_KEYS"))}
        env.update(
            DATABASE_URL=f"sqlite://{self.workdir}/x.db",
            GRPC_ADDR=self.grpc_addr,
            HTTP_ADDR=f"127.0.0.1:{self.http_port}",
            SIM_ADDR=f"127.0.0.1:{self.sim_port}",
            RUST_LOG=env.get("RUST_LOG", "info,sqlx=warn,sea_orm=warn,h2=warn,hyper=warn"),
        )
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.binary, "dev"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)

    def wait_serving(self, probe: Callable[[], bool], within_s: float = 30.0) -> None:
        def up() -> Optional[bool]:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"etc-esign dev exited with {self.proc.returncode}; see {self.log_path}")
            return True if probe() else None

        eventually(within_s, "etc-esign dev to serve", up, every_s=0.1)

    def stop(self) -> Optional[int]:
        """SIGTERM (a graceful drain), then SIGKILL if it does not stop within 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""
