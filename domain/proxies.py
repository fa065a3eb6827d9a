"""Proxy bidding (代理出价): a bidder leaves a maximum and the server bids for
them, one increment at a time, only as far as needed to stay ahead.

The proxies' answer to a bid is a loop of ordinary bids through `bidding.decide`, each
decided by the same conditional write, so two nodes settling the same lot
at once cannot both win a price level; a refused step just re-plans from
the fresh lot. Two proxies settle at the lower maximum plus one increment
(capped at the higher); with equal maxima the earlier one leads.
"""
from __future__ import annotations

from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import bidding
from domain.deps import Deps
from domain.errors import BidTooLow, DepositRequired, DomainError, Forbidden, LotNotLive, NotFound
from domain.lots import next_min

MAX_STEPS = 50  # an answer takes two or three bids; this only bounds a pathological loop


class Step(NamedTuple):
    user_id: str
    price: int
    by_leader: bool = False


def plan(lot: dict, proxies: list[dict]) -> Step | None:
    """The next bid a proxy must place on `lot`, or None when all is settled."""
    floor, leader = next_min(lot), lot["leader"]
    ranked = sorted(proxies, key=lambda p: (-p["max_price"], p["set_at"]))
    challengers = [p for p in ranked if p["user_id"] != leader and p["max_price"] >= floor]
    if not challengers:
        return None
    top = challengers[0]
    if not leader:
        return Step(top["user_id"], floor)
    own = next((p for p in ranked if p["user_id"] == leader), None)
    leader_max = max(own["max_price"], lot["price"]) if own else lot["price"]
    leader_since = own["set_at"] if own else lot.get("last_bid", {}).get("at", 0)
    if top["max_price"] > leader_max or (top["max_price"] == leader_max and top["set_at"] < leader_since):
        return Step(top["user_id"], max(floor, min(top["max_price"], leader_max + lot["increment"])))
    if top["max_price"] == leader_max:
        # Equal maxima, the leader's is older: the leader holds at that maximum.
        return Step(leader, leader_max, by_leader=True)
    return Step(top["user_id"], top["max_price"])  # the leader's proxy answers on the next step


async def set_proxy(deps: Deps, user: dict, lot_id: str, max_price: int) -> dict:
    """Leave or change a maximum, then let the proxies bid."""
    db, now = deps.db, deps.clock.now_ms()
    await bidding.check_may_bid(db, deps.bid_cache, user, lot_id, now)
    lot = await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
    if not lot:
        raise NotFound("no such lot")
    if lot["status"] != "live" or lot["end_at"] <= now:
        raise LotNotLive(f"lot is {lot['status']}", status=lot["status"])
    least = lot["price"] + lot["increment"] if lot["leader"] == user["_id"] else next_min(lot)
    if max_price < least:
        raise BidTooLow(f"the maximum must be at least {least}", next_min=least)
    proxy_id = f"{lot_id}:{user['_id']}"
    doc = {"_id": proxy_id, "lot_id": lot_id, "user_id": user["_id"], "max_price": max_price, "set_at": now}
    # Counted before it is stored: a crash in between leaves the count too high, which
    # costs a settlement that finds nothing, never too low, which would leave it silent.
    await db.lots.update_one({"_id": lot_id}, {"$inc": {"proxy_count": 1}})
    try:
        await db.proxies.insert_one(doc)
    except DuplicateKeyError:
        await db.lots.update_one({"_id": lot_id}, {"$inc": {"proxy_count": -1}})
        await db.proxies.update_one({"_id": proxy_id}, {"$set": {"max_price": max_price, "set_at": now}})
    await respond(deps, lot_id)
    return doc


async def respond(deps: Deps, lot_id: str) -> list[bidding.BidResult]:
    """Let the standing proxies bid until the lot is settled between them."""
    db, now, placed = deps.db, deps.clock.now_ms(), []
    for _ in range(MAX_STEPS):
        lot = await db.lots.find_one({"_id": lot_id})
        if not lot or lot["status"] != "live" or lot["end_at"] <= now:
            break
        proxies = await db.proxies.find({"lot_id": lot_id, "max_price": {"$gte": lot["price"]}}).to_list(None)
        step = plan(lot, proxies)
        if not step:
            break
        user = await db.users.find_one({"_id": step.user_id})
        try:
            placed.append(await bidding.decide(db, deps.events, deps.bid_cache, user, lot_id, step.price, now,
                                               kind="proxy", by_leader=step.by_leader))
        except (DepositRequired, Forbidden):
            # Its owner may no longer bid: the proxy is spent.
            await db.proxies.delete_one({"_id": f"{lot_id}:{step.user_id}"})
        except DomainError:
            continue  # someone bid meanwhile, or the deposit is gone: plan again from the new state
    return placed


async def of_user(db, lot_id: str, user_id: str) -> dict | None:
    return await db.proxies.find_one({"_id": f"{lot_id}:{user_id}"})
