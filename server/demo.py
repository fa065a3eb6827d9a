"""`run.py --demo`: a live auction to watch within seconds of starting.

Everything goes through the public API and `/ws`, as real clients in this
process: the operator uploads generated pictures and creates a session that
goes live two seconds later (anti-sniping on) with a few lots and a coupon to
claim; a few bidders log in with the sandbox code, pay the session deposit
and bid now and then over their own sockets until the lots close."""
import asyncio
import logging
import random
import secrets
import struct
import time
import zlib
from datetime import datetime, timezone

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

log = logging.getLogger("gavel.demo")

LIVE_IN_S = 2
LASTS_S = 30 * 60
BIDDERS = 4
FEATURED_SHARE = 0.6  # of the bids, on the first lot (the one printed)
LOTS = [
    ("建盏 · 兔毫束口盏", "宋", (60, 38, 28), (214, 196, 170), 180000, 20000, (300000, 800000)),
    ("青白瓷 · 刻花茶碗", "元", (150, 178, 170), (236, 232, 220), 120000, 10000, (150000, 400000)),
    ("紫砂 · 石瓢壶", "清", (120, 60, 40), (226, 210, 190), 90000, 10000, (120000, 300000)),
    ("锡制 · 茶叶罐", "民国", (140, 140, 150), (240, 236, 228), 30000, 5000, (40000, 90000)),
]


