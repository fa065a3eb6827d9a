"""Placing a bid: one conditional write on the lot decides it.

The filter holds every rule that can change under our feet (status `live`,
before `end_at`, price ≥ next minimum, not the current leader), so of any
set of concurrent bids at most one wins each price level and the price never
goes down. The lot's `seq` goes up by one in the same write; the bid is then
stored under `{lot}:{seq}` before anyone is told. The lot also keeps the
last bid, so a crash between the two writes can be repaired from it: by the
recovery sweep, or by the next bid, which reads the lot as it was and
writes the bid before it too unless it knows that one stored.
"""
import asyncio
import time
from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import deposits, paddles, proxies
from domain.bid_cache import BidCache, KnownLot, LotFacts
from domain.deps import Deps
from domain.errors import (AlreadyLeading, BidTooHigh, BidTooLow, DepositRequired, DomainError, Forbidden, LotNotLive,
                           NotFound, RateLimited)
from domain.ids import new_id
from domain.lots import next_min
from domain.states import BID, move

HISTORY_PAGE = 20


class BidResult(NamedTuple):
    bid: dict
    lot: dict          # the lot after the bid
    previous_leader: str
    repeated: bool     # the same client id was seen before: this is the first answer again


async def place_bid(deps: Deps, user: dict, lot_id: str, price: int, client_id: str = "") -> BidResult:
    """A bidder's bid, over HTTP or /ws: the bidder's rate, the decision, and
    the standing proxies' answer to it once the bidder has theirs."""
    started = time.perf_counter()
    try:
        if not deps.bid_limits.take(user["_id"]):
            raise RateLimited("too many bids; slow down")
        with deps.bid_work:
            result = await decide(deps.db, deps.events, deps.bid_cache, user, lot_id, price, deps.clock.now_ms(),
                                  client_id)
    except DomainError as exc:
        deps.observer.bid_refused(exc.code, time.perf_counter() - started)
        raise
    deps.observer.bid_accepted(time.perf_counter() - started, result.repeated)
    if result.lot.get("proxy_count") and not result.repeated:
        deps.background(proxies.respond(deps, lot_id))
    return result


def read_ahead(deps: Deps, lot: dict) -> None:
    """A lot watched here is one likely to be bid on here: learn what its bids
    need from the lot just read for a subscriber, rather than on its first bid."""
    if lot["status"] in ("live", "paused") and lot["_id"] not in deps.bid_cache.lots:
        deps.background(deps.bid_cache.known_lot(deps.db, lot["_id"], lot))


async def check_may_bid(db, cache: BidCache, user: dict, lot_id: str, now: int) -> KnownLot:
    """The rules about the bidder rather than the price: bans and the deposit.
    A bid refused for either on a lot that takes no bids is refused for the
    lot's state, which a bidder can do nothing about."""
    known = await cache.known_lot(db, lot_id)
    try:
        if user.get("banned_until", 0) > now:
            raise Forbidden("bidding is suspended for this account after an unpaid order")
        if not cache.covers(user["_id"], known):
            deposit = await deposits.covering_deposit(db, user["_id"], {"_id": lot_id, "auction_id": known.facts.auction_id})
            if not deposit:
                raise DepositRequired("pay a deposit for this lot or its session first")
            cache.cover(deposit, known)
    except (Forbidden, DepositRequired):
        lot = await db.lots.find_one({"_id": lot_id}, {"status": 1, "end_at": 1})
        if lot["status"] != "live" or lot["end_at"] <= now:
            raise LotNotLive(f"lot is {lot['status']}", status=lot["status"]) from None
        raise
    return known


JUMP_FACTOR = 10  # without a session cap, a bid is at most this many times the next minimum or the high estimate


def highest_bid(facts: LotFacts, next_min: int) -> int:
    """The most a bid may be when the next minimum is `next_min`: a slip of the
    finger must not end a lot. The session's cap above the next minimum, or
    ten times the larger of the next minimum and the lot's high estimate."""
    if facts.max_jump:
        return next_min + facts.max_jump
    return JUMP_FACTOR * max(next_min, facts.estimate_high)


