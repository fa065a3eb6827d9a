"""Wiring: open every connection in one place, build the application, run
until SIGTERM/SIGINT, close everything in the reverse order."""
import asyncio
import gc
import logging
import os
import secrets
import signal
import socket
import time

import orjson
import tornado.web

from domain import accounts, bidding, deposits, proxies
from domain.clock import SystemClock
from domain.errors import DomainError, RateLimited
from domain.orders import Rules
from handlers import accounts as account_h, admin, bids, catalog, deposits as deposit_h, health, orders, render, ws
from handlers import metrics as metrics_h, openapi, static
from handlers.base import NotFoundHandler
from server import db as dbmod
from server import demo
from server import hub as hubmod
from server.broker import create_broker
from server.counters import SessionBidCounts
from server.embedded_store import EmbeddedStore
from server.hub import Hub
from server.metrics import Metrics
from server.ratelimit import Limiter
from server.scheduler import Timeline
from server.settings import Settings, load_settings

log = logging.getLogger("gavel")
EVENTS = "events"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EventBus:
    """Domain events go to every node through the broker, this one included.
    A bid is also handed to this node's hub at once, a trip through the
    broker sooner (the hub drops the echo by its seq): the watchers here
    are the ones the bidder's own node reaches first."""

    def __init__(self, broker, node_id: str, hub: Hub):
        self.broker, self.node_id, self.hub = broker, node_id, hub

    async def publish(self, event: dict) -> None:
        event = {**event, "node": self.node_id}
        if event["type"] == "bid":
            try:
                self.hub.deliver(event)
            except Exception:  # a fan-out bug must not fail a bid already stored (the echo may still deliver it)
                log.exception("delivering bid %s of lot %s here failed", event.get("seq"), event.get("lot"))
        await self.broker.publish(EVENTS, orjson.dumps(event))


