"""Overdue (逾期未付款).

At its deadline an order still `unpaid` becomes `overdue` (one conditional
write that also opens `forfeit: "pending"` on the order); then, each step
keyed: the winning bid `overdue`, the lot `overdue`, the backing deposit
forfeited (a deduction of kind `overdue` for what remains of it), the buyer
barred from bidding for a while, `total_deal` recounted, and the order's
`forfeit: "done"`. The recovery sweep finishes whatever a crash cut short.

Then the operator may offer the lot to the runner-up (domain/offers.py).
"""
from pymongo.errors import DuplicateKeyError

from domain import audit, closing, lots, orders
from domain.rules import Rules
from domain.states import BID, DEPOSIT_MONEY, ORDER, move


async def expire(db, events, order_id: str, now: int, rules: Rules) -> dict | None:
    """Make an unpaid order overdue if its deadline has passed, or finish doing so."""
    order = await move(db.orders, ORDER, {"_id": order_id, "deadline": {"$lte": now}}, "overdue",
                       set={"overdue_at": now, "forfeit": "pending"})
    if order:
        await events.publish(orders.order_event(order))
    order = order or await db.orders.find_one({"_id": order_id})
    if not order or order["forfeit"] != "pending":
        return order  # paid, not yet due, or already dealt with
    at = order["overdue_at"]
    if order["bid_id"]:
        await move(db.bids, BID, {"_id": order["bid_id"]}, "overdue")
    await lots.move(db, events, order["lot_id"], "overdue", at, expect={"round": order["round"]})
    if order["deposit_id"]:
        await forfeit(db, order["deposit_id"], order, at)
    await db.users.update_one({"_id": order["user_id"]}, {"$max": {"banned_until": at + rules.ban_ms}})
    # Sockets read their user once, at login, and nodes remember whose deposit covers a lot: tell them.
    await events.publish({"type": "barred", "user": order["user_id"], "until": at + rules.ban_ms})
    await closing.recount_deals(db, order["auction_id"])
    await audit.record(db, order_id, "overdue", at, key=f"overdue:{order_id}", deposit_id=order["deposit_id"])
    return await db.orders.find_one_and_update({"_id": order_id, "forfeit": "pending"},
                                               {"$set": {"forfeit": "done"}}, return_document=True) or order


async def forfeit(db, deposit_id: str, order: dict, now: int) -> None:
    """Keep what remains of the deposit backing an overdue order. The deposit
    is claimed for this order first (`forfeiting`), so a session deposit
    backing two overdue orders is deducted once, by the first."""
    dep = await move(db.deposits, DEPOSIT_MONEY, {"_id": deposit_id, "status": "paid"}, "forfeiting",
                     set={"forfeit_order": order["_id"]})
    dep = dep or await db.deposits.find_one({"_id": deposit_id, "state": "forfeiting", "forfeit_order": order["_id"]})
    if not dep:
        return  # refunded, used, or forfeited by another order
    try:
        await db.deposit_deductions.insert_one({
            "_id": f"overdue:{order['_id']}", "deposit_id": deposit_id, "order_id": order["_id"],
            "user_id": dep["user_id"], "kind": "overdue", "amount": dep["remaining"], "created_at": now})
    except DuplicateKeyError:
        pass  # recorded before the interruption
    await move(db.deposits, DEPOSIT_MONEY, {"_id": deposit_id}, "forfeited", set={"remaining": 0, "forfeited_at": now})


async def finish_interrupted(db, events, now: int, rules: Rules) -> None:
    """For the recovery sweep: overdue orders whose forfeit a crash cut short,
    and unpaid orders whose deadline passed while no timer ran."""
    for query in ({"forfeit": "pending"}, {"status": "unpaid", "deadline": {"$lte": now}}):  # not $or: a scan
        async for order in db.orders.find(query, {"_id": 1}):
            await expire(db, events, order["_id"], now, rules)
