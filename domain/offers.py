"""Second-chance offers (beyond the seeds): when a winner's order goes
overdue, an operator may offer the lot to the runner-up at their last bid.

The offer needs no deposit still held: lot deposits go back at the close.
The runner-up sees it (`GET /api/offers`, an `offer` message on their
sockets) and accepts before its deadline, paying a lot deposit then from
the balance if they hold none that covers the lot, and the lot is awarded
to them with an order of its own; or they decline. A decline or the
deadline passes the lot on to the next bidder, and when there is none the
lot stays overdue.

One offer is open per lot at a time: `open_key` is the lot's id while an
offer is pending (a unique index), the offer's own id after. Accepting is
keyed steps: the deposit (scoped to the offer, so paying twice pays once),
the decision (`pending → accepted`, before the deadline), the award (the
lot's next round, as a close makes it), the order noted on the offer; the
recovery sweep finishes an acceptance a crash cut short, and gives back a
deposit paid for an offer that was never accepted.
"""
from pymongo.errors import DuplicateKeyError

from domain import audit, closing, deposits, lots, refunds
from domain.errors import Conflict, Forbidden, NotFound
from domain.ids import new_id
from domain.rules import Rules
from domain.states import LOT, OFFER, move


def offer_event(offer: dict) -> dict:
    """Announced at each move: the runner-up's sockets are told, the deadline timer follows it."""
    return {"type": "offer", "offer": offer["_id"], "user": offer["user_id"], "lot": offer["lot_id"],
            "auction": offer["auction_id"], "status": offer["status"], "price": offer["price"],
            "deadline": offer["deadline"], "title": offer["title"]}


async def _next_bidder(db, lot_id: str, now: int) -> dict | None:
    """The latest valid bid of the best bidder not yet passed over: not a
    defaulter on this lot, not offered it before, not barred."""
    passed = {o["user_id"] async for o in db.orders.find({"lot_id": lot_id}, {"user_id": 1})}
    passed |= {o["user_id"] async for o in db.offers.find({"lot_id": lot_id}, {"user_id": 1})}
    async for bid in db.bids.find({"lot_id": lot_id, "status": "bidding"}).sort("seq", -1):
        if bid["user_id"] in passed:
            continue
        user = await db.users.find_one({"_id": bid["user_id"]}, {"banned_until": 1})
        if user and user.get("banned_until", 0) <= now:
            return bid
        passed.add(bid["user_id"])
    return None


async def make(db, events, lot_id: str, actor: str, now: int, rules: Rules) -> dict | None:
    """Offer an overdue lot to the next bidder; None when nobody is left."""
    lot = await lots.get(db, lot_id)
    if lot["status"] != "overdue":
        raise Conflict("only an overdue lot can be offered to the runner-up")
    bid = await _next_bidder(db, lot_id, now)
    if not bid:
        return None
    offer = {"_id": new_id(), "lot_id": lot_id, "auction_id": lot["auction_id"], "user_id": bid["user_id"],
             "bid_id": bid["_id"], "bidder": bid["bidder"], "price": bid["price"], "title": lot["title"],
             "cover": lot["cover"], "round": lot["round"], "status": "pending", "open_key": lot_id,
             "deadline": now + rules.offer_ms, "created_at": now, "decided_at": 0, "order_id": "", "deposit_id": ""}
    try:
        await db.offers.insert_one(offer)
    except DuplicateKeyError:
        raise Conflict("an offer for this lot is already open") from None
    await audit.record(db, lot_id, "second_chance", now, actor=actor, offer_id=offer["_id"], user_id=bid["user_id"],
                       price=bid["price"])
    await events.publish(offer_event(offer))
    return offer


async def offer_runner_up(db, events, lot_id: str, operator: str, now: int, rules: Rules) -> dict:
    """The operator's second-chance offer."""
    offer = await make(db, events, lot_id, operator, now, rules)
    if not offer:
        raise Conflict("no other bidder to offer the lot to")
    return offer


async def _close(db, events, offer_id: str, to: str, now: int, rules: Rules, query: dict) -> dict | None:
    """Decline or expire: the offer closes, and the lot goes to the next bidder."""
    closed = await move(db.offers, OFFER, {"_id": offer_id, **query}, to, set={"decided_at": now, "open_key": offer_id})
    if closed:
        await audit.record(db, closed["lot_id"], f"offer_{to}", now, actor=closed["user_id"], offer_id=offer_id)
        await events.publish(offer_event(closed))
        await _refund_unused(db, closed, now)
        await make(db, events, closed["lot_id"], "system", now, rules)
    return closed


