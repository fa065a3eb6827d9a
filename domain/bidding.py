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
from dataclasses import dataclass, field
from typing import NamedTuple

from pymongo.errors import DuplicateKeyError

from domain import accounts, deposits
from domain.auctions import EDITABLE
from domain.errors import (AlreadyLeading, BidTooLow, DepositRequired, Forbidden, LotNotLive,
                           NotFound)
from domain.ids import new_id
from domain.lots import next_min

HISTORY_PAGE = 20


class LotFacts(NamedTuple):
    """What cannot change about a lot once it is live (edits stop there), so
    a node may keep it: it spares a read on every bid."""
    auction_id: str
    increment: int
    extend_window_ms: int
    extend_by_ms: int
    latest_end: int  # 0: extensions are not capped


@dataclass
class KnownLot:
    """What a node keeps about a lot it takes bids on, in `BidCache.lots`;
    dropped when the lot changes status (the server does, on its event)."""
    facts: LotFacts
    end_at: int = 0                                  # the end as last seen
    covered: set[str] = field(default_factory=set)   # bidders whose paid lot deposit covers it
    stored_seq: int = 0                              # bids up to this seq are in the history


@dataclass
class BidCache:
    """What a node keeps so that a bid costs the store as few reads as it
    can: the lots it takes bids on, the sessions they belong to (no longer
    editable) and, per session, who holds a paid session deposit (a deposit
    stays held while its lots are open). The server drops a lot's entry at
    the lot's status events and a session's at the session's. Whatever
    takes a held deposit away while its lots are open must call `uncover`
    on every node: overdue does, through its `barred` event."""
    lots: dict[str, KnownLot] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)             # auction id -> its document
    session_covered: dict[str, set[str]] = field(default_factory=dict)  # auction id -> user ids

    def forget_session(self, auction_id: str) -> None:
        self.sessions.pop(auction_id, None)
        self.session_covered.pop(auction_id, None)

    def uncover(self, user_id: str) -> None:
        for users in self.session_covered.values():
            users.discard(user_id)
        for known in self.lots.values():
            known.covered.discard(user_id)


class BidResult(NamedTuple):
    bid: dict
    lot: dict          # the lot after the bid
    previous_leader: str
    repeated: bool     # the same client id was seen before: this is the first answer again


async def known_lot(db, cache: BidCache, lot_id: str, lot: dict | None = None) -> KnownLot:
    """What a bid on the lot needs to know; `lot` is its document if the
    caller has just read it (a subscriber's snapshot: a lot watched here is
    one likely to be bid on here, so its first bid need not read it)."""
    known = cache.lots.get(lot_id)
    if known:
        return known
    lot = lot or await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
    if not lot:
        raise NotFound("no such lot")
    auction = cache.sessions.get(lot["auction_id"]) or await db.auctions.find_one({"_id": lot["auction_id"]})
    if auction["status"] not in EDITABLE:
        cache.sessions[auction["_id"]] = auction  # its settings are fixed now: one read for all its lots
    cap = auction.get("max_extend_s", 0)
    facts = LotFacts(lot["auction_id"], lot["increment"], auction["extend_window_s"] * 1000,
                     auction["extend_by_s"] * 1000, auction["auction_end"] + cap * 1000 if cap else 0)
    known = KnownLot(facts, lot["end_at"])
    if lot["status"] not in EDITABLE:
        cache.lots[lot_id] = known  # only once it can no longer be edited
    return known


async def check_may_bid(db, cache: BidCache, user: dict, lot_id: str, now: int) -> KnownLot:
    """The rules about the bidder rather than the price: bans and the deposit."""
    if user.get("banned_until", 0) > now:
        raise Forbidden("bidding is suspended for this account after an unpaid order")
    known = await known_lot(db, cache, lot_id)
    auction_id = known.facts.auction_id
    if user["_id"] not in known.covered and user["_id"] not in cache.session_covered.get(auction_id, ()):
        deposit = await deposits.covering_deposit(db, user["_id"], {"_id": lot_id, "auction_id": auction_id})
        if not deposit:
            raise DepositRequired("pay a deposit for this lot or its session first")
        if deposit["kind"] == "auction":  # covers every lot of the session: one read for all of them
            cache.session_covered.setdefault(auction_id, set()).add(user["_id"])
        else:
            known.covered.add(user["_id"])
    return known


