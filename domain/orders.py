"""Orders (订单): what a winner owes for a lot, from the close to receipt.

One order per lot and round, guarded by a unique `lot_key` (`{lot_id}:{round}`):
round 1 is the close, round 2, 3, … are second-chance offers to runners-up
(overdue.py). The payment-breakdown fields are there from the start, at 0 or
"", for the payment of an order (docs/rules.md, "Paying an order";
checkout.py pays it).
"""
from pymongo.errors import DuplicateKeyError

from domain import audit, bidding, credits, deposits
from domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from domain.ids import new_id, readable_serial
from domain.rules import Rules
from domain.states import BID, ORDER, ORDER_TEXT, move


# What the payment of an order adds (checkout.py): the payment under way, and the rest of the breakdown.
UNPAID = {"payment": "", "coupon_id": "", "credits_used": 0, "credits_amount": 0, "deposit_refund": 0, "earn": ""}


def order_event(order: dict) -> dict:
    """Announced when an order is made or moves: its deadline timer follows it."""
    return {"type": "order", "order": order["_id"], "status": order["status"], "deadline": order["deadline"],
            "auction": order["auction_id"], "lot": order["lot_id"], "user": order["user_id"]}


async def award(db, events, lot: dict, rules: Rules) -> dict:
    """The order of the lot's current round, made once: for its leader at its
    deal price, backed by the deposit that let them bid, payable until the
    award time (close or offer) + the pay time. The winning bid becomes `won`."""
    key = f"{lot['_id']}:{lot['round']}"
    order = await db.orders.find_one({"lot_key": key}) or await _create(db, lot, key, rules)
    await audit.record(db, order["_id"], "created", order["created_at"], key=f"order:{key}",
                       lot_id=lot["_id"], price=order["price"])
    await events.publish(order_event(order))
    return order


async def _winning_bid(db, lot: dict) -> dict | None:
    """The leader's latest valid bid: usually the lot's last one (one read);
    after an operator's undo, or a crash that kept it out of the history, found
    the long way."""
    last = await db.bids.find_one({"_id": f"{lot['_id']}:{lot['seq']}"})
    if last and last["user_id"] == lot["leader"] and last["status"] in ("bidding", "won"):
        return last
    await bidding.repair_history(db, lot)
    return await db.bids.find_one({"lot_id": lot["_id"], "user_id": lot["leader"], "status": {"$in": ["bidding", "won"]}},
                                  sort=[("seq", -1)])


async def _create(db, lot: dict, key: str, rules: Rules) -> dict:
    bid = await _winning_bid(db, lot)
    if bid:
        await move(db.bids, BID, {"_id": bid["_id"]}, "won")
    if lot.get("award_deposit"):  # a second-chance award names the deposit paid to accept it
        deposit = await db.deposits.find_one({"_id": lot["award_deposit"]})
    else:
        deposit = await deposits.covering_deposit(db, lot["leader"], lot)
    order = {
        "_id": new_id(), "lot_key": key, "round": lot["round"], "user_id": lot["leader"],
        "lot_id": lot["_id"], "auction_id": lot["auction_id"], "bid_id": bid["_id"] if bid else "",
        "deposit_id": deposit["_id"] if deposit else "", "title": lot["title"], "cover": lot["cover"],
        "price": lot["deal_price"], "status": "unpaid", "deadline": lot["awarded_at"] + rules.pay_ms,
        "created_at": lot["awarded_at"], "coupon_amount": 0, "deposit_used": 0, "paid_amount": 0,
        "pay_type": "", "paid_at": 0, "address": "", "overdue_at": 0, "forfeit": "", "received_at": 0,
        **UNPAID,
    }
    while True:
        order["order_no"] = readable_serial(lot["awarded_at"])
        try:
            await db.orders.insert_one(order)
            return order
        except DuplicateKeyError:
            existing = await db.orders.find_one({"lot_key": key})
            if existing:
                return existing  # made meanwhile by a retry or another node; else the order_no was taken


async def get_for(db, user: dict, order_id: str) -> dict:
    """An order, to its buyer or an operator."""
    order = await db.orders.find_one({"_id": order_id})
    if not order:
        raise NotFound("no such order")
    if order["user_id"] != user["_id"] and user["role"] != "operator":
        raise Forbidden("not your order")
    return order


async def of_buyer(db, user: dict, order_id: str) -> dict:
    """An order, to its buyer only: what only the buyer does (pay, confirm receipt) or sees (their checkout)."""
    order = await get_for(db, user, order_id)
    if order["user_id"] != user["_id"]:
        raise Forbidden("only the buyer can do this")
    return order


async def receive(db, user: dict, order_id: str, now: int, rules: Rules = Rules()) -> dict:
    """The buyer confirms receipt: `to_receive` → `completed`, and the order
    earns its credits (`earn: "pending"` until they are in the credits ledger)."""
    order = await of_buyer(db, user, order_id)
    done = await move(db.orders, ORDER, {"_id": order_id}, "completed", set={"received_at": now, "earn": "pending"})
    if not done:
        raise Conflict(f"an order can be received only while 待收货, not {ORDER_TEXT[order['status']]}")
    await audit.record(db, order_id, "completed", now, actor=user["_id"])
    await credits.earn_for_order(db, order_id, rules.credits_per_yuan, now)
    return await db.orders.find_one({"_id": order_id})


def check_status(status: str) -> None:
    if status and status not in ORDER_TEXT:
        raise InvalidRequest(f"status must be one of {', '.join(ORDER_TEXT)}")


async def of_user(db, user_id: str, status: str = "") -> dict[str, list[dict]]:
    """The buyer's orders grouped by status, every group present (or just one)."""
    check_status(status)
    query = {"user_id": user_id, **({"status": status} if status else {})}
    groups = {s: [] for s in ([status] if status else ORDER_TEXT)}
    async for order in db.orders.find(query).sort("created_at", -1):
        groups[order["status"]].append(order)
    return groups


async def listing(db, status: str, auction_id: str, limit: int) -> list[dict]:
    check_status(status)
    query = {**({"status": status} if status else {}), **({"auction_id": auction_id} if auction_id else {})}
    return await db.orders.find(query).sort("created_at", -1).limit(limit).to_list(None)