async def decline(db, events, user: dict, offer_id: str, now: int, rules: Rules) -> dict:
    offer = await mine(db, user, offer_id)
    closed = await _close(db, events, offer_id, "declined", now, rules, {"user_id": user["_id"]})
    if not closed:
        raise Conflict(f"the offer is {offer['status']}")
    return closed


async def expire(db, events, offer_id: str, now: int, rules: Rules) -> dict | None:
    """The deadline passed (its timer, or the sweep): the offer expires."""
    return await _close(db, events, offer_id, "expired", now, rules, {"deadline": {"$lte": now}})


async def accept(db, events, user: dict, offer_id: str, now: int, rules: Rules) -> dict:
    """Accept before the deadline: the order, backed by a deposit paid now if needed."""
    offer = await mine(db, user, offer_id)
    if offer["status"] != "pending" or offer["deadline"] <= now:
        raise Conflict("the offer is no longer open")
    lot = await lots.get(db, offer["lot_id"])
    deposit = await deposits.covering_deposit(db, user["_id"], lot) or \
        await deposits.pay_for_offer(db, user, lot, offer_id, now)
    accepted = await move(db.offers, OFFER, {"_id": offer_id, "user_id": user["_id"], "deadline": {"$gt": now}},
                          "accepted", set={"decided_at": now, "deposit_id": deposit["_id"], "open_key": offer_id})
    if not accepted:
        await _refund_unused(db, {**offer, "status": "closed"}, now)
        raise Conflict("the offer is no longer open")
    await audit.record(db, offer["lot_id"], "offer_accepted", now, actor=user["_id"], offer_id=offer_id)
    await events.publish(offer_event(accepted))
    return await award(db, events, accepted, now, rules)


async def award(db, events, offer: dict, now: int, rules: Rules) -> dict:
    """The lot's next round for an accepted offer, with its order, once."""
    await move(db.lots, LOT, {"_id": offer["lot_id"], "round": offer["round"]}, "sold", "overdue",
               set={"leader": offer["user_id"], "leader_name": offer["bidder"], "deal_price": offer["price"],
                    "awarded_at": offer["decided_at"], "round": offer["round"] + 1, "settle": "pending",
                    "award_deposit": offer["deposit_id"]})
    await closing.complete_lot(db, events, offer["lot_id"], now, rules)
    await refunds.pay_lots(db, {"_id": offer["lot_id"]}, now)
    await closing.recount_deals(db, offer["auction_id"])
    order = await db.orders.find_one({"lot_key": f"{offer['lot_id']}:{offer['round'] + 1}"})
    await db.offers.update_one({"_id": offer["_id"]}, {"$set": {"order_id": order["_id"]}})
    return order


async def _refund_unused(db, offer: dict, now: int) -> None:
    """A deposit paid for an offer that was not accepted goes back."""
    paid = await db.deposits.find_one({"scope": f"{offer['user_id']}:offer:{offer['_id']}", "status": "paid"})
    if paid:
        await refunds.refund(db, paid["_id"], now)


async def finish_interrupted(db, events, now: int, rules: Rules) -> None:
    """For the recovery sweep: acceptances a crash cut short, offers past their
    deadline whose timer was lost, deposits paid for offers never accepted."""
    async for offer in db.offers.find({"status": "accepted", "order_id": ""}):
        await award(db, events, offer, now, rules)
    async for offer in db.offers.find({"status": "pending", "deadline": {"$lte": now}}, {"_id": 1}):
        await expire(db, events, offer["_id"], now, rules)
    async for deposit in db.deposits.find({"offer_id": {"$gt": ""}, "state": "held"}):
        offer = await db.offers.find_one({"_id": deposit["offer_id"]}, {"status": 1, "user_id": 1})
        if offer and offer["status"] in ("declined", "expired"):
            await _refund_unused(db, {**offer, "_id": deposit["offer_id"]}, now)


async def mine(db, user: dict, offer_id: str) -> dict:
    offer = await db.offers.find_one({"_id": offer_id})
    if not offer:
        raise NotFound("no such offer")
    if offer["user_id"] != user["_id"]:
        raise Forbidden("not your offer")
    return offer


async def of_user(db, user_id: str) -> list[dict]:
    return await db.offers.find({"user_id": user_id}).sort("created_at", -1).to_list(None)
