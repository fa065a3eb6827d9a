"""Operator controls of a live lot, as auction houses have them: pause and
resume (the close moves by the paused time) and undo of the last bid (the
previous bid leads again; the correction takes the next `seq`). Each is one
conditional write on the lot, audited with the operator's name."""
from domain import audit, lots
from domain.bidding import BidResult, bid_doc, bid_event, repair_history, repeat_key
from domain.errors import Conflict


async def pause(db, events, lot_id: str, operator: str, now: int) -> dict:
    lot = await lots.move(db, events, lot_id, "paused", now, "live", extra={"paused_at": now}, actor=operator)
    if not lot:
        await lots.get(db, lot_id)
        raise Conflict("only a live lot can be paused")
    return lot


async def resume(db, events, lot_id: str, operator: str, now: int) -> dict:
    """Live again, its end moved by the time it was paused (the close timer follows its status event)."""
    lot = await lots.get(db, lot_id)
    if lot["status"] != "paused":
        raise Conflict("only a paused lot can be resumed")
    resumed = await lots.move(db, events, lot_id, "live", now, "paused", actor=operator, action="resumed",
                              extra={"end_at": lot["end_at"] + (now - lot["paused_at"]), "paused_at": 0},
                              expect={"paused_at": lot["paused_at"]}, paused_ms=now - lot["paused_at"])
    if not resumed:
        raise Conflict("the lot changed meanwhile; try again")
    return resumed


def original_client_id(bid: dict) -> str:
    """The id the client sent (a bid stored beside another with the same id carries `#seq`)."""
    suffix = f"#{bid['seq']}"
    return bid["client_id"].removesuffix(suffix)


async def undo_last_bid(db, events, lot_id: str, operator: str, now: int) -> dict:
    """Void the leading bid; the one before it leads again."""
    lot = await lots.get(db, lot_id)
    if lot["status"] not in ("live", "paused"):
        raise Conflict("bids can be undone only while the lot is live or paused")
    valid = await db.bids.find({"lot_id": lot_id, "status": "bidding"}).sort("seq", -1).limit(2).to_list(None)
    if not valid:
        raise Conflict("there is no bid to undo")
    undone, previous = valid[0], (valid[1] if len(valid) > 1 else None)
    seq = lot["seq"] + 1
    correction = {
        "price": previous["price"] if previous else 0, "user_id": previous["user_id"] if previous else "",
        "bidder": previous["bidder"] if previous else "", "paddle": previous.get("paddle", 0) if previous else 0,
        "client_id": f"undo:{lot_id}:{seq}",
        "kind": "undo", "at": now, "voided_seq": undone["seq"],
        "leader_at": previous["created_at"] if previous else 0,  # the restored leader's bid still dates from then
    }
    changed = await db.lots.find_one_and_update(
        {"_id": lot_id, "seq": lot["seq"], "status": lot["status"]},
        {"$set": {"price": correction["price"], "leader": correction["user_id"],
                  "leader_name": correction["bidder"], "last_bid": correction,
                  "next_min": previous["price"] + lot["increment"] if previous else lot["start_price"]},
         "$inc": {"seq": 1, "bid_count": -1},
         "$push": {"voided_keys": repeat_key(undone["user_id"], original_client_id(undone))}},
        return_document=True,
    )
    if not changed:
        raise Conflict("a bid arrived meanwhile; look again before undoing")
    await repair_history(db, changed)  # writes the correction and voids the undone bid
    await audit.record(db, lot_id, "bid_undone", now, actor=operator, seq=undone["seq"], price=undone["price"])
    await events.publish(bid_event(BidResult(bid_doc(changed), changed, "", False), voided_seq=undone["seq"],
                                   undone_user=undone["user_id"], undone_price=undone["price"]))
    return changed
