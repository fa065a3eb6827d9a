"""Session counters kept write-behind: a session's `bid_count` is shown, not
decided on, so each node adds up the bids it accepted and writes the sum
once a second instead of one more write on every bid."""
import asyncio
import logging
from collections import Counter

log = logging.getLogger("gavel.counters")


class SessionBidCounts:
    def __init__(self, db):
        self.db = db
        self.pending: Counter = Counter()

    def add(self, auction_id: str, n: int = 1) -> None:
        self.pending[auction_id] += n

    async def flush(self) -> None:
        pending, self.pending = self.pending, Counter()
        for auction_id, n in pending.items():
            if n:
                await self.db.auctions.update_one({"_id": auction_id}, {"$inc": {"bid_count": n}})

    async def run(self, every_s: float = 1.0) -> None:
        try:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await self.flush()
                except Exception:
                    log.exception("flushing session bid counts failed")
        finally:
            await self.flush()