def extended_end(facts: LotFacts, end_at: int, now: int) -> int:
    """Anti-sniping: a bid inside the window moves the end to now + extend_by."""
    if not facts.extend_window_ms or end_at - now >= facts.extend_window_ms:
        return 0
    new_end = now + facts.extend_by_ms
    return min(new_end, facts.latest_end) if facts.latest_end else new_end


async def place_bid(db, events, cache: BidCache, user: dict, lot_id: str, price: int, now: int,
                    client_id: str = "", kind: str = "bid", raise_own: bool = False) -> BidResult:
    """Accept or refuse one bid, and announce it. A repeated `client_id`
    returns the first answer. `raise_own` is for proxy settlement only: the
    leader's own maximum answering a tie (see domain.proxies).

    A repeat is looked for only when the write is refused: a repeated bid
    cannot pass the filter, since its sender leads or has been outbid."""
    known = await check_may_bid(db, cache, user, lot_id, now)
    facts = known.facts
    client_id = client_id or f"auto-{new_id()}"
    bidder = accounts.masked_name(user)
    last_bid = {"price": price, "user_id": user["_id"], "bidder": bidder, "client_id": client_id,
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
    before = await db.lots.find_one_and_update(
        {"_id": lot_id, "status": "live", "end_at": {"$gt": now}, "next_min": {"$lte": price},
         "leader": user["_id"] if raise_own else {"$ne": user["_id"]}},
        update,
        return_document=False,
    )
    if not before:
        return await _refused(db, cache, user, lot_id, price, now, client_id)
    lot = _after(before, update)
    if not new_end and extended_end(facts, before["end_at"], now):
        # The end we knew was too old to see the window: extend now, still conditionally.
        new_end = extended_end(facts, before["end_at"], now)
        lot = await db.lots.find_one_and_update(
            {"_id": lot_id, "status": "live"}, {"$max": {"end_at": new_end}}, return_document=True) or lot
    known.end_at = lot["end_at"]
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


async def _refused(db, cache, user, lot_id, price, now, client_id) -> BidResult:
    """Say why the conditional write did not match, from a fresh read."""
    first = await db.bids.find_one({"user_id": user["_id"], "client_id": client_id})
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
    raise BidTooLow(f"the next bid must be at least {next_min(lot)}", next_min=next_min(lot))


def bid_doc(lot: dict) -> dict:
    """The history entry of the lot's last bid (or correction), built from the
    lot itself: the one place a bid document is shaped."""
    last = lot["last_bid"]
    doc = {"_id": f"{lot['_id']}:{lot['seq']}", "lot_id": lot["_id"], "auction_id": lot["auction_id"],
           "seq": lot["seq"], "price": last["price"], "user_id": last["user_id"], "bidder": last["bidder"],
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
        await db.bids.update_one({"_id": f"{lot['_id']}:{last['voided_seq']}", "status": "bidding"},
                                 {"$set": {"status": "void"}})
    return written


async def history(db, lot_id: str, limit: int = HISTORY_PAGE, before_seq: int = 0) -> list[dict]:
    query = {"lot_id": lot_id}
    if before_seq:
        query["seq"] = {"$lt": before_seq}
    return await db.bids.find(query).sort("seq", -1).limit(limit).to_list(None)


def bid_event(result: BidResult) -> dict:
    """What every node hears of an accepted bid; the hub strips the user ids."""
    bid, lot = result.bid, result.lot
    return {"type": "bid", "lot": bid["lot_id"], "auction": bid["auction_id"], "seq": bid["seq"],
            "price": bid["price"], "bidder": bid["bidder"], "bid_count": lot["bid_count"],
            "next_min": lot["next_min"], "end_at": lot["end_at"], "kind": bid["kind"], "at": bid["created_at"],
            "user": bid["user_id"], "previous_leader": result.previous_leader}
