"""A real Gavel server process for end-to-end tests, and a small HTTP/WebSocket
client for talking to it the way a browser or mini-program would."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parent.parent
RUN_PREFIX = f"gavel-test-{secrets.token_hex(4)}:"  # pub/sub channels are global to a Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GavelServer:
    """`python run.py` on a free port, with its own data dir and database."""

    def __init__(self, data_dir: Path, mongodb_url: str = "", redis: bool = True,
                 prefix: str | None = None, args: tuple = (), **env):
        self.data_dir, self.args = Path(data_dir), list(args)
        self.port = free_port()
        self.admin_token = str(env.pop("ADMIN_TOKEN")) if "ADMIN_TOKEN" in env else secrets.token_urlsafe(24)
        self.env = {
            **os.environ, "PORT": str(self.port), "DATA_DIR": str(self.data_dir),
            "ADMIN_TOKEN": self.admin_token, "SMS_SANDBOX": "1", "PAYMENT_SANDBOX": "1",
            "MONGODB_URL": mongodb_url,
            "REDIS_URL": "redis://127.0.0.1:6379/0" if redis else "",
            "REDIS_PREFIX": prefix or f"{RUN_PREFIX}{secrets.token_hex(3)}:",
            "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in env.items()},
        }
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def restart(self, **env) -> "GavelServer":
        """Stop (if running) and start again on the same port, data and database."""
        self.stop()
        self.env.update({k: str(v) for k, v in env.items()})
        return self.start()

    def start(self, timeout: float = 20) -> "GavelServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *self.args], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy in {timeout}s:\n{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode if self.proc else 0

    def log_text(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")[-5000:]


class Api:
    """JSON over HTTP, answering (status, body) and never raising on 4xx."""

    def __init__(self, base_url: str, token: str = ""):
        self.base_url, self.token = base_url, token
        self.http = AsyncHTTPClient()

    def as_(self, token: str) -> "Api":
        return Api(self.base_url, token)

    async def call(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None,
                   headers: dict | None = None):
        token = self.token if token is None else token
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"token {token}"
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if data is None and method in ("POST", "PUT"):
            data = b"{}"
        req = HTTPRequest(self.base_url + path, method=method, headers=hdrs, body=data,
                          allow_nonstandard_methods=True, request_timeout=30)
        resp = await self.http.fetch(req, raise_error=False)
        if resp.code == 599:
            raise resp.error
        try:
            payload = orjson.loads(resp.body) if resp.body else None
        except orjson.JSONDecodeError:
            payload = resp.body.decode(errors="replace")
        return resp.code, payload

    async def get(self, path, **kw):
        return await self.call("GET", path, **kw)

    async def post(self, path, body=None, **kw):
        return await self.call("POST", path, body, **kw)

    async def put(self, path, body=None, **kw):
        return await self.call("PUT", path, body, **kw)

    async def delete(self, path, **kw):
        return await self.call("DELETE", path, **kw)

    async def login(self, phone: str) -> tuple[str, dict]:
        status, sent = await self.post("/api/auth/code", {"phone": phone}, token="")
        assert status == 200, sent
        status, body = await self.post("/api/auth/login", {"phone": phone, "code": sent["dev_code"]}, token="")
        assert status == 200, body
        return body["token"], body["user"]


class Socket:
    """A WebSocket client that keeps every frame it receives."""

    def __init__(self, conn):
        self.conn = conn

    @classmethod
    async def open(cls, ws_url: str, token: str = "", origin: str | None = None):
        url = ws_url + (f"?token={token}" if token else "")
        headers = {"Origin": origin} if origin else {}
        return cls(await websocket_connect(HTTPRequest(url, headers=headers)))

    async def send(self, message: dict) -> None:
        await self.conn.write_message(orjson.dumps(message).decode())

    async def recv(self, timeout: float = 5) -> dict | None:
        import asyncio
        raw = await asyncio.wait_for(self.conn.read_message(), timeout)
        return None if raw is None else orjson.loads(raw)

    async def until(self, predicate, timeout: float = 5) -> dict:
        """The next frame for which predicate(frame) holds, skipping others."""
        import asyncio
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            frame = await self.recv(max(left, 0.001))
            if frame is None:
                raise ConnectionError(f"closed: {self.conn.close_code} {self.conn.close_reason}")
            if predicate(frame):
                return frame

    def close(self) -> None:
        self.conn.close()
