"""The close of a lot: the single entry point the close timer calls.

Deciding the outcome is one conditional write on the lot (status `live`,
`end_at` and `seq` as read), so a bid or an extension that lands meanwhile
makes the close retry with the new state, and a second close (a repeated
timer, another node) changes nothing.
"""
from domain import audit, lots


def outcome(lot: dict) -> str:
    reached = lot["price"] >= (lot.get("reserve_price") or 0)
    return "sold" if lot["leader"] and reached else "unsold"


async def close_lot(db, events, lot_id: str, now: int) -> tuple[str, int]:
    """Close the lot if it is due. Returns (what happened, the lot's end_at):
    `closed`, `not_due` (extended: re-arm at end_at), or `not_live`."""
    while True:
        lot = await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
        if not lot or lot["status"] != "live":
            return "not_live", lot["end_at"] if lot else 0
        if lot["end_at"] > now:
            return "not_due", lot["end_at"]
        status = outcome(lot)
        deal = lot["price"] if status == "sold" else 0
        closed = await db.lots.find_one_and_update(
            {"_id": lot_id, "status": "live", "end_at": lot["end_at"], "seq": lot["seq"]},
            {"$set": {"status": status, "deal_price": deal, "closed_at": now}},
            return_document=True,
        )
        if closed:
            await audit.record(db, lot_id, status, now, deal_price=deal)
            await events.publish(lots.status_event(closed))
            return "closed", closed["end_at"]
