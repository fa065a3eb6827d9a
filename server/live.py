"""Watching a lot over `/ws`: what a subscriber is sent first, and the
snapshots kept so that ten thousand subscribers to one lot cost the store
one read, not ten thousand.

A subscriber that comes back with `since` gets the bids it missed replayed
from the hub when the hub still holds them all; otherwise a snapshot, then
whatever the hub delivered after the snapshot's `seq`. A snapshot read for
one subscriber serves the next ones for a moment, kept current with each
bid delivered here (`apply`), as long as the hub holds every bid after it.
"""
import time

from domain import bidding, lots
from domain.deps import Deps
from handlers import messages
from server.hub import Hub

SNAPSHOT_TTL_S = 1.0  # a lot read for one subscriber serves the next ones this long
MAX_SNAPSHOTS = 1000  # beyond this many kept, the stale ones are dropped


class LiveLots:
    def __init__(self, deps: Deps, hub: Hub):
        self.deps, self.hub = deps, hub
        self.snapshots: dict[str, tuple[float, dict, list]] = {}  # lot -> (read at, lot, recent bids)

    async def watch(self, watcher, lot_id: str, since: int | None) -> list[bytes]:
        """Start delivering the lot to `watcher`: the frames to send it first, in order."""
        if since is not None and self.hub.can_resume(lot_id, since):
            return self.hub.watch_lot(watcher, lot_id, since)
        cached = self._cached(lot_id)
        if cached:
            lot, recent = cached
        else:
            lot = await lots.get(self.deps.db, lot_id)
            recent = await bidding.history(self.deps.db, lot_id)
            self._keep(lot, recent)
            bidding.read_ahead(self.deps, lot)
        missed = self.hub.watch_lot(watcher, lot_id, lot["seq"])
        first = messages.snapshot(lot, recent, self.hub.watcher_count(lot_id), self.deps.clock.now_ms())
        return [messages.frame(first), *missed]

    def apply(self, event: dict) -> None:
        """Keep a kept snapshot current with a bid delivered here, or drop it."""
        if event["type"] == "status":
            self.snapshots.pop(event["lot"], None)
        if event["type"] != "bid" or event["lot"] not in self.snapshots:
            return
        read_at, lot, recent = self.snapshots[event["lot"]]
        if event["kind"] == "undo" or lot["seq"] != event["seq"] - 1:
            del self.snapshots[event["lot"]]  # a correction rewrites the history: read it again
            return
        lot = {**lot, "seq": event["seq"], "price": event["price"], "leader": event["user"],
               "leader_name": event["bidder"], "next_min": event["next_min"], "bid_count": event["bid_count"],
               "end_at": event["end_at"]}
        bid = {"seq": event["seq"], "price": event["price"], "bidder": event["bidder"], "paddle": event["paddle"],
               "status": "bidding", "created_at": event["at"]}
        self.snapshots[event["lot"]] = (read_at, lot, [bid, *recent[:bidding.HISTORY_PAGE - 1]])

    def _cached(self, lot_id: str) -> tuple[dict, list] | None:
        entry = self.snapshots.get(lot_id)
        if entry and time.monotonic() - entry[0] < SNAPSHOT_TTL_S and self.hub.can_resume(lot_id, entry[1]["seq"]):
            return entry[1], entry[2]
        return None

    def _keep(self, lot: dict, recent: list) -> None:
        now = time.monotonic()
        if len(self.snapshots) >= MAX_SNAPSHOTS:
            self.snapshots = {k: v for k, v in self.snapshots.items() if now - v[0] < SNAPSHOT_TTL_S}
        self.snapshots[lot["_id"]] = (now, lot, recent)
