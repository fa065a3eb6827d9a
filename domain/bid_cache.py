"""What a node keeps so that a bid costs the store as few reads as it can,
and the rules for forgetting it, beside it (`BidCache.apply`).

A lot's facts cannot change once it can no longer be edited (its session
has gone live), so they are kept until the lot's next status change. Who
holds a deposit covering a lot is kept too: a paid deposit stays held while
its lots are open, until something takes it away, and whatever does so
publishes an event every node applies here (overdue does, with `barred`;
an order's payment that uses a deposit or sends its rest back, with
`deposit`: the next bid reads what is left of it).
"""
from dataclasses import dataclass, field
from typing import NamedTuple

from domain import paddles
from domain.auctions import EDITABLE
from domain.errors import NotFound


class LotFacts(NamedTuple):
    auction_id: str
    increment: int
    extend_window_ms: int
    extend_by_ms: int
    latest_end: int     # 0: extensions are not capped
    estimate_high: int
    max_jump: int       # the session's cap on a bid above the next minimum; 0: the default rule


@dataclass
class KnownLot:
    facts: LotFacts
    end_at: int = 0                                  # the end as last seen
    covered: set[str] = field(default_factory=set)   # bidders whose paid lot deposit covers it
    stored_seq: int = 0                              # bids up to this seq are in the history
    # The lot as of the latest bid heard of here (never used to refuse a bid,
    # only to say why the store refused one, without reading it again).
    seq: int = 0
    leader: str = ""
    next_min: int = 0

    def saw(self, seq: int, leader: str, next_min: int, end_at: int) -> None:
        if seq > self.seq:
            self.seq, self.leader, self.next_min, self.end_at = seq, leader, next_min, max(self.end_at, end_at)


@dataclass
class BidCache:
    lots: dict[str, KnownLot] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)             # auction id -> its document
    session_covered: dict[str, set[str]] = field(default_factory=dict)  # auction id -> user ids
    paddles: dict[str, dict[str, int]] = field(default_factory=dict)    # auction id -> user id -> paddle

    def apply(self, event: dict) -> None:
        """Forget what an event makes stale, on every node that hears it."""
        kind = event["type"]
        if kind == "status":  # paused, resumed (a new end), closed: read it afresh
            self.lots.pop(event["lot"], None)
        elif kind == "auction":  # live, ended (its session deposits go back): read it afresh
            self.sessions.pop(event["auction"], None)
            self.session_covered.pop(event["auction"], None)
            if event["status"] == "ended":
                self.paddles.pop(event["auction"], None)
        elif kind == "bid":
            known = self.lots.get(event["lot"])
            if known:  # a bid is announced only once it is in the history: the next one here need not check
                known.stored_seq = max(known.stored_seq, event["seq"])
                known.saw(event["seq"], event["user"], event["next_min"], event["end_at"])
        elif kind == "barred":  # the forfeited deposit covers nothing now
            for users in self.session_covered.values():
                users.discard(event["user"])
            for known in self.lots.values():
                known.covered.discard(event["user"])
        elif kind == "deposit":  # used or refunded by a payment: whether it still covers is read again
            if event["kind"] == "auction":
                self.session_covered.get(event["auction"], set()).discard(event["user"])
            elif event["lot"] in self.lots:
                self.lots[event["lot"]].covered.discard(event["user"])

    async def known_lot(self, db, lot_id: str, lot: dict | None = None) -> KnownLot:
        """What a bid on the lot needs to know; `lot` is its document if the
        caller has just read it (a subscriber's snapshot: a lot watched here is
        one likely to be bid on here, so its first bid need not read it)."""
        known = self.lots.get(lot_id)
        if known:
            return known
        lot = lot or await db.lots.find_one({"_id": lot_id, "deleted_at": 0})
        if not lot:
            raise NotFound("no such lot")
        auction = self.sessions.get(lot["auction_id"]) or await db.auctions.find_one({"_id": lot["auction_id"]})
        if auction["status"] not in EDITABLE:
            self.sessions[auction["_id"]] = auction  # its settings are fixed now: one read for all its lots
        cap = auction.get("max_extend_s", 0)
        facts = LotFacts(lot["auction_id"], lot["increment"], auction["extend_window_s"] * 1000,
                         auction["extend_by_s"] * 1000, auction["auction_end"] + cap * 1000 if cap else 0,
                         lot["estimate_high"], auction.get("max_jump", 0))
        known = KnownLot(facts, lot["end_at"])
        known.saw(lot["seq"], lot["leader"], lot["next_min"], lot["end_at"])
        if lot["status"] not in EDITABLE:
            self.lots[lot_id] = known  # only once it can no longer be edited
        return known

    def covers(self, user_id: str, known: KnownLot) -> bool:
        return user_id in known.covered or user_id in self.session_covered.get(known.facts.auction_id, ())

    def cover(self, deposit: dict, known: KnownLot) -> None:
        """Remember a paid deposit: a session deposit covers every lot of its session."""
        if deposit["kind"] == "auction":
            self.session_covered.setdefault(known.facts.auction_id, set()).add(deposit["user_id"])
        else:
            known.covered.add(deposit["user_id"])
        if deposit.get("paddle"):
            self.paddles.setdefault(known.facts.auction_id, {})[deposit["user_id"]] = deposit["paddle"]

    async def paddle(self, db, auction_id: str, user_id: str) -> int:
        """The bidder's paddle in the session (given now to a deposit paid before paddles were)."""
        known = self.paddles.get(auction_id, {}).get(user_id)
        if known is None:
            known = await paddles.paddle_for(db, auction_id, user_id)
            self.paddles.setdefault(auction_id, {})[user_id] = known
        return known