class Context:
    """What handlers, timers and the hub share; built once by `start`."""

    def __init__(self, settings: Settings, client, broker, node_id: str):
        self.settings, self.client, self.broker, self.node_id = settings, client, broker, node_id
        self.clock = SystemClock()
        self.db = dbmod.database(client)
        self.hub = Hub(node_id)
        self.events = EventBus(broker, node_id, self.hub)
        self.timeline = Timeline(self.db, self.events, self.clock,
                                 Rules(settings.order_pay_seconds, settings.overdue_ban_days))
        self.sockets: set = set()
        self.metrics = Metrics()
        self.metrics.live(sockets=lambda: len(self.sockets), jobs=lambda: len(self.timeline.scheduler.get_jobs()),
                          frames=lambda: self.hub.frames_pushed)
        self.bid_counts = SessionBidCounts(self.db)
        self.bid_cache = bidding.BidCache()
        self.user_bids = Limiter(settings.bid_rate_per_second, settings.bid_rate_per_second * 2)
        self.tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()

    def spawn(self, coro) -> None:
        """Run work after the answer has gone out, keeping a reference so it finishes."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def read_ahead(self, lot: dict) -> None:
        """A lot watched here is one likely to be bid on here: learn what its
        bids need from the lot just read for a subscriber, in the background,
        rather than on its first bid."""
        if lot["status"] in ("live", "paused") and lot["_id"] not in self.bid_cache.lots:
            self.spawn(self._read_ahead(lot))

    async def _read_ahead(self, lot: dict) -> None:
        try:
            await bidding.known_lot(self.db, self.bid_cache, lot["_id"], lot)
        except Exception:
            log.exception("reading ahead for bids on lot %s failed", lot["_id"])

    async def place_bid(self, user: dict, lot_id: str, price: int, client_id: str = "") -> bidding.BidResult:
        started = time.perf_counter()
        try:
            result = await self._place_bid(user, lot_id, price, client_id)
        except DomainError as exc:
            self.metrics.bid_refused(exc.code, time.perf_counter() - started)
            raise
        self.metrics.bid_accepted(time.perf_counter() - started, result.repeated)
        return result

    async def _place_bid(self, user: dict, lot_id: str, price: int, client_id: str) -> bidding.BidResult:
        if not self.user_bids.take(user["_id"]):
            raise RateLimited("too many bids; slow down")
        result = await bidding.place_bid(self.db, self.events, self.bid_cache, user, lot_id, price,
                                         self.clock.now_ms(), client_id)
        if result.lot and result.lot.get("proxy_count") and not result.repeated:
            self.spawn(self._settle(lot_id))
        return result

    async def set_proxy(self, user: dict, lot_id: str, max_price: int) -> dict:
        return await proxies.set_proxy(self.db, self.events, self.bid_cache, user, lot_id, max_price,
                                       self.clock.now_ms())

    async def _settle(self, lot_id: str) -> None:
        try:
            await proxies.settle(self.db, self.events, self.bid_cache, lot_id, self.clock.now_ms())
        except Exception:
            log.exception("proxy settlement of %s failed", lot_id)

    async def timeline_changed(self, auction_id: str) -> None:
        """Re-arm this node's timers now, and tell the other nodes to."""
        await self.timeline.sync_auction(auction_id)
        await self.events.publish({"type": "timeline", "auction": auction_id})

    async def deposit_of(self, user: dict | None, auction_id: str, lot_id: str | None):
        """The caller's deposit for a session or lot page, rendered; None when there is none."""
        if not user:
            return None
        doc = await deposits.mine(self.db, user["_id"], auction_id, lot_id or "")
        return render.deposit(doc) if doc else None

    async def on_event(self, event: dict) -> None:
        if event["type"] == "timeline":
            if event["node"] != self.node_id:
                await self.timeline.sync_auction(event["auction"])
        elif event["type"] == "barred":
            for sock in self.hub.users.get(event["user"], ()):
                sock.user["banned_until"] = max(sock.user.get("banned_until", 0), event["until"])
            self.bid_cache.uncover(event["user"])  # the forfeited deposit covers nothing now
        else:
            self.hub.deliver(event)
            if event["type"] == "status":  # paused, resumed (a new end), closed: read it afresh
                self.bid_cache.lots.pop(event["lot"], None)
            if event["type"] == "auction":  # live, ended (its session deposits go back): read it afresh
                self.bid_cache.forget_session(event["auction"])
            if event["type"] == "bid":
                known = self.bid_cache.lots.get(event["lot"])
                if known:  # a bid is announced only once it is in the history: the next one here need not check
                    known.stored_seq = max(known.stored_seq, event["seq"])
                if event["node"] == self.node_id:
                    self.bid_counts.add(event["auction"], -1 if event["kind"] == "undo" else 1)

    async def count_watchers(self) -> None:
        """Once a second: share this node's watcher counts, announce the totals."""
        while True:
            await asyncio.sleep(1)
            try:
                await self.events.publish({"type": "watchers", "counts": self.hub.local_counts()})
                self.hub.announce_counts()
            except Exception:
                log.exception("watcher counts failed")

    async def listen(self, ready: asyncio.Event) -> None:
        async with self.broker.subscribe(EVENTS) as messages:
            ready.set()
            async for raw in messages:
                try:
                    await self.on_event(orjson.loads(raw))
                except Exception:
                    log.exception("event handling failed")


