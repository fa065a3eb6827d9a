"""The claim centre over `/ws` (`{"op":"subscribe","coupons":true}`): a
watcher gets every coupon's state first, then, at most once per `FLUSH_S`
on this node, one frame with the latest state of each coupon that changed,
however many claims there were: a flash claim of thousands costs each
watcher a few frames a second, not thousands.

The states come from `coupon` and `coupon_changed` events, from this node
and the others. They may arrive out of order across nodes, so each coupon
keeps only the newest state: a later status, then more claimed (a coupon's
`claimed` only grows); the same goes for the states read for a new
watcher, so its first frame is never older than what it was already sent.
"""
import asyncio

from domain.states import COUPON_TEXT
from handlers import messages
from handlers.messages import frame
from server.hub import Hub

FLUSH_S = 0.2
RANK = {status: i for i, status in enumerate(COUPON_TEXT)}  # pending, claiming, ended
FIELDS = ("coupon", "status", "remaining", "claimed", "count", "deleted")


def _age(state: dict) -> tuple:
    return state["deleted"], RANK[state["status"]], state["claimed"]


class CouponFeed:
    def __init__(self, hub: Hub, clock):
        self.hub, self.clock = hub, clock
        self.latest: dict[str, dict] = {}  # coupon id -> its newest known state
        self.changed: set[str] = set()     # coupons to send in the next frame
        self.flush_at: asyncio.TimerHandle | None = None

    def apply(self, event: dict) -> None:
        if event["type"] not in ("coupon", "coupon_changed") or not self._keep(event):
            return
        if event["status"] != "pending" and self.hub.coupon_watchers:  # a pending coupon is not in the centre
            self.changed.add(event["coupon"])
            if self.flush_at is None:
                self.flush_at = asyncio.get_running_loop().call_later(FLUSH_S, self._flush)

    def _keep(self, state: dict) -> bool:
        """Keep `state` unless the one known is newer; whether it was kept."""
        known = self.latest.get(state["coupon"])
        if known is not None and _age(state) < _age(known):
            return False
        self.latest[state["coupon"]] = {k: state[k] for k in FIELDS}
        return True

    def watch(self, watcher, states: list[dict]) -> bytes:
        """Start sending the claim centre to `watcher`; its first frame, from
        `states` (read from the store) or anything newer heard meanwhile."""
        for state in states:
            self._keep(state)
        self.hub.watch_coupons(watcher)
        first = [self.latest[s["coupon"]] for s in states]
        return frame(messages.coupons(first, self.clock.now_ms(), first=True))

    def _flush(self) -> None:
        self.flush_at = None
        states = [self.latest[c] for c in self.changed]
        self.changed.clear()
        if self.hub.coupon_watchers:
            self.hub.to_coupon_watchers(frame(messages.coupons(states, self.clock.now_ms())))
