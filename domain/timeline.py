"""The auction timeline: which timers the stored documents call for, and
what the session timers do when they fire.

Timers are derived from the documents, never remembered elsewhere, so after
a restart every one is re-armed from the database and those whose time
passed fire at once (server/timers.py keeps the scheduler in step with this
plan). Each step is conditional on the current state, so a timer that runs
twice, or on two nodes, changes nothing the second time.
"""
from typing import NamedTuple

from domain import auctions, closing, lots
from domain.rules import Rules
from domain.states import LOT_OPEN


class Timer(NamedTuple):
    job_id: str
    at: int          # epoch ms
    action: str      # "advance" (a session), "close" (a lot), "overdue" (an order), "offer", "coupon", "coupon-expiry"
    target: str


def session_timers(auction: dict) -> list[Timer]:
    """The timers of a session itself (its lots have their own: `lot_timer`)."""
    if auction["deleted_at"] or auction["status"] == "ended":
        return []
    aid, out = auction["_id"], []
    if auction["status"] == "scheduled":
        out.append(Timer(f"preview:{aid}", auction["preview_start"], "advance", aid))
    if auction["status"] in ("scheduled", "preview"):
        out.append(Timer(f"live:{aid}", auction["auction_start"], "advance", aid))
    out.append(Timer(f"end:{aid}", auction["auction_end"], "advance", aid))
    return out


def lot_timer(auction: dict, lot: dict) -> Timer | None:
    """A lot closes at its own end, never before its session goes live."""
    if auction["deleted_at"] or lot["deleted_at"] or lot["status"] not in ("scheduled", "preview", "live"):
        return None
    return Timer(f"close-lot:{lot['_id']}", max(lot["end_at"], auction["auction_start"]), "close", lot["_id"])


def order_timer(order: dict) -> Timer | None:
    """An unpaid order's deadline."""
    if order["status"] != "unpaid":
        return None
    return Timer(f"overdue:{order['_id']}", order["deadline"], "overdue", order["_id"])


def offer_timer(offer: dict) -> Timer | None:
    """A pending second-chance offer's deadline."""
    if offer["status"] != "pending":
        return None
    return Timer(f"offer:{offer['_id']}", offer["deadline"], "offer", offer["_id"])


def coupon_timers(coupon: dict) -> list[Timer]:
    """A coupon opens at claim_start and closes at claim_end."""
    if coupon["deleted_at"] or coupon["status"] == "ended":
        return []
    cid = coupon["_id"]
    opens = [Timer(f"coupon-open:{cid}", coupon["claim_start"], "coupon", cid)] if coupon["status"] == "pending" else []
    return [*opens, Timer(f"coupon-close:{cid}", coupon["claim_end"], "coupon", cid)]


def coupon_expiry_timer(at: int) -> Timer | None:
    """One timer for every user coupon: at the first end still to come."""
    return Timer("coupon-expiry", at, "coupon-expiry", "") if at else None


async def _lot_ids(db, query: dict) -> list[str]:
    # Not `distinct("_id")`: the embedded store cannot do it on `_id`.
    return [doc["_id"] async for doc in db.lots.find(query, {"_id": 1})]


async def _move_lots(db, events, auction_id: str, to: str, frm: tuple[str, ...], now: int) -> None:
    for lot_id in await _lot_ids(db, {"auction_id": auction_id, "deleted_at": 0, "status": {"$in": list(frm)}}):
        await lots.move(db, events, lot_id, to, now, frm)


async def advance(db, events, auction_id: str, now: int, rules: Rules = Rules()) -> None:
    """Bring a session and its lots to where the clock says they should be."""
    auction = await db.auctions.find_one({"_id": auction_id, "deleted_at": 0})
    if not auction:
        return
    if now >= auction["preview_start"]:
        await auctions.move(db, events, auction_id, "preview", now)
        await _move_lots(db, events, auction_id, "preview", ("scheduled",), now)
    if now >= auction["auction_start"]:
        await auctions.move(db, events, auction_id, "live", now)
        await _move_lots(db, events, auction_id, "live", ("scheduled", "preview"), now)
        due = await _lot_ids(db, {"auction_id": auction_id, "deleted_at": 0, "status": "live", "end_at": {"$lte": now}})
        for lot_id in due:
            await closing.close_lot(db, events, lot_id, now, rules)
    await end_if_done(db, events, auction_id, now, rules)


async def end_if_done(db, events, auction_id: str, now: int, rules: Rules = Rules()) -> bool:
    """A session ends when its last lot has closed (and not before its end time);
    the same write opens the rest of its close (closing.complete_session)."""
    auction = await db.auctions.find_one({"_id": auction_id, "deleted_at": 0})
    if not auction or auction["status"] != "live" or now < auction["auction_end"]:
        return False
    # find_one, not count_documents: a count is a scan (mongo-subset.md 12).
    if await db.lots.find_one({"auction_id": auction_id, "deleted_at": 0, "status": {"$in": list(LOT_OPEN)}}, {"_id": 1}):
        return False
    if not await auctions.move(db, events, auction_id, "ended", now, extra={"settle": "pending"}):
        return False
    await closing.complete_session(db, events, auction_id, now, rules)
    return True
