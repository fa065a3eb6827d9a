"""A session's `bid_count`, recounted a moment after bids decided here.

It is shown, not decided on, so it is not worth a second write on every
bid: each bid is counted in its lot by its own conditional write, and a
session's count is the sum of its lots', recomputed (domain.auctions.
recount_bids) at most once a second per session by the node that accepted
bids on it, and by the recovery sweep. Nothing is added up, so a lost
event or a crash leaves no lasting error.
"""
import asyncio
import logging

from domain import auctions

log = logging.getLogger("gavel.counters")


class SessionBidCounts:
    def __init__(self, db, clock):
        self.db, self.clock = db, clock
        self.due: set[str] = set()

    def note(self, auction_id: str) -> None:
        self.due.add(auction_id)

    async def recount(self) -> None:
        due, self.due = self.due, set()
        for auction_id in due:
            await auctions.recount_bids(self.db, auction_id, self.clock.now_ms())

    async def run(self, every_s: float = 1.0) -> None:
        try:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await self.recount()
                except Exception:
                    log.exception("recounting session bids failed")
        finally:
            await self.recount()