def make_app(ctx: Context) -> tornado.web.Application:
    c = {"ctx": ctx}
    routes = [
        (r"/healthz", health.HealthHandler, c),
        (r"/metrics", metrics_h.MetricsHandler, c),
        (r"/api/openapi\.json", openapi.OpenApiHandler, c),
        (r"/api/auth/code", account_h.CodeHandler, c),
        (r"/api/auth/login", account_h.LoginHandler, c),
        (r"/api/me", account_h.MeHandler, c),
        (r"/api/wallet/ledger", account_h.LedgerHandler, c),
        (r"/api/auctions", catalog.AuctionsHandler, c),
        (r"/api/auctions/([0-9a-f]{1,64})", catalog.AuctionHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})", catalog.LotHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})/bids", bids.BidsHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})/proxy", bids.ProxyHandler, c),
        (r"/ws", ws.LiveSocket, c),
        (r"/api/admin/auctions", admin.AdminAuctionsHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})", admin.AdminAuctionHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})/lots", admin.AdminLotsHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})", admin.AdminLotHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/(pause|resume|undo)", bids.LotControlHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/bids", bids.AdminBidsHandler, c),
        (r"/api/admin/uploads", admin.UploadHandler, c),
        (r"/api/admin/audit", admin.AuditHandler, c),
        (r"/api/deposits", deposit_h.DepositsHandler, c),
        (r"/api/orders", orders.OrdersHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})", orders.OrderHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})/receive", orders.ReceiveHandler, c),
        (r"/api/admin/deposits", deposit_h.AdminDepositsHandler, c),
        (r"/api/admin/orders", orders.AdminOrdersHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/second-chance", orders.SecondChanceHandler, c),
        (r"/uploads/(.*)", tornado.web.StaticFileHandler, {"path": str(ctx.settings.data_dir / "uploads")}),
        (r"/((?!api/|ws$).*)", static.PageHandler, {"path": os.path.join(ROOT, "static"), "default_filename": "index.html"}),
    ]
    return tornado.web.Application(routes, default_handler_class=NotFoundHandler, default_handler_args=c,
                                   websocket_max_message_size=ctx.settings.ws_max_message,
                                   log_function=metrics_h.request_logger(ctx.metrics))


def admin_token(settings: Settings) -> str:
    """ADMIN_TOKEN, or one generated on first start and kept in DATA_DIR."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(settings.data_dir) if settings.embedded_store else None
    url = await store.start() if store else settings.mongodb_url
    broker = create_broker(settings.redis_url, settings.redis_prefix)
    client = dbmod.connect(url)
    node_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    ctx = Context(settings, client, broker, node_id)
    server = None
    try:
        await broker.connect()
        await dbmod.ensure_indexes(ctx.db)
        token = admin_token(settings)
        await accounts.bootstrap_operator(ctx.db, token, ctx.clock.now_ms())
        ready = asyncio.Event()
        ctx.tasks.append(asyncio.create_task(ctx.listen(ready)))
        await ready.wait()
        await ctx.timeline.start()
        ctx.tasks.append(asyncio.create_task(ctx.timeline.recover_forever(settings.recovery_interval_s)))
        ctx.tasks.append(asyncio.create_task(ctx.count_watchers()))
        ctx.tasks.append(asyncio.create_task(ctx.bid_counts.run()))
        app = make_app(ctx)
        server = app.listen(settings.port, settings.host, max_body_size=settings.max_upload_bytes + 65536,
                            idle_connection_timeout=120)
        port = next(iter(server._sockets.values())).getsockname()[1]
        print(f"Gavel is serving on http://127.0.0.1:{port}/  (node {node_id})", flush=True)
        print(f"Operator token: {token}", flush=True)
        if settings.demo:
            host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
            ctx.tasks.append(asyncio.create_task(demo.run(host, port, token)))
        if hubmod.native_send_all is None:
            log.warning("fan-out writes from Python: scripts/build-native builds the faster native loop")
        # What exists now lives for the whole run: keep the collector from
        # re-walking it. With 10,000 sockets a full collection stops the
        # loop for ~0.5 s (the fan-out p99 went from 624 to 180 ms without
        # them), so young collections are rarer and full ones rarer still.
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        await stop.wait()
        log.info("shutting down")
    finally:
        if server:
            server.stop()
        for sock in list(ctx.sockets):
            sock.close(1001, "server shutting down")
        ctx.timeline.stop()
        for task in ctx.tasks:
            task.cancel()
        await asyncio.gather(*ctx.tasks, return_exceptions=True)
        await broker.disconnect()
        await client.close()
        if store:
            await store.stop()


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
