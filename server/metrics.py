"""Prometheus metrics of one server process, on a registry of its own (not
prometheus_client's global one, so imports and tests never collide).

What changes per request or per bid is counted as it happens; what is cheaper
to read than to track (open sockets, pending timers, frames the hub pushed)
is read at scrape time through `live`, so the WebSocket fan-out pays nothing.
No Tornado here: `handlers/metrics.py` serves it and feeds the HTTP numbers.
"""
from typing import Callable

from prometheus_client import (CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector,
                               ProcessCollector)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BID_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LiveCollector:
    """Numbers read when Prometheus scrapes, from the callables given."""

    def __init__(self, sockets: Callable[[], int], jobs: Callable[[], int], frames: Callable[[], int]):
        self.sockets, self.jobs, self.frames = sockets, jobs, frames

    def collect(self):
        yield GaugeMetricFamily("gavel_websocket_connections", "WebSocket connections open on this node",
                                value=self.sockets())
        yield GaugeMetricFamily("gavel_scheduler_jobs_pending", "Timers armed in this node's scheduler",
                                value=self.jobs())
        yield CounterMetricFamily("gavel_hub_frames_pushed", "Bid frames handed to local WebSocket watchers",
                                  value=self.frames())


class Metrics:
    def __init__(self):
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter("gavel_http_requests", "HTTP requests answered",
                                     ["route", "method", "status"], registry=r)
        self.http_seconds = Histogram("gavel_http_request_duration_seconds", "Time to answer an HTTP request",
                                      ["route", "method"], buckets=HTTP_BUCKETS, registry=r)
        self.bids_accepted = Counter("gavel_bids_accepted", "Bids accepted (HTTP and WebSocket)", registry=r)
        self.bids_refused = Counter("gavel_bids_refused", "Bids refused, by error code", ["code"], registry=r)
        self.bid_seconds = Histogram("gavel_bid_decision_seconds", "Time to accept or refuse a bid",
                                     ["outcome"], buckets=BID_BUCKETS, registry=r)
        self._bid_accepted_seconds = self.bid_seconds.labels("accepted")
        self._bid_refused_seconds = self.bid_seconds.labels("refused")

    def live(self, sockets: Callable[[], int], jobs: Callable[[], int], frames: Callable[[], int]) -> None:
        """Register the scrape-time readings (once, when the context is built)."""
        self.registry.register(LiveCollector(sockets, jobs, frames))

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_seconds.labels(route, method).observe(seconds)

    def bid_accepted(self, seconds: float, repeated: bool = False) -> None:
        if not repeated:  # a repeated client id is the first answer again, not a new bid
            self.bids_accepted.inc()
        self._bid_accepted_seconds.observe(seconds)

    def bid_refused(self, code: str, seconds: float) -> None:
        self.bids_refused.labels(code).inc()
        self._bid_refused_seconds.observe(seconds)
