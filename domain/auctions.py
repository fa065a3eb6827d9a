"""Auction sessions (专场): the operator's catalog side and the session lifecycle.

A change to a session's times publishes `session_changed`: every node
re-derives the session's timers from the stored documents when it hears it."""
from domain import audit, refunds
from domain.errors import Conflict, NotFound, OutOfRange
from domain.ids import new_id
from domain.states import AUCTION, move as move_state

EDITABLE = ("scheduled", "preview")
TIME_FIELDS = ("preview_start", "preview_end", "auction_start", "auction_end")
MAX_AHEAD_MS = 366 * 86400 * 1000  # a session is planned at most a year ahead


def check_times(doc: dict, now: int) -> None:
    p0, p1, a0, a1 = (doc[f] for f in TIME_FIELDS)
    if not (p0 <= p1 <= a0 < a1):
        raise OutOfRange("times must satisfy preview_start ≤ preview_end ≤ auction_start < auction_end")
    if a1 <= now:
        raise OutOfRange("auction_end has already passed")
    if a1 > now + MAX_AHEAD_MS:
        raise OutOfRange("a session must end within a year from now")
    if doc.get("extend_window_s", 0) and not doc.get("extend_by_s", 0):
        raise OutOfRange("extend_by_s must be set when extend_window_s is")


def changed(auction_id: str) -> dict:
    return {"type": "session_changed", "auction": auction_id}


async def create(db, events, fields: dict, now: int) -> dict:
    check_times(fields, now)
    doc = {
        "_id": new_id(), "cover": "", "video": "", "deposit": 100000,
        "extend_window_s": 0, "extend_by_s": 0, "max_extend_s": 0, "max_jump": 0, **fields,
        "status": "scheduled", "lot_count": 0, "bid_count": 0, "bid_count_at": 0, "paddle_seq": 0, "look_count": 0,
        "total_deal": 0, "deleted_at": 0, "created_at": now, "updated_at": now,
    }
    await db.auctions.insert_one(doc)
    await events.publish(changed(doc["_id"]))
    return doc


async def get(db, auction_id: str) -> dict:
    doc = await db.auctions.find_one({"_id": auction_id, "deleted_at": 0})
    if not doc:
        raise NotFound("no such auction")
    return doc


async def recount_lots(db, auction: dict) -> None:
    """Lots change a session's count by `$inc` after they are stored (safe
    against each other); a crash in between is corrected here, only if the
    count is still the one read (a create's `$inc` meanwhile wins). A create
    caught between its insert and its `$inc` may be counted twice: the next
    sweep puts it right."""
    count = await db.lots.count_documents({"auction_id": auction["_id"], "deleted_at": 0})
    if count != auction["lot_count"]:
        await db.auctions.update_one({"_id": auction["_id"], "lot_count": auction["lot_count"]},
                                     {"$set": {"lot_count": count}})


async def list_(db, status: str | None = None) -> list[dict]:
    query = {"deleted_at": 0}
    if status:
        query["status"] = status
    return await db.auctions.find(query).sort("auction_start", -1).to_list(None)


async def recount_bids(db, auction_id: str, now: int) -> None:
    """`bid_count`: the sum of its lots' counts, each kept by the bids' own
    conditional writes. Recomputed rather than added up, so a lost event or
    a crash leaves nothing to drift; a recount read earlier than the one
    stored is dropped, so nodes recounting at once cannot set an older sum."""
    total = sum([lot["bid_count"] async for lot in db.lots.find({"auction_id": auction_id, "deleted_at": 0},
                                                                 {"bid_count": 1})])
    await db.auctions.update_one({"_id": auction_id, "bid_count_at": {"$lt": now}},
                                 {"$set": {"bid_count": total, "bid_count_at": now}})


async def update(db, events, auction_id: str, fields: dict, now: int) -> dict:
    current = await get(db, auction_id)
    merged = {**current, **fields}
    check_times(merged, now)
    doc = await db.auctions.find_one_and_update(
        {"_id": auction_id, "deleted_at": 0, "status": {"$in": EDITABLE}},
        {"$set": {**fields, "updated_at": now}},
        return_document=True,
    )
    if not doc:
        raise Conflict("a session can be edited only before it goes live")
    if "auction_end" in fields:
        await db.lots.update_many(
            {"auction_id": auction_id, "deleted_at": 0, "status": {"$in": EDITABLE}},
            {"$set": {"end_at": doc["auction_end"]}},
        )
    await events.publish(changed(auction_id))
    return doc


async def withdraw(db, events, auction_id: str, now: int) -> None:
    """Delete a session before it goes live (logically), its lots with it,
    and give back the deposits paid for it."""
    await get(db, auction_id)
    done = await db.auctions.update_one(
        {"_id": auction_id, "deleted_at": 0, "status": {"$in": EDITABLE}},
        {"$set": {"deleted_at": now}},
    )
    if done.modified_count != 1:
        raise Conflict("a session can be deleted only before it goes live")
    await delete_lots_of(db, auction_id, now)
    await events.publish(changed(auction_id))
    await refunds.refund_withdrawn(db, now)


async def delete_lots_of(db, auction_id: str, deleted_at: int) -> None:
    """The second step of a delete, on its own so the recovery sweep can
    finish a delete cut short between the session and its lots."""
    await db.lots.update_many({"auction_id": auction_id, "deleted_at": 0}, {"$set": {"deleted_at": deleted_at}})


async def move(db, events, auction_id: str, to: str, now: int, extra: dict | None = None) -> bool:
    """One conditional transition; False (and no event) if it was already made."""
    if not await move_state(db.auctions, AUCTION, {"_id": auction_id, "deleted_at": 0}, to,
                            set={f"{to}_at": now, **(extra or {})}):
        return False
    await audit.record(db, auction_id, to, now)
    await events.publish({"type": "auction", "auction": auction_id, "status": to})
    return True


async def count_look(db, auction_id: str) -> None:
    await db.auctions.update_one({"_id": auction_id}, {"$inc": {"look_count": 1}})
