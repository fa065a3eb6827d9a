"""Proxy bidding (代理出价): a bidder leaves a maximum and the server bids for
them, only as far as needed to stay ahead.

The rule is eBay's, and depends only on the maxima and when they were set,
never on the order they came in: the highest maximum leads at the runner-
up's maximum plus one increment, capped at its own maximum; of equal maxima
the earlier leads, and so does a proxy whose maximum equals a later manual
bid. `settle` works that out as a pure function of the lot's standing and
its proxies. The proxies' answer on the live path (`respond`) places the
bids it asks for one at a time, each an ordinary bid through
`bidding.decide` made conditional on the lot's `seq` as planned, so two
nodes answering at once cannot both act on one state; a refused step just
plans again from the fresh lot.
"""
from __future__ import annotations

from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import bidding
from domain.deps import Deps
from domain.errors import BidTooHigh, BidTooLow, DepositRequired, DomainError, Forbidden, LotNotLive, NotFound
from domain.lots import next_min

MAX_STEPS = 50  # an answer takes two or three bids; this only bounds a pathological loop


class Standing(NamedTuple):
    """Where a lot stands: its price, its leader ("" before the first bid) and
    since when that leader's bid stands."""
    price: int
    leader: str
    leader_at: int
    start_price: int


class Claim(NamedTuple):
    """How far a bidder will go, and since when: a proxy's maximum, or the
    leader's own bid when it has no higher proxy."""
    user_id: str
    max_price: int
    at: int
    proxy: bool = True


class Step(NamedTuple):
    user_id: str
    price: int


def settle(standing: Standing, proxies: list[Claim], increment: int) -> list[Step]:
    """The bids the proxies must place now, in order, for the lot to stand
    where the rule puts it: the runner-up, if it is a proxy that may still
    bid, first shows its maximum; then the winner bids the runner-up's
    maximum plus one increment, capped at its own (an equal price when it
    wins a tie). Empty when the lot already stands there."""
    has_bid = bool(standing.leader)
    next_min = standing.price + increment if has_bid else standing.start_price
    floor = standing.price if has_bid else next_min  # a maximum below it can neither bid nor tie
    contenders = {c.user_id: c for c in proxies if c.max_price >= floor}
    if has_bid:
        own = contenders.get(standing.leader)
        if own is None or own.max_price < standing.price:
            contenders[standing.leader] = Claim(standing.leader, standing.price, standing.leader_at, proxy=False)
    ranked = sorted(contenders.values(), key=lambda c: (-c.max_price, c.at))
    if not ranked or len(ranked) == 1 and ranked[0].user_id == standing.leader:
        return []
    top, runner = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    if runner is None:  # the first bid: the only proxy opens at the start price
        return [Step(top.user_id, next_min)]
    steps = []
    if runner.proxy and runner.max_price >= next_min:
        steps.append(Step(runner.user_id, runner.max_price))
    elif top.user_id == standing.leader:
        return []  # nobody can raise the leader: it holds where it is
    final = min(top.max_price, runner.max_price + increment)
    return steps + [Step(top.user_id, final)]


def standing_of(lot: dict) -> Standing:
    last = lot.get("last_bid") or {}
    return Standing(lot["price"], lot["leader"], last.get("leader_at", last.get("at", 0)), lot["start_price"])


async def set_proxy(deps: Deps, user: dict, lot_id: str, max_price: int) -> dict:
    """Leave or change a maximum, then let the proxies bid."""
    db, now = deps.db, deps.clock.now_ms()
    known = await bidding.check_may_bid(db, deps.bid_cache, user, lot_id, now)
    lot = await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
    if not lot:
        raise NotFound("no such lot")
    if lot["status"] != "live" or lot["end_at"] <= now:
        raise LotNotLive(f"lot is {lot['status']}", status=lot["status"])
    least = lot["price"] + lot["increment"] if lot["leader"] == user["_id"] else next_min(lot)
    if max_price < least:
        raise BidTooLow(f"the maximum must be at least {least}", next_min=least)
    highest = bidding.highest_bid(known.facts, next_min(lot))
    if max_price > highest:
        raise BidTooHigh(f"a maximum may be at most {highest} now", max_price=highest, next_min=next_min(lot))
    proxy_id = f"{lot_id}:{user['_id']}"
    doc = {"_id": proxy_id, "lot_id": lot_id, "user_id": user["_id"], "max_price": max_price, "set_at": now}
    # Counted before it is stored: a crash in between leaves the count too high, which
    # costs an answer that finds nothing, never too low, which would leave it silent.
    await db.lots.update_one({"_id": lot_id}, {"$inc": {"proxy_count": 1}})
    try:
        await db.proxies.insert_one(doc)
    except DuplicateKeyError:
        await db.lots.update_one({"_id": lot_id}, {"$inc": {"proxy_count": -1}})
        await db.proxies.update_one({"_id": proxy_id}, {"$set": {"max_price": max_price, "set_at": now}})
    await respond(deps, lot_id)
    return doc


async def respond(deps: Deps, lot_id: str) -> list[bidding.BidResult]:
    """Let the standing proxies bid until the lot stands where `settle` puts it."""
    db, now, placed = deps.db, deps.clock.now_ms(), []
    for _ in range(MAX_STEPS):
        lot = await db.lots.find_one({"_id": lot_id})
        if not lot or lot["status"] != "live" or lot["end_at"] <= now:
            break
        proxies = await db.proxies.find({"lot_id": lot_id, "max_price": {"$gte": lot["price"]}}).to_list(None)
        steps = settle(standing_of(lot), [Claim(p["user_id"], p["max_price"], p["set_at"]) for p in proxies],
                       lot["increment"])
        if not steps:
            break
        step = steps[0]
        user = await db.users.find_one({"_id": step.user_id})
        try:
            with deps.bid_work:
                placed.append(await bidding.decide(db, deps.events, deps.bid_cache, user, lot_id, step.price, now,
                                                   kind="proxy", expect_seq=lot["seq"]))
        except (DepositRequired, Forbidden):
            # Its owner may no longer bid: the proxy is spent.
            await db.proxies.delete_one({"_id": f"{lot_id}:{step.user_id}"})
        except DomainError:
            continue  # someone bid meanwhile, or the deposit is gone: plan again from the new state
    return placed


async def of_user(db, lot_id: str, user_id: str) -> dict | None:
    return await db.proxies.find_one({"_id": f"{lot_id}:{user_id}"})