def png(width: int, height: int, pixel) -> bytes:
    """An RGB PNG from pixel(x, y) -> (r, g, b), with zlib and struct only."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def bowl(glaze: tuple, ground: tuple, view: int, size: int = 160) -> bytes:
    """A vessel on a plain ground: a bowl seen from the side (view 0), tilted (1), or from above (2)."""
    cx, cy = size / 2, size * (0.42 if view < 2 else 0.5)
    rx, ry = size * 0.36, size * (0.34 if view == 0 else 0.28 if view == 1 else 0.36)

    def pixel(x, y):
        dx, dy = (x - cx) / rx, (y - cy) / ry
        inside = dx * dx + dy * dy <= 1 and (view == 2 or y >= cy - (ry * 0.25 if view == 1 else 0))
        if view < 2 and abs(x - cx) < rx * 0.3 and cy + ry * 0.9 <= y < cy + ry + size * 0.06:
            return tuple(int(c * 0.55) for c in glaze)  # the foot ring
        if inside:
            shade = 0.65 + 0.35 * (1 - abs(dx))
            rim = view == 2 and dx * dx + dy * dy > 0.8
            return tuple(min(255, int(c * (1.25 if rim else shade))) for c in glaze)
        fade = 1 - 0.15 * y / size
        return tuple(int(c * fade) for c in ground)
    return png(size, size, pixel)


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Client:
    """The HTTP API as any client calls it."""

    def __init__(self, base: str, token: str = ""):
        self.base, self.token, self.http = base, token, AsyncHTTPClient()

    async def call(self, method: str, path: str, body=None, raw: bytes | None = None, content_type: str = "application/json"):
        headers = {"Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        data = raw if raw is not None else orjson.dumps(body if body is not None else {})
        resp = await self.http.fetch(HTTPRequest(self.base + path, method=method, headers=headers,
                                                 body=data if method != "GET" else None), raise_error=False)
        answer = orjson.loads(resp.body) if resp.body else None
        if resp.code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.code} {answer}")
        return answer

    async def upload(self, image: bytes) -> str:
        boundary = secrets.token_hex(12)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"demo.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
        return (await self.call("POST", "/api/admin/uploads", raw=body,
                                content_type=f"multipart/form-data; boundary={boundary}"))["url"]


async def seed(operator: Client) -> tuple[dict, list[dict]]:
    """The session and its lots, pictures uploaded first so the session goes live on time,
    and a coupon of the session to claim in the claim centre."""
    pictures = []
    for _title, _era, glaze, ground, *_ in LOTS:
        pictures.append([await operator.upload(bowl(glaze, ground, view)) for view in range(3)])
        await asyncio.sleep(0)
    now = time.time()
    session = await operator.call("POST", "/api/admin/auctions", {
        "title": "演示专场 · 宋元明清茶器", "cover": pictures[0][0], "preview_start": iso(now), "preview_end": iso(now + 1),
        "auction_start": iso(now + LIVE_IN_S), "auction_end": iso(now + LASTS_S), "deposit": 20000,
        "extend_window_s": 30, "extend_by_s": 30, "max_extend_s": 120})
    lots = []
    for (title, era, _glaze, _ground, start, step, (low, high)), urls in zip(LOTS, pictures):
        lots.append(await operator.call("POST", f"/api/admin/auctions/{session['id']}/lots", {
            "title": title, "cover": urls[0], "start_price": start, "increment": step, "deposit": 10000,
            "estimate_low": low, "estimate_high": high,
            "images": [{"url": url, "carousel": True, "order": i} for i, url in enumerate(urls)],
            "specs": [{"key": "年代", "value": era}, {"key": "来源", "value": "演示数据"}]}))
    await operator.call("POST", "/api/admin/coupons", {
        "title": "演示专场 满减券", "cover": pictures[1][2], "kind": "threshold", "value": 20000, "min_spend": 200000,
        "count": 50, "scope": "auction", "auction_id": session["id"], "claim_start": iso(now), "claim_end": iso(now + LASTS_S)})
    return session, lots


class Bidder:
    """A logged-in bidder with a paid session deposit and a socket."""

    def __init__(self, base: str, ws_url: str, session_id: str):
        self.base, self.ws_url, self.session_id = base, ws_url, session_id
        self.api, self.conn, self.reader, self.n = Client(base), None, None, 0

    async def join(self, lot_ids: list[str], market: dict) -> None:
        phone = f"1{random.randint(30, 99)}{secrets.randbelow(10**8):08d}"
        sent = await self.api.call("POST", "/api/auth/code", {"phone": phone})
        if "dev_code" not in sent:
            raise RuntimeError("the demo needs the SMS sandbox (SMS_SANDBOX=1) to log its bidders in")
        self.api.token = (await self.api.call("POST", "/api/auth/login", {"phone": phone, "code": sent["dev_code"]}))["token"]
        await self.api.call("POST", "/api/deposits", {"auction_id": self.session_id, "lot_id": None, "pay_type": "balance"})
        self.conn = await websocket_connect(self.ws_url)
        await self.conn.write_message(orjson.dumps({"op": "auth", "token": self.api.token}).decode())
        for lot_id in lot_ids:
            await self.conn.write_message(orjson.dumps({"op": "subscribe", "lot": lot_id}).decode())
        self.reader = asyncio.ensure_future(self.read(market))

    async def read(self, market: dict) -> None:
        """Keep reading (a watcher that stops is dropped) and keep the shared view of each lot."""
        while (raw := await self.conn.read_message()) is not None:
            frame = orjson.loads(raw)
            if frame["type"] == "snapshot":
                market[frame["lot"]["id"]].update(frame["lot"])
            elif frame["type"] in ("bid", "status") and frame["seq"] >= market[frame["lot"]]["seq"]:
                market[frame["lot"]].update({k: frame[k] for k in ("seq", "status", "price", "next_min") if k in frame})

    async def bid(self, lot_id: str, price: int) -> None:
        self.n += 1
        await self.conn.write_message(orjson.dumps({"op": "bid", "lot": lot_id, "price": price, "id": f"demo-{self.n}"}).decode())

    def close(self) -> None:
        if self.reader:
            self.reader.cancel()
        if self.conn:
            self.conn.close()


async def bid_now_and_then(bidders: list[Bidder], lots: list[dict], market: dict) -> None:
    """The first lot gets a bid at once, then every lot one every second or few,
    fewer once its price passes the high estimate, until every lot has closed."""
    featured, first = lots[0]["id"], True
    while True:
        open_lots = [lot for lot in lots if market[lot["id"]]["status"] in ("live", "paused", "preview", "scheduled")]
        if not open_lots:
            return
        live = [lot for lot in open_lots if market[lot["id"]]["status"] == "live"]
        if live:
            chosen = first or random.random() < FEATURED_SHARE
            lot = next((x for x in live if x["id"] == featured and chosen), None) or random.choice(live)
            first = False
            view = market[lot["id"]]
            if view["price"] < lot["estimate_high"] or random.random() < 0.25:
                price = view["next_min"] + (lot["increment"] if random.random() < 0.2 else 0)
                await random.choice(bidders).bid(lot["id"], price)  # already leading or too late: refused, no harm
        await asyncio.sleep(random.uniform(0.6, 2.5) if live else 0.2)


async def run(host: str, port: int, admin_token: str) -> None:
    base, ws_url = f"http://{host}:{port}", f"ws://{host}:{port}/ws"
    bidders: list[Bidder] = []
    try:
        session, lots = await seed(Client(base, admin_token))
        print(f"Demo: a live auction starts in {LIVE_IN_S} s. Watch the lot room: {base}/lot.html?id={lots[0]['id']}", flush=True)
        print(f"Demo: the session {base}/auction.html?id={session['id']} ; coupons to claim {base}/coupons.html ; "
              f"the console {base}/admin/ (operator token above)", flush=True)
        market = {lot["id"]: {"seq": 0, "status": lot["status"], "price": 0, "next_min": lot["start_price"]} for lot in lots}
        bidders = [Bidder(base, ws_url, session["id"]) for _ in range(BIDDERS)]
        await asyncio.gather(*(b.join([lot["id"] for lot in lots], market) for b in bidders))
        await bid_now_and_then(bidders, lots, market)
        log.info("demo: every lot has closed")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the demo stopped")
    finally:
        for bidder in bidders:
            bidder.close()
