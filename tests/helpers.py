"""Shared steps of the end-to-end tests, in the operator's and bidder's words."""
import asyncio
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import base64
import os
import socket

import orjson
from pymongo import AsyncMongoClient
from tornado.httpclient import HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from gavel_server import Socket
from server.gateways.sandbox import sandbox_platforms

_phone = iter(range(10**9))
ADDRESS = {"name": "张三", "phone": "13800138000", "province": "浙江", "city": "杭州", "county": "西湖区",
           "detail": "龙井路 1 号"}


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def session_body(preview_in: float = 3600, live_in: float = 7200, end_in: float = 10800, **extra) -> dict:
    now = time.time()
    return {"title": "第1场", "preview_start": iso(now + preview_in), "preview_end": iso(now + live_in),
            "auction_start": iso(now + live_in), "auction_end": iso(now + end_in), **extra}


def lot_body(**extra) -> dict:
    return {"title": "宋代茶盏", "start_price": 10000, "increment": 1000, "deposit": 5000,
            "estimate_low": 10000, "estimate_high": 50000, **extra}


async def create_session(admin, lots: int = 1, lot_extra: dict | None = None, **times) -> tuple[dict, list[dict]]:
    status, auction = await admin.post("/api/admin/auctions", session_body(**times))
    assert status == 201, auction
    created = []
    for i in range(lots):
        status, lot = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(title=f"拍品{i}", **(lot_extra or {})))
        assert status == 201, lot
        created.append(lot)
    return auction, created


def coupon_body(start_in: float = 0, stop_in: float = 600, **extra) -> dict:
    """A cash coupon, 20 元 off, ten of them, claimable from `start_in` s to `stop_in` s, valid 7 days."""
    now = time.time()
    return {"title": "新人立减", "kind": "cash", "value": 2000, "count": 10, "valid_days": 7,
            "claim_start": iso(now + start_in), "claim_end": iso(now + stop_in), **extra}


async def claiming_coupon(admin, **extra) -> dict:
    """A coupon being given out now."""
    status, coupon = await admin.post("/api/admin/coupons", coupon_body(**extra))
    assert status == 201, coupon
    return (await wait_for(lambda: admin.get(f"/api/admin/coupons/{coupon['id']}"),
                           lambda r: r[1]["status"] == "claiming", timeout=5))[1]


async def claim_all(urls: list[str], tokens: list[str], coupon_id: str) -> list[tuple[int, dict, float]]:
    """Every token claims the coupon at the same moment, over the nodes' URLs
    in turn, each on its own connection: (status, body, seconds) of each."""
    client = SimpleAsyncHTTPClient(force_instance=True, max_clients=len(tokens))

    async def one(i: int, token: str):
        request = HTTPRequest(f"{urls[i % len(urls)]}/api/coupons/{coupon_id}/claim", method="POST", body=b"{}",
                              headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
                              connect_timeout=60, request_timeout=60)
        started = time.monotonic()
        resp = await client.fetch(request, raise_error=False)
        return resp.code, orjson.loads(resp.body) if resp.body else None, time.monotonic() - started
    try:
        return await asyncio.gather(*(one(i, token) for i, token in enumerate(tokens)))
    finally:
        client.close()


async def wait_for(fetch, predicate, timeout: float = 10, every: float = 0.05):
    """Poll `fetch()` until `predicate(result)`; return the result."""
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if predicate(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last: {result}")
        await asyncio.sleep(every)


def next_phone() -> str:
    return f"139{time.time_ns() % 10**4:04d}{next(_phone):04d}"


async def live_lot(admin, lots: int = 1, end_in: float = 600, lot_extra: dict | None = None, **extra):
    """A session that goes live at once, with its lots; waits until they are live. The lots are
    added while its start is still far off, then the start is brought to now (on a busy machine a
    start a moment ahead could come before the lots)."""
    auction, created = await create_session(admin, lots=lots, preview_in=0, live_in=min(60, end_in - 0.1),
                                             end_in=end_in, lot_extra=lot_extra, **extra)
    start = iso(time.time())
    status, auction = await admin.put(f"/api/admin/auctions/{auction['id']}", {"preview_end": start,
                                                                               "auction_start": start})
    assert status == 200, auction
    for lot in created:
        await wait_for(lambda: admin.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["status"] == "live", timeout=5)
    return auction, [{**lot, "end_at": auction["auction_end"]} for lot in created]


async def bidder(api, auction_id: str, lot_id: str | None = None) -> tuple[str, dict]:
    """A logged-in user holding a paid deposit (a session deposit when lot_id is None)."""
    token, user = await api.login(next_phone())
    status, body = await api.post("/api/deposits", {"auction_id": auction_id, "lot_id": lot_id, "pay_type": "balance"},
                                  token=token)
    assert status == 201, body
    return token, user


@asynccontextmanager
async def database(url: str):
    """A database by URL (a server's: `server.env["MONGODB_URL"]`), to look
    behind the API or set up what no route does yet."""
    client = AsyncMongoClient(url)
    try:
        yield client.get_default_database()
    finally:
        await client.close()


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in `data`; fails on a torn one."""
    out = []
    while data:
        opcode, n, start = data[0] & 0x0F, data[1] & 0x7F, 2
        if n == 126:
            n, start = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, start = int.from_bytes(data[2:10], "big"), 10
        assert len(data) >= start + n, "a frame was cut short"
        out.append((opcode, data[start:start + n]))
        data = data[start + n:]
    return out


# --- the live protocol ---------------------------------------------------
def of_type(kind, **match):
    return lambda f: f["type"] == kind and all(f.get(k) == v for k, v in match.items())


async def watching(server, lot_id, token=""):
    sock = await Socket.open(server.ws_url, token)
    if token:
        await sock.until(of_type("auth"))
    await sock.send({"op": "subscribe", "lot": lot_id})
    snap = await sock.until(of_type("snapshot"))
    return sock, snap


def send_frame(sock: socket.socket, message: dict) -> None:
    payload = orjson.dumps(message)
    mask = os.urandom(4)
    sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def raw_subscriber(port: int, lot_id: str) -> socket.socket:
    """A WebSocket client with a tiny receive buffer that subscribes and then reads nothing."""
    sock = raw_client(port)
    send_frame(sock, {"op": "subscribe", "lot": lot_id})
    return sock


def raw_client(port: int) -> socket.socket:
    """A WebSocket client with a tiny receive buffer, connected, that reads nothing until told."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0]
    return sock


class EventRecorder:
    """An `events` publisher that keeps what the domain published."""

    def __init__(self):
        self.events = []

    async def publish(self, event):
        self.events.append(event)


# --- payments ------------------------------------------------------------
def signed_by_sandbox(server, payment: dict, amount: int | None = None, **extra) -> tuple[dict, bytes]:
    """A notification that `payment` was paid, signed as its gateway signs it,
    with the keys the server's sandbox generated (`amount`: another amount)."""
    platform = sandbox_platforms(server.data_dir)[payment["pay_type"]]
    amount = payment["amount"] if amount is None else amount
    return platform.notification(payment["out_trade_no"], amount, int(time.time() * 1000), **extra)


async def notify(api, pay_type: str, headers: dict, body: bytes):
    """Deliver a notification as the gateway does: (status, answer)."""
    return await api.call("POST", f"/api/payments/{pay_type}/notify", raw=body, headers=headers, token="")
