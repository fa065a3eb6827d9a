"""Domain events between nodes, and what each one changes on this node.

The domain publishes plain dicts (`await events.publish(event)`), each with
a `type` and the ids it concerns (docs/architecture.md, "Events"). The bus
applies an event on this node at once and sends it to the other nodes
through the broker; a node ignores the broker's echo of its own events.
Applying one (`Router.apply`): the bid cache forgets what it makes stale,
the kept snapshots follow it, its frames go to this node's watchers
(shaped by handlers/messages.py), the claim centre's watchers hear of a
coupon's change (coalesced, server/coupon_feed.py), the timers re-arm, and
a session's bid count is recounted a moment after bids decided here.
"""
import asyncio
import logging

import orjson

from domain.bid_cache import BidCache
from handlers import messages
from handlers.messages import frame
from server.counters import SessionBidCounts
from server.coupon_feed import CouponFeed
from server.hub import BidFrames, Hub
from server.live import LiveLots
from server.timers import Timers

log = logging.getLogger("gavel.events")
CHANNEL = "events"


def fan_out(hub: Hub, event: dict, now: int) -> None:
    """An event's frames, handed to this node's hub."""
    kind = event["type"]
    if kind == "bid":
        notices = []
        previous = event["previous_leader"]
        if previous and previous != event["user"] and hub.sockets_of(previous):
            notices.append((previous, frame(messages.outbid(event))))
        undone = event.get("undone_user")
        if undone and hub.sockets_of(undone):
            notices.append((undone, frame(messages.bid_undone(event))))
        summary = frame(messages.bid_summary(event, now)) if hub.auctions.get(event["auction"]) else b""
        hub.bid(event["lot"], event["seq"], BidFrames(frame(messages.bid(event, now)), summary, event["auction"],
                                                      tuple(notices)))
    elif kind == "status":
        hub.lot_status(event["lot"], event["auction"], event["status"], event["seq"], frame(messages.status(event, now)))
    elif kind == "auction":
        hub.to_session(event["auction"], frame(messages.auction(event, now)))
    elif kind == "watchers":
        hub.note_counts(event["node"], event["counts"])
    elif kind == "offer":
        hub.to_user(event["user"], frame(messages.offer(event, now)))
    elif kind == "barred":  # sockets read their user once, at login
        for sock in list(hub.sockets_of(event["user"])):
            sock.bar(event["until"])
    elif kind == "logged_out":
        for sock in list(hub.sockets_of(event["user"])):
            sock.log_out(event["token"])


def announce_counts(hub: Hub) -> None:
    """Each watched lot's new watcher total, to its watchers in its next round."""
    for lot_id, total in hub.counts_to_announce():
        hub.to_lot(lot_id, frame(messages.watchers(lot_id, total)))


class Router:
    def __init__(self, node_id: str, clock, hub: Hub, live: LiveLots, bid_cache: BidCache, timers: Timers,
                 counts: SessionBidCounts, coupon_feed: CouponFeed):
        self.node_id, self.clock, self.hub, self.live = node_id, clock, hub, live
        self.bid_cache, self.timers, self.counts, self.coupon_feed = bid_cache, timers, counts, coupon_feed

    async def apply(self, event: dict) -> None:
        self.bid_cache.apply(event)
        self.live.apply(event)
        fan_out(self.hub, event, self.clock.now_ms())
        self.coupon_feed.apply(event)
        await self.timers.apply(event)
        if event["type"] == "bid" and event["node"] == self.node_id:
            self.counts.note(event["auction"])


class EventBus:
    def __init__(self, broker, node_id: str):
        self.broker, self.node_id = broker, node_id
        self.router: Router | None = None

    def route_to(self, router: Router) -> None:
        """What applies the events here: built after the bus, since what it drives publishes through it."""
        self.router = router

    async def publish(self, event: dict) -> None:
        event = {**event, "node": self.node_id}
        try:
            await self.router.apply(event)
        except Exception:  # what changed is stored already; the other nodes still hear of it
            log.exception("applying a %s event here failed", event["type"])
        await self.broker.publish(CHANNEL, orjson.dumps(event))

    async def listen(self, ready: asyncio.Event) -> None:
        """The other nodes' events, for as long as the server runs."""
        async with self.broker.subscribe(CHANNEL) as incoming:
            ready.set()
            async for raw in incoming:
                try:
                    event = orjson.loads(raw)
                    if event["node"] != self.node_id:
                        await self.router.apply(event)
                except Exception:
                    log.exception("applying an event from another node failed")

    async def share_watcher_counts(self, hub: Hub) -> None:
        """Once a second: this node's watcher counts to the others, and each
        watched lot's new total to its watchers here."""
        while True:
            await asyncio.sleep(1)
            try:
                await self.publish({"type": "watchers", "counts": hub.local_counts()})
                announce_counts(hub)
            except Exception:
                log.exception("sharing watcher counts failed")
