"""Baseline for bench/fanout.py: the bidding subset of spec/ws.md on the
`websockets` library, with everything in memory.

Why: a fan-out figure for Gavel means little alone. This server does the
least a correct implementation must — check the price, number the bid, ack
it, broadcast one `bid` frame to the lot's watchers — with no database, auth
or deposits, so the gap to Gavel is the cost of everything else.

With `--raw` it is the floor instead: the same server writes one
pre-built frame to each watcher's transport in a plain loop (no
`broadcast()`, no per-connection framing), with `gc.freeze()` after
start-up: the issue's "raw socket writes" reference, the least a
single-threaded Python server pays per event on this machine.

Lots exist as soon as they are named. The `token` query parameter is taken
as the bidder's identity unchecked (only for the "not against yourself"
rule). Run: python bench/baseline_server.py --port 8765 [--raw]
"""
import argparse
import asyncio
import gc
import sys
import time
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from handlers.messages import text_frame  # noqa: E402  (the same frame bytes Gavel writes)


class Lot:
    """One lot's price state and its watchers."""

    def __init__(self, lot_id: str, start_price: int, increment: int, end_at: str):
        self.id = lot_id
        self.start_price = start_price
        self.increment = increment
        self.price = 0
        self.seq = 0
        self.leader = ""
        self.end_at = end_at
        self.watchers: set = set()

    @property
    def next_min(self) -> int:
        return self.price + self.increment if self.seq else self.start_price

    def snapshot(self) -> bytes:
        return orjson.dumps({
            "type": "snapshot",
            "lot": {"id": self.id, "status": "live", "price": self.price,
                    "start_price": self.start_price, "increment": self.increment,
                    "next_min": self.next_min, "bid_count": self.seq, "seq": self.seq,
                    "watchers": len(self.watchers), "end_at": self.end_at},
            "bids": [],
            "server_time": now_ms(),
        })


def now_ms() -> int:
    return int(time.time() * 1000)


def write_raw(connections, message: bytes) -> None:
    frame = text_frame(message)
    for ws in connections:
        ws.transport.write(frame)


def error(code: str, message: str, request_id=None, **extra) -> bytes:
    body = {"type": "error", "code": code, "message": message, **extra}
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body)


class Baseline:
    def __init__(self, start_price: int, increment: int, raw: bool = False):
        self.fan_out = write_raw if raw else lambda connections, message: broadcast(connections, message, text=True)
        self.start_price = start_price
        self.increment = increment
        end = datetime.fromtimestamp(time.time() + 3600, timezone.utc)
        self.end_at = end.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.lots: dict[str, Lot] = {}

    def lot(self, lot_id: str) -> Lot:
        lot = self.lots.get(lot_id)
        if lot is None:
            lot = self.lots[lot_id] = Lot(lot_id, self.start_price, self.increment, self.end_at)
        return lot

    async def handler(self, ws):
        user = parse_qs(urlsplit(ws.request.path).query).get("token", [""])[0]
        watching: set[Lot] = set()
        try:
            async for raw in ws:
                reply = self.handle(ws, user, watching, raw)
                if reply:
                    await ws.send(reply, text=True)
        except ConnectionClosed:
            pass  # load clients exit without a closing handshake
        finally:
            for lot in watching:
                lot.watchers.discard(ws)

    def handle(self, ws, user: str, watching: set, raw) -> bytes | None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return error("invalid_request", "not JSON")
        if not isinstance(msg, dict) or not isinstance(msg.get("lot"), str):
            return error("invalid_request", "expected an object with a lot")
        op, lot = msg.get("op"), self.lot(msg["lot"])
        if op == "subscribe":
            lot.watchers.add(ws)
            watching.add(lot)
            return lot.snapshot()
        if op == "unsubscribe":
            lot.watchers.discard(ws)
            watching.discard(lot)
            return None
        if op == "bid":
            return self.bid(ws, lot, user, msg)
        return error("invalid_request", "unknown op", msg.get("id"))

    def bid(self, ws, lot: Lot, user: str, msg: dict) -> bytes | None:
        request_id, price = msg.get("id"), msg.get("price")
        if not user:
            return error("unauthorized", "log in to bid", request_id)
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            return error("invalid_request", "price must be a non-negative integer", request_id)
        if price < lot.next_min:
            return error("bid_too_low", "below the next minimum", request_id, next_min=lot.next_min)
        if lot.seq and lot.leader == user:
            return error("already_leading", "you lead already", request_id)
        lot.price, lot.leader, lot.seq = price, user, lot.seq + 1
        ack = orjson.dumps({"type": "ack", "id": request_id, "lot": lot.id, "seq": lot.seq, "price": price})
        event = orjson.dumps({
            "type": "bid", "lot": lot.id, "seq": lot.seq, "price": price,
            "bidder": user[:1] + "*", "bid_count": lot.seq, "next_min": lot.next_min,
            "end_at": lot.end_at, "server_time": now_ms(),
        })
        # Both written synchronously, ack first: an `await` between seq
        # assignment and broadcast would let a later bid's frame overtake.
        self.fan_out([ws], ack)
        self.fan_out(lot.watchers, event)
        return None


def health(connection, request):
    """Answer /healthz and refuse other paths; /ws goes on to the upgrade."""
    path = urlsplit(request.path).path
    if path == "/healthz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    if path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--start-price", type=int, default=10000)
    parser.add_argument("--increment", type=int, default=100)
    parser.add_argument("--raw", action="store_true", help="write pre-built frames in a loop, after gc.freeze()")
    args = parser.parse_args()
    app = Baseline(args.start_price, args.increment, args.raw)
    async with serve(app.handler, args.host, args.port, process_request=health,
                     compression=None, max_size=4096, backlog=4096) as server:
        if args.raw:
            gc.collect()
            gc.freeze()
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
