"""Every message the server sends over `/ws` (docs/ws.md, "Server messages"),
shaped here and nowhere else, with its status labels; `frame` turns one into the bytes of a WebSocket frame,
built once per event per node and written as is to every watcher."""
import struct

import orjson

from domain.bidding import reserve_met
from domain.clock import to_iso
from domain.errors import DomainError
from domain.lots import next_min
from domain.states import AUCTION_TEXT, COUPON_TEXT, LOT_TEXT, OFFER_TEXT


def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed server→client text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def frame(message: dict) -> bytes:
    return text_frame(orjson.dumps(message))


def history_bid(doc: dict) -> dict:
    """A bid of the history as a snapshot lists it."""
    return {"seq": doc["seq"], "price": doc["price"], "bidder": doc["bidder"], "paddle": doc.get("paddle", 0),
            "status": doc["status"], "created_at": to_iso(doc["created_at"])}


def snapshot(lot: dict, bids: list[dict], watchers: int, now: int) -> dict:
    return {"type": "snapshot", "server_time": now, "lot": {
        "id": lot["_id"], "auction_id": lot["auction_id"], "title": lot["title"], "status": lot["status"],
        "status_text": LOT_TEXT[lot["status"]], "price": lot["price"], "start_price": lot["start_price"],
        "increment": lot["increment"], "next_min": next_min(lot), "leader": lot["leader_name"],
        "bid_count": lot["bid_count"], "watchers": watchers, "end_at": to_iso(lot["end_at"]), "seq": lot["seq"],
        "reserve_met": reserve_met(lot)},
        "bids": [history_bid(b) for b in bids]}


def bid(event: dict, now: int) -> dict:
    """An accepted bid, or an operator's correction (`correction`, the `voided_seq`)."""
    message = {"type": "bid", "lot": event["lot"], "seq": event["seq"], "price": event["price"],
               "bidder": event["bidder"], "paddle": event["paddle"], "bid_count": event["bid_count"],
               "next_min": event["next_min"], "reserve_met": event["reserve_met"], "end_at": to_iso(event["end_at"]),
               "server_time": now}
    if event["kind"] == "undo":
        message.update(correction=True, voided_seq=event["voided_seq"])
    return message


def bid_summary(event: dict, now: int) -> dict:
    """A session watcher's view of a bid on one of its lots."""
    return {**bid(event, now), "summary": True}


def outbid(event: dict) -> dict:
    return {"type": "outbid", "lot": event["lot"], "price": event["price"], "seq": event["seq"]}


def bid_undone(event: dict) -> dict:
    """To the bidder whose bid an operator voided."""
    return {"type": "bid_undone", "lot": event["lot"], "seq": event["voided_seq"], "price": event["undone_price"]}


def status(event: dict, now: int) -> dict:
    return {"type": "status", "lot": event["lot"], "status": event["status"], "status_text": LOT_TEXT[event["status"]],
            "deal_price": event.get("deal_price", 0), "seq": event["seq"], "end_at": to_iso(event["end_at"]),
            "server_time": now}


def auction(event: dict, now: int) -> dict:
    return {"type": "auction", "auction": event["auction"], "status": event["status"],
            "status_text": AUCTION_TEXT[event["status"]], "server_time": now}


def offer(event: dict, now: int) -> dict:
    """To the bidder a second-chance offer is made to, at each of its moves."""
    return {"type": "offer", "offer": event["offer"], "lot": event["lot"], "title": event["title"],
            "price": event["price"], "status": event["status"], "status_text": OFFER_TEXT[event["status"]],
            "deadline": to_iso(event["deadline"]), "server_time": now}


def watchers(lot_id: str, count: int) -> dict:
    return {"type": "watchers", "lot": lot_id, "count": count}


def error(exc: DomainError, request_id: str = "") -> dict:
    message = {"type": "error", "code": exc.code, "message": exc.message, **exc.extra}
    if request_id:
        message["id"] = request_id
    return message


def ack(request_id: str, lot_id: str, bid_doc: dict) -> dict:
    return {"type": "ack", "id": request_id, "lot": lot_id, "seq": bid_doc["seq"], "price": bid_doc["price"]}


def proxy_ack(request_id: str, lot_id: str, max_price: int) -> dict:
    return {"type": "ack", "id": request_id, "lot": lot_id, "op": "proxy", "max_price": max_price}


def authenticated(user_id: str) -> dict:
    return {"type": "auth", "ok": True, "user_id": user_id}


def logged_out() -> dict:
    """The socket's token ended (a logout): it may watch on, not bid."""
    return {"type": "auth", "ok": False, "reason": "logged_out"}


def pong(t: int | None, now: int) -> dict:
    return {"type": "pong", "t": t, "server_time": now}


def coupons(states: list[dict], now: int, first: bool = False) -> dict:
    """The claim centre's coupons as they change (`first`: all of them, on subscribing);
    a coupon not seen before is one that opened: its details are in GET /api/coupons."""
    items = [{"id": s["coupon"], "status": s["status"], "status_text": COUPON_TEXT[s["status"]],
              "remaining": s["remaining"], "count": s["count"], **({"deleted": True} if s["deleted"] else {})}
             for s in states]
    return {"type": "coupons", **({"snapshot": True} if first else {}), "items": items, "server_time": now}


def coupons_unsubscribed() -> dict:
    return {"type": "unsubscribed", "coupons": True}


def subscribed(lot_id: str | None = None, auction_id: str | None = None) -> dict:
    return {"type": "subscribed", **({"lot": lot_id} if lot_id else {"auction": auction_id})}


def unsubscribed(lot_id: str | None = None, auction_id: str | None = None) -> dict:
    return {"type": "unsubscribed", **({"lot": lot_id} if lot_id else {}), **({"auction": auction_id} if auction_id else {})}
