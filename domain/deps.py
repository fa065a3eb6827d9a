"""What the use cases that need more than a store and a time get from the
outside, built once by the server (server/app.py) and passed in: nothing in
domain/ opens a connection, reads the wall clock or starts a task itself."""
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.bid_cache import BidCache
from domain.ratelimit import Limiter
from domain.rules import Rules


class Events(Protocol):
    async def publish(self, event: dict) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


class BidObserver(Protocol):
    """Where bid outcomes are counted (the server's metrics)."""

    def bid_accepted(self, seconds: float, repeated: bool) -> None: ...

    def bid_refused(self, code: str, seconds: float) -> None: ...


class Unobserved:
    def bid_accepted(self, seconds: float, repeated: bool) -> None:
        pass

    def bid_refused(self, code: str, seconds: float) -> None:
        pass


@dataclass
class Deps:
    db: Any
    events: Events
    clock: Clock
    # Runs follow-up work after the answer has gone (the proxies' answer to a bid).
    background: Callable[[Coroutine], None]
    rules: Rules = Rules()
    bid_cache: BidCache = field(default_factory=BidCache)
    bid_limits: Limiter = field(default_factory=lambda: Limiter(10, 20))  # per user
    observer: BidObserver = field(default_factory=Unobserved)
    # Entered while a bid is being decided: the node's fan-out lets it go first (server/hub.py, BidWork).
    bid_work: AbstractContextManager = field(default_factory=nullcontext)
    # The payment gateways that take payments here, by pay_type (server/gateways/).
    gateways: dict = field(default_factory=dict)