def jump_rule(facts: LotFacts, price: int) -> dict:
    """`highest_bid` as a condition on the lot's next minimum, for the bid's own write."""
    if facts.max_jump:
        return {"$gte": price - facts.max_jump}
    if price <= JUMP_FACTOR * facts.estimate_high:
        return {}
    return {"$gte": -(-price // JUMP_FACTOR)}


def extended_end(facts: LotFacts, end_at: int, now: int) -> int:
    """Anti-sniping: a bid inside the window moves the end to now + extend_by."""
    if not facts.extend_window_ms or end_at - now >= facts.extend_window_ms:
        return 0
    new_end = now + facts.extend_by_ms
    return min(new_end, facts.latest_end) if facts.latest_end else new_end


async def decide(db, events, cache: BidCache, user: dict, lot_id: str, price: int, now: int,
                 client_id: str = "", kind: str = "bid", expect_seq: int | None = None) -> BidResult:
    """Accept or refuse one bid, and announce it. A repeated `client_id`
    returns the first answer. `expect_seq` is for the proxies only: their
    bid was planned from the lot at that seq (domain.proxies.settle), which
    may raise the leader's own bid, take the lead at an equal price or stop
    short of a full increment at a maximum, so the write is conditional on
    the lot being exactly as planned instead of on the next minimum.

    A repeat is looked for only when the write is refused: a repeated bid
    cannot pass the filter, since its sender leads, has been outbid, or had
    the bid voided (`repeat_key`)."""
    known = await check_may_bid(db, cache, user, lot_id, now)
    facts = known.facts
    client_id = client_id or f"auto-{new_id()}"
    paddle = await cache.paddle(db, facts.auction_id, user["_id"])
    bidder = paddles.label(paddle, user)
    last_bid = {"price": price, "user_id": user["_id"], "bidder": bidder, "paddle": paddle, "client_id": client_id,
                "kind": kind, "at": now}
    update = {
        "$set": {"price": price, "leader": user["_id"], "leader_name": bidder,
                 "next_min": price + facts.increment, "last_bid": last_bid},
        "$inc": {"seq": 1, "bid_count": 1},
    }
    # The end used for the extension is the one read last; a stale one only errs later.
    new_end = extended_end(facts, known.end_at, now)
    if new_end:
        update["$max"] = {"end_at": new_end}
    if expect_seq is None:  # a bidder's bid: within the jump allowed, and not one an operator voided, sent again
        rule = {"next_min": {"$lte": price, **jump_rule(facts, price)}, "leader": {"$ne": user["_id"]},
                "voided_keys": {"$nin": [repeat_key(user["_id"], client_id)]}}
    else:
        rule = {"seq": expect_seq}
    before = await db.lots.find_one_and_update(
        {"_id": lot_id, "status": "live", "end_at": {"$gt": now}, **rule}, update, return_document=False)
    if not before:
        return await _refused(db, cache, user, lot_id, price, now, client_id, facts)
    lot = _after(before, update)
    if not new_end and extended_end(facts, before["end_at"], now):
        # The end we knew was too old to see the window: extend now, still conditionally.
        new_end = extended_end(facts, before["end_at"], now)
        lot = await db.lots.find_one_and_update(
            {"_id": lot_id, "status": "live"}, {"$max": {"end_at": new_end}}, return_document=True) or lot
    known.end_at = lot["end_at"]
    known.saw(lot["seq"], lot["leader"], lot["next_min"], lot["end_at"])
    bid = bid_doc(lot)
    if before["seq"] > known.stored_seq:
        # The bid before ours came through another node, or through one that
        # died before storing it; ours is about to overwrite the lot's copy.
        await asyncio.gather(store_bid(db, bid), repair_history(db, before))
    else:
        await store_bid(db, bid)
    known.stored_seq = max(known.stored_seq, bid["seq"])
    result = BidResult(bid, lot, before["leader"], False)
    await events.publish(bid_event(result))
    return result


def repeat_key(user_id: str, client_id: str) -> str:
    """How a lot remembers a bid an operator voided, so that the same request
    sent again (a reconnecting client resends) is answered, not bid again:
    after an undo its price may be valid once more. `$nin`, not `$ne`: on the
    embedded store `$ne` against an array matches even a listed value."""
    return f"{user_id}:{client_id}"


def _after(before: dict, update: dict) -> dict:
    """The lot as the update left it, computed rather than read back again."""
    lot = {**before, **update["$set"]}
    for name, step in update["$inc"].items():
        lot[name] = before.get(name, 0) + step
    for name, value in update.get("$max", {}).items():
        lot[name] = max(before[name], value)
    return lot


async def store_bid(db, bid: dict) -> None:
    try:
        await db.bids.insert_one(bid)
    except DuplicateKeyError:
        if await db.bids.find_one({"_id": bid["_id"]}, {"_id": 1}):
            return  # a repair already wrote it
        # The client reused an id for another price: keep this bid too, under a derived id.
        await db.bids.insert_one({**bid, "client_id": f"{bid['client_id']}#{bid['seq']}"})


def _explained(known: KnownLot | None, user: dict, price: int, now: int) -> DomainError | None:
    """Why the store refused a bid, from the latest bid heard of here, when
    that says so clearly; None sends the caller to read the lot. The refusal
    itself was the store's: this never refuses a bid the store would take."""
    if not known or not known.seq or known.end_at <= now:
        return None
    if price < known.next_min and known.leader != user["_id"]:
        return BidTooLow(f"the next bid must be at least {known.next_min}", next_min=known.next_min)
    highest = highest_bid(known.facts, known.next_min)
    if price > highest and known.leader != user["_id"]:
        return BidTooHigh(f"a bid may be at most {highest} now", max_price=highest, next_min=known.next_min)
    return None


async def _refused(db, cache, user, lot_id, price, now, client_id, facts: LotFacts) -> BidResult:
    """Say why the conditional write did not match: a repeated request gets
    its first answer (looked up only for a client's own id); otherwise what
    this node knows of the lot says why, as cheaply as an acceptance, and a
    fresh read only when it cannot."""
    first = None if client_id.startswith("auto-") else \
        await db.bids.find_one({"user_id": user["_id"], "client_id": client_id})
    if not first:
        reason = _explained(cache.lots.get(lot_id), user, price, now)
        if reason:
            raise reason
    lot = await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
    if first:
        return BidResult(first, lot, "", True)
    if not lot:
        raise NotFound("no such lot")
    last = lot.get("last_bid") or {}
    if last.get("client_id") == client_id and last.get("user_id") == user["_id"]:
        # The same request twice at once: the first is accepted but not yet in the history.
        return BidResult(bid_doc(lot), lot, "", True)
    if lot_id in cache.lots:
        cache.lots[lot_id].end_at = lot["end_at"]
    if lot["status"] != "live" or lot["end_at"] <= now:
        raise LotNotLive(f"lot is {lot['status']}", status=lot["status"])
    if lot["leader"] == user["_id"]:
        raise AlreadyLeading("you are already the highest bidder", next_min=next_min(lot))
    if price > highest_bid(facts, next_min(lot)):
        raise BidTooHigh(f"a bid may be at most {highest_bid(facts, next_min(lot))} now",
                         max_price=highest_bid(facts, next_min(lot)), next_min=next_min(lot))
    raise BidTooLow(f"the next bid must be at least {next_min(lot)}", next_min=next_min(lot))


def bid_doc(lot: dict) -> dict:
    """The history entry of the lot's last bid (or correction), built from the
    lot itself: the one place a bid document is shaped."""
    last = lot["last_bid"]
    doc = {"_id": f"{lot['_id']}:{lot['seq']}", "lot_id": lot["_id"], "auction_id": lot["auction_id"],
           "seq": lot["seq"], "price": last["price"], "user_id": last["user_id"], "bidder": last["bidder"],
           "paddle": last.get("paddle", 0),
           "status": "bidding", "client_id": last["client_id"], "kind": last["kind"], "created_at": last["at"]}
    if last["kind"] == "undo":
        doc.update(status="void", voided_seq=last["voided_seq"])
    return doc


async def repair_history(db, lot: dict) -> bool:
    """Write the lot's last bid into the history if a crash kept it out (and,
    for an undo, void the bid it undid)."""
    last = lot.get("last_bid")
    if not lot["seq"] or not last:
        return False
    written = not await db.bids.find_one({"_id": f"{lot['_id']}:{lot['seq']}"}, {"_id": 1})
    if written:
        await store_bid(db, bid_doc(lot))
    if last["kind"] == "undo":
        await move(db.bids, BID, {"_id": f"{lot['_id']}:{last['voided_seq']}"}, "void")
    return written


async def history(db, lot_id: str, limit: int = HISTORY_PAGE, before_seq: int = 0,
                  corrections: bool = False) -> list[dict]:
    """Newest first. As bidders read it, an operator's corrections are not
    bids and are left out (the bid a correction voided stays, marked void);
    operators see them."""
    query = {"lot_id": lot_id} if corrections else {"lot_id": lot_id, "kind": {"$ne": "undo"}}
    if before_seq:
        query["seq"] = {"$lt": before_seq}
    return await db.bids.find(query).sort("seq", -1).limit(limit).to_list(None)


def bid_event(result: BidResult, **extra) -> dict:
    """What every node hears of an accepted bid or a correction (an undo adds
    what it voided); user ids stay inside the servers (handlers/messages.py
    shapes what clients see)."""
    bid, lot = result.bid, result.lot
    return {"type": "bid", "lot": bid["lot_id"], "auction": bid["auction_id"], "seq": bid["seq"],
            "price": bid["price"], "bidder": bid["bidder"], "bid_count": lot["bid_count"],
            "next_min": lot["next_min"], "end_at": lot["end_at"], "kind": bid["kind"], "at": bid["created_at"],
            "user": bid["user_id"], "paddle": bid["paddle"], "reserve_met": reserve_met(lot),
            "previous_leader": result.previous_leader, **extra}


def reserve_met(lot: dict) -> bool:
    """Whether the lot's secret reserve is reached: bidders see this, never the amount."""
    return bool(lot["leader"]) and lot["price"] >= lot.get("reserve_price", 0)
