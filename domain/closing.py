"""The close of a lot and of a session: the single entry points the timers call.

Deciding a lot's outcome is one conditional write on the lot (status `live`,
`end_at` and `seq` as read), so a bid or an extension that lands meanwhile
makes the close retry with the new state, and a second close (a repeated
timer, another node) changes nothing. The same write opens the rest of the
close (`settle: "pending"`, finished by `complete_lot`): audit and status event, the winner's order,
then `settle: "refunds"`: the other lot deposits are to be given back, which
`refunds.pay_lots` does in batches across the lots that close together (the
scheduler runs it after closes, the recovery sweep too) before marking the
lot `settle: "done"`. Each step is keyed, so the recovery sweep can finish a
close a crash interrupted. A session's end is completed the same way on
the session (`complete_session`).
"""
from domain import audit, auctions, lots, orders, refunds
from domain.bidding import reserve_met
from domain.rules import Rules
from domain.states import LOT, move


def outcome(lot: dict) -> str:
    return "sold" if reserve_met(lot) else "unsold"


async def close_lot(db, events, lot_id: str, now: int, rules: Rules = Rules()) -> tuple[str, int]:
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
        closed = await move(db.lots, LOT, {"_id": lot_id, "end_at": lot["end_at"], "seq": lot["seq"]}, status, "live",
                            set={"deal_price": deal, "closed_at": now, "awarded_at": now, "round": 1,
                                 "settle": "pending"})
        if closed:
            await complete_lot(db, events, lot_id, now, rules, closed)
            return "closed", closed["end_at"]


async def complete_lot(db, events, lot_id: str, now: int, rules: Rules, lot: dict | None = None) -> dict | None:
    """Everything a close (or a second-chance offer) entails, once. Returns the
    order of the current round, if the lot was awarded. `lot`: the lot as the
    close left it, to spare a read."""
    lot = lot or await db.lots.find_one({"_id": lot_id, "settle": "pending"})
    if not lot:
        return None
    await audit.record(db, lot_id, lot["status"], lot["awarded_at"], key=f"{lot_id}:{lot['status']}:{lot['round']}",
                       deal_price=lot["deal_price"], leader=lot["leader"])
    order = await orders.award(db, events, lot, rules) if lot["status"] != "unsold" else None
    await events.publish(lots.status_event(lot))  # after the award: the winner finds the order
    await db.lots.update_one({"_id": lot_id, "settle": "pending", "round": lot["round"]},
                             {"$set": {"settle": "refunds", "refund_keep": order["deposit_id"] if order else ""}})
    return order


async def recount_deals(db, auction_id: str) -> None:
    """`total_deal`: the sum of the session's sold lots' prices, recomputed
    (not incremented) so that running it twice is harmless."""
    rows = await (await db.lots.aggregate([
        {"$match": {"auction_id": auction_id, "deleted_at": 0, "status": "sold"}},
        {"$group": {"_id": None, "total": {"$sum": "$deal_price"}}},
    ])).to_list(None)
    await db.auctions.update_one({"_id": auction_id}, {"$set": {"total_deal": rows[0]["total"] if rows else 0}})


async def complete_session(db, events, auction_id: str, now: int, rules: Rules) -> None:
    """The end of a session: complete its lots' closes (so every order
    exists), give back the session deposits that back no order, set
    `total_deal` and `bid_count`. A winner's session deposit stays held for the payment."""
    if not await db.auctions.find_one({"_id": auction_id, "settle": "pending"}, {"_id": 1}):
        return
    async for lot in db.lots.find({"auction_id": auction_id, "settle": "pending"}, {"_id": 1}):
        await complete_lot(db, events, lot["_id"], now, rules)
    # Every session deposit but those backing an order: a winner whose order a lot deposit backs gets theirs too.
    backing = [o["deposit_id"] async for o in db.orders.find({"auction_id": auction_id}, {"deposit_id": 1})]
    await refunds.claim(db, {"auction_id": auction_id, "kind": "auction", "_id": {"$nin": backing}}, now)
    await refunds.pay_claimed(db, {"auction_id": auction_id, "kind": "auction"}, now)
    await recount_deals(db, auction_id)
    await auctions.recount_bids(db, auction_id, now)
    await db.auctions.update_one({"_id": auction_id, "settle": "pending"}, {"$set": {"settle": "done"}})
