"""Lots (拍品): catalog entries of a session, and their own lifecycle.

A change to a lot publishes `lot_changed`: every node re-arms that lot's
close timer from the stored documents when it hears it."""
from collections.abc import Iterable

from pymongo.errors import DuplicateKeyError

from domain import audit, auctions, refunds
from domain.errors import Conflict, NotFound, OutOfRange
from domain.ids import new_id, readable_serial
from domain.states import LOT, move as move_state

EDITABLE = auctions.EDITABLE


def check_prices(doc: dict) -> None:
    if doc.get("estimate_low") and doc.get("estimate_high") and doc["estimate_low"] > doc["estimate_high"]:
        raise OutOfRange("estimate_low must not exceed estimate_high")


def next_min(lot: dict) -> int:
    return lot["price"] + lot["increment"] if lot["seq"] and lot["leader"] else lot["start_price"]


def changed(lot: dict) -> dict:
    return {"type": "lot_changed", "lot": lot["_id"], "auction": lot["auction_id"]}


async def create(db, events, auction_id: str, fields: dict, now: int) -> dict:
    auction = await auctions.get(db, auction_id)
    if auction["status"] not in EDITABLE:
        raise Conflict("lots can be added only before the session goes live")
    check_prices(fields)
    doc = {
        "_id": new_id(), "cover": "", "images": [], "specs": [], "increment": 10000,
        "estimate_low": 0, "estimate_high": 0, "reserve_price": 0, "deposit": 10000,
        **fields,
        "auction_id": auction_id, "status": auction["status"], "price": 0, "leader": "",
        "leader_name": "", "bid_count": 0, "look_count": 0, "seq": 0, "deal_price": 0,
        "end_at": auction["auction_end"], "paused_at": 0, "deleted_at": 0, "proxy_count": 0,
        "last_bid": {}, "voided_keys": [],
        "created_at": now, "updated_at": now,
    }
    doc["next_min"] = doc["start_price"]
    generated = not doc.get("catalog_no")
    for _ in range(5):
        if generated:
            doc["catalog_no"] = readable_serial(now)
        try:
            await db.lots.insert_one(doc)
            break
        except DuplicateKeyError:
            if not generated:
                raise Conflict(f"catalog number {doc['catalog_no']} is taken") from None
    # A second write: a crash before it is put right by the recovery sweep (auctions.recount_lots).
    await db.auctions.update_one({"_id": auction_id}, {"$inc": {"lot_count": 1}})
    await events.publish(changed(doc))
    return doc


async def get(db, lot_id: str) -> dict:
    doc = await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
    if not doc:
        raise NotFound("no such lot")
    return doc


async def of_auction(db, auction_id: str) -> list[dict]:
    return await db.lots.find({"auction_id": auction_id, "deleted_at": 0}).sort("catalog_no", 1).to_list(None)


async def update(db, events, lot_id: str, fields: dict, now: int) -> dict:
    current = await get(db, lot_id)
    check_prices({**current, **fields})
    if "start_price" in fields:
        fields = {**fields, "next_min": fields["start_price"]}
    try:
        doc = await db.lots.find_one_and_update(
            {"_id": lot_id, "deleted_at": 0, "status": {"$in": EDITABLE}},
            {"$set": {**fields, "updated_at": now}},
            return_document=True,
        )
    except DuplicateKeyError:
        raise Conflict("catalog number is taken") from None
    if not doc:
        # find_one_and_update answers None on a unique violation too (mongo-subset.md 9).
        if "catalog_no" in fields and await db.lots.find_one({"catalog_no": fields["catalog_no"], "_id": {"$ne": lot_id}}):
            raise Conflict(f"catalog number {fields['catalog_no']} is taken")
        raise Conflict("a lot can be edited only before its session goes live")
    await events.publish(changed(doc))
    return doc


async def withdraw(db, events, lot_id: str, now: int) -> dict:
    """Delete a lot before its session goes live (logically), and give back
    the deposits paid for it."""
    lot = await get(db, lot_id)
    done = await db.lots.update_one(
        {"_id": lot_id, "deleted_at": 0, "status": {"$in": EDITABLE}}, {"$set": {"deleted_at": now}}
    )
    if done.modified_count != 1:
        raise Conflict("a lot can be deleted only before its session goes live")
    await db.auctions.update_one({"_id": lot["auction_id"]}, {"$inc": {"lot_count": -1}})
    await events.publish(changed(lot))
    await refunds.refund_withdrawn(db, now)
    return lot


async def count_look(db, lot_id: str) -> dict:
    doc = await db.lots.find_one_and_update(
        {"_id": lot_id, "deleted_at": 0}, {"$inc": {"look_count": 1}}, return_document=True
    )
    if not doc:
        raise NotFound("no such lot")
    await auctions.count_look(db, doc["auction_id"])
    return doc


def status_event(lot: dict) -> dict:
    return {
        "type": "status", "lot": lot["_id"], "auction": lot["auction_id"], "status": lot["status"],
        "seq": lot["seq"], "deal_price": lot.get("deal_price", 0), "end_at": lot["end_at"],
    }


async def move(db, events, lot_id: str, to: str, now: int, frm: str | Iterable[str] | None = None,
               extra: dict | None = None, actor: str = "system", expect: dict | None = None,
               action: str = "", **details) -> dict | None:
    """One conditional transition, audited (as `action`, by default the new
    state) and announced; None (and no event) if it was already made.
    `expect`: more of the state it must be in."""
    lot = await move_state(db.lots, LOT, {"_id": lot_id, "deleted_at": 0, **(expect or {})}, to, frm, set=extra)
    if lot:
        await audit.record(db, lot_id, action or to, now, actor=actor, **details)
        await events.publish(status_event(lot))
    return lot
